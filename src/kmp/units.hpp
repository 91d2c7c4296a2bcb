// KMP unit codes (docs/protocol.md §3.4). Units travel with values from the wire; this is the only
// place that names them or converts between them.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

#include "kmp/decimal.hpp"

namespace kamstrup::kmp {

enum class UnitKind : std::uint8_t {
  Number,    // a plain quantity (energy, temperature, counts, ...)
  Clock,     // 47: decimal HHMMSS
  Date,      // 48: decimal YYMMDD
  DateLong,  // 49: decimal YYYYMMDD (never seen on the wire)
  MonthDay,  // 50: decimal MMDD
  Ascii,     // 54: the value bytes are text
  Rtc,       // 53, 63, 64: raw bytes, format not yet understood
};

struct UnitInfo {
  std::uint8_t code;
  std::string_view symbol;  // "kWh", "°C", "" for dimensionless
  UnitKind kind;
  bool uncertain;  // 65–74: only one source names them
};

// The unit for a code, or nullopt for a code outside the table (callers report UnknownUnit).
std::optional<UnitInfo> unit_info(std::uint8_t code);

// Exact conversion between units that differ by a power of ten (Wh/kWh/MWh/GWh, W/kW/MW/GW,
// J/kJ/MJ/GJ, l/m³ and l/h ↔ m³/h). Returns nullopt when the units are not so related
// (e.g. GJ → kWh is not a finite decimal scaling).
std::optional<Decimal> convert_exact(const Decimal& value, std::string_view from_symbol,
                                     std::string_view to_symbol);

}  // namespace kamstrup::kmp
