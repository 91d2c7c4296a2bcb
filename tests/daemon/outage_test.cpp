// `kamstrup run` as a real process delivering to real servers that go away and come back: a
// mosquitto broker and an influxd, each started by the test on a free loopback port, stopped
// while the daemon keeps polling its built-in simulated meter, and started again (a new process
// on the same port). A `files` jsonl output is the reference of what was polled: every poll in it
// must reach the server (at least once, in order), also when the daemon was killed with -9
// while the output was down.
#include <gtest/gtest.h>
#include <mosquitto.h>

#include <atomic>
#include <ctime>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <regex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "../e2e/process.hpp"
#include "../support/servers.hpp"
#include "sinks/influxdb.hpp"

using namespace kamstrup::test;
namespace support = kamstrup::test::support;
using namespace std::chrono_literals;
using json = nlohmann::json;

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

// Complete JSON lines of a jsonl output (a line still being written is ignored).
std::vector<json> jsonl(const std::string& path) {
  const std::string text = Background::slurp(path);
  std::vector<json> lines;
  std::size_t start = 0;
  for (std::size_t nl; (nl = text.find('\n', start)) != std::string::npos; start = nl + 1) {
    json j = json::parse(text.substr(start, nl - start), nullptr, false);
    EXPECT_FALSE(j.is_discarded()) << path << ": bad line: " << text.substr(start, nl - start);
    if (!j.is_discarded()) lines.push_back(std::move(j));
  }
  return lines;
}

std::vector<std::string> jsonl_times(const std::string& path) {
  std::vector<std::string> times;
  for (const auto& l : jsonl(path)) times.push_back(l.at("time").get<std::string>());
  return times;
}

// "2026-01-12T08:30:00.250Z" → Unix ms; -1 when not in that form.
std::int64_t rfc3339_ms(const std::string& text) {
  static const std::regex re(R"(^(\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d)\.(\d{3})Z$)");
  std::smatch m;
  if (!std::regex_match(text, m, re)) return -1;
  std::tm tm{};
  tm.tm_year = std::stoi(m[1]) - 1900;
  tm.tm_mon = std::stoi(m[2]) - 1;
  tm.tm_mday = std::stoi(m[3]);
  tm.tm_hour = std::stoi(m[4]);
  tm.tm_min = std::stoi(m[5]);
  tm.tm_sec = std::stoi(m[6]);
  return static_cast<std::int64_t>(timegm(&tm)) * 1000 + std::stoi(m[7]);
}

// A config with one simulated meter polled every second, its history in <dir>/k.db and a jsonl
// reference output in <dir>/polls.jsonl; `outputs` adds the output under test.
std::string write_config(const TempDir& dir, const std::string& outputs) {
  const std::string config = dir / "k.yaml";
  std::ofstream(config) << "meters:\n  - name: heat\n    port: sim:multical403\n    interval: 1s\n"
                        << "store:\n  path: " << (dir / "k.db") << "\n"
                        << "files:\n  - path: " << (dir / "polls.jsonl") << "\n    format: jsonl\n"
                        << outputs;
  return config;
}

// ---------------------------------------------------------------------------------------------
// mosquitto on 127.0.0.1:port (tests/support/servers.hpp: no persistence, anonymous); start()
// again after stop() is a restart on the same port. Started without waiting for it to listen
// (the caller's first client does).
class Broker : public support::Mosquitto {
 public:
  Broker(const TempDir& dir, int port) : Mosquitto(dir.path(), port) {}
  void start() { Mosquitto::start(/*wait=*/false); }
};

// A libmosquitto client with a fixed id and a persistent session (clean_session = false),
// subscribed to one topic with QoS 1, recording each payload in arrival order. The constructor
// retries the connection every few milliseconds, so it is the first client of a broker that is
// just starting.
class Subscriber {
 public:
  Subscriber(int port, const std::string& client_id, const std::string& topic) {
    mosquitto_lib_init();
    mosq_ = mosquitto_new(client_id.c_str(), false, this);
    if (mosq_ == nullptr) throw std::runtime_error("mosquitto_new");
    mosquitto_message_callback_set(mosq_, [](mosquitto*, void* obj, const mosquitto_message* m) {
      auto* self = static_cast<Subscriber*>(obj);
      std::string payload;
      if (m->payload != nullptr)
        payload.assign(static_cast<const char*>(m->payload),
                       static_cast<std::size_t>(m->payloadlen));
      std::lock_guard lock(self->mu_);
      self->payloads_.push_back(std::move(payload));
    });
    mosquitto_subscribe_callback_set(mosq_, [](mosquitto*, void* obj, int, int, const int*) {
      static_cast<Subscriber*>(obj)->subscribed_ = true;
    });
    const bool connected = wait_until(
        [&] { return mosquitto_connect(mosq_, "127.0.0.1", port, 60) == MOSQ_ERR_SUCCESS; }, 20s);
    if (!connected) {
      mosquitto_destroy(mosq_);
      throw std::runtime_error("subscriber cannot connect to port " + std::to_string(port));
    }
    mosquitto_loop_start(mosq_);
    mosquitto_subscribe(mosq_, nullptr, topic.c_str(), 1);
    if (!wait_until([&] { return subscribed_.load(); }, 10s)) {
      close();
      throw std::runtime_error("subscriber: no SUBACK");
    }
  }
  ~Subscriber() { close(); }
  Subscriber(const Subscriber&) = delete;
  Subscriber& operator=(const Subscriber&) = delete;

  [[nodiscard]] std::vector<std::string> payloads() {
    std::lock_guard lock(mu_);
    return payloads_;
  }

 private:
  void close() {
    if (mosq_ == nullptr) return;
    mosquitto_disconnect(mosq_);
    mosquitto_loop_stop(mosq_, true);
    mosquitto_destroy(mosq_);
    mosq_ = nullptr;
  }

  mosquitto* mosq_ = nullptr;
  std::mutex mu_;
  std::vector<std::string> payloads_;
  std::atomic<bool> subscribed_{false};
};

// The "time" of each state message, in arrival order, over every subscriber connection.
class StateLog {
 public:
  void add(const std::vector<std::string>& payloads) {
    for (const auto& p : payloads) {
      json j = json::parse(p, nullptr, false);
      EXPECT_TRUE(j.is_object() && j.contains("time")) << "bad state message: " << p;
      if (j.is_object() && j.contains("time")) times.push_back(j.at("time").get<std::string>());
    }
  }
  [[nodiscard]] std::set<std::string> set() const { return {times.begin(), times.end()}; }
  std::vector<std::string> times;
};

std::vector<std::string> times_of(const std::vector<std::string>& payloads) {
  StateLog log;
  log.add(payloads);
  return log.times;
}

bool contains_all(const std::vector<std::string>& want, const std::vector<std::string>& got) {
  const std::set<std::string> have(got.begin(), got.end());
  for (const auto& t : want) {
    if (have.count(t) == 0) return false;
  }
  return true;
}

// At least once and in order: a time seen for the first time is later than every time seen
// before it (a re-sent message repeats one already seen; nothing overtakes).
void expect_in_order(const std::vector<std::string>& arrivals) {
  std::set<std::string> seen;
  std::string latest;
  for (std::size_t i = 0; i < arrivals.size(); ++i) {
    const auto& t = arrivals[i];
    if (seen.count(t) != 0) continue;
    EXPECT_GT(t, latest) << "state message " << i << " (" << t << ") arrived after " << latest;
    seen.insert(t);
    latest = std::max(latest, t);
  }
}

std::vector<std::string> missing(const std::vector<std::string>& want,
                                 const std::vector<std::string>& got) {
  const std::set<std::string> have(got.begin(), got.end());
  std::vector<std::string> out;
  for (const auto& t : want) {
    if (have.count(t) == 0) out.push_back(t);
  }
  return out;
}

std::string dump(const std::vector<std::string>& v) {
  std::string s;
  for (const auto& x : v) s += x + "\n";
  return s;
}

std::string mqtt_outputs(int port, const std::string& client_id) {
  return "mqtt:\n  url: mqtt://127.0.0.1:" + std::to_string(port) + "\n  client_id: " + client_id +
         "\n  homeassistant: false\n";
}

const std::string kStateTopic = "kamstrup/heat/state";

std::string unique_id(const std::string& what) {
  return "kamstrup-" + what + "-" + std::to_string(getpid());
}

TEST(Outage, MqttBrokerRestartLosesNothingAndKeepsOrder) {
  TempDir dir;
  Broker broker(dir, free_tcp_port());
  broker.start();
  const std::string sub_id = unique_id("outage-sub");
  auto sub = std::make_unique<Subscriber>(broker.port(), sub_id, kStateTopic);
  const std::string config =
      write_config(dir, mqtt_outputs(broker.port(), unique_id("outage-daemon")));
  const std::string polls = dir / "polls.jsonl";
  Background daemon({kBin, "run", "--config", config}, dir / "daemon");

  // At least three polls, each seen on MQTT; stop the broker right after the latest arrived (a
  // poll every second: nothing is in flight then).
  ASSERT_TRUE(wait_until(
      [&] {
        auto want = jsonl_times(polls);
        return want.size() >= 3 && contains_all(want, times_of(sub->payloads()));
      },
      30s))
      << daemon.err() << broker.log();
  StateLog arrived;
  broker.stop();
  arrived.add(sub->payloads());
  sub.reset();
  const std::size_t before_outage = jsonl_times(polls).size();

  // Polls go on while the broker is down.
  std::this_thread::sleep_for(5s);
  const std::size_t during_outage = jsonl_times(polls).size();
  EXPECT_GE(during_outage, before_outage + 3) << "polls must go on while MQTT is down\n"
                                              << daemon.err();

  // A new broker on the same port; our subscriber is its first client, before the daemon's
  // reconnect (which backs off from 500 ms, so it is seconds away).
  broker.start();
  sub = std::make_unique<Subscriber>(broker.port(), sub_id, kStateTopic);
  // Everything seen so far: before the outage, and since the broker came back.
  auto seen = [&] {
    auto all = arrived.times;
    const auto now = times_of(sub->payloads());
    all.insert(all.end(), now.begin(), now.end());
    return all;
  };
  EXPECT_TRUE(wait_until([&] { return contains_all(jsonl_times(polls), seen()); }, 40s))
      << "the backlog was not delivered after the broker came back\n"
      << daemon.err() << "missing:\n"
      << dump(missing(jsonl_times(polls), seen()));

  EXPECT_EQ(daemon.terminate_and_wait(), 0) << daemon.err();
  const auto want = jsonl_times(polls);
  // SIGTERM drains the outputs: the last polls arrive too.
  wait_until([&] { return contains_all(want, seen()); }, 10s);
  arrived.add(sub->payloads());
  sub.reset();

  ASSERT_GE(want.size(), during_outage);
  const auto got = arrived.set();
  for (const auto& t : want) EXPECT_EQ(got.count(t), 1U) << "polled but never on MQTT: " << t;
  expect_in_order(arrived.times);
  EXPECT_EQ(std::set<std::string>(want.begin(), want.end()).size(), want.size())
      << "a poll time twice in the reference file";
  EXPECT_TRUE(std::is_sorted(want.begin(), want.end())) << dump(want);
  if (HasFailure()) {
    ADD_FAILURE() << "reference:\n"
                  << dump(want) << "arrived:\n"
                  << dump(arrived.times) << "daemon:\n"
                  << daemon.err() << "broker:\n"
                  << broker.log();
  }
}

TEST(Outage, KillNineWithMqttDownDeliversTheBacklogAfterRestart) {
  TempDir dir;
  Broker broker(dir, free_tcp_port());  // not started: nothing listens on its port yet
  const std::string config =
      write_config(dir, mqtt_outputs(broker.port(), unique_id("kill9-daemon")));
  const std::string polls = dir / "polls.jsonl";
  std::vector<std::string> first_run;
  {
    Background daemon({kBin, "run", "--config", config}, dir / "daemon1");
    ASSERT_TRUE(wait_until([&] { return jsonl_times(polls).size() >= 4; }, 30s)) << daemon.err();
    // Somewhere inside the next poll cycle.
    std::this_thread::sleep_for(300ms);
    daemon.kill_hard();
    first_run = jsonl_times(polls);
    EXPECT_NE(daemon.err().find("mqtt"), std::string::npos)
        << "the daemon should have logged the MQTT output failing\n"
        << daemon.err();
  }
  ASSERT_GE(first_run.size(), 4U);

  broker.start();
  Subscriber sub(broker.port(), unique_id("kill9-sub"), kStateTopic);
  Background daemon({kBin, "run", "--config", config}, dir / "daemon2");
  EXPECT_TRUE(wait_until([&] { return contains_all(first_run, times_of(sub.payloads())); }, 40s))
      << daemon.err() << broker.log();
  EXPECT_EQ(daemon.terminate_and_wait(), 0) << daemon.err();
  const auto arrived = times_of(sub.payloads());
  const std::set<std::string> got(arrived.begin(), arrived.end());
  for (const auto& t : first_run)
    EXPECT_EQ(got.count(t), 1U) << "polled before kill -9, never on MQTT: " << t;
  expect_in_order(arrived);
  if (HasFailure()) {
    ADD_FAILURE() << "first run:\n" << dump(first_run) << "arrived:\n" << dump(arrived);
  }
}

// ---------------------------------------------------------------------------------------------
TEST(Outage, InfluxdRestartLosesNothing) {
  TempDir dir;
  // influxd (Debian influxdb 1.x, tests/support/servers.hpp) with all state in a temp dir;
  // start() after stop() is a restart on the same ports with the same data.
  support::Influxd influx;
  influx.start();
  influx.query("CREATE DATABASE \"k\"");
  const std::string config =
      write_config(dir, "influxdb:\n  url: " + influx.url() + "\n  database: k\n");
  const std::string polls = dir / "polls.jsonl";
  Background daemon({kBin, "run", "--config", config}, dir / "daemon");

  auto all_stored = [&] {
    auto pts = influx.points_by_time("k");
    auto want = jsonl_times(polls);
    for (const auto& t : want) {
      if (pts.count(rfc3339_ms(t)) == 0) return false;
    }
    return !want.empty();
  };
  ASSERT_TRUE(wait_until([&] { return jsonl_times(polls).size() >= 3 && all_stored(); }, 30s))
      << daemon.err() << influx.log();
  influx.stop();
  const std::size_t before_outage = jsonl_times(polls).size();
  std::this_thread::sleep_for(5s);
  EXPECT_GE(jsonl_times(polls).size(), before_outage + 3)
      << "polls must go on while InfluxDB is down\n"
      << daemon.err();
  influx.start();
  EXPECT_TRUE(wait_until(all_stored, 40s))
      << "the backlog was not written after influxd came back\n"
      << daemon.err();
  EXPECT_EQ(daemon.terminate_and_wait(), 0) << daemon.err();
  wait_until(all_stored, 10s);

  const auto reference = jsonl(polls);
  const auto pts = influx.points_by_time("k");
  ASSERT_GE(reference.size(), before_outage + 3);
  for (const auto& line : reference) {
    const std::string t = line.at("time").get<std::string>();
    SCOPED_TRACE(t);
    const auto it = pts.find(rfc3339_ms(t));
    if (it == pts.end()) {
      ADD_FAILURE() << "polled but not in InfluxDB";
      continue;
    }
    const auto& point = it->second;
    EXPECT_EQ(point.at("meter"), "heat");
    std::size_t compared = 0;
    for (const auto& reg : line.at("registers")) {
      // Fields carry their unit in the name (influxdb.field_names: register_unit).
      const std::string unit = reg.at("unit");
      const std::string name = reg.at("name").get<std::string>() +
                               (unit.empty() ? "" : "_" + kamstrup::sinks::unit_suffix(unit));
      if (!reg.contains("value") || !reg.at("value").is_number()) continue;
      ++compared;
      ASSERT_TRUE(point.count(name) != 0 && point.at(name).is_number())
          << name << " missing in the point";
      EXPECT_EQ(point.at(name).get<double>(), reg.at("value").get<double>())
          << name << ": file " << reg.at("value").dump() << ", InfluxDB " << point.at(name).dump();
    }
    EXPECT_EQ(compared, 8U) << line.dump();
  }
}

}  // namespace
