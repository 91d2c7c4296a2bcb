#include "kmp/quantity.hpp"

#include <array>
#include <utility>

namespace kamstrup::kmp {

namespace {

constexpr std::array<std::pair<Quantity, std::string_view>, 23> kNames{{
    {Quantity::Number, "number"},
    {Quantity::Energy, "energy"},
    {Quantity::ReactiveEnergy, "reactive_energy"},
    {Quantity::ApparentEnergy, "apparent_energy"},
    {Quantity::Power, "power"},
    {Quantity::ReactivePower, "reactive_power"},
    {Quantity::ApparentPower, "apparent_power"},
    {Quantity::Volume, "volume"},
    {Quantity::Flow, "flow"},
    {Quantity::Mass, "mass"},
    {Quantity::MassFlow, "mass_flow"},
    {Quantity::Temperature, "temperature"},
    {Quantity::TemperatureDifference, "temperature_difference"},
    {Quantity::Pressure, "pressure"},
    {Quantity::Voltage, "voltage"},
    {Quantity::Current, "current"},
    {Quantity::Duration, "duration"},
    {Quantity::VolumeTemperature, "volume_temperature"},
    {Quantity::Frequency, "frequency"},
    {Quantity::Date, "date"},
    {Quantity::Time, "time"},
    {Quantity::Text, "text"},
    {Quantity::Info, "info"},
}};

}  // namespace

std::string_view quantity_name(Quantity q) {
  for (const auto& [value, name] : kNames) {
    if (value == q) return name;
  }
  return "number";
}

std::optional<Quantity> parse_quantity(std::string_view name) {
  for (const auto& [value, n] : kNames) {
    if (n == name) return value;
  }
  return std::nullopt;
}

}  // namespace kamstrup::kmp
