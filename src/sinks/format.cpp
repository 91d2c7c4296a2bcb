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

std::string json_string(const std::string& s) {
  std::string out = "\"";
  for (char c : s) {
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\u%04x", static_cast<unsigned>(c));
          out += buf;
        } else {
          out.push_back(c);
        }
    }
  }
  return out + "\"";
}

std::string poll_json(const store::Poll& poll) {
  std::string out = "{\"meter\": " + json_string(poll.meter) +
                    ", \"time\": " + json_string(rfc3339_ms(poll.time_ms)) +
                    ", \"source\": " + json_string(poll.source) + ", \"registers\": {";
  bool first = true;
  for (const auto& v : poll.values) {
    out += first ? "" : ", ";
    first = false;
    out += json_string(v.name) + ": {\"id\": " +
           (v.register_id >= 0 ? std::to_string(v.register_id) : std::string("null")) +
           ", \"value\": " + (v.value.empty() ? std::string("null") : v.value) +
           ", \"unit\": " + json_string(v.unit);
    if (!v.text.empty()) out += ", \"text\": " + json_string(v.text);
    out += "}";
  }
  return out + "}}";
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
