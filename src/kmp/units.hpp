// KMP unit codes (docs/protocol.md §3.4). Units travel with values from the wire; this is the only
// place that names them or converts between them.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

#include "kmp/decimal.hpp"
#include "kmp/quantity.hpp"

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

// Conversions, the one place that knows how units relate. Symbols are the meter's (unit table
// above) plus the spellings target systems use ("L", "L/min", "l/min", "m³/s", "kg", "Pa"); a
// unit measures one Quantity and is a fixed ratio of that quantity's base unit (J, W, m³, m³/s,
// kg, kg/s, °C, K, Pa, V, A, s, Hz, ...). Units of different quantities never convert.

// The quantity a unit symbol measures, or nullopt for a symbol outside the table.
std::optional<Quantity> unit_quantity(std::string_view symbol);
// The base unit of a quantity ("J" for energy), or "" when it has none.
std::string_view base_unit(Quantity q);

// Exact conversion: the result when it is a finite decimal (MWh → kWh, Gcal → Wh = × 1 163 000,
// m³ → l, l/h ↔ m³/h); nullopt when the units are unrelated or unknown, or when the result has
// no finite decimal expansion (GJ → kWh = × 277.77…) or does not fit 128 bits.
std::optional<Decimal> convert_exact(const Decimal& value, std::string_view from_symbol,
                                     std::string_view to_symbol);

// The converted value rounded half-even to `decimals` fraction digits (its exponent is
// -decimals, or 0 for decimals <= 0 with trailing zeros kept): exact whenever the exact result
// fits that resolution. nullopt only when the units do not convert or the value overflows.
std::optional<Decimal> convert_rounded(const Decimal& value, std::string_view from_symbol,
                                       std::string_view to_symbol, int decimals);

// The value in its quantity's base unit as a double, for edges that need one (Prometheus), with
// that base unit; nullopt for a symbol outside the table.
struct BaseValue {
  double value;
  std::string_view unit;
  Quantity quantity;
};
std::optional<BaseValue> to_base(const Decimal& value, std::string_view symbol);

}  // namespace kamstrup::kmp
