// The configuration contract: one key table per section drives parsing, the dump and the docs.
// The round trip below is generated from the tables themselves, so a key added to a table but
// forgotten by the dump (or dumped wrongly) fails here without anyone writing a new test.
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include "daemon/config.hpp"

using namespace kamstrup;
using namespace kamstrup::daemon;

namespace {

struct Generator {
  std::string dir;                 // temp files for path keys
  std::set<std::string> excluded;  // "section.key" left out of this run
  std::set<std::string> covered;   // "section.key" written

  // A YAML mapping (block style, indented by `indent`) with every key of the table.
  template <class T>
  std::string section(const config::Table<T>& t, const std::string& name, int indent) {
    const std::string pad(static_cast<std::size_t>(indent), ' ');
    std::string out;
    for (const auto& k : t.keys) {
      const std::string id = name + "." + k.meta.name;
      if (excluded.count(id) != 0) continue;
      covered.insert(id);
      out += pad + value_line(k.meta, id) + "\n";
    }
    return out;
  }

  std::string value_line(const config::Meta& m, const std::string& id) {
    switch (m.kind) {
      case config::KeyKind::Secret:
        return m.name + "_env: KAMSTRUP_RT_SECRET";
      case config::KeyKind::Path: {
        std::string file = dir + "/" + id;
        for (char& c : file) {
          if (c == '[' || c == ']') c = '_';
        }
        std::ofstream(file) << "x\n";
        return m.name + ": " + file;
      }
      default:
        EXPECT_FALSE(m.example.empty()) << id << " has no example";
        return m.name + ": " + m.example;
    }
  }

  std::string file() {
    std::string y = "meters:\n  - " + section(meter_keys(), "meters[]", 4).substr(4);
    y += "store:\n" + section(store::store_keys(), "store", 2);
    y += "http:\n" + section(http_keys(), "http", 2);
    y += "console:\n" + section(sinks::console_keys(), "console", 2);
    y += "mqtt:\n" + section(sinks::mqtt_keys(), "mqtt", 2);
    y += "influxdb:\n" + section(sinks::influx_keys(), "influxdb", 2);
    y += "domoticz:\n" + section(sinks::domoticz_keys(), "domoticz", 2);
    y += "emoncms:\n" + section(sinks::emoncms_keys(), "emoncms", 2);
    y += "files:\n  - " + section(sinks::file_keys(), "files[]", 4).substr(4);
    y += "exec:\n" + section(sinks::exec_keys(), "exec", 2);
    y += "log_level: debug\n";
    for (const char* top : {"meters", "store", "http", "console", "mqtt", "influxdb", "domoticz",
                            "emoncms", "files", "exec", "log_level"})
      covered.insert(std::string("top.") + top);
    return y;
  }
};

template <class T>
void all_keys(const config::Table<T>& t, const std::string& name, std::set<std::string>& out) {
  for (const auto& k : t.keys) out.insert(name + "." + k.meta.name);
}

TEST(ConfigContract, ParseOfTheDumpIsTheSameConfigForEveryKey) {
  ::setenv("KAMSTRUP_RT_SECRET", "the-secret", 1);
  const std::string dir = ::testing::TempDir() + "/kamstrup-contract";
  std::filesystem::create_directories(dir);
  // Keys that exclude each other are covered over two runs: InfluxDB 2 then 1, and a /#n meter
  // with a scale then a KMP-capable one with logger backfill.
  const std::set<std::string> runs[] = {
      {"influxdb.database", "influxdb.username", "influxdb.password", "meters[].backfill"},
      {"influxdb.org", "influxdb.bucket", "influxdb.token", "meters[].protocol", "meters[].scale"},
  };
  std::set<std::string> covered;
  for (const auto& excluded : runs) {
    Generator g{dir, excluded, {}};
    const std::string yaml = g.file();
    Config c;
    ASSERT_NO_THROW(c = parse_config(yaml, "generated.yaml")) << yaml;
    const std::string dump = dump_config(c);
    Config again;
    ASSERT_NO_THROW(again = parse_config(dump, "dump.yaml")) << dump;
    EXPECT_TRUE(again == c) << "generated:\n" << yaml << "\ndump:\n" << dump;
    // Every key written is in the dump, under its own name (a secret as its reference).
    for (const auto& id : g.covered) {
      const std::string key = id.substr(id.find('.') + 1);
      const bool found = dump.find("\n" + key + ":") != std::string::npos ||
                         dump.find(" " + key + ":") != std::string::npos ||
                         dump.find(" " + key + "_env: KAMSTRUP_RT_SECRET") != std::string::npos;
      EXPECT_TRUE(found) << id << " missing from the dump:\n" << dump;
    }
    EXPECT_EQ(dump.find("the-secret"), std::string::npos) << dump;
    covered.insert(g.covered.begin(), g.covered.end());
  }
  std::set<std::string> every;
  all_keys(meter_keys(), "meters[]", every);
  all_keys(store::store_keys(), "store", every);
  all_keys(http_keys(), "http", every);
  all_keys(sinks::console_keys(), "console", every);
  all_keys(sinks::mqtt_keys(), "mqtt", every);
  all_keys(sinks::influx_keys(), "influxdb", every);
  all_keys(sinks::domoticz_keys(), "domoticz", every);
  all_keys(sinks::emoncms_keys(), "emoncms", every);
  all_keys(sinks::file_keys(), "files[]", every);
  all_keys(sinks::exec_keys(), "exec", every);
  for (const auto& k : top_keys().keys) every.insert("top." + k.meta.name);
  for (const auto& id : every) EXPECT_EQ(covered.count(id), 1U) << id << " never exercised";
}

// Found by config_fuzz (input kept in fuzz/corpus/config/config-roundtrip-1.yaml): an id the
// catalogue has no name for was dumped as "register_1536", a name the loader refused.
TEST(ConfigContract, AnUncataloguedRegisterIdSurvivesTheDump) {
  const std::string yaml =
      "meters:\n  - name: power-meter\n    port: sim:multical403\n"
      "    registers: [heat_energy, 0x0600, {register: 1537, name: Spare}]\n";
  const Config c = parse_config(yaml, "ids.yaml");
  const std::string dump = dump_config(c);
  EXPECT_NE(dump.find("register_1536"), std::string::npos) << dump;
  Config again;
  ASSERT_NO_THROW(again = parse_config(dump, "dump.yaml")) << dump;
  EXPECT_TRUE(again == c) << dump;
  ASSERT_EQ(again.meters.at(0).register_ids.size(), 3U);
  EXPECT_EQ(again.meters[0].register_ids[1], 0x0600);
  EXPECT_EQ(again.meters[0].register_ids[2], 1537);
}

TEST(ConfigContract, InlineSecretsAreMaskedAndReferencesKept) {
  ::setenv("KAMSTRUP_RT_TOKEN", "t0ken", 1);
  const std::string file = ::testing::TempDir() + "/kamstrup-rt-pass";
  std::ofstream(file) << "pa55\n";
  Config c = parse_config(
      "meters: [{name: heat, port: /dev/null}]\n"
      "mqtt: {username: u, password: inline-s3cret}\n"
      "influxdb: {org: o, bucket: b, token_env: KAMSTRUP_RT_TOKEN}\n"
      "domoticz: {url: 'http://d', username: a, password_file: '" +
          file + "', devices: {heat: {temp1: 3}}}\n",
      "t.yaml");
  EXPECT_EQ(c.mqtt->password.value, "inline-s3cret");
  EXPECT_EQ(c.influxdb->token.value, "t0ken");
  EXPECT_EQ(c.domoticz->password.value, "pa55");
  const std::string dump = dump_config(c);
  EXPECT_NE(dump.find("password: \"********\""), std::string::npos) << dump;
  EXPECT_NE(dump.find("token_env: KAMSTRUP_RT_TOKEN"), std::string::npos) << dump;
  EXPECT_NE(dump.find("password_file: " + file), std::string::npos) << dump;
  for (const char* s : {"inline-s3cret", "t0ken", "pa55"})
    EXPECT_EQ(dump.find(s), std::string::npos) << s << " leaked:\n" << dump;
}

TEST(ConfigContract, SystemdCredentialsAreRead) {
  const std::string dir = ::testing::TempDir() + "/kamstrup-creds";
  std::filesystem::create_directories(dir);
  std::ofstream(dir + "/mqtt-pass") << "from-credential\n";
  ::setenv("CREDENTIALS_DIRECTORY", dir.c_str(), 1);
  Config c = parse_config(
      "meters: [{name: heat, port: /dev/null}]\n"
      "mqtt: {username: u, password_credential: mqtt-pass}\n",
      "t.yaml");
  EXPECT_EQ(c.mqtt->password.value, "from-credential");
  EXPECT_NE(dump_config(c).find("password_credential: mqtt-pass"), std::string::npos);
  ::unsetenv("CREDENTIALS_DIRECTORY");
  try {
    parse_config(
        "meters: [{name: heat, port: /dev/null}]\n"
        "mqtt: {username: u, password_credential: mqtt-pass}\n",
        "t.yaml");
    FAIL() << "no CREDENTIALS_DIRECTORY accepted";
  } catch (const ConfigError& e) {
    EXPECT_EQ(std::string(e.what()).rfind("mqtt.password_credential: $CREDENTIALS_DIRECTORY", 0),
              0U)
        << e.what();
  }
}

// The annotated example names every key (commented out or not), so a user finds each one there.
TEST(ConfigContract, TheExampleFileShowsEveryKey) {
  std::ifstream in(std::string(KAMSTRUP_SOURCE_DIR) + "/kamstrup.example.yaml");
  ASSERT_TRUE(in.good());
  std::stringstream ss;
  ss << in.rdbuf();
  const std::string text = ss.str();
  auto shows = [&text](const std::string& key) {
    for (const std::string& form : {key + ":", key + "_file:", key + "_env:"}) {
      if (text.find(" " + form) != std::string::npos) return true;
    }
    return false;
  };
  auto check = [&](const auto& table) {
    for (const auto& k : table.keys) {
      EXPECT_TRUE(shows(k.meta.name))
          << table.name << "." << k.meta.name << " is not in kamstrup.example.yaml";
    }
  };
  check(meter_keys());
  check(store::store_keys());
  check(http_keys());
  check(sinks::console_keys());
  check(sinks::mqtt_keys());
  check(sinks::influx_keys());
  check(sinks::domoticz_keys());
  check(sinks::emoncms_keys());
  check(sinks::file_keys());
  check(sinks::exec_keys());
}

// docs/config.md carries the tables made by `kamstrup config docs`; this fails when a key's
// documentation changed without regenerating it (`kamstrup config docs --write docs/config.md`).
TEST(ConfigContract, DocsConfigMdIsGeneratedFromTheTables) {
  std::ifstream in(std::string(KAMSTRUP_SOURCE_DIR) + "/docs/config.md");
  ASSERT_TRUE(in.good());
  std::stringstream ss;
  ss << in.rdbuf();
  const std::string text = ss.str();
  const std::string begin = "<!-- BEGIN GENERATED: kamstrup config docs -->\n";
  const auto b = text.find(begin);
  const auto e = text.find("<!-- END GENERATED -->");
  ASSERT_NE(b, std::string::npos);
  ASSERT_NE(e, std::string::npos);
  EXPECT_EQ(text.substr(b + begin.size(), e - b - begin.size()), config_reference())
      << "run: build/src/cli/kamstrup config docs --write docs/config.md";
}

}  // namespace
