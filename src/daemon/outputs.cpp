#include "daemon/outputs.hpp"

#include "sinks/console.hpp"

namespace kamstrup::daemon {

std::vector<std::unique_ptr<sinks::Sink>> make_outputs(const Config& config) {
  std::vector<std::unique_ptr<sinks::Sink>> out;
  if (config.console.enabled)
    out.push_back(std::make_unique<sinks::ConsoleSink>(config.console.format));
  return out;
}

}  // namespace kamstrup::daemon
