// The `mqtt:` section's Home Assistant keys as the daemon reads them: ha_volume_class with its
// water-meter default, the per-poll format, and what the section takes from the meters (their
// order and the registers' display names).
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>

#include "daemon/config.hpp"

using namespace kamstrup;
using namespace kamstrup::daemon;
using ::testing::HasSubstr;

namespace {

std::string error_of(const std::string& yaml) {
  try {
    parse_config(yaml, "test.yaml");
  } catch (const ConfigError& e) {
    return e.what();
  }
  return "";
}

const std::string kMeters = R"(meters:
  - name: heat
    port: sim:multical403
  - name: water
    port: sim:multical21
    registers: [volume, {register: flow, name: "Cold water flow"}, water_temperature, info]
)";

using Classes = std::vector<std::pair<std::string, std::string>>;

TEST(MqttConfig, AMeterReadingVolumeButNoEnergyGetsTheWaterClass) {
  const Config c = parse_config(kMeters + "mqtt: {}\n", "test.yaml");
  ASSERT_TRUE(c.mqtt);
  EXPECT_EQ(c.mqtt->ha_volume_class, (Classes{{"water", "water"}}));
  // The effective configuration shows it, and reads back the same.
  const std::string dump = dump_config(c);
  EXPECT_THAT(dump, HasSubstr("ha_volume_class:\n    water: water"));
  EXPECT_TRUE(parse_config(dump, "dump.yaml") == c);
}

TEST(MqttConfig, HaVolumeClassOverridesTheDefaultEitherWay) {
  const Config c = parse_config(
      kMeters + "mqtt:\n  ha_volume_class: {water: volume, heat: water}\n", "test.yaml");
  EXPECT_EQ(c.mqtt->ha_volume_class, (Classes{{"water", "volume"}, {"heat", "water"}}));
}

TEST(MqttConfig, HaVolumeClassNamesConfiguredMetersAndKnownClasses) {
  EXPECT_EQ(error_of(kMeters + "mqtt:\n  ha_volume_class: {cellar: water}\n"),
            "mqtt.ha_volume_class.cellar: no meter is named 'cellar'");
  EXPECT_EQ(error_of(kMeters + "mqtt:\n  ha_volume_class: {water: gas}\n"),
            "mqtt.ha_volume_class.water: expected water or volume, got 'gas'");
}

TEST(MqttConfig, TheSectionKnowsTheMetersOrderAndDisplayNames) {
  const Config c = parse_config(kMeters + "mqtt: {format: flat}\n", "test.yaml");
  EXPECT_EQ(c.mqtt->format, sinks::MqttConfig::Format::Flat);
  EXPECT_EQ(c.mqtt->meters, (std::vector<std::string>{"heat", "water"}));
  ASSERT_EQ(c.mqtt->labels.count("water"), 1U);
  EXPECT_EQ(c.mqtt->labels.at("water").at("flow"), "Cold water flow");
  EXPECT_EQ(c.mqtt->labels.count("heat"), 0U);
  EXPECT_EQ(error_of(kMeters + "mqtt: {format: json}\n"),
            "mqtt.format: expected one of nested, flat, got 'json'");
}

// The registers each meter is known to publish in full, for the sweep of entities of registers
// taken out of the list: none for a meter whose protocol names its registers or whose logger
// records may bring others.
TEST(MqttConfig, TheSectionKnowsWhichMetersRegistersAreComplete) {
  const Config c = parse_config(kMeters + R"(  - name: old
    port: sim:multical66c
    protocol: legacy
  - name: logged
    port: sim:multical403
    registers: [heat_energy]
    backfill: 30d
mqtt: {}
)",
                                "test.yaml");
  ASSERT_TRUE(c.mqtt);
  EXPECT_EQ(c.mqtt->registers.count("old"), 0U);
  EXPECT_EQ(c.mqtt->registers.count("logged"), 0U);
  ASSERT_EQ(c.mqtt->registers.count("water"), 1U);
  const auto& water = c.mqtt->registers.at("water");
  for (const char* r : {"volume", "flow", "water_temperature", "info"})
    EXPECT_NE(std::find(water.begin(), water.end(), r), water.end()) << r;
  EXPECT_EQ(std::find(water.begin(), water.end(), "heat_energy"), water.end());
  ASSERT_EQ(c.mqtt->registers.count("heat"), 1U);  // the default list
  const auto& heat = c.mqtt->registers.at("heat");
  EXPECT_NE(std::find(heat.begin(), heat.end(), "heat_energy"), heat.end());
}

}  // namespace
