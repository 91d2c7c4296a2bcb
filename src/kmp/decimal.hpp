// Exact decimal value as the meter sends it: (-1)^negative × mantissa × 10^exponent.
// Never converted through floating point; printed exactly ("53.65", "0.0",
// "1959120400000000000000000").
#pragma once

#include <compare>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace kamstrup::kmp {

__extension__ using uint128 = unsigned __int128;

struct Decimal {
  uint128 mantissa = 0;  // up to 16 bytes of meter mantissa
  int exponent = 0;      // KMP allows -63..63
  bool negative = false;

  // Exact text: a plain decimal (no exponent notation) with exactly -exponent fraction digits
  // when exponent < 0, trailing zeros when exponent > 0. Valid as a JSON number token.
  [[nodiscard]] std::string to_string() const;

  // Parses "-123.45", "255000", "0.0": the exponent becomes -(fraction digits).
  // Returns nullopt on anything else (exponent notation, empty, beyond 128 bits).
  static std::optional<Decimal> parse(std::string_view text);

  // Numeric comparison, independent of representation: 200.00 == 200.
  [[nodiscard]] bool equals(const Decimal& other) const;

  // Scaled into an integer count of 10^exponent units, if exact and in range (used to re-encode
  // a value with a given exponent, e.g. 53.65 at exponent -2 → 5365).
  [[nodiscard]] std::optional<uint128> mantissa_at(int target_exponent) const;

  // Nearest double, for the edges that need one (Prometheus gauges, plotting). Never for storage.
  [[nodiscard]] double to_double() const;
};

// Decimal digits of a 128-bit unsigned integer.
std::string uint128_to_string(uint128 v);

}  // namespace kamstrup::kmp
