// Home Assistant MQTT discovery: what a register becomes in Home Assistant (device class, unit,
// state class, entity category, display precision), the ids of its device and entity, and the
// config payload that announces it. Pure (no MQTT, no clock, no logging): mqtt.cpp publishes
// what this file builds and logs what it reports.
//
// Home Assistant version: the payloads target Home Assistant 2025.11 or later (kMinVersion, the
// first release with the temperature_delta device class) and carry nothing that version rejects.
// HA checks a discovered sensor's unit against its device class and drops the whole entity when
// they do not match, so a device class goes out only with a unit from HA's own table; the table,
// its source and what happens to other units are in homeassistant.cpp and docs/homeassistant.md.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "kmp/catalogue.hpp"
#include "kmp/info_code.hpp"
#include "kmp/quantity.hpp"
#include "sinks/sink.hpp"
#include "store/store.hpp"

namespace kamstrup::sinks::ha {

inline constexpr std::string_view kMinVersion = "2025.11";

// The device class of a meter's volume registers: `water` puts them on the Energy dashboard's
// water section; `volume` is the generic one (a heat meter's circulating water).
enum class VolumeClass : std::uint8_t { Volume, Water };

// A register's value as Home Assistant gets it.
struct Sensor {
  // The state topic's payload: the exact decimal (in `unit`), or the readable text of dates,
  // times and ASCII registers.
  std::string value;
  std::string unit;  // unit_of_measurement; "" for none (and always for text)
  bool numeric = false;
  std::string_view device_class;  // "" for none
  std::string_view state_class;   // the catalogue's; "" for none and for text
  bool diagnostic = false;        // entity_category: diagnostic
  int precision = -1;             // suggested_display_precision (fraction digits); -1: none
  // Why the quantity's device class was left out, "" when it was not: the meter's unit is not
  // one HA accepts for it and no exact conversion leads to one.
  std::string dropped;
  bool operator==(const Sensor&) const = default;
};

// What a stored value becomes. Conversions are exact (kmp/units.hpp): `energy_unit` ("" or
// kWh/MWh, MqttConfig::energy_unit) for energy registers, HA's spelling of the same unit (l → L,
// l/h → L/h, days → d), and power-of-ten steps to a unit HA accepts (ton → kg, kA → A).
Sensor sensor(const store::Value& v, VolumeClass volume_class, std::string_view energy_unit);

// The device class Home Assistant has for a quantity; "" when it has none (volume × temperature,
// mass flow, reactive and apparent energy, counts, dates, text).
std::string_view device_class_of(kmp::Quantity q, VolumeClass volume_class);
// Whether Home Assistant kMinVersion accepts `unit` for `device_class`.
bool accepts(std::string_view device_class, std::string_view unit);

// Whether a register describes the meter rather than what it measures (hour counters, info code
// and info-event counter, battery days, clock and date, identifiers): entity_category diagnostic.
bool diagnostic(const kmp::RegisterDef& def);

// The default for a meter that ha_volume_class does not name: a meter whose KMP registers include
// a volume but no energy register is taken for a water meter (no public source gives a water
// meter's GetType code, so its registers are the sign; the default list has heat_energy).
VolumeClass default_volume_class(const std::vector<std::string>& registers);

// For unique ids and discovery topic levels: HA wants [A-Za-z0-9_-]; anything else becomes '_'.
std::string id_part(std::string_view s);

// "kamstrup_<serial>" (the meter's name while its serial is unknown). `with_meter`: for a meter
// whose serial a meter listed before it also reports, "kamstrup_<serial>_<meter>".
std::string device_id(const std::string& meter, const std::string& serial, bool with_meter);
// "<device_id>_<register>".
std::string unique_id(const std::string& device_id, const std::string& reg);

// One entity's discovery config (the payload of <prefix>/sensor/<unique_id>/config).
struct Discovery {
  std::string meter;  // the configured name
  MeterInfo info;
  std::string device_id;
  std::string reg;
  std::string name;  // the register's display name from the file, else the catalogue's
  std::string state_topic;
  std::vector<std::string> availability;  // topics that must all say "online"
};
std::string config_payload(const Discovery& d, const Sensor& s);

// The info code's flags, one binary sensor per flag the meter's table documents
// (kmp::info_flag_table): device_class problem, entity_category diagnostic, state "ON" while the
// flag is set in the latest info code, "OFF" otherwise. Its key in unique ids and topics is
// flag_key(flag.name): "info_<flag>".
inline constexpr std::int32_t kInfoRegister = 99;  // register 0x0063, the /#1 reply's info field
std::string flag_key(std::string_view flag);
std::string_view flag_state(const kmp::InfoFlagDef& flag, std::uint64_t code);
// The payload of <prefix>/binary_sensor/<unique_id>/config; `d.name` is ignored (the flag's
// description names it).
std::string flag_payload(const Discovery& d, const kmp::InfoFlagDef& flag);

}  // namespace kamstrup::sinks::ha
