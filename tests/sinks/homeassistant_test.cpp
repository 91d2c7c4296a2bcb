// Home Assistant discovery, the pure part (src/sinks/homeassistant.cpp): what a register becomes
// in HA, and the kamstrup-402-mqtt flat payload. The broker-side behaviour is in mqtt_test.cpp.
#include "sinks/homeassistant.hpp"

#include <algorithm>
#include <map>
#include <set>
#include <string>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "kmp/catalogue.hpp"
#include "sinks/mqtt.hpp"

namespace kamstrup::sinks {
namespace {

using json = nlohmann::json;
using ha::VolumeClass;

store::Value value(const std::string& name, const std::string& v, const std::string& unit,
                   const std::string& text = "") {
  const kmp::RegisterDef* def = kmp::find_register(std::string_view(name));
  return {def != nullptr ? def->id : -1, name, v, text, unit};
}

ha::Sensor sensor(const std::string& name, const std::string& v, const std::string& unit,
                  VolumeClass vc = VolumeClass::Volume, const std::string& energy_unit = "") {
  return ha::sensor(value(name, v, unit), vc, energy_unit);
}

TEST(HomeAssistantSensor, UnitsHomeAssistantAcceptsKeepTheirDeviceClass) {
  struct Case {
    std::string reg, value, unit, device_class;
  };
  for (const Case& c : std::vector<Case>{
           {"heat_energy", "1.234", "Gcal", "energy"},
           {"heat_energy", "0.012345", "GWh", "energy"},
           {"heat_energy", "123.456", "GJ", "energy"},
           {"heat_energy", "55.006", "MWh", "energy"},
           {"power", "1.2", "MW", "power"},
           {"power", "8.7", "kW", "power"},
           {"volume", "1875.56", "m³", "volume"},
           {"flow", "0.252", "m³/h", "volume_flow_rate"},
           {"temp1", "70.00", "°C", "temperature"},
           {"temp_diff", "29.98", "K", "temperature_delta"},
           {"pressure1", "6.0", "bar", "pressure"},
           {"hour_counter", "7126", "h", "duration"},
           {"voltage_l1", "230", "V", "voltage"},
           {"current_l1", "1.25", "A", "current"},
       }) {
    const ha::Sensor s = sensor(c.reg, c.value, c.unit);
    EXPECT_EQ(s.device_class, c.device_class) << c.reg << " " << c.unit;
    EXPECT_EQ(s.unit, c.unit) << c.reg;
    EXPECT_EQ(s.value, c.value) << c.reg;  // not a digit changed
    EXPECT_TRUE(s.numeric);
    EXPECT_EQ(s.dropped, "") << c.reg;
  }
}

TEST(HomeAssistantSensor, HomeAssistantsSpellingOfTheSameUnit) {
  const ha::Sensor l = sensor("volume", "312456", "l");
  EXPECT_EQ(l.unit, "L");
  EXPECT_EQ(l.value, "312456");
  EXPECT_EQ(l.device_class, "volume");
  const ha::Sensor lh = sensor("flow", "252", "l/h");
  EXPECT_EQ(lh.unit, "L/h");
  EXPECT_EQ(lh.value, "252");
  EXPECT_EQ(lh.device_class, "volume_flow_rate");
  const ha::Sensor days = sensor("battery_days_left", "3650", "days");
  EXPECT_EQ(days.unit, "d");
  EXPECT_EQ(days.value, "3650");
  EXPECT_EQ(days.device_class, "duration");
}

TEST(HomeAssistantSensor, ExactPowerOfTenStepsToAnAcceptedUnit) {
  const ha::Sensor mass = sensor("mass1", "12.345", "ton");
  EXPECT_EQ(mass.unit, "kg");
  EXPECT_EQ(mass.value, "12345");
  EXPECT_EQ(mass.device_class, "weight");
  EXPECT_EQ(mass.precision, 0);
  const ha::Sensor amps = sensor("current_l1", "0.0125", "kA");
  EXPECT_EQ(amps.unit, "A");
  EXPECT_EQ(amps.value, "12.5");
  EXPECT_EQ(amps.device_class, "current");
}

TEST(HomeAssistantSensor, AnUnacceptedUnitLosesTheDeviceClassAndSaysWhy) {
  // "m³×10" has no exact meaning in the unit table: no class, but value, unit, state class.
  const ha::Sensor v = sensor("volume", "187.556", "m³×10");
  EXPECT_EQ(v.device_class, "");
  EXPECT_EQ(v.unit, "m³×10");
  EXPECT_EQ(v.value, "187.556");
  EXPECT_EQ(v.state_class, "total_increasing");
  EXPECT_THAT(v.dropped, ::testing::HasSubstr("unit 'm³×10' is not one Home Assistant 2025.11 "
                                              "accepts for device class volume"));
  // K on a temperature register: Kamstrup's K is a difference, not an absolute temperature.
  const ha::Sensor k = sensor("temp1", "343.15", "K");
  EXPECT_EQ(k.device_class, "");
  EXPECT_THAT(k.dropped, ::testing::HasSubstr("measures temperature_difference, not temperature"));
  // A quantity HA has no device class for is not a loss.
  const ha::Sensor e8 = sensor("temp1_x_m3", "1234", "m³×°C");
  EXPECT_EQ(e8.device_class, "");
  EXPECT_EQ(e8.dropped, "");
  EXPECT_EQ(e8.state_class, "total_increasing");
}

TEST(HomeAssistantSensor, WaterMetersVolumeIsWater) {
  EXPECT_EQ(sensor("volume", "312.456", "m³", VolumeClass::Water).device_class, "water");
  EXPECT_EQ(sensor("volume", "312456", "l", VolumeClass::Water).unit, "L");
  EXPECT_EQ(sensor("volume_reverse", "0.012", "m³", VolumeClass::Water).device_class, "water");
  // Only volumes: the flow stays a flow.
  EXPECT_EQ(sensor("flow", "180", "l/h", VolumeClass::Water).device_class, "volume_flow_rate");
}

TEST(HomeAssistantSensor, EnergyUnitConvertsExactlyFirst) {
  const ha::Sensor kwh = sensor("heat_energy", "55.006", "MWh", VolumeClass::Volume, "kWh");
  EXPECT_EQ(kwh.value, "55006");
  EXPECT_EQ(kwh.unit, "kWh");
  EXPECT_EQ(kwh.precision, 0);
  const ha::Sensor gj = sensor("heat_energy", "123.456", "GJ", VolumeClass::Volume, "kWh");
  EXPECT_EQ(gj.value, "123.456");
  EXPECT_EQ(gj.unit, "GJ");
  EXPECT_EQ(gj.device_class, "energy");
  // Only energy registers.
  EXPECT_EQ(sensor("volume", "1.5", "m³", VolumeClass::Volume, "kWh").value, "1.5");
}

TEST(HomeAssistantSensor, DisplayPrecisionIsTheMetersDecimals) {
  EXPECT_EQ(sensor("heat_energy", "55.006", "MWh").precision, 3);
  EXPECT_EQ(sensor("temp1", "70.00", "°C").precision, 2);
  EXPECT_EQ(sensor("power", "0.100", "kW").precision, 3);
  EXPECT_EQ(sensor("flow", "252", "l/h").precision, 0);
  EXPECT_EQ(sensor("flow", "2520", "l/h").precision, 0);
}

TEST(HomeAssistantSensor, TextRegistersAreTextSensors) {
  const ha::Sensor date =
      ha::sensor(value("date", "220112", "yy:mm:dd", "2022-01-12"), VolumeClass::Volume, "");
  EXPECT_FALSE(date.numeric);
  EXPECT_EQ(date.value, "2022-01-12");
  EXPECT_EQ(date.unit, "");
  EXPECT_EQ(date.device_class, "");
  EXPECT_EQ(date.state_class, "");
  EXPECT_EQ(date.precision, -1);
  EXPECT_TRUE(date.diagnostic);
}

TEST(HomeAssistantSensor, CountersInfoAndIdentifiersAreDiagnostic) {
  for (const char* reg :
       {"hour_counter", "error_hour_counter", "info", "info_event_counter", "battery_days_left",
        "serial_number", "clock", "date", "program_number", "software_edition"}) {
    const kmp::RegisterDef* def = kmp::find_register(std::string_view(reg));
    ASSERT_NE(def, nullptr) << reg;
    EXPECT_TRUE(ha::diagnostic(*def)) << reg;
  }
  for (const char* reg : {"heat_energy", "volume", "temp1", "temp_diff", "flow", "power",
                          "max_flow_year", "max_flow_year_date", "input_a", "water_temperature"}) {
    const kmp::RegisterDef* def = kmp::find_register(std::string_view(reg));
    ASSERT_NE(def, nullptr) << reg;
    EXPECT_FALSE(ha::diagnostic(*def)) << reg;
  }
}

// HA's DEVICE_CLASS_STATE_CLASSES (homeassistant/components/sensor/const.py) for the classes a
// register can get: every catalogue row's state class must be one HA allows with its class.
TEST(HomeAssistantSensor, CatalogueStateClassesAreAllowedWithTheirDeviceClass) {
  const std::set<std::string> totals{"total", "total_increasing"};
  const std::set<std::string> measurement{"measurement"};
  const std::set<std::string> any{"measurement", "total", "total_increasing"};
  const std::map<std::string, std::set<std::string>> allowed{
      {"energy", totals},
      {"power", measurement},
      {"reactive_power", measurement},
      {"apparent_power", measurement},
      {"volume", totals},
      {"water", totals},
      {"volume_flow_rate", measurement},
      {"weight", any},
      {"temperature", measurement},
      {"temperature_delta", measurement},
      {"pressure", measurement},
      {"voltage", measurement},
      {"current", measurement},
      {"duration", any},
      {"frequency", measurement},
  };
  for (const auto& def : kmp::catalogue()) {
    for (auto vc : {VolumeClass::Volume, VolumeClass::Water}) {
      const std::string cls(ha::device_class_of(def.quantity, vc));
      if (cls.empty() || def.state_class.empty()) continue;
      ASSERT_TRUE(allowed.count(cls)) << cls;
      EXPECT_TRUE(allowed.at(cls).count(std::string(def.state_class)))
          << def.name << ": " << def.state_class << " with " << cls;
    }
  }
}

TEST(HomeAssistantSensor, AcceptedUnitsAreHomeAssistants) {
  EXPECT_TRUE(ha::accepts("energy", "Gcal"));
  EXPECT_TRUE(ha::accepts("water", "L"));
  EXPECT_FALSE(ha::accepts("water", "mL"));  // volume takes it, water does not
  EXPECT_TRUE(ha::accepts("volume", "mL"));
  EXPECT_FALSE(ha::accepts("volume", "l"));  // HA spells it L
  EXPECT_FALSE(ha::accepts("volume_flow_rate", "l/h"));
  EXPECT_FALSE(ha::accepts("duration", "days"));
  EXPECT_FALSE(ha::accepts("weight", "ton"));
  EXPECT_FALSE(ha::accepts("energy", ""));
  EXPECT_FALSE(ha::accepts("no_such_class", "W"));
}

TEST(HomeAssistantSensor, AMeterReadingVolumeButNoEnergyIsAWaterMeter) {
  EXPECT_EQ(ha::default_volume_class({"volume", "flow", "water_temperature", "info"}),
            VolumeClass::Water);
  EXPECT_EQ(ha::default_volume_class({"heat_energy", "volume", "flow"}), VolumeClass::Volume);
  EXPECT_EQ(ha::default_volume_class({"volume", "tariff2"}), VolumeClass::Volume);
  EXPECT_EQ(ha::default_volume_class({"temp1", "flow"}), VolumeClass::Volume);
  EXPECT_EQ(ha::default_volume_class({}), VolumeClass::Volume);
  // The /#n and IEC quantities listed for a meter of unknown protocol do not count.
  EXPECT_EQ(ha::default_volume_class({"volume", "flow", "energy_in_tariff1", "peak_power"}),
            VolumeClass::Water);
}

TEST(HomeAssistantIds, SerialFirstThenTheMeterNameForACollision) {
  EXPECT_EQ(ha::device_id("heat", "67894321", false), "kamstrup_67894321");
  EXPECT_EQ(ha::device_id("heat", "67894321", true), "kamstrup_67894321_heat");
  EXPECT_EQ(ha::device_id("flat 2", "", false), "kamstrup_flat_2");
  EXPECT_EQ(ha::unique_id("kamstrup_1", "temp1"), "kamstrup_1_temp1");
}

// An info-code flag: a diagnostic problem sensor named after the flag's description, "ON" while
// its bit is set.
TEST(HomeAssistantConfig, InfoFlagIsADiagnosticProblemSensor) {
  const auto table = kmp::info_flag_table(kmp::InfoCodes::Multical403);
  const auto t1 = std::find_if(table.begin(), table.end(),
                               [](const auto& f) { return f.name == "t1_above_range"; });
  ASSERT_NE(t1, table.end());
  ha::Discovery d{"heat",
                  {"heat", "", "0x0403", "A2", "67894321", "kmp", "multical403"},
                  "kamstrup_67894321",
                  ha::flag_key(t1->name),
                  {},
                  "kamstrup/heat/info/t1_above_range",
                  {"kamstrup/status", "kamstrup/heat/availability"}};
  const json j = json::parse(ha::flag_payload(d, *t1));
  EXPECT_EQ(j["name"], "T1 above measuring range or disconnected");
  EXPECT_EQ(j["unique_id"], "kamstrup_67894321_info_t1_above_range");
  EXPECT_EQ(j["device_class"], "problem");
  EXPECT_EQ(j["entity_category"], "diagnostic");
  EXPECT_EQ(j["state_topic"], "kamstrup/heat/info/t1_above_range");
  EXPECT_FALSE(j.contains("unit_of_measurement"));
  EXPECT_EQ(j["device"]["identifiers"], json::array({"kamstrup_67894321"}));
  EXPECT_EQ(ha::flag_state(*t1, 8), "ON");
  EXPECT_EQ(ha::flag_state(*t1, 10), "ON");
  EXPECT_EQ(ha::flag_state(*t1, 2), "OFF");
  EXPECT_EQ(ha::flag_state(*t1, 0), "OFF");
}

TEST(HomeAssistantConfig, PayloadCarriesOriginCategoryAndPrecision) {
  ha::Discovery d{"heat",
                  {"heat", "", "0x0403", "A2", "67894321", "kmp"},
                  "kamstrup_67894321",
                  "hour_counter",
                  "Operating hours",
                  "kamstrup/heat/hour_counter",
                  {"kamstrup/status", "kamstrup/heat/availability"}};
  const json j = json::parse(ha::config_payload(d, sensor("hour_counter", "7126", "h")));
  EXPECT_EQ(j["name"], "Operating hours");
  EXPECT_EQ(j["unique_id"], "kamstrup_67894321_hour_counter");
  EXPECT_EQ(j["device_class"], "duration");
  EXPECT_EQ(j["state_class"], "total_increasing");
  EXPECT_EQ(j["unit_of_measurement"], "h");
  EXPECT_EQ(j["suggested_display_precision"], 0);
  EXPECT_EQ(j["entity_category"], "diagnostic");
  EXPECT_EQ(j["origin"]["name"], "kamstrup-reader");
  EXPECT_FALSE(j["origin"]["sw_version"].get<std::string>().empty());
  EXPECT_EQ(j["device"]["model"], "0x0403");  // no sourced name for the type: the bare code
  EXPECT_EQ(j["device"]["serial_number"], "67894321");

  d.reg = "heat_energy";
  d.name = "E1 heat energy";
  const json e = json::parse(ha::config_payload(d, sensor("heat_energy", "55.006", "MWh")));
  EXPECT_FALSE(e.contains("entity_category"));
  EXPECT_EQ(e["suggested_display_precision"], 3);
  // A text sensor has neither unit, classes nor precision.
  d.reg = "date";
  const json t = json::parse(ha::config_payload(
      d, ha::sensor(value("date", "220112", "yy:mm:dd", "2022-01-12"), VolumeClass::Volume, "")));
  for (const char* k :
       {"unit_of_measurement", "device_class", "state_class", "suggested_display_precision"})
    EXPECT_FALSE(t.contains(k)) << k;
  EXPECT_EQ(t["entity_category"], "diagnostic");
}

TEST(FlatFormat, KamstrupFourZeroTwoMqttNamesAndExactNumbers) {
  using mqtt_detail::flat_name;
  EXPECT_EQ(flat_name("heat_energy"), "energy");
  EXPECT_EQ(flat_name("temp_diff"), "tempdiff");
  EXPECT_EQ(flat_name("hour_counter"), "hourcounter");
  EXPECT_EQ(flat_name("info_event_counter"), "infoevent");
  EXPECT_EQ(flat_name("min_flow_month_date"), "minflowDate_m");
  EXPECT_EQ(flat_name("max_power_year"), "maxpower_y");
  EXPECT_EQ(flat_name("temp1_x_m3"), "temp1xm3");
  EXPECT_EQ(flat_name("serial_number"), "serial_number");  // none in 402-mqtt: ours

  store::Poll p;
  p.meter = "heat";
  p.values = {value("heat_energy", "227.445", "GJ"),
              value("volume", "2131.935", "m³"),
              value("temp1", "52.81", "°C"),
              value("temp2", "39.90", "°C"),
              value("max_flow_year_date", "220112", "yy:mm:dd", "2022-01-12"),
              value("meter_type_number", "", "ASCII", "6831A00")};
  EXPECT_EQ(mqtt_detail::flat_json(p),
            R"({"energy": 227.445, "volume": 2131.935, "temp1": 52.81, "temp2": 39.90, )"
            R"("maxflowdate_y": 220112})");
  p.values.clear();
  EXPECT_EQ(mqtt_detail::flat_json(p), "{}");
}

}  // namespace
}  // namespace kamstrup::sinks
