// Exact decimal value as the meter sends it: (-1)^negative × mantissa × 10^exponent.
// Never converted through floating point; printed exactly ("53.65", "0.0",
// "1959120400000000000000000").
#pragma once

#include <compare>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

// GCC and Clang have 128-bit integers only on 64-bit targets (amd64, arm64). On 32-bit ones
// (Debian armhf, i386) Boost.Multiprecision's fixed 128-bit integers (Debian's libboost-dev,
// header-only) stand in: exact too, slower, which a meter's few values a minute do not notice.
#ifndef __SIZEOF_INT128__
#include <boost/multiprecision/cpp_int.hpp>
#endif

namespace kamstrup::kmp {

#ifdef __SIZEOF_INT128__
__extension__ using uint128 = unsigned __int128;
__extension__ using int128 = __int128;
#else
using uint128 = boost::multiprecision::uint128_t;
using int128 = boost::multiprecision::int128_t;
#endif

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

  // Exact arithmetic (rollups: sums, consumption = last - first). The result carries the finer of
  // the two exponents (55.210 - 55.006 = 0.204; 1.5 + 2 = 3.5); nullopt when it does not fit
  // 128 bits. A zero result is never negative.
  [[nodiscard]] std::optional<Decimal> plus(const Decimal& other) const;
  [[nodiscard]] std::optional<Decimal> minus(const Decimal& other) const;
  // Numeric order, independent of representation: -1, 0 or 1.
  [[nodiscard]] int compare(const Decimal& other) const;
  // This divided by `divisor` (> 0), rounded half-even to `decimals` fraction digits (exponent
  // -decimals, decimals >= 0): a mean. nullopt when divisor is 0 or the scaled value overflows.
  [[nodiscard]] std::optional<Decimal> divided(std::uint64_t divisor, int decimals) const;
};

// Decimal digits of a 128-bit unsigned integer.
std::string uint128_to_string(uint128 v);

}  // namespace kamstrup::kmp
