#include "kmp/units.hpp"

#include <algorithm>
#include <array>

namespace kamstrup::kmp {

namespace {

using K = UnitKind;

// Index = code. 21 is W and 25 var (the Erik Jensen table's "kW"/"kvar" twins of 22/26 are a
// propagated typo, docs/protocol.md §3.4, a conflict).
constexpr std::array<UnitInfo, 75> kUnits{{
    {0, "", K::Number, false},         {1, "Wh", K::Number, false},
    {2, "kWh", K::Number, false},      {3, "MWh", K::Number, false},
    {4, "GWh", K::Number, false},      {5, "J", K::Number, false},
    {6, "kJ", K::Number, false},       {7, "MJ", K::Number, false},
    {8, "GJ", K::Number, false},       {9, "cal", K::Number, false},
    {10, "kcal", K::Number, false},    {11, "Mcal", K::Number, false},
    {12, "Gcal", K::Number, false},    {13, "varh", K::Number, false},
    {14, "kvarh", K::Number, false},   {15, "Mvarh", K::Number, false},
    {16, "Gvarh", K::Number, false},   {17, "VAh", K::Number, false},
    {18, "kVAh", K::Number, false},    {19, "MVAh", K::Number, false},
    {20, "GVAh", K::Number, false},    {21, "W", K::Number, false},
    {22, "kW", K::Number, false},      {23, "MW", K::Number, false},
    {24, "GW", K::Number, false},      {25, "var", K::Number, false},
    {26, "kvar", K::Number, false},    {27, "Mvar", K::Number, false},
    {28, "Gvar", K::Number, false},    {29, "VA", K::Number, false},
    {30, "kVA", K::Number, false},     {31, "MVA", K::Number, false},
    {32, "GVA", K::Number, false},     {33, "V", K::Number, false},
    {34, "A", K::Number, false},       {35, "kV", K::Number, false},
    {36, "kA", K::Number, false},      {37, "°C", K::Number, false},
    {38, "K", K::Number, false},       {39, "l", K::Number, false},
    {40, "m³", K::Number, false},      {41, "l/h", K::Number, false},
    {42, "m³/h", K::Number, false},    {43, "m³×°C", K::Number, false},
    {44, "ton", K::Number, false},     {45, "ton/h", K::Number, false},
    {46, "h", K::Number, false},       {47, "hh:mm:ss", K::Clock, false},
    {48, "yy:mm:dd", K::Date, false},  {49, "yyyy:mm:dd", K::DateLong, false},
    {50, "mm:dd", K::MonthDay, false}, {51, "", K::Number, false},
    {52, "bar", K::Number, false},     {53, "RTC", K::Rtc, false},
    {54, "ASCII", K::Ascii, false},    {55, "m³×10", K::Number, false},
    {56, "ton×10", K::Number, false},  {57, "GJ×10", K::Number, false},
    {58, "min", K::Number, false},     {59, "bitfield", K::Number, false},
    {60, "s", K::Number, false},       {61, "ms", K::Number, false},
    {62, "days", K::Number, false},    {63, "RTC-Q", K::Rtc, false},
    {64, "datetime", K::Rtc, false},   {65, "imp/l", K::Number, true},
    {66, "l/imp", K::Number, true},    {67, "Hz", K::Number, true},
    {68, "°", K::Number, true},        {69, "%", K::Number, true},
    {70, "US gal", K::Number, true},   {71, "US gal/min", K::Number, true},
    {72, "KamDateTime", K::Rtc, true}, {73, "IPv4", K::Rtc, true},
    {74, "IPv6", K::Rtc, true},
}};

// 1 symbol = num / den × 10^pow10 base units of its quantity.
struct Scale {
  std::string_view symbol;
  Quantity quantity;
  std::uint64_t num;
  std::uint64_t den;
  int pow10;
};

using Q = Quantity;

// clang-format off
constexpr Scale kScales[] = {
    // energy, base J (1 Wh = 3600 J; 1 cal = 4.1868 J, the International Table calorie)
    {"Wh", Q::Energy, 36, 1, 2},   {"kWh", Q::Energy, 36, 1, 5},  {"MWh", Q::Energy, 36, 1, 8},
    {"GWh", Q::Energy, 36, 1, 11}, {"J", Q::Energy, 1, 1, 0},     {"kJ", Q::Energy, 1, 1, 3},
    {"MJ", Q::Energy, 1, 1, 6},    {"GJ", Q::Energy, 1, 1, 9},    {"cal", Q::Energy, 41868, 1, -4},
    {"kcal", Q::Energy, 41868, 1, -1}, {"Mcal", Q::Energy, 41868, 1, 2},
    {"Gcal", Q::Energy, 41868, 1, 5},
    {"varh", Q::ReactiveEnergy, 1, 1, 0}, {"kvarh", Q::ReactiveEnergy, 1, 1, 3},
    {"Mvarh", Q::ReactiveEnergy, 1, 1, 6}, {"Gvarh", Q::ReactiveEnergy, 1, 1, 9},
    {"VAh", Q::ApparentEnergy, 1, 1, 0}, {"kVAh", Q::ApparentEnergy, 1, 1, 3},
    {"MVAh", Q::ApparentEnergy, 1, 1, 6}, {"GVAh", Q::ApparentEnergy, 1, 1, 9},
    // power, base W
    {"W", Q::Power, 1, 1, 0},      {"kW", Q::Power, 1, 1, 3},     {"MW", Q::Power, 1, 1, 6},
    {"GW", Q::Power, 1, 1, 9},
    {"var", Q::ReactivePower, 1, 1, 0}, {"kvar", Q::ReactivePower, 1, 1, 3},
    {"Mvar", Q::ReactivePower, 1, 1, 6}, {"Gvar", Q::ReactivePower, 1, 1, 9},
    {"VA", Q::ApparentPower, 1, 1, 0}, {"kVA", Q::ApparentPower, 1, 1, 3},
    {"MVA", Q::ApparentPower, 1, 1, 6}, {"GVA", Q::ApparentPower, 1, 1, 9},
    // volume, base m³ (1 US gal = 3.785411784 l)
    {"m³", Q::Volume, 1, 1, 0},    {"l", Q::Volume, 1, 1, -3},    {"L", Q::Volume, 1, 1, -3},
    {"US gal", Q::Volume, 3785411784, 1, -12},
    // volume flow, base m³/s
    {"m³/s", Q::Flow, 1, 1, 0},    {"m³/h", Q::Flow, 1, 3600, 0}, {"l/h", Q::Flow, 1, 3600, -3},
    {"L/h", Q::Flow, 1, 3600, -3}, {"l/min", Q::Flow, 1, 60, -3}, {"L/min", Q::Flow, 1, 60, -3},
    {"US gal/min", Q::Flow, 3785411784, 60, -12},
    // mass, base kg; mass flow, base kg/s
    {"kg", Q::Mass, 1, 1, 0},      {"ton", Q::Mass, 1, 1, 3},
    {"kg/s", Q::MassFlow, 1, 1, 0}, {"ton/h", Q::MassFlow, 1, 3600, 3},
    // temperatures: absolute in °C, differences in K
    {"°C", Q::Temperature, 1, 1, 0}, {"K", Q::TemperatureDifference, 1, 1, 0},
    {"bar", Q::Pressure, 1, 1, 5}, {"Pa", Q::Pressure, 1, 1, 0},
    {"V", Q::Voltage, 1, 1, 0},    {"kV", Q::Voltage, 1, 1, 3},
    {"A", Q::Current, 1, 1, 0},    {"kA", Q::Current, 1, 1, 3},
    // duration, base s
    {"s", Q::Duration, 1, 1, 0},   {"ms", Q::Duration, 1, 1, -3}, {"min", Q::Duration, 60, 1, 0},
    {"h", Q::Duration, 3600, 1, 0}, {"days", Q::Duration, 86400, 1, 0},
    {"d", Q::Duration, 86400, 1, 0},
    {"Hz", Q::Frequency, 1, 1, 0},
    {"m³×°C", Q::VolumeTemperature, 1, 1, 0},
};
// clang-format on

const Scale* find_scale(std::string_view symbol) {
  for (const auto& s : kScales) {
    if (s.symbol == symbol) return &s;
  }
  return nullptr;
}

constexpr uint128 kMax = ~uint128{0};

uint128 gcd(uint128 a, uint128 b) {
  while (b != 0) {
    uint128 t = a % b;
    a = b;
    b = t;
  }
  return a;
}

bool mul(uint128& x, uint128 y) {
  if (y != 0 && x > kMax / y) return false;
  x *= y;
  return true;
}

// value × n / d × 10^p, the pieces of a conversion from `from` to `to`.
struct Ratio {
  uint128 n;
  uint128 d;
  int p;
};

std::optional<Ratio> ratio(std::string_view from_symbol, std::string_view to_symbol) {
  const Scale* from = find_scale(from_symbol);
  const Scale* to = find_scale(to_symbol);
  if (from == nullptr || to == nullptr || from->quantity != to->quantity) return std::nullopt;
  Ratio r{uint128{from->num} * to->den, uint128{from->den} * to->num, from->pow10 - to->pow10};
  const uint128 g = gcd(r.n, r.d);
  r.n /= g;
  r.d /= g;
  return r;
}

}  // namespace

std::optional<UnitInfo> unit_info(std::uint8_t code) {
  if (code >= kUnits.size()) return std::nullopt;
  return kUnits[code];
}

std::optional<Quantity> unit_quantity(std::string_view symbol) {
  const Scale* s = find_scale(symbol);
  if (s == nullptr) return std::nullopt;
  return s->quantity;
}

std::string_view base_unit(Quantity q) {
  for (const auto& s : kScales) {
    if (s.quantity == q && s.num == 1 && s.den == 1 && s.pow10 == 0) return s.symbol;
  }
  return {};
}

std::optional<Decimal> convert_exact(const Decimal& value, std::string_view from_symbol,
                                     std::string_view to_symbol) {
  if (from_symbol == to_symbol) return value;
  auto r = ratio(from_symbol, to_symbol);
  if (!r) return std::nullopt;
  Decimal out = value;
  if (!mul(out.mantissa, r->n)) return std::nullopt;
  // Dividing by d is exact in decimal when what is left of d after the common factor with the
  // mantissa is 2^a 5^b: then multiplying by 10^max(a, b) first makes it divide evenly.
  const uint128 g = gcd(out.mantissa == 0 ? r->d : out.mantissa, r->d);
  const uint128 d = r->d / g;
  out.mantissa /= g;
  int twos = 0;
  int fives = 0;
  uint128 rest = d;
  for (; rest % 2 == 0; rest /= 2) ++twos;
  for (; rest % 5 == 0; rest /= 5) ++fives;
  if (rest != 1) return std::nullopt;
  const int shift = std::max(twos, fives);
  uint128 scale = 1;
  for (int i = 0; i < shift; ++i) {
    if (!mul(scale, 10)) return std::nullopt;
  }
  if (!mul(out.mantissa, scale)) return std::nullopt;
  out.mantissa /= d;
  out.exponent += r->p - shift;
  return out;
}

std::optional<Decimal> convert_rounded(const Decimal& value, std::string_view from_symbol,
                                       std::string_view to_symbol, int decimals) {
  auto r = from_symbol == to_symbol ? std::optional<Ratio>(Ratio{1, 1, 0})
                                    : ratio(from_symbol, to_symbol);
  if (!r) return std::nullopt;
  // q = mantissa × n × 10^(exponent + p + decimals) / d, rounded half-even.
  uint128 num = value.mantissa;
  uint128 den = r->d;
  if (!mul(num, r->n)) return std::nullopt;
  const int shift = value.exponent + r->p + decimals;
  for (int i = 0; i < shift; ++i) {
    if (!mul(num, 10)) return std::nullopt;
  }
  for (int i = 0; i < -shift; ++i) {
    if (!mul(den, 10)) {
      num = 0;  // far below the resolution: rounds to 0
      den = 1;
      break;
    }
  }
  uint128 q = num / den;
  const uint128 rem = num % den;
  const uint128 half = den - rem;  // rem > den / 2  <=>  rem > half
  if (rem > half || (rem == half && q % 2 == 1)) ++q;
  Decimal out;
  out.mantissa = q;
  out.exponent = -decimals;
  out.negative = value.negative && q != 0;
  return out;
}

std::optional<BaseValue> to_base(const Decimal& value, std::string_view symbol) {
  const Scale* s = find_scale(symbol);
  if (s == nullptr) return std::nullopt;
  const std::string_view base = base_unit(s->quantity);
  // Exact where the ratio allows (55.006 MWh = 198021600000 J), else rounded far below a
  // double's resolution; either way the double is the nearest to the true value, not the
  // product of rounded factors.
  auto exact = convert_exact(value, symbol, base);
  if (!exact) {
    for (int decimals = 30; decimals >= 0 && !exact; decimals -= 6)
      exact = convert_rounded(value, symbol, base, decimals);
  }
  if (!exact) return std::nullopt;
  return BaseValue{exact->to_double(), base, s->quantity};
}

}  // namespace kamstrup::kmp
