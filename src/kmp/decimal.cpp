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

namespace {

// Magnitudes of a and b at the finer exponent; nullopt when one of them overflows there.
struct Aligned {
  uint128 a, b;
  int exponent;
};
std::optional<Aligned> align(const Decimal& a, const Decimal& b) {
  const int e = std::min(a.exponent, b.exponent);
  auto ma = a.mantissa_at(e);
  auto mb = b.mantissa_at(e);
  if (!ma || !mb) return std::nullopt;
  return Aligned{*ma, *mb, e};
}

// (-1)^neg_a |a| + (-1)^neg_b |b| at one exponent.
std::optional<Decimal> signed_sum(uint128 a, bool neg_a, uint128 b, bool neg_b, int e) {
  Decimal r;
  r.exponent = e;
  if (neg_a == neg_b) {
    if (a > ~uint128{0} - b) return std::nullopt;
    r.mantissa = a + b;
    r.negative = neg_a;
  } else if (a >= b) {
    r.mantissa = a - b;
    r.negative = neg_a;
  } else {
    r.mantissa = b - a;
    r.negative = neg_b;
  }
  if (r.mantissa == 0) r.negative = false;
  return r;
}

}  // namespace

std::optional<Decimal> Decimal::plus(const Decimal& other) const {
  auto al = align(*this, other);
  if (!al) return std::nullopt;
  return signed_sum(al->a, negative, al->b, other.negative, al->exponent);
}

std::optional<Decimal> Decimal::minus(const Decimal& other) const {
  auto al = align(*this, other);
  if (!al) return std::nullopt;
  return signed_sum(al->a, negative, al->b, !other.negative, al->exponent);
}

int Decimal::compare(const Decimal& other) const {
  const bool na = negative && mantissa != 0;
  const bool nb = other.negative && other.mantissa != 0;
  if (na != nb) return na ? -1 : 1;
  // Same sign: compare magnitudes. Only the one with the larger exponent is scaled, so when it
  // overflows 128 bits it is the larger one.
  int mag = 0;
  if (auto al = align(*this, other)) {
    mag = al->a < al->b ? -1 : (al->a > al->b ? 1 : 0);
  } else {
    mag = exponent > other.exponent ? 1 : -1;
  }
  return na ? -mag : mag;
}

std::optional<Decimal> Decimal::divided(std::uint64_t divisor, int decimals) const {
  if (divisor == 0 || decimals < 0) return std::nullopt;
  // Scale to one digit beyond nothing: value × 10^decimals as an integer numerator over
  // 10^-exponent when the exponent is finer than asked.
  uint128 num = mantissa;
  uint128 den = divisor;
  int e = exponent;
  while (e < -decimals) {  // finer than the result: move the extra digits into the divisor
    if (den > (~uint128{0}) / 10) return std::nullopt;
    den *= 10;
    ++e;
  }
  while (e > -decimals) {
    if (num > (~uint128{0}) / 10) return std::nullopt;
    num *= 10;
    --e;
  }
  uint128 q = num / den;
  const uint128 r = num % den;
  // Half-even: round up past the half, and at exactly the half when q is odd.
  const uint128 twice = r * 2;  // r < den <= 2^127 only if den fits; guard below
  const bool over = r > (~uint128{0}) / 2 ? true : twice > den;
  const bool half = r <= (~uint128{0}) / 2 && twice == den;
  if (over || (half && q % 2 == 1)) ++q;
  Decimal d;
  d.mantissa = q;
  d.exponent = -decimals;
  d.negative = negative && q != 0;
  return d;
}

double Decimal::to_double() const {
  // Through the exact text, so the result is the correctly rounded nearest double.
  return std::strtod(to_string().c_str(), nullptr);
}

}  // namespace kamstrup::kmp
