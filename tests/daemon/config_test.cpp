// Every kind of configuration mistake is rejected before anything starts, with one message that
// names the key path; valid files give the effective configuration with secrets masked.
#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>

#include "daemon/config.hpp"

using namespace kamstrup::daemon;

namespace {

std::string error_of(const std::string& yaml) {
  try {
    parse_config(yaml, "test.yaml");
  } catch (const ConfigError& e) {
    return e.what();
  }
  return "";
}

const char* kMinimal = "meters:\n  - name: heat\n    port: /dev/ttyUSB0\n";

TEST(Config, MinimalFileGetsDefaults) {
  Config c = parse_config(kMinimal, "test.yaml");
  ASSERT_EQ(c.meters.size(), 1U);
  EXPECT_EQ(c.meters[0].register_ids.size(), 8U);  // the default read list
  EXPECT_EQ(c.meters[0].interval, std::chrono::seconds(60));
  EXPECT_EQ(c.meters[0].line.to_string(), "1200 8N2");
  EXPECT_EQ(c.store.path, "kamstrup.db");
  EXPECT_FALSE(c.mqtt.has_value());
  EXPECT_FALSE(c.http.has_value());
}

TEST(Config, ContractKeysParse) {
  Config c = parse_config(R"(
meters:
  - name: heat
    port: /dev/ttyUSB0
    registers: [heat_energy, volume, temp1, temp2, temp_diff, flow, power]
    interval: 15m
  - name: power-meter
    port: rfc2217://pi:2001
    registers: [energy_in, 0x0400]
    interval: 1h
    baud: 9600
    stopbits: 1
store:
  path: /tmp/kamstrup-config-test.db
  retention: 30d
mqtt:
  url: mqtt://127.0.0.1:1883
  base_topic: kamstrup
  homeassistant: true
  energy_unit: kWh
influxdb:
  url: http://127.0.0.1:8086
  database: kamstrup
http:
  listen: 127.0.0.1:9847
)",
                          "test.yaml");
  ASSERT_EQ(c.meters.size(), 2U);
  EXPECT_EQ(c.meters[0].interval, std::chrono::minutes(15));
  EXPECT_EQ(c.meters[1].register_ids, (std::vector<std::uint16_t>{1, 0x400}));
  EXPECT_EQ(c.meters[1].line.to_string(), "9600 8N1");
  EXPECT_EQ(c.store.retention, std::chrono::hours(24 * 30));
  ASSERT_TRUE(c.mqtt.has_value());
  EXPECT_EQ(c.mqtt->energy_unit, "kWh");
  EXPECT_EQ(c.influxdb->database, "kamstrup");
  EXPECT_EQ(c.http->port, 9847);
}

struct Bad {
  std::string yaml;
  std::string expected_start;  // the key path the message must begin with
};

TEST(Config, EachMistakeNamesItsKeyPath) {
  const Bad cases[] = {
      {"meters:\n  - name: heat\n    port: /dev/ttyUSB0\n    intervall: 60s\n",
       "meters[0].intervall: unknown key"},
      {"meters:\n  - name: heat\n    port: /dev/ttyUSB0\n  - name: b\n    port: /dev/x\n    "
       "interval: soon\n",
       "meters[1].interval: expected a duration"},
      {"meters:\n  - name: heat\n    port: /dev/a\n  - name: heat\n    port: /dev/b\n",
       "meters[1].name: duplicate meter name"},
      {"meters:\n  - name: Heat Meter\n    port: /dev/a\n", "meters[0].name:"},
      {"meters:\n  - name: heat\n", "meters[0].port:"},
      {"meters:\n  - name: heat\n    port: /dev/a\n    registers: [heat_energi]\n",
       "meters[0].registers[0]: unknown register 'heat_energi' (did you mean heat_energy?)"},
      {"meters:\n  - name: heat\n    port: /dev/a\n    registers: [temp1, temp1]\n",
       "meters[0].registers[1]:"},
      {"meters:\n  - name: heat\n    port: /dev/a\n    interval: 10ms\n",
       "meters[0].interval: must be at least"},
      {"meters:\n  - name: heat\n    port: /dev/a\n    baud: fast\n", "meters[0].baud:"},
      {"meters:\n  - name: heat\n    port: /dev/a\n    baud: 1234\n",
       "meters[0].baud: expected one of 300, 600, 1200, 2400, 4800, 9600, 19200, 38400, 57600, "
       "115200, got 1234"},
      {"meters:\n  - name: heat\n    port: sim:multical999\n",
       "meters[0].port: unknown simulator profile"},
      {"meters: []\n", "meters: at least one meter"},
      {"store:\n  path: x.db\n", "meters: at least one meter"},
      {std::string(kMinimal).append("mqtt:\n  url: http://broker\n"),
       "mqtt.url: expected a URL starting with mqtt:// or mqtts://"},
      {std::string(kMinimal).append("mqtt:\n  energy_unit: GJ\n"), "mqtt.energy_unit:"},
      {std::string(kMinimal).append("mqtt:\n  password: a\n  password_env: B\n"),
       "mqtt.password: give only one"},
      {std::string(kMinimal).append("mqtt:\n  password_env: KAMSTRUP_TEST_UNSET_VARIABLE\n"),
       "mqtt.password_env: environment variable"},
      {std::string(kMinimal).append("influxdb:\n  url: http://x:8086\n"),
       "influxdb: needs database"},
      {std::string(kMinimal).append("influxdb:\n  url: http://x:8086\n  org: o\n  bucket: b\n"),
       "influxdb: InfluxDB 2 needs all"},
      {std::string(kMinimal).append("http:\n  listen: nowhere\n"), "http.listen:"},
      {std::string(kMinimal).append(
           "domoticz:\n  url: http://d\n  devices:\n    other: {heat_energy: 3}\n"),
       "domoticz.devices.other: no meter is named"},
      {std::string(kMinimal).append("frobnicate: 1\n"), "frobnicate: unknown key"},
      {std::string(kMinimal).append("log_level: loud\n"), "log_level:"},
      {"meters: [\n", "test.yaml: not valid YAML: line"},
      // What `run` would only find out later (issue 10 §5).
      {std::string(kMinimal).append("influxdb:\n  url: http://x:99999\n  database: k\n"),
       "influxdb.url: bad port '99999'"},
      {std::string(kMinimal).append("influxdb:\n  url: http://:8086\n  database: k\n"),
       "influxdb.url: no host"},
      {std::string(kMinimal).append("influxdb:\n  url: http://a b:8086\n  database: k\n"),
       "influxdb.url: a URL cannot contain spaces"},
      {std::string(kMinimal).append("mqtt:\n  url: mqtt://[::1:1883\n"), "mqtt.url: unclosed"},
      {std::string(kMinimal).append("store:\n  path: /nonexistent-dir/k.db\n"),
       "store.path: the directory '/nonexistent-dir'"},
      {std::string(kMinimal).append("files:\n  - path: /nonexistent-dir/r.jsonl\n"),
       "files[0].path: the directory '/nonexistent-dir'"},
      {std::string(kMinimal).append("files:\n  - path: /tmp/k-same.jsonl\n  - path: "
                                    "/tmp/../tmp/k-same.jsonl\n    format: csv\n"),
       "files[1].path: '/tmp/../tmp/k-same.jsonl' is also written by files[0].path"},
      {std::string(kMinimal).append("store:\n  path: /tmp/k-db.db\nfiles:\n  - path: "
                                    "/tmp/k-db.db\n"),
       "files[0].path: '/tmp/k-db.db' is also written by store.path"},
      {"meters:\n  - name: heat\n    port: /dev/a\n    interval: 1m\n    interval: 2m\n",
       "meters[0].interval: duplicate key 'interval' (first on line 4, again on line 5)"},
      {std::string(kMinimal).append("mqtt:\n  qos: 1\nmqtt:\n  qos: 2\n"),
       "mqtt: duplicate key 'mqtt'"},
      {std::string(kMinimal).append("http:\n"), "http: empty section"},
      {std::string(kMinimal).append("mqtt:\n"), "mqtt: empty section"},
      {std::string(kMinimal).append("store:\n  retention: 30m\n"),
       "store.retention: must be at least 1h, got 30m"},
      {std::string(kMinimal).append("exec:\n  command: [x]\n  timeout: 107000d\n"),
       "exec.timeout: must be at most 1h, got 107000d"},
      {"meters:\n  - name: heat\n    port: /dev/a\n    timeout: 107000d\n",
       "meters[0].timeout: must be at most 1m"},
      {"meters:\n  - name: heat\n    port: /dev/a\n    interval: 99999999999999d\n",
       "meters[0].interval: expected a duration"},
      {std::string(kMinimal).append("mqtt:\n  keepalive: 15500ms\n"),
       "mqtt.keepalive: must be a whole multiple of 1s"},
      {"meters:\n  - name: {a: b}\n    port: /dev/a\n",
       "meters[0].name: expected a text, got a mapping"},
      {"meters:\n  - name: heat\n    port: [/dev/a]\n",
       "meters[0].port: expected a port, got a list"},
      {"meters:\n  - name: heat\n    port: /dev/a\n    registers: [{name: Energy}]\n",
       "meters[0].registers[0].register: required"},
      {"meters:\n  - name: heat\n    port: /dev/a\n    registers: ['']\n",
       "meters[0].registers[0]: expected a register name or id"},
      {"meters:\n  - name: heat\n    port: /dev/a\n    registers: [temp1]\n"
       "domoticz:\n  url: http://d\n  devices:\n    heat: {volume: 4}\n",
       "domoticz.devices.heat.volume: meter 'heat' does not read volume"},
      {"meters:\n  - name: heat\n    port: /dev/a\n    registers: [heat_energy]\n"
       "domoticz:\n  url: http://d\n  devices:\n    heat: {heat_energy: {idx: 4, type: kwh}}\n",
       "domoticz.devices.heat.heat_energy.power: a kwh device needs"},
      {std::string(kMinimal).append("influxdb:\n  database: k\n  measurement: 'heat\\'\n"),
       "influxdb.measurement: a backslash cannot be written in line protocol"},
      {std::string(kMinimal).append("influxdb:\n  database: k\n  tags: {meter: x}\n"),
       "influxdb.tags.meter: 'meter' is a tag the output sets itself"},
      {std::string(kMinimal).append("influxdb:\n  database: k\n  meter_tags: {cold: {a: b}}\n"),
       "influxdb.meter_tags.cold: no meter is named"},
      {std::string(kMinimal).append("emoncms:\n  url: http://e\n  apikey: k\n  nodes: {cold: x}\n"),
       "emoncms.nodes.cold: no meter is named"},
  };
  for (const auto& c : cases) {
    std::string e = error_of(c.yaml);
    EXPECT_EQ(e.rfind(c.expected_start, 0), 0U) << "for:\n" << c.yaml << "got: " << e;
    EXPECT_EQ(e.find('\n'), std::string::npos) << "one line: " << e;
  }
}

TEST(Config, SecretsFromFileAndEnvironmentAreMaskedInTheDump) {
  std::string file = ::testing::TempDir() + "/kamstrup-secret";
  std::ofstream(file) << "s3cret-from-file\n";
  ::setenv("KAMSTRUP_TEST_TOKEN", "t0ken-from-env", 1);
  Config c = parse_config(std::string(kMinimal) + "mqtt:\n  username: u\n  password_file: " + file +
                              "\ninfluxdb:\n  url: http://127.0.0.1:8086\n  org: o\n  bucket: b\n"
                              "  token_env: KAMSTRUP_TEST_TOKEN\n",
                          "test.yaml");
  EXPECT_EQ(c.mqtt->password.value, "s3cret-from-file");
  EXPECT_EQ(c.influxdb->token.value, "t0ken-from-env");
  std::string dump = dump_config(c);
  EXPECT_EQ(dump.find("s3cret"), std::string::npos) << dump;
  EXPECT_EQ(dump.find("t0ken"), std::string::npos) << dump;
  EXPECT_NE(dump.find("password_file: " + file), std::string::npos) << dump;
  // The dump is itself a valid configuration: the same one.
  Config again = parse_config(dump, "dump");
  EXPECT_TRUE(again == c) << dump;
}

TEST(Config, Durations) {
  EXPECT_EQ(parse_duration("60s"), std::chrono::seconds(60));
  EXPECT_EQ(parse_duration("15m"), std::chrono::minutes(15));
  EXPECT_EQ(parse_duration("1h"), std::chrono::hours(1));
  EXPECT_EQ(parse_duration("500ms"), std::chrono::milliseconds(500));
  EXPECT_EQ(parse_duration("30d"), std::chrono::hours(720));
  EXPECT_FALSE(parse_duration("1.5h").has_value());
  EXPECT_FALSE(parse_duration("h").has_value());
  EXPECT_FALSE(parse_duration("60").has_value());
}

TEST(Config, BuiltInDefaultIsASimulatedMeter) {
  Config c = default_config();
  ASSERT_EQ(c.meters.size(), 1U);
  EXPECT_EQ(c.meters[0].port, "sim:multical403");
  ASSERT_TRUE(c.console.has_value());
  EXPECT_TRUE(c.console->enabled);
}

}  // namespace
