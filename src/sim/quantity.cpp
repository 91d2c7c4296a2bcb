#include "sim/quantity.hpp"

#include "kmp/units.hpp"

namespace kamstrup::sim::detail {

uint128 pow10(int n) {
  uint128 p = 1;
  for (int i = 0; i < n; ++i) p *= 10;
  return p;
}

std::optional<UnitScale> unit_scale(std::uint8_t unit_code) {
  constexpr uint128 k = 1000;
  constexpr uint128 us_per_h = 3'600'000'000;
  using Q = Quantity;
  switch (unit_code) {
    // Energy in nJ (mW·µs).
    case 1:
      return UnitScale{Q::Energy, us_per_h * k};  // Wh
    case 2:
      return UnitScale{Q::Energy, us_per_h * k * k};
    case 3:
      return UnitScale{Q::Energy, us_per_h * k * k * k};
    case 4:
      return UnitScale{Q::Energy, us_per_h * k * k * k * k};
    case 5:
      return UnitScale{Q::Energy, k * k * k};  // J
    case 6:
      return UnitScale{Q::Energy, k * k * k * k};
    case 7:
      return UnitScale{Q::Energy, k * k * k * k * k};
    case 8:
      return UnitScale{Q::Energy, k * k * k * k * k * k};
    case 9:
      return UnitScale{Q::Energy, 4'184'000'000};  // cal = 4.184 J
    case 10:
      return UnitScale{Q::Energy, uint128{4'184'000'000} * k};
    case 11:
      return UnitScale{Q::Energy, uint128{4'184'000'000} * k * k};
    case 12:
      return UnitScale{Q::Energy, uint128{4'184'000'000} * k * k * k};
    // Power in mW.
    case 21:
      return UnitScale{Q::Power, k};
    case 22:
      return UnitScale{Q::Power, k * k};
    case 23:
      return UnitScale{Q::Power, k * k * k};
    case 24:
      return UnitScale{Q::Power, k * k * k * k};
    // Voltage in mV, current in mA.
    case 33:
      return UnitScale{Q::Voltage, k};
    case 34:
      return UnitScale{Q::Current, k};
    case 35:
      return UnitScale{Q::Voltage, k * k};
    case 36:
      return UnitScale{Q::Current, k * k};
    // Temperatures (and differences) in m°C.
    case 37:
    case 38:
      return UnitScale{Q::Temperature, k};
    // Volume in ml/h·µs (1 l = 1000 ml/h for one hour).
    case 39:
      return UnitScale{Q::Volume, us_per_h * k};
    case 40:
      return UnitScale{Q::Volume, us_per_h * k * k};
    // Flow in ml/h.
    case 41:
      return UnitScale{Q::Flow, k};
    case 42:
      return UnitScale{Q::Flow, k * k};
    // m³×°C in ml/h·m°C·µs.
    case 43:
      return UnitScale{Q::VolumeTemp, us_per_h * k * k * k};
    // Durations in µs.
    case 46:
      return UnitScale{Q::Duration, us_per_h};
    case 58:
      return UnitScale{Q::Duration, 60'000'000};
    case 60:
      return UnitScale{Q::Duration, 1'000'000};
    case 61:
      return UnitScale{Q::Duration, 1'000};
    case 62:
      return UnitScale{Q::Duration, us_per_h * 24};
    case 47:
      return UnitScale{Q::ClockDigits, 1};
    case 48:
    case 49:
    case 50:
      return UnitScale{Q::DateDigits, 1};
    default:
      return std::nullopt;
  }
}

Quantity quantity_of(Behaviour b) {
  using B = Behaviour;
  using Q = Quantity;
  switch (b) {
    case B::Static:
    case B::Serial:
      return Q::None;
    case B::Clock:
      return Q::ClockDigits;
    case B::Date:
    case B::ExtremeDate:
      return Q::DateDigits;
    case B::HeatEnergy:
    case B::ElEnergy:
      return Q::Energy;
    case B::Volume:
      return Q::Volume;
    case B::Hours:
      return Q::Duration;
    case B::VolumeTemp1:
    case B::VolumeTemp2:
      return Q::VolumeTemp;
    case B::Temp1:
    case B::Temp2:
    case B::TempDiff:
      return Q::Temperature;
    case B::Flow:
    case B::MaxFlow:
    case B::MinFlow:
      return Q::Flow;
    case B::HeatPower:
    case B::ElPower:
    case B::MaxPower:
    case B::MinPower:
      return Q::Power;
    case B::Voltage:
      return Q::Voltage;
    case B::Current:
      return Q::Current;
  }
  return Q::None;
}

bool is_counter(Behaviour b) {
  switch (quantity_of(b)) {
    case Quantity::Energy:
    case Quantity::Volume:
    case Quantity::Duration:
    case Quantity::VolumeTemp:
      return true;
    default:
      return false;
  }
}

bool is_gauge(Behaviour b) {
  switch (quantity_of(b)) {
    case Quantity::Temperature:
    case Quantity::Flow:
    case Quantity::Power:
    case Quantity::Voltage:
    case Quantity::Current:
      return true;
    default:
      return false;
  }
}

std::optional<uint128> counter_quantum(std::uint8_t unit_code, int exponent) {
  auto s = unit_scale(unit_code);
  if (!s || exponent > 38 || exponent < -38) return std::nullopt;
  if (exponent >= 0) {
    uint128 p = pow10(exponent);
    // 10^38 × scale would overflow; counters that coarse make no sense anyway.
    if (s->scale > (~uint128{0}) / p) return std::nullopt;
    return s->scale * p;
  }
  uint128 p = pow10(-exponent);
  if (s->scale % p != 0) return std::nullopt;
  return s->scale / p;
}

}  // namespace kamstrup::sim::detail
