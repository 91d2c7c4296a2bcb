#include "sinks/console.hpp"

#include "sinks/format.hpp"

namespace kamstrup::sinks {

ConsoleSink::ConsoleSink(std::string format, std::FILE* out)
    : format_(std::move(format)), out_(out) {}

void ConsoleSink::deliver(std::span<const store::Poll> polls) {
  for (const auto& p : polls) {
    std::string line = format_ == "json" ? poll_json(p) : poll_text(p);
    std::fprintf(out_, "%s\n", line.c_str());
  }
  if (std::fflush(out_) != 0) throw SinkError("console: cannot write to stdout");
}

void ConsoleSink::meter_info(const MeterInfo& info) {
  if (format_ == "json") return;  // keep the JSON stream one object per poll
  std::fprintf(out_, "meter %s: %s%s serial %s, software %s (%s)\n", info.name.c_str(),
               info.model.empty() ? "type " : "",
               info.model.empty() ? info.meter_type.c_str() : info.model.c_str(),
               info.serial.empty() ? "?" : info.serial.c_str(), info.sw_revision.c_str(),
               info.protocol.c_str());
  std::fflush(out_);
}

void ConsoleSink::meter_online(const std::string& meter, bool online) {
  if (format_ == "json") return;
  std::fprintf(out_, "meter %s: %s\n", meter.c_str(), online ? "answering" : "not answering");
  std::fflush(out_);
}

const config::Table<ConsoleConfig>& console_keys() {
  using C = ConsoleConfig;
  using namespace config;
  static const Table<C> t{
      "console",
      "Prints each poll on stdout as it arrives (present = on).",
      {
          boolean<C>("enabled", &C::enabled, "`false` keeps the section but prints nothing"),
          choice<C, std::string>("format", &C::format, {{"text", "text"}, {"json", "json"}},
                                 "`text`, or `json`: one JSON object per poll (docs/formats.md)"),
      },
      {}};
  return t;
}

}  // namespace kamstrup::sinks
