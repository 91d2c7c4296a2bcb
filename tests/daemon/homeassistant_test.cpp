// `kamstrup run` with two simulated MULTICAL 21 / flowIQ water meters (`sim:multical21`, which
// both report serial 67012345) delivering to a real mosquitto broker with Home Assistant
// discovery, as a user would run it: the water class, units as HA spells them, display names from
// the file, diagnostics, the two meters told apart, and, after a broker outage, one state per
// register for the backlog while the per-poll topic carries every poll.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <mosquitto.h>

#include <atomic>
#include <functional>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "../e2e/process.hpp"
#include "../support/servers.hpp"
#include "kmp/info_code.hpp"

using namespace kamstrup::test;
namespace support = kamstrup::test::support;
using namespace std::chrono_literals;
using json = nlohmann::json;
using ::testing::HasSubstr;

namespace {

const std::string kBin = KAMSTRUP_BINARY;

bool wait_until(const std::function<bool()>& done, std::chrono::milliseconds limit) {
  const auto give_up = std::chrono::steady_clock::now() + limit;
  while (!done()) {
    if (std::chrono::steady_clock::now() > give_up) return false;
    std::this_thread::sleep_for(20ms);
  }
  return true;
}

struct Message {
  std::string topic;
  std::string payload;
};

// Subscribes to `filter` and records every message in arrival order. The constructor retries the
// connection, so it can be a just-started broker's first client.
class Subscriber {
 public:
  Subscriber(int port, const std::string& filter) {
    mosquitto_lib_init();
    mosq_ = mosquitto_new(nullptr, true, this);
    mosquitto_message_callback_set(mosq_, [](mosquitto*, void* obj, const mosquitto_message* m) {
      auto* self = static_cast<Subscriber*>(obj);
      std::string payload;
      if (m->payload != nullptr)
        payload.assign(static_cast<const char*>(m->payload),
                       static_cast<std::size_t>(m->payloadlen));
      std::lock_guard lock(self->mu_);
      self->got_.push_back({m->topic, std::move(payload)});
    });
    mosquitto_subscribe_callback_set(mosq_, [](mosquitto*, void* obj, int, int, const int*) {
      static_cast<Subscriber*>(obj)->subscribed_ = true;
    });
    if (!wait_until(
            [&] { return mosquitto_connect(mosq_, "127.0.0.1", port, 60) == MOSQ_ERR_SUCCESS; },
            20s)) {
      mosquitto_destroy(mosq_);
      throw std::runtime_error("subscriber cannot connect");
    }
    mosquitto_loop_start(mosq_);
    mosquitto_subscribe(mosq_, nullptr, filter.c_str(), 1);
    if (!wait_until([&] { return subscribed_.load(); }, 10s)) throw std::runtime_error("no SUBACK");
  }
  ~Subscriber() {
    mosquitto_disconnect(mosq_);
    mosquitto_loop_stop(mosq_, true);
    mosquitto_destroy(mosq_);
  }
  Subscriber(const Subscriber&) = delete;
  Subscriber& operator=(const Subscriber&) = delete;

  std::vector<std::string> on(const std::string& topic) {
    std::lock_guard lock(mu_);
    std::vector<std::string> out;
    for (const auto& m : got_) {
      if (m.topic == topic) out.push_back(m.payload);
    }
    return out;
  }
  // The latest non-empty payload on `topic`, waiting for one.
  std::optional<std::string> latest(const std::string& topic, std::chrono::milliseconds limit) {
    std::optional<std::string> found;
    wait_until(
        [&] {
          for (const auto& p : on(topic)) {
            if (!p.empty()) found = p;
          }
          return found.has_value();
        },
        limit);
    return found;
  }

 private:
  mosquitto* mosq_ = nullptr;
  std::mutex mu_;
  std::vector<Message> got_;
  std::atomic<bool> subscribed_{false};
};

std::string write_config(const TempDir& dir, int port) {
  const std::string config = dir / "k.yaml";
  std::ofstream(config) << "meters:\n"
                        << "  - name: cold\n    port: sim:multical21\n    interval: 1s\n"
                        << "    registers: [volume, {register: flow, name: \"Cold water flow\"}, "
                           "water_temperature, info, battery_days_left, hour_counter]\n"
                        << "  - name: hot\n    port: sim:multical21\n    interval: 1s\n"
                        << "    registers: [volume, flow]\n"
                        << "store:\n  path: " << (dir / "k.db") << "\n"
                        << "mqtt:\n  url: mqtt://127.0.0.1:" << port
                        << "\n  client_id: kamstrup-ha-" << getpid() << "\n";
  return config;
}

std::string config_topic(const std::string& unique_id) {
  return "homeassistant/sensor/" + unique_id + "/config";
}

TEST(HomeAssistant, WaterMetersOverMqttWithDiscovery) {
  TempDir dir;
  support::Mosquitto broker(dir.path(), free_tcp_port());
  broker.start();
  Subscriber sub(broker.port(), "#");
  Background daemon({kBin, "run", "--config", write_config(dir, broker.port())}, dir / "daemon");

  auto config = [&](const std::string& unique_id) {
    const auto p = sub.latest(config_topic(unique_id), 30s);
    if (!p) throw std::runtime_error("no discovery config for " + unique_id + "\n" + daemon.err());
    return json::parse(*p);
  };
  // The meter listed first keeps the plain ids; the second, reporting the same serial, gets its
  // name in its ids, and the daemon says so.
  const json volume = config("kamstrup_67012345_volume");
  EXPECT_EQ(volume["state_topic"], "kamstrup/cold/volume");
  EXPECT_EQ(volume["device_class"], "water");  // a meter reading volume but no energy
  EXPECT_EQ(volume["unit_of_measurement"], "m³");
  EXPECT_EQ(volume["state_class"], "total_increasing");
  EXPECT_EQ(volume["suggested_display_precision"], 3);  // the profile's 312.456 m³
  EXPECT_FALSE(volume.contains("entity_category"));
  EXPECT_EQ(volume["device"]["identifiers"], json::array({"kamstrup_67012345"}));
  EXPECT_EQ(volume["device"]["serial_number"], "67012345");
  EXPECT_EQ(volume["device"]["model"], "0x0021");  // the simulator's invented type: bare code
  EXPECT_EQ(volume["origin"]["name"], "kamstrup-reader");

  const json flow = config("kamstrup_67012345_flow");
  EXPECT_EQ(flow["name"], "Cold water flow");
  EXPECT_EQ(flow["unit_of_measurement"], "L/h");
  EXPECT_EQ(flow["device_class"], "volume_flow_rate");
  const json temp = config("kamstrup_67012345_water_temperature");
  EXPECT_EQ(temp["device_class"], "temperature");
  EXPECT_EQ(temp["unit_of_measurement"], "°C");
  const json info = config("kamstrup_67012345_info");
  EXPECT_EQ(info["entity_category"], "diagnostic");
  EXPECT_FALSE(info.contains("device_class"));
  const json battery = config("kamstrup_67012345_battery_days_left");
  EXPECT_EQ(battery["device_class"], "duration");
  EXPECT_EQ(battery["unit_of_measurement"], "d");
  EXPECT_EQ(battery["entity_category"], "diagnostic");
  EXPECT_EQ(config("kamstrup_67012345_hour_counter")["entity_category"], "diagnostic");

  const json hot = config("kamstrup_67012345_hot_volume");
  EXPECT_EQ(hot["state_topic"], "kamstrup/hot/volume");
  EXPECT_EQ(hot["device_class"], "water");
  EXPECT_EQ(hot["device"]["identifiers"], json::array({"kamstrup_67012345_hot"}));
  EXPECT_TRUE(wait_until(
      [&] { return daemon.err().find("both report serial 67012345") != std::string::npos; }, 10s))
      << daemon.err();
  EXPECT_THAT(daemon.err(),
              HasSubstr("'hot' gets the unique ids kamstrup_67012345_hot_<register>"));

  // The register topic carries the value HA shows: the flow in the meter's l/h, as L/h.
  const auto flows = sub.on("kamstrup/cold/flow");
  ASSERT_FALSE(flows.empty());
  EXPECT_THAT(flows.back(), ::testing::MatchesRegex("[0-9]+"));

  // A broker outage: the meters go on being polled; when a new broker is back, each register
  // topic gets the newest value of the backlog once, the state topic every poll.
  broker.stop();
  std::this_thread::sleep_for(5s);
  broker.start();
  Subscriber after(broker.port(), "kamstrup/cold/#");  // first client: the daemon backs off
  ASSERT_TRUE(wait_until([&] { return after.on("kamstrup/cold/state").size() >= 5; }, 40s))
      << daemon.err();
  const std::size_t states = after.on("kamstrup/cold/state").size();
  const std::size_t volumes = after.on("kamstrup/cold/volume").size();
  EXPECT_LT(volumes, states) << "the backlog was replayed into the register topic";
  EXPECT_GE(volumes, 1U);
  EXPECT_EQ(daemon.terminate_and_wait(), 0) << daemon.err();
}

// The info code's flags as diagnostic problem sensors: a simulated MULTICAL 403 (its own process,
// on a pty) whose info code has t1_above_range (8) and an undocumented bit (2) set, with `model:
// multical403` naming the flags. One binary sensor per documented flag, its state from the code.
TEST(HomeAssistant, InfoFlagsAsDiagnosticProblemSensors) {
  TempDir dir;
  const std::string link = dir / "meter";
  std::ofstream(dir / "meter.yaml") << "base: multical403\nserial: 40312345\n"
                                    << "registers:\n  info: \"10\"\n";
  Background sim({kBin, "simulate", "--profile-file", dir / "meter.yaml", "--pty", link},
                 dir / "sim");
  ASSERT_TRUE(sim.wait_for_output("\n", 30000ms)) << sim.err();
  support::Mosquitto broker(dir.path(), free_tcp_port());
  broker.start();
  Subscriber sub(broker.port(), "#");
  std::ofstream(dir / "k.yaml") << "meters:\n  - name: heat\n    port: " << link
                                << "\n    protocol: kmp\n    interval: 1s\n    model: multical403\n"
                                << "    registers: [heat_energy, info]\n"
                                << "store:\n  path: " << (dir / "k.db") << "\n"
                                << "mqtt:\n  url: mqtt://127.0.0.1:" << broker.port()
                                << "\n  client_id: kamstrup-ha-flags-" << getpid() << "\n";
  Background daemon({kBin, "run", "--config", dir / "k.yaml"}, dir / "daemon");

  const auto table = kamstrup::kmp::info_flag_table(kamstrup::kmp::InfoCodes::Multical403);
  for (const auto& flag : table) {
    const std::string id = "kamstrup_40312345_info_" + std::string(flag.name);
    const auto payload = sub.latest("homeassistant/binary_sensor/" + id + "/config", 30s);
    ASSERT_TRUE(payload) << id << "\n" << daemon.err();
    const json c = json::parse(*payload);
    EXPECT_EQ(c["unique_id"], id);
    EXPECT_EQ(c["device_class"], "problem");
    EXPECT_EQ(c["entity_category"], "diagnostic");
    EXPECT_EQ(c["state_topic"], "kamstrup/heat/info/" + std::string(flag.name));
    EXPECT_EQ(c["device"]["identifiers"], json::array({"kamstrup_40312345"}));
    EXPECT_EQ(c["availability"].size(), 2U);
    EXPECT_FALSE(c["name"].get<std::string>().empty());
    const auto state = sub.latest("kamstrup/heat/info/" + std::string(flag.name), 30s);
    ASSERT_TRUE(state) << flag.name;
    EXPECT_EQ(*state, flag.name == "t1_above_range" ? "ON" : "OFF") << flag.name;
  }
  EXPECT_EQ(json::parse(*sub.latest("homeassistant/binary_sensor/kamstrup_40312345_info_no_supply/"
                                    "config",
                                    1s))["name"],
            "No voltage supply");
  // The undocumented bit has no entity of its own (the info register's sensor carries it: 10).
  EXPECT_TRUE(sub.on("homeassistant/binary_sensor/kamstrup_40312345_info_bit_1/config").empty());
  EXPECT_EQ(sub.latest("kamstrup/heat/info", 5s).value_or(""), "10");
  EXPECT_EQ(daemon.terminate_and_wait(), 0) << daemon.err();
}

}  // namespace
