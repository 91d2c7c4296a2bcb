#include "kmp/units.hpp"

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

struct Scale {
  std::string_view symbol;
  std::string_view family;
  int power;  // of ten, relative to the family's base
};

constexpr std::array<Scale, 20> kScales{{
    {"Wh", "energy_wh", 0},  {"kWh", "energy_wh", 3}, {"MWh", "energy_wh", 6},
    {"GWh", "energy_wh", 9}, {"J", "energy_j", 0},    {"kJ", "energy_j", 3},
    {"MJ", "energy_j", 6},   {"GJ", "energy_j", 9},   {"W", "power", 0},
    {"kW", "power", 3},      {"MW", "power", 6},      {"GW", "power", 9},
    {"l", "volume", 0},      {"m³", "volume", 3},     {"l/h", "flow", 0},
    {"m³/h", "flow", 3},     {"V", "voltage", 0},     {"kV", "voltage", 3},
    {"A", "current", 0},     {"kA", "current", 3},
}};

const Scale* find_scale(std::string_view symbol) {
  for (const auto& s : kScales) {
    if (s.symbol == symbol) return &s;
  }
  return nullptr;
}

}  // namespace

std::optional<UnitInfo> unit_info(std::uint8_t code) {
  if (code >= kUnits.size()) return std::nullopt;
  return kUnits[code];
}

std::optional<Decimal> convert_exact(const Decimal& value, std::string_view from_symbol,
                                     std::string_view to_symbol) {
  if (from_symbol == to_symbol) return value;
  const Scale* from = find_scale(from_symbol);
  const Scale* to = find_scale(to_symbol);
  if (from == nullptr || to == nullptr || from->family != to->family) return std::nullopt;
  Decimal out = value;
  out.exponent += from->power - to->power;
  return out;
}

}  // namespace kamstrup::kmp
