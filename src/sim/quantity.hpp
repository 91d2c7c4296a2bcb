// Internal to the simulator: which physical quantity a unit code measures, and its scale
// against the integer base units the model computes in. Not part of the public API.
//
// Gauges are kept in milli-base units (m°C, ml/h, mW, mV, mA). Counters integrate a gauge over
// microseconds, so their base is milli-base × µs (energy: mW·µs = nJ; volume: ml/h·µs;
// duration: µs; m³×°C: ml/h·m°C·µs). All arithmetic is integer: values stay exact.
#pragma once

#include <cstdint>
#include <optional>

#include "kmp/decimal.hpp"
#include "sim/profile.hpp"

namespace kamstrup::sim::detail {

using kmp::uint128;

enum class Quantity : std::uint8_t {
  None,  // any unit (static registers, serial)
  Energy,
  Volume,
  Duration,
  VolumeTemp,
  Temperature,
  Flow,
  Power,
  Voltage,
  Current,
  ClockDigits,  // unit 47
  DateDigits,   // units 48, 49, 50
};

struct UnitScale {
  Quantity quantity;
  uint128 scale;  // base units per one unit (counters: per unit of the integral)
};

std::optional<UnitScale> unit_scale(std::uint8_t unit_code);
Quantity quantity_of(Behaviour b);
bool is_counter(Behaviour b);
// Temperatures, flow, power, voltage, current and their extremes.
bool is_gauge(Behaviour b);

// Base units per count of a counter register: scale × 10^exponent, when that is an integer.
std::optional<uint128> counter_quantum(std::uint8_t unit_code, int exponent);

// 10^n for 0 <= n <= 38.
uint128 pow10(int n);

}  // namespace kamstrup::sim::detail
