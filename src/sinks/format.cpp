#include "sinks/format.hpp"

#include "text/time.hpp"

namespace kamstrup::sinks {

std::string poll_json(const store::Poll& poll) {
  std::string out = "{\"meter\": " + text::json_quote(poll.meter) +
                    ", \"time\": " + text::json_quote(text::utc_text(poll.time_ms)) +
                    ", \"source\": " + text::json_quote(poll.source) + ", \"registers\": [";
  for (std::size_t i = 0; i < poll.values.size(); ++i) {
    const auto& v = poll.values[i];
    out += (i ? ", " : "") +
           text::reading_json({v.register_id, v.name, v.value, v.unit, v.text, nullptr});
  }
  return out + "]}";
}

std::string poll_text(const store::Poll& poll) {
  std::string out = text::utc_text(poll.time_ms) + " " + poll.meter;
  for (const auto& v : poll.values) {
    out += "  " + v.name + "=" + (v.text.empty() ? v.value : v.text);
    if (!v.unit.empty() && v.text.empty()) out += " " + v.unit;
  }
  return out;
}

}  // namespace kamstrup::sinks
