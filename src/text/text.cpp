#include "text/text.hpp"

#include <cstdio>

namespace kamstrup::text {

std::string json_quote(std::string_view s) {
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
  out.push_back('"');
  return out;
}

std::string csv_field(std::string_view s) {
  if (s.find_first_of(",\"\r\n") == std::string_view::npos) return std::string(s);
  std::string out = "\"";
  for (char c : s) {
    if (c == '"') out.push_back('"');
    out.push_back(c);
  }
  out.push_back('"');
  return out;
}

bool is_decimal(std::string_view s) {
  std::size_t i = 0;
  if (i < s.size() && s[i] == '-') ++i;
  auto digits = [&] {
    std::size_t n = 0;
    while (i < s.size() && s[i] >= '0' && s[i] <= '9') ++i, ++n;
    return n;
  };
  const std::size_t first = i;
  const std::size_t whole = digits();
  if (whole == 0) return false;
  if (whole > 1 && s[first] == '0') return false;  // "007" is no JSON number
  if (i == s.size()) return true;
  if (s[i] != '.') return false;
  ++i;
  return digits() > 0 && i == s.size();
}

std::string reading_json(const ReadingFields& r) {
  std::string out = "{\"id\": ";
  out += r.id < 0 ? std::string("null") : std::to_string(r.id);
  out += ", \"name\": " + json_quote(r.name) + ", \"value\": ";
  // Never through double: the exact text is the JSON token. A value that is not a decimal
  // cannot come from the meter layer; it is written as a string rather than as invalid JSON.
  out += r.value.empty() ? std::string("null")
                         : (is_decimal(r.value) ? std::string(r.value) : json_quote(r.value));
  out += ", \"unit\": " + json_quote(r.unit);
  if (!r.text.empty()) out += ", \"text\": " + json_quote(r.text);
  if (r.flags != nullptr) {
    out += ", \"flags\": [";
    for (std::size_t i = 0; i < r.flags->size(); ++i)
      out += (i ? ", " : "") + json_quote((*r.flags)[i]);
    out += "]";
  }
  out += "}";
  return out;
}

}  // namespace kamstrup::text
