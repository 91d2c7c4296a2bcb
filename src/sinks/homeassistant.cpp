// Home Assistant discovery: the tables. See homeassistant.hpp for the contract.
//
// Device classes and units (Home Assistant 2025.11 and later)
// ------------------------------------------------------------
// Source: home-assistant/core homeassistant/components/sensor/const.py (DEVICE_CLASS_UNITS,
// DEVICE_CLASS_STATE_CLASSES) and homeassistant/const.py (UnitOf*): energy = every UnitOfEnergy
// (J..GJ, mWh..TWh, cal..Gcal; the calories since 2024.10), power W..TW, volume_flow_rate every
// UnitOfVolumeFlowRate (L/h, L/s, m³/s: in 2025.5), temperature_delta (°C, °F, K) since
// 2025.11 (core PR #147358, merged 2025-10-15), water m³/L/gal/ft³/CCF. Where 2025.11's table
// could not be confirmed (kvar for reactive_power, kVA for apparent_power) only the unit that
// every release since 2023 accepts is used, and the others are converted to it exactly.
//
// A value whose unit HA does not accept for the class is converted exactly (kmp/units.hpp) when a
// power-of-ten step leads to an accepted unit, or spelled as HA spells the same unit; otherwise
// it is published without a device class (still with its unit, state class and value), and
// sensor() says why in Sensor::dropped so that the output logs it once. HA has no device class
// for m³×°C, ton/h, varh or VAh, so those never have one (nothing is dropped there).

#include "sinks/homeassistant.hpp"

#include <algorithm>
#include <array>
#include <cctype>
#include <utility>

#include "kmp/decimal.hpp"
#include "kmp/units.hpp"
#include "text/text.hpp"

#ifndef KAMSTRUP_VERSION
#define KAMSTRUP_VERSION "0.0.0"
#endif

namespace kamstrup::sinks::ha {

namespace {

using Q = kmp::Quantity;

struct ClassUnits {
  std::string_view device_class;
  std::vector<std::string_view> units;
};

// The units HA 2025.11 accepts per device class, for the classes a Kamstrup register can have.
const std::array<ClassUnits, 15>& accepted_units() {
  static const std::array<ClassUnits, 15> t{{
      {"energy",
       {"J", "kJ", "MJ", "GJ", "mWh", "Wh", "kWh", "MWh", "GWh", "TWh", "cal", "kcal", "Mcal",
        "Gcal"}},
      {"power", {"W", "kW", "MW", "GW", "TW"}},
      {"reactive_power", {"var"}},
      {"apparent_power", {"VA"}},
      {"volume", {"m³", "L", "mL", "gal", "ft³", "CCF"}},
      {"water", {"m³", "L", "gal", "ft³", "CCF"}},
      {"volume_flow_rate", {"m³/h", "m³/s", "L/h", "L/min", "L/s", "mL/s", "gal/min", "ft³/min"}},
      {"weight", {"kg", "g", "mg", "µg", "oz", "lb", "st"}},
      {"temperature", {"°C", "°F", "K"}},
      {"temperature_delta", {"°C", "°F", "K"}},
      {"pressure", {"Pa", "hPa", "kPa", "bar", "cbar", "mbar", "mmHg", "inHg", "psi"}},
      {"voltage", {"µV", "mV", "V", "kV", "MV"}},
      {"current", {"mA", "A"}},
      {"duration", {"d", "h", "min", "s", "ms"}},
      {"frequency", {"Hz", "kHz", "MHz", "GHz"}},
  }};
  return t;
}

// The meter's spelling → HA's spelling of the same unit: the value does not change. (HA's "gal"
// is the US gallon, as the meter's "US gal".)
constexpr std::pair<std::string_view, std::string_view> kSpelling[] = {
    {"l", "L"},    {"l/h", "L/h"},    {"l/min", "L/min"},
    {"days", "d"}, {"US gal", "gal"}, {"US gal/min", "gal/min"},
};

// The meter's unit → an accepted unit an exact power-of-ten step away (kmp::convert_exact).
constexpr std::pair<std::string_view, std::string_view> kScaled[] = {
    {"ton", "kg"}, {"kA", "A"},     {"kVA", "VA"},   {"MVA", "VA"},
    {"GVA", "VA"}, {"kvar", "var"}, {"Mvar", "var"}, {"Gvar", "var"},
};

// Registers of the meter's clock (the min/max dates are readings, not diagnostics).
constexpr std::string_view kClockRegisters[] = {"clock", "date", "target_date", "time_zone"};

// Gives `s` its device class, converting the value and unit where that makes HA accept them;
// true when `value` changed.
bool classify(const kmp::RegisterDef& def, VolumeClass vc, kmp::Decimal& value, Sensor& s) {
  const std::string_view cls = device_class_of(def.quantity, vc);
  if (cls.empty()) return false;
  // A unit that measures something else (a temperature register sent in K, which Kamstrup uses
  // for differences) is not made to fit.
  if (auto uq = kmp::unit_quantity(s.unit); uq && *uq != def.quantity) {
    s.dropped = "the meter's unit '" + s.unit + "' measures " +
                std::string(kmp::quantity_name(*uq)) + ", not " +
                std::string(kmp::quantity_name(def.quantity));
    return false;
  }
  if (accepts(cls, s.unit)) {
    s.device_class = cls;
    return false;
  }
  for (const auto& [meter, spelled] : kSpelling) {
    if (meter == s.unit && accepts(cls, spelled)) {
      s.unit = spelled;
      s.device_class = cls;
      return false;
    }
  }
  for (const auto& [from, to] : kScaled) {
    if (from != s.unit || !accepts(cls, to)) continue;
    if (auto c = kmp::convert_exact(value, from, to)) {
      value = *c;
      s.unit = to;
      s.device_class = cls;
      return true;
    }
  }
  s.dropped = s.unit.empty()
                  ? "no unit, and Home Assistant " + std::string(kMinVersion) +
                        " needs one for device class " + std::string(cls)
                  : "unit '" + s.unit + "' is not one Home Assistant " + std::string(kMinVersion) +
                        " accepts for device class " + std::string(cls);
  return false;
}

}  // namespace

std::string_view device_class_of(kmp::Quantity q, VolumeClass volume_class) {
  switch (q) {
    case Q::Energy:
      return "energy";
    case Q::Power:
      return "power";
    case Q::ReactivePower:
      return "reactive_power";
    case Q::ApparentPower:
      return "apparent_power";
    case Q::Volume:
      return volume_class == VolumeClass::Water ? "water" : "volume";
    case Q::Flow:
      return "volume_flow_rate";
    case Q::Mass:
      return "weight";
    case Q::Temperature:
      return "temperature";
    case Q::TemperatureDifference:
      return "temperature_delta";
    case Q::Pressure:
      return "pressure";
    case Q::Voltage:
      return "voltage";
    case Q::Current:
      return "current";
    case Q::Duration:
      return "duration";
    case Q::Frequency:
      return "frequency";
    default:
      return {};
  }
}

bool accepts(std::string_view device_class, std::string_view unit) {
  for (const auto& c : accepted_units()) {
    if (c.device_class == device_class)
      return std::find(c.units.begin(), c.units.end(), unit) != c.units.end();
  }
  return false;
}

bool diagnostic(const kmp::RegisterDef& def) {
  switch (def.quantity) {
    case Q::Info:
    case Q::Text:
    case Q::Duration:  // hour counters, battery days left
      return true;
    case Q::Number:  // identifiers and configuration; of the counts only the info events
      return def.state_class.empty() || def.name == "info_event_counter";
    case Q::Date:
    case Q::Time:
      return std::find(std::begin(kClockRegisters), std::end(kClockRegisters), def.name) !=
             std::end(kClockRegisters);
    default:
      return false;
  }
}

VolumeClass default_volume_class(const std::vector<std::string>& registers) {
  bool volume = false;
  for (const auto& name : registers) {
    const kmp::RegisterDef* def = kmp::find_register(std::string_view(name));
    // Quantities of the /#n and IEC replies (listed for a meter whose protocol is not known yet)
    // say nothing about what the meter is: those are heat meters' replies.
    if (def == nullptr || def->id < 0) continue;
    if (def->quantity == Q::Energy) return VolumeClass::Volume;
    volume = volume || def->quantity == Q::Volume;
  }
  return volume ? VolumeClass::Water : VolumeClass::Volume;
}

Sensor sensor(const store::Value& v, VolumeClass volume_class, std::string_view energy_unit) {
  Sensor s;
  const kmp::RegisterDef* def = kmp::find_register(std::string_view(v.name));
  if (def != nullptr) s.diagnostic = diagnostic(*def);
  if (!v.text.empty() || v.value.empty()) {
    s.value = v.text;  // dates, times, ASCII, RTC: the readable text, a text sensor
    return s;
  }
  s.numeric = true;
  s.value = v.value;
  s.unit = v.unit;
  if (def != nullptr) s.state_class = def->state_class;
  auto d = kmp::Decimal::parse(v.value);
  if (!d) return s;  // not an exact decimal: sent as it is, without classes
  bool converted = false;
  if (def != nullptr && def->quantity == Q::Energy && !energy_unit.empty()) {
    // Exact power-of-ten scaling only (Wh/kWh/MWh/GWh); GJ and Gcal stay as they are.
    if (auto c = kmp::convert_exact(*d, v.unit, energy_unit)) {
      *d = *c;
      s.unit = energy_unit;
      converted = true;
    }
  }
  if (def != nullptr && classify(*def, volume_class, *d, s)) converted = true;
  if (converted) s.value = d->to_string();
  s.precision = d->exponent < 0 ? -d->exponent : 0;
  return s;
}

std::string id_part(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-')) c = '_';
  }
  return out.empty() ? "_" : out;
}

std::string device_id(const std::string& meter, const std::string& serial, bool with_meter) {
  if (serial.empty()) return "kamstrup_" + id_part(meter);
  std::string id = "kamstrup_" + id_part(serial);
  if (with_meter) id += "_" + id_part(meter);
  return id;
}

std::string unique_id(const std::string& device_id, const std::string& reg) {
  return device_id + "_" + id_part(reg);
}

namespace {

// The payload's start: name, ids, state and availability topics.
std::string entity_head(const Discovery& d, const std::string& name) {
  using text::json_quote;
  std::string o = "{\"name\": " + json_quote(name) +
                  ", \"unique_id\": " + json_quote(unique_id(d.device_id, d.reg)) +
                  ", \"state_topic\": " + json_quote(d.state_topic) + ", \"availability\": [";
  for (std::size_t i = 0; i < d.availability.size(); ++i)
    o += (i == 0 ? "{\"topic\": " : ", {\"topic\": ") + json_quote(d.availability[i]) + "}";
  return o + "], \"availability_mode\": \"all\"";
}

// The payload's end: the device and the origin.
std::string device_tail(const Discovery& d) {
  using text::json_quote;
  // The model from the sourced meter-type table (kmp::meter_type_name) when it names the type,
  // else the bare GetType code: no guessed model names.
  const std::string& model = d.info.model.empty() ? d.info.meter_type : d.info.model;
  std::string o = ", \"device\": {\"identifiers\": [" + json_quote(d.device_id) +
                  "], \"manufacturer\": \"Kamstrup\"";
  if (!model.empty()) o += ", \"model\": " + json_quote(model);
  if (!d.info.serial.empty()) o += ", \"serial_number\": " + json_quote(d.info.serial);
  if (!d.info.sw_revision.empty()) o += ", \"sw_version\": " + json_quote(d.info.sw_revision);
  o += ", \"name\": " + json_quote("Kamstrup " + d.meter) + "}";
  o += ", \"origin\": {\"name\": \"kamstrup-reader\", \"sw_version\": " +
       json_quote(KAMSTRUP_VERSION) + "}}";
  return o;
}

}  // namespace

std::string config_payload(const Discovery& d, const Sensor& s) {
  using text::json_quote;
  std::string o = entity_head(d, d.name);
  if (s.numeric) {
    if (!s.unit.empty()) o += ", \"unit_of_measurement\": " + json_quote(s.unit);
    if (!s.device_class.empty()) o += ", \"device_class\": " + json_quote(s.device_class);
    if (!s.state_class.empty()) o += ", \"state_class\": " + json_quote(s.state_class);
    if (s.precision >= 0) o += ", \"suggested_display_precision\": " + std::to_string(s.precision);
  }
  if (s.diagnostic) o += ", \"entity_category\": \"diagnostic\"";
  return o + device_tail(d);
}

std::string flag_key(std::string_view flag) {
  return "info_" + std::string(flag);
}

std::string_view flag_state(const kmp::InfoFlagDef& flag, std::uint64_t code) {
  return flag.bit < 64 && ((code >> flag.bit) & 1U) != 0 ? "ON" : "OFF";
}

std::string flag_payload(const Discovery& d, const kmp::InfoFlagDef& flag) {
  std::string name(flag.description);  // "no voltage supply" → "No voltage supply"
  if (!name.empty()) name[0] = static_cast<char>(std::toupper(static_cast<unsigned char>(name[0])));
  return entity_head(d, name) +
         ", \"device_class\": \"problem\", \"entity_category\": \"diagnostic\"" + device_tail(d);
}

}  // namespace kamstrup::sinks::ha
