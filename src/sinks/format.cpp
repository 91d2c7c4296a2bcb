#include "sinks/format.hpp"

#include <cstdio>
#include <ctime>

namespace kamstrup::sinks {

std::string rfc3339_ms(std::int64_t unix_ms) {
  std::time_t secs = static_cast<std::time_t>(unix_ms / 1000);
  auto ms = static_cast<int>(unix_ms % 1000);
  if (ms < 0) {
    ms += 1000;
    --secs;
  }
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[64];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
                tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, ms);
  return buf;
}

std::string poll_json(const store::Poll& poll) {
  std::string out = "{\"meter\": " + text::json_quote(poll.meter) +
                    ", \"time\": " + text::json_quote(rfc3339_ms(poll.time_ms)) +
                    ", \"source\": " + text::json_quote(poll.source) + ", \"registers\": [";
  for (std::size_t i = 0; i < poll.values.size(); ++i) {
    const auto& v = poll.values[i];
    out += (i ? ", " : "") +
           text::reading_json({v.register_id, v.name, v.value, v.unit, v.text, nullptr});
  }
  return out + "]}";
}

std::string poll_text(const store::Poll& poll) {
  std::string out = rfc3339_ms(poll.time_ms) + " " + poll.meter;
  for (const auto& v : poll.values) {
    out += "  " + v.name + "=" + (v.text.empty() ? v.value : v.text);
    if (!v.unit.empty() && v.text.empty()) out += " " + v.unit;
  }
  return out;
}

}  // namespace kamstrup::sinks
