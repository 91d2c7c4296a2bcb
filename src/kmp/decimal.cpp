#include "kmp/decimal.hpp"

#include <algorithm>
#include <cstdlib>

namespace kamstrup::kmp {

std::string uint128_to_string(uint128 v) {
  if (v == 0) return "0";
  std::string s;
  while (v != 0) {
    s.push_back(static_cast<char>('0' + static_cast<int>(v % 10)));
    v /= 10;
  }
  std::reverse(s.begin(), s.end());
  return s;
}

std::string Decimal::to_string() const {
  std::string digits = uint128_to_string(mantissa);
  std::string out;
  if (negative && mantissa != 0) out.push_back('-');
  if (exponent >= 0) {
    if (mantissa == 0) return "0";
    out += digits;
    out.append(static_cast<std::size_t>(exponent), '0');
    return out;
  }
  auto frac = static_cast<std::size_t>(-exponent);
  if (digits.size() <= frac) digits.insert(0, frac + 1 - digits.size(), '0');
  out.append(digits, 0, digits.size() - frac);
  out.push_back('.');
  out.append(digits, digits.size() - frac, frac);
  return out;
}

std::optional<Decimal> Decimal::parse(std::string_view text) {
  Decimal d;
  std::size_t i = 0;
  if (i < text.size() && (text[i] == '-' || text[i] == '+')) {
    d.negative = text[i] == '-';
    ++i;
  }
  bool any_digit = false;
  bool seen_point = false;
  int frac = 0;
  for (; i < text.size(); ++i) {
    char c = text[i];
    if (c == '.' && !seen_point) {
      seen_point = true;
      continue;
    }
    if (c < '0' || c > '9') return std::nullopt;
    any_digit = true;
    auto digit = static_cast<unsigned>(c - '0');
    if (d.mantissa > (~uint128{0} - digit) / 10) return std::nullopt;  // beyond 128 bits
    d.mantissa = d.mantissa * 10 + digit;
    if (seen_point) ++frac;
  }
  if (!any_digit || frac > 63) return std::nullopt;
  d.exponent = -frac;
  return d;
}

namespace {
// Strips trailing decimal zeros so equal numbers get one canonical (mantissa, exponent).
Decimal canonical(Decimal d) {
  if (d.mantissa == 0) return Decimal{};
  while (d.mantissa % 10 == 0) {
    d.mantissa /= 10;
    ++d.exponent;
  }
  return d;
}
}  // namespace

bool Decimal::equals(const Decimal& other) const {
  Decimal a = canonical(*this);
  Decimal b = canonical(other);
  return a.mantissa == b.mantissa && a.exponent == b.exponent && a.negative == b.negative;
}

std::optional<uint128> Decimal::mantissa_at(int target_exponent) const {
  uint128 m = mantissa;
  int e = exponent;
  while (e > target_exponent) {
    if (m > (~uint128{0}) / 10) return std::nullopt;
    m *= 10;
    --e;
  }
  while (e < target_exponent) {
    if (m % 10 != 0) return std::nullopt;
    m /= 10;
    ++e;
  }
  return m;
}

double Decimal::to_double() const {
  // Through the exact text, so the result is the correctly rounded nearest double.
  return std::strtod(to_string().c_str(), nullptr);
}

}  // namespace kamstrup::kmp
