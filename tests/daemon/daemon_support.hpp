// Helpers shared by the daemon's end-to-end tests against real servers (outage_test.cpp,
// robustness_test.cpp): waiting with a bound, reading a jsonl reference output, a restartable
// mosquitto broker, a persistent-session MQTT subscriber, order checks.
#pragma once

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
#include "text/time.hpp"

namespace kamstrup::test::daemon_support {

using namespace kamstrup::test;
namespace support = kamstrup::test::support;
using namespace std::chrono_literals;
using json = nlohmann::json;

inline const std::string kBin = KAMSTRUP_BINARY;

inline bool wait_until(const std::function<bool()>& done, std::chrono::milliseconds limit) {
  const auto give_up = std::chrono::steady_clock::now() + limit;
  while (!done()) {
    if (std::chrono::steady_clock::now() > give_up) return false;
    std::this_thread::sleep_for(20ms);
  }
  return true;
}

// Complete JSON lines of a jsonl output (a line still being written is ignored).
inline std::vector<json> jsonl(const std::string& path) {
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

// The "time" of every line; the text is the one `kamstrup history` and the API write for the
// same instant ("…:43.000Z"), so the tests compare them as text.
inline std::vector<std::string> jsonl_times(const std::string& path) {
  std::vector<std::string> times;
  for (const auto& l : jsonl(path)) times.push_back(l.at("time").get<std::string>());
  return times;
}

// An RFC 3339 time ("…:30:00.250Z", "…:30:00Z") → Unix ms, through the parser the CLI and the
// HTTP API use; -1 when it is not one.
inline std::int64_t rfc3339_ms(const std::string& text) {
  return kamstrup::text::rfc3339_ms(text).value_or(-1);
}

// A config with one simulated meter polled every second, its history in <dir>/k.db and a jsonl
// reference output in <dir>/polls.jsonl; `outputs` adds the output under test.
inline std::string write_config(const TempDir& dir, const std::string& outputs) {
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

// The same broker with persistence in `dir`: a persistent client's session and the QoS 1
// messages queued for it survive a restart (mosquitto saves them on SIGTERM), so a subscriber
// need not win the race to reconnect before the daemon does.
class PersistentBroker : public support::Mosquitto {
 public:
  PersistentBroker(const TempDir& dir, int port)
      : Mosquitto(dir.path(), port,
                  "persistence true\npersistence_location " + dir.path() + "/\n") {}
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

inline std::vector<std::string> times_of(const std::vector<std::string>& payloads) {
  StateLog log;
  log.add(payloads);
  return log.times;
}

inline bool contains_all(const std::vector<std::string>& want,
                         const std::vector<std::string>& got) {
  const std::set<std::string> have(got.begin(), got.end());
  for (const auto& t : want) {
    if (have.count(t) == 0) return false;
  }
  return true;
}

// At least once and in order: a time seen for the first time is later than every time seen
// before it (a re-sent message repeats one already seen; nothing overtakes).
inline void expect_in_order(const std::vector<std::string>& arrivals) {
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

inline std::vector<std::string> missing(const std::vector<std::string>& want,
                                        const std::vector<std::string>& got) {
  const std::set<std::string> have(got.begin(), got.end());
  std::vector<std::string> out;
  for (const auto& t : want) {
    if (have.count(t) == 0) out.push_back(t);
  }
  return out;
}

inline std::string dump(const std::vector<std::string>& v) {
  std::string s;
  for (const auto& x : v) s += x + "\n";
  return s;
}

inline std::string mqtt_outputs(int port, const std::string& client_id) {
  return "mqtt:\n  url: mqtt://127.0.0.1:" + std::to_string(port) + "\n  client_id: " + client_id +
         "\n  homeassistant: false\n";
}

inline const std::string kStateTopic = "kamstrup/heat/state";

inline std::string unique_id(const std::string& what) {
  return "kamstrup-" + what + "-" + std::to_string(getpid());
}

}  // namespace kamstrup::test::daemon_support
