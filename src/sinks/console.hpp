// Prints each poll to stdout as it arrives (text or JSON lines): the demo's output and a
// pipe-friendly stream for scripts.
#pragma once

#include <cstdio>
#include <string>

#include "config/keys.hpp"
#include "sinks/sink.hpp"

namespace kamstrup::sinks {

// The `console:` section (present = on).
struct ConsoleConfig {
  bool enabled = true;
  std::string format = "text";  // text | json
  bool operator==(const ConsoleConfig&) const = default;
};

const config::Table<ConsoleConfig>& console_keys();

class ConsoleSink : public Sink {
 public:
  explicit ConsoleSink(std::string format, std::FILE* out = stdout);
  [[nodiscard]] std::string id() const override { return "console"; }
  void deliver(std::span<const store::Poll> polls) override;
  void meter_info(const MeterInfo& info) override;
  void meter_online(const std::string& meter, bool online) override;

 private:
  std::string format_;
  std::FILE* out_;
};

}  // namespace kamstrup::sinks
