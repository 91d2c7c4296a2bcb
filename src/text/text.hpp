// Text helpers every layer shares, std only (no layer below this one): JSON and CSV quoting, the
// one test for "is this an exact decimal as kmp::Decimal prints it", and the one JSON shape of a
// reading (docs/formats.md).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace kamstrup::text {

// A JSON string literal, with escaping; UTF-8 passes through ("°C", "m³").
std::string json_quote(std::string_view s);

// One CSV field (RFC 4180): quoted when it holds a comma, a double quote or a line break.
std::string csv_field(std::string_view s);

// -?(0|[1-9]digits)(.digits)?: the text kmp::Decimal prints, which is also a JSON number token and
// a line-protocol float literal. Everything that writes a stored value as a number checks this.
bool is_decimal(std::string_view s);

// A reading, as every JSON output writes it (read --json, files, console, exec, MQTT state):
//   {"id": 60, "name": "heat_energy", "value": 55.006, "unit": "MWh"}
// id -1 (a quantity without a KMP register) is null; "value" is the exact decimal as a JSON
// number, or null when there is none (text-only registers); "text" only when there is one
// (dates, clock, ASCII); "flags" only when given (the decoded info code).
struct ReadingFields {
  std::int32_t id = -1;
  std::string_view name;
  std::string_view value;  // exact decimal text, or "" for none
  std::string_view unit;
  std::string_view text;
  const std::vector<std::string>* flags = nullptr;
};
std::string reading_json(const ReadingFields& r);

}  // namespace kamstrup::text
