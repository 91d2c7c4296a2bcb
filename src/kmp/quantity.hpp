// What a register measures: one enum shared by the catalogue (what a register is), the unit
// table (what a unit measures, for conversions), Home Assistant discovery (device classes) and
// Prometheus (metric families in base units).
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

namespace kamstrup::kmp {

enum class Quantity : std::uint8_t {
  Number,  // a count or identifier without a physical unit
  Energy,
  ReactiveEnergy,
  ApparentEnergy,
  Power,
  ReactivePower,
  ApparentPower,
  Volume,
  Flow,  // volume flow
  Mass,
  MassFlow,
  Temperature,
  TemperatureDifference,
  Pressure,
  Voltage,
  Current,
  Duration,
  VolumeTemperature,  // m³ × °C (the meters' E8/E9 averaging registers)
  Frequency,
  Date,
  Time,
  Text,
  Info,  // the info code: a bit field
};

// "energy", "temperature_difference", ... (stable: `kamstrup registers` prints it).
std::string_view quantity_name(Quantity q);
std::optional<Quantity> parse_quantity(std::string_view name);

}  // namespace kamstrup::kmp
