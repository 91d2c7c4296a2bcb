// The MQTT output against a real mosquitto broker (/usr/sbin/mosquitto) that each test starts on
// a free loopback port, with a libmosquitto subscriber recording what arrives. Connection loss
// is made real with a TCP proxy between the sink and the broker that the test can cut or stall.
#include "sinks/mqtt.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <mosquitto.h>
#include <netinet/in.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "../support/readings.hpp"
#include "../support/servers.hpp"
#include "sinks/format.hpp"

namespace kamstrup::sinks {
namespace {

using namespace std::chrono_literals;
using json = nlohmann::json;
using ::testing::HasSubstr;
using ::testing::StartsWith;
namespace fs = std::filesystem;

constexpr auto kWait = 10s;  // generous limit for anything to arrive

// ---------------------------------------------------------------------------------------------
// Fixtures: temp dir, ports, broker process, TCP proxy, subscriber.

using kamstrup::test::support::TempDir;

using kamstrup::test::support::free_port;

int connect_to(int port) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = htons(static_cast<std::uint16_t>(port));
  if (connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    close(fd);
    return -1;
  }
  return fd;
}

bool wait_until(const std::function<bool()>& done, std::chrono::milliseconds limit = kWait) {
  const auto give_up = std::chrono::steady_clock::now() + limit;
  while (!done()) {
    if (std::chrono::steady_clock::now() > give_up) return false;
    std::this_thread::sleep_for(20ms);
  }
  return true;
}

std::string slurp(const fs::path& p) {
  std::ifstream in(p);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// A mosquitto broker on a free 127.0.0.1 port with its own config, started; stop() and start()
// again keep the port (a restart). tests/support/servers.hpp.
class Broker : public kamstrup::test::support::Mosquitto {
 public:
  explicit Broker(const fs::path& dir, const std::string& extra_conf = "", bool anonymous = true)
      : Mosquitto(dir, 0, extra_conf, anonymous) {
    start();
  }
};

// Forwards 127.0.0.1:port() to the broker. cut() ends every forwarded connection abruptly (the
// broker sees the client vanish without DISCONNECT: an unclean end); stall() stops forwarding.
class Proxy {
 public:
  explicit Proxy(int target) : target_(target) {
    listen_fd_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    const int one = 1;
    setsockopt(listen_fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    if (bind(listen_fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 ||
        listen(listen_fd_, 16) != 0 ||
        getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&a), &len) != 0) {
      throw std::runtime_error("proxy listen");
    }
    port_ = ntohs(a.sin_port);
    thread_ = std::thread([this] { run(); });
  }
  ~Proxy() {
    stop_ = true;
    thread_.join();
    for (auto& [a, b] : pairs_) {
      close(a);
      close(b);
    }
    close(listen_fd_);
  }
  Proxy(const Proxy&) = delete;
  Proxy& operator=(const Proxy&) = delete;

  [[nodiscard]] int port() const { return port_; }
  [[nodiscard]] int accepted() const { return accepted_; }
  void cut() { cut_ = true; }
  void stall(bool on) { stalled_ = on; }

 private:
  static void close_hard(int fd) {
    linger l{1, 0};  // RST, no FIN
    setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, sizeof l);
    close(fd);
  }

  void run() {
    char buf[16384];
    while (!stop_) {
      if (cut_.exchange(false)) {
        for (auto& [a, b] : pairs_) {
          close_hard(a);
          close_hard(b);
        }
        pairs_.clear();
      }
      std::vector<pollfd> fds{{listen_fd_, POLLIN, 0}};
      const bool stalled = stalled_;
      const std::size_t polled = stalled ? 0 : pairs_.size();  // pairs in `fds`
      if (!stalled) {
        for (auto& [a, b] : pairs_) {
          fds.push_back({a, POLLIN, 0});
          fds.push_back({b, POLLIN, 0});
        }
      }
      if (poll(fds.data(), fds.size(), 20) <= 0) continue;
      if ((fds[0].revents & POLLIN) != 0) {
        const int client = accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
        if (client >= 0) {
          const int upstream = connect_to(target_);
          if (upstream < 0) {
            close_hard(client);
          } else {
            pairs_.emplace_back(client, upstream);
            ++accepted_;
          }
        }
      }
      if (stalled) continue;
      std::vector<std::pair<int, int>> keep(pairs_.begin() + static_cast<std::ptrdiff_t>(polled),
                                            pairs_.end());  // accepted just now
      for (std::size_t i = 0; i < polled; ++i) {
        auto [a, b] = pairs_[i];
        bool alive = true;
        for (int side = 0; side < 2 && alive; ++side) {
          const pollfd& p = fds[1 + 2 * i + static_cast<std::size_t>(side)];
          if ((p.revents & (POLLIN | POLLHUP | POLLERR)) == 0) continue;
          const int from = side == 0 ? a : b;
          const int to = side == 0 ? b : a;
          const ssize_t n = read(from, buf, sizeof buf);
          if (n <= 0) {
            alive = false;
            break;
          }
          ssize_t done = 0;
          while (done < n) {
            const ssize_t w = write(to, buf + done, static_cast<std::size_t>(n - done));
            if (w <= 0) {
              alive = false;
              break;
            }
            done += w;
          }
        }
        if (alive) {
          keep.emplace_back(a, b);
        } else {
          close(a);
          close(b);
        }
      }
      pairs_ = std::move(keep);
    }
  }

  int target_;
  int listen_fd_ = -1;
  int port_ = 0;
  std::thread thread_;
  std::atomic<bool> stop_{false}, cut_{false}, stalled_{false};
  std::atomic<int> accepted_{0};
  std::vector<std::pair<int, int>> pairs_;  // (client, upstream); proxy thread only
};

struct Received {
  std::string topic;
  std::string payload;
  bool retain = false;
  int qos = 0;  // as delivered: the publisher's QoS (we subscribe with QoS 2)
};

struct ClientTls {
  std::string ca_file;
  std::string username;
  std::string password;
};

// Subscribes to everything ("#") and records each message in arrival order.
class Subscriber {
 public:
  explicit Subscriber(int port, const ClientTls& tls = {}) {
    mosquitto_lib_init();
    mosq_ = mosquitto_new(nullptr, true, this);
    mosquitto_message_callback_set(mosq_, [](mosquitto*, void* obj, const mosquitto_message* m) {
      auto* self = static_cast<Subscriber*>(obj);
      std::lock_guard lk(self->mu_);
      self->got_.push_back({m->topic,
                            std::string(static_cast<const char*>(m->payload),
                                        static_cast<std::size_t>(m->payloadlen)),
                            m->retain, m->qos});
    });
    mosquitto_subscribe_callback_set(mosq_, [](mosquitto*, void* obj, int, int, const int*) {
      static_cast<Subscriber*>(obj)->subscribed_ = true;
    });
    if (!tls.ca_file.empty())
      mosquitto_tls_set(mosq_, tls.ca_file.c_str(), nullptr, nullptr, nullptr, nullptr);
    if (!tls.username.empty()) {
      mosquitto_username_pw_set(mosq_, tls.username.c_str(), tls.password.c_str());
    }
    if (mosquitto_connect(mosq_, "127.0.0.1", port, 60) != MOSQ_ERR_SUCCESS) {
      throw std::runtime_error("subscriber cannot connect");
    }
    mosquitto_loop_start(mosq_);
    mosquitto_subscribe(mosq_, nullptr, "#", 2);
    if (!wait_until([&] { return subscribed_.load(); })) throw std::runtime_error("no SUBACK");
  }
  ~Subscriber() {
    mosquitto_disconnect(mosq_);
    mosquitto_loop_stop(mosq_, false);
    mosquitto_destroy(mosq_);
  }
  Subscriber(const Subscriber&) = delete;
  Subscriber& operator=(const Subscriber&) = delete;

  std::vector<Received> all() {
    std::lock_guard lk(mu_);
    return got_;
  }
  std::vector<Received> on(const std::string& topic) {
    std::vector<Received> out;
    for (auto& r : all()) {
      if (r.topic == topic) out.push_back(r);
    }
    return out;
  }
  // Waits for a message on `topic` (with `payload`, if given) and returns the latest such one.
  std::optional<Received> wait(const std::string& topic,
                               const std::optional<std::string>& payload = std::nullopt) {
    std::optional<Received> found;
    wait_until([&] {
      for (auto& r : on(topic)) {
        if (!payload || r.payload == *payload) found = r;
      }
      return found.has_value();
    });
    return found;
  }
  void publish(const std::string& topic, const std::string& payload, bool retain) {
    mosquitto_publish(mosq_, nullptr, topic.c_str(), static_cast<int>(payload.size()),
                      payload.data(), 1, retain);
  }
  // Everything the broker had queued for us before this call has arrived afterwards: a marker
  // published now comes after it.
  void sync() {
    const std::string marker = "test/marker/" + std::to_string(++markers_);
    mosquitto_publish(mosq_, nullptr, marker.c_str(), 1, "x", 1, false);
    if (!wait(marker)) throw std::runtime_error("marker lost");
  }

 private:
  mosquitto* mosq_ = nullptr;
  std::mutex mu_;
  std::vector<Received> got_;
  std::atomic<bool> subscribed_{false};
  int markers_ = 0;
};

// ---------------------------------------------------------------------------------------------
// Test data.

constexpr std::int64_t kTime = 1768206600250;  // 2026-01-12T08:30:00.250Z

store::Poll sample_poll(const std::string& meter = "heat1", std::int64_t time_ms = kTime) {
  store::Poll p;
  p.seq = 1;
  p.meter = meter;
  p.time_ms = time_ms;
  p.source = "poll";
  p.values = {
      {60, "heat_energy", "55.006", "", "MWh"},
      {68, "volume", "1234.56", "", "m³"},
      {86, "temp1", "53.65", "", "°C"},
      {89, "temp_diff", "20.10", "", "K"},
      {74, "flow", "123", "", "l/h"},
      {80, "power", "0.100", "", "kW"},
      {1003, "date", "220112", "2022-01-12", "yy:mm:dd"},
      {1001, "serial_number", "1959120400000000000000000", "", ""},
  };
  return p;
}

MeterInfo sample_info(const std::string& meter = "heat1", const std::string& serial = "67894321") {
  return MeterInfo{meter, "MULTICAL 403", "0x0403", "A2", serial, "kmp"};
}

MqttConfig config_for(int port) {
  MqttConfig c;
  c.url = "mqtt://127.0.0.1:" + std::to_string(port);
  c.client_id = "kamstrup-test";
  c.reconnect_min = 100ms;
  c.reconnect_max = 500ms;
  return c;
}

// Delivers until it succeeds (as the fan-out retries); false when it never does.
bool deliver_eventually(MqttSink& sink, const std::vector<store::Poll>& polls) {
  return wait_until(
      [&] {
        try {
          sink.deliver(polls);
          return true;
        } catch (const SinkError&) {
          return false;
        }
      },
      20s);
}

std::string topic_of_config(const std::string& unique_id) {
  return "homeassistant/sensor/" + unique_id + "/config";
}

class MqttSinkTest : public ::testing::Test {
 protected:
  TempDir dir;
};

// ---------------------------------------------------------------------------------------------
// Pure pieces.

TEST(MqttFormat, StatePayloadIsThePollInTheOneJsonShape) {
  store::Poll p = sample_poll();
  p.values.push_back({54, "meter_type_number", "", "6831A00", "ASCII"});
  const std::string s = poll_json(p);
  // Raw tokens, never through double (0.100 and 20.10 keep their zeros, the big one its digits).
  EXPECT_THAT(s, HasSubstr(R"({"id": 60, "name": "heat_energy", "value": 55.006, "unit": "MWh"})"));
  EXPECT_THAT(s, HasSubstr(R"("name": "power", "value": 0.100, "unit": "kW"})"));
  EXPECT_THAT(s, HasSubstr(R"("name": "temp_diff", "value": 20.10, "unit": "K"})"));
  EXPECT_THAT(s, HasSubstr(R"("value": 1959120400000000000000000, "unit": ""})"));
  EXPECT_THAT(s, HasSubstr(R"("value": 220112, "unit": "yy:mm:dd", "text": "2022-01-12"})"));
  EXPECT_THAT(s, HasSubstr(R"("value": null, "unit": "ASCII", "text": "6831A00"})"));
  const json j = json::parse(s);
  EXPECT_EQ(j["time"], "2026-01-12T08:30:00.250Z");
  EXPECT_EQ(j["source"], "poll");
  EXPECT_EQ(j["meter"], p.meter);
  ASSERT_EQ(j["registers"].size(), p.values.size());
  for (std::size_t i = 0; i < p.values.size(); ++i) {
    EXPECT_EQ(j["registers"][i]["name"], p.values[i].name);
    EXPECT_EQ(j["registers"][i]["unit"], p.values[i].unit);
  }
}

TEST(MqttConfigCheck, RejectsBadSettings) {
  auto make = [](auto tweak) {
    MqttConfig c;
    c.url = "mqtt://127.0.0.1:1";
    tweak(c);
    MqttSink sink(c);
  };
  EXPECT_THROW(make([](MqttConfig& c) { c.url = "http://broker"; }), std::invalid_argument);
  EXPECT_THROW(make([](MqttConfig& c) { c.url = "mqtt://"; }), std::invalid_argument);
  EXPECT_THROW(make([](MqttConfig& c) { c.url = "mqtt://host:99999"; }), std::invalid_argument);
  EXPECT_THROW(make([](MqttConfig& c) { c.url = "mqtt://host:"; }), std::invalid_argument);
  EXPECT_THROW(make([](MqttConfig& c) { c.energy_unit = "GJ"; }), std::invalid_argument);
  EXPECT_THROW(make([](MqttConfig& c) { c.qos = 3; }), std::invalid_argument);
  EXPECT_THROW(make([](MqttConfig& c) { c.base_topic = "a/#"; }), std::invalid_argument);
  EXPECT_THROW(make([](MqttConfig& c) { c.password = kamstrup::config::Secret::of("x"); }),
               std::invalid_argument);
  EXPECT_THROW(make([](MqttConfig& c) { c.ca_file = "/etc/hostname"; }), std::invalid_argument);
  EXPECT_THROW(make([](MqttConfig& c) {
                 c.url = "mqtts://127.0.0.1:1";
                 c.cert_file = "/etc/hostname";
               }),
               std::invalid_argument);
  EXPECT_THROW(make([](MqttConfig& c) {
                 c.url = "mqtts://127.0.0.1:1";
                 c.ca_file = "/nonexistent/ca.crt";
               }),
               std::invalid_argument);
  EXPECT_THROW(make([](MqttConfig& c) { c.keepalive = 2s; }), std::invalid_argument);
  EXPECT_NO_THROW(make([](MqttConfig& c) { c.url = "mqtt://[::1]:1883"; }));
  EXPECT_NO_THROW(make([](MqttConfig& c) { c.url = "mqtts://localhost"; }));
}

// ---------------------------------------------------------------------------------------------
// Against the broker.

TEST_F(MqttSinkTest, PublishesRegisterTopicsAndOneStateObjectPerPoll) {
  Broker broker(dir.path());
  Subscriber sub(broker.port());
  MqttSink sink(config_for(broker.port()));
  EXPECT_EQ(sink.id(), "mqtt");

  const store::Poll p = sample_poll();
  sink.deliver(std::span(&p, 1));  // returns after every PUBACK: the messages are on the broker
  sub.sync();

  EXPECT_EQ(sub.on("kamstrup/heat1/heat_energy").at(0).payload, "55.006");
  EXPECT_EQ(sub.on("kamstrup/heat1/volume").at(0).payload, "1234.56");
  EXPECT_EQ(sub.on("kamstrup/heat1/temp1").at(0).payload, "53.65");
  EXPECT_EQ(sub.on("kamstrup/heat1/temp_diff").at(0).payload, "20.10");
  EXPECT_EQ(sub.on("kamstrup/heat1/power").at(0).payload, "0.100");
  EXPECT_EQ(sub.on("kamstrup/heat1/date").at(0).payload, "2022-01-12");
  EXPECT_EQ(sub.on("kamstrup/heat1/serial_number").at(0).payload, "1959120400000000000000000");

  const auto state = sub.on("kamstrup/heat1/state");
  ASSERT_EQ(state.size(), 1u);
  const std::string& raw = state[0].payload;
  EXPECT_THAT(raw, HasSubstr(R"("name": "heat_energy", "value": 55.006, "unit": "MWh"})"));
  EXPECT_THAT(raw, HasSubstr(R"("name": "power", "value": 0.100, "unit": "kW"})"));
  EXPECT_THAT(raw, HasSubstr(R"("value": 1959120400000000000000000,)"));
  const json j = json::parse(raw);
  EXPECT_EQ(j["time"], "2026-01-12T08:30:00.250Z");
  EXPECT_EQ(j["source"], "poll");
  using kamstrup::test::support::reading;
  EXPECT_EQ(reading(j["registers"], "heat_energy")["unit"], "MWh");
  EXPECT_EQ(reading(j["registers"], "temp1")["unit"], "°C");
  EXPECT_EQ(reading(j["registers"], "flow")["value"], 123);
  EXPECT_EQ(reading(j["registers"], "flow")["unit"], "l/h");
  EXPECT_EQ(reading(j["registers"], "date")["text"], "2022-01-12");
  EXPECT_EQ(reading(j["registers"], "date")["value"], 220112);
  EXPECT_FALSE(reading(j["registers"], "heat_energy").contains("text"));

  // A late subscriber gets the per-register topics as retained messages, not the state stream.
  Subscriber late(broker.port());
  late.sync();
  std::set<std::string> retained;
  for (const auto& r : late.all()) {
    if (r.retain) retained.insert(r.topic);
  }
  for (const auto& v : p.values) EXPECT_TRUE(retained.count("kamstrup/heat1/" + v.name)) << v.name;
  EXPECT_FALSE(retained.count("kamstrup/heat1/state"));
  EXPECT_TRUE(retained.count("kamstrup/status"));
  EXPECT_EQ(late.on("kamstrup/status").back().payload, "online");
}

TEST_F(MqttSinkTest, RetainOffAndQosZeroStillDeliver) {
  Broker broker(dir.path());
  Subscriber sub(broker.port());
  MqttConfig c = config_for(broker.port());
  c.retain = false;
  c.qos = 0;
  c.base_topic = "home/heat";
  MqttSink sink(c);
  const store::Poll p = sample_poll();
  sink.deliver(std::span(&p, 1));
  ASSERT_TRUE(sub.wait("home/heat/heat1/state"));
  EXPECT_EQ(sub.wait("home/heat/heat1/heat_energy")->payload, "55.006");

  Subscriber late(broker.port());
  late.sync();
  EXPECT_TRUE(late.on("home/heat/heat1/heat_energy").empty());
  EXPECT_EQ(late.on("home/heat/status").at(0).payload, "online");
}

TEST_F(MqttSinkTest, AvailabilityOnlineOfflineAndCloseSaysOffline) {
  Broker broker(dir.path());
  Subscriber sub(broker.port());
  auto sink = std::make_unique<MqttSink>(config_for(broker.port()));
  ASSERT_TRUE(sub.wait("kamstrup/status", "online"));

  sink->meter_online("heat1", true);
  ASSERT_TRUE(sub.wait("kamstrup/heat1/availability", "online"));
  sink->meter_online("heat1", false);
  ASSERT_TRUE(sub.wait("kamstrup/heat1/availability", "offline"));
  {
    Subscriber late(broker.port());
    ASSERT_TRUE(late.wait("kamstrup/heat1/availability"));
    late.sync();
    const auto a = late.on("kamstrup/heat1/availability");
    ASSERT_EQ(a.size(), 1u);
    EXPECT_TRUE(a[0].retain);
    EXPECT_EQ(a[0].payload, "offline");
  }

  sink->close();  // a clean disconnect does not fire the will: close() says offline itself
  ASSERT_TRUE(sub.wait("kamstrup/status", "offline"));
  const store::Poll p = sample_poll();
  EXPECT_THROW(sink->deliver(std::span(&p, 1)), SinkError);
  sink.reset();
  Subscriber late(broker.port());
  ASSERT_TRUE(late.wait("kamstrup/status"));
  late.sync();
  EXPECT_EQ(late.on("kamstrup/status").back().payload, "offline");
  EXPECT_TRUE(late.on("kamstrup/status").back().retain);
}

TEST_F(MqttSinkTest, WillMarksStatusOfflineWhenTheConnectionDiesThenReconnects) {
  Broker broker(dir.path());
  Proxy proxy(broker.port());
  Subscriber sub(broker.port());
  MqttSink sink(config_for(proxy.port()));
  const store::Poll p = sample_poll();
  sink.deliver(std::span(&p, 1));
  ASSERT_TRUE(sub.wait("kamstrup/status", "online"));

  proxy.cut();  // the sink's connection vanishes without DISCONNECT: the broker sends the will
  ASSERT_TRUE(sub.wait("kamstrup/status", "offline"));

  // The sink reconnects (through the same proxy) and says online again.
  ASSERT_TRUE(wait_until([&] {
    const auto s = sub.on("kamstrup/status");
    return proxy.accepted() >= 2 && s.back().payload == "online";
  }));
  EXPECT_TRUE(deliver_eventually(sink, {p}));
  const auto status = sub.on("kamstrup/status");
  std::vector<std::string> seq;
  for (const auto& r : status) seq.push_back(r.payload);
  EXPECT_THAT(seq, ::testing::ElementsAre("online", "offline", "online"));
}

TEST_F(MqttSinkTest, WillIsRetainedOnTheBroker) {
  Broker broker(dir.path());
  auto proxy = std::make_unique<Proxy>(broker.port());
  MqttConfig c = config_for(proxy->port());
  c.reconnect_min = 30s;  // stays away after the cut
  c.reconnect_max = 30s;
  auto sink = std::make_unique<MqttSink>(c);
  const store::Poll p = sample_poll();
  sink->deliver(std::span(&p, 1));
  Subscriber watch(broker.port());
  proxy->cut();
  ASSERT_TRUE(watch.wait("kamstrup/status", "offline"));  // the broker has sent the will
  // A subscriber arriving later (HA starting now) gets it as the retained status.
  Subscriber late(broker.port());
  late.sync();
  const auto status = late.on("kamstrup/status");
  ASSERT_EQ(status.size(), 1u);
  EXPECT_EQ(status[0].payload, "offline");
  EXPECT_TRUE(status[0].retain);
  sink.reset();  // close() while not connected: no error, no wait
}

TEST_F(MqttSinkTest, DiscoveryWaitsForMeterInfoThenFollowsNewRegisters) {
  Broker broker(dir.path());
  Subscriber sub(broker.port());
  MqttSink sink(config_for(broker.port()));
  store::Poll p = sample_poll();
  sink.deliver(std::span(&p, 1));
  sub.sync();
  for (const auto& r : sub.all())
    EXPECT_THAT(r.topic, ::testing::Not(StartsWith("homeassistant/")));

  // meter_info: one config per register seen so far, and the meter announced online.
  sink.meter_info(sample_info());
  const auto cfg = sub.wait(topic_of_config("kamstrup_67894321_heat_energy"));
  ASSERT_TRUE(cfg);
  EXPECT_TRUE(sub.wait("kamstrup/heat1/availability", "online"));
  const json e = json::parse(cfg->payload);
  EXPECT_EQ(e["unique_id"], "kamstrup_67894321_heat_energy");
  EXPECT_EQ(e["name"], "E1 heat energy");
  EXPECT_EQ(e["state_topic"], "kamstrup/heat1/heat_energy");
  EXPECT_EQ(e["unit_of_measurement"], "MWh");
  EXPECT_EQ(e["device_class"], "energy");
  EXPECT_EQ(e["state_class"], "total_increasing");
  EXPECT_EQ(e["availability_mode"], "all");
  ASSERT_EQ(e["availability"].size(), 2u);
  EXPECT_EQ(e["availability"][0]["topic"], "kamstrup/status");
  EXPECT_EQ(e["availability"][1]["topic"], "kamstrup/heat1/availability");
  const json& dev = e["device"];
  EXPECT_EQ(dev["identifiers"], json::array({"kamstrup_67894321"}));
  EXPECT_EQ(dev["manufacturer"], "Kamstrup");
  EXPECT_EQ(dev["model"], "MULTICAL 403");
  EXPECT_EQ(dev["serial_number"], "67894321");
  EXPECT_EQ(dev["sw_version"], "A2");
  EXPECT_EQ(dev["name"], "Kamstrup heat1");

  auto config = [&](const std::string& reg) {
    const auto r = sub.wait(topic_of_config("kamstrup_67894321_" + reg));
    if (!r) throw std::runtime_error("no config for " + reg);
    return json::parse(r->payload);
  };
  const json t1 = config("temp1");
  EXPECT_EQ(t1["unit_of_measurement"], "°C");
  EXPECT_EQ(t1["device_class"], "temperature");
  EXPECT_EQ(t1["state_class"], "measurement");
  const json vol = config("volume");
  EXPECT_EQ(vol["unit_of_measurement"], "m³");
  EXPECT_EQ(vol["device_class"], "volume");
  EXPECT_EQ(vol["state_class"], "total_increasing");
  const json dt = config("temp_diff");  // HA 2025.11's temperature_delta
  EXPECT_EQ(dt["unit_of_measurement"], "K");
  EXPECT_EQ(dt["device_class"], "temperature_delta");
  EXPECT_EQ(dt["state_class"], "measurement");
  const json flow = config("flow");  // the meter's l/h as HA spells it
  EXPECT_EQ(flow["unit_of_measurement"], "L/h");
  EXPECT_EQ(flow["device_class"], "volume_flow_rate");
  EXPECT_EQ(flow["state_class"], "measurement");
  EXPECT_EQ(sub.on("kamstrup/heat1/flow").at(0).payload, "123");
  const json date = config("date");  // a text sensor: no unit, no classes
  EXPECT_FALSE(date.contains("unit_of_measurement"));
  EXPECT_FALSE(date.contains("device_class"));
  EXPECT_FALSE(date.contains("state_class"));
  EXPECT_EQ(date["state_topic"], "kamstrup/heat1/date");
  EXPECT_EQ(config("power")["device_class"], "power");

  // Retained for HA restarts.
  {
    Subscriber late(broker.port());
    late.sync();
    const auto r = late.on(topic_of_config("kamstrup_67894321_heat_energy"));
    ASSERT_EQ(r.size(), 1u);
    EXPECT_TRUE(r[0].retain);
  }

  // A register first seen in a later poll gets its config then; known ones are not repeated;
  // a unit change republishes.
  p.values.push_back({87, "temp2", "30.12", "", "°C"});
  p.values[4].unit = "m³/h";  // flow
  p.values[4].value = "0.123";
  sink.deliver(std::span(&p, 1));
  sub.sync();
  EXPECT_EQ(config("temp2")["unit_of_measurement"], "°C");
  EXPECT_EQ(sub.on(topic_of_config("kamstrup_67894321_heat_energy")).size(), 1u);
  const auto flows = sub.on(topic_of_config("kamstrup_67894321_flow"));
  ASSERT_EQ(flows.size(), 2u);
  const json flow2 = json::parse(flows[1].payload);
  EXPECT_EQ(flow2["unit_of_measurement"], "m³/h");
  EXPECT_EQ(flow2["device_class"], "volume_flow_rate");
}

TEST_F(MqttSinkTest, DiscoveryWithoutSerialUsesTheMeterNameUntilTheSerialIsKnown) {
  Broker broker(dir.path());
  Subscriber sub(broker.port());
  MqttSink sink(config_for(broker.port()));
  MeterInfo info = sample_info("flat 2", "");
  info.model = "";
  sink.meter_info(info);
  const store::Poll p = sample_poll("flat 2");
  sink.deliver(std::span(&p, 1));
  const auto first = sub.wait(topic_of_config("kamstrup_flat_2_heat_energy"));
  ASSERT_TRUE(first);
  const json e = json::parse(first->payload);
  EXPECT_EQ(e["unique_id"], "kamstrup_flat_2_heat_energy");
  EXPECT_EQ(e["state_topic"], "kamstrup/flat 2/heat_energy");
  EXPECT_EQ(e["device"]["identifiers"], json::array({"kamstrup_flat_2"}));
  EXPECT_EQ(e["device"]["model"], "0x0403");  // the meter type when the model is unknown
  EXPECT_FALSE(e["device"].contains("serial_number"));

  // The serial arrives: the name-based entities are deleted (empty retained config) and the
  // serial-based ones published.
  sink.meter_info(sample_info("flat 2", "555"));
  ASSERT_TRUE(sub.wait(topic_of_config("kamstrup_555_heat_energy")));
  ASSERT_TRUE(sub.wait(topic_of_config("kamstrup_flat_2_heat_energy"), ""));
  Subscriber late(broker.port());
  late.sync();
  EXPECT_TRUE(late.on(topic_of_config("kamstrup_flat_2_heat_energy")).empty());
  EXPECT_EQ(late.on(topic_of_config("kamstrup_555_temp1")).size(), 1u);
}

TEST_F(MqttSinkTest, HomeAssistantOffPublishesNoDiscovery) {
  Broker broker(dir.path());
  Subscriber sub(broker.port());
  MqttConfig c = config_for(broker.port());
  c.homeassistant = false;
  MqttSink sink(c);
  sink.meter_info(sample_info());
  const store::Poll p = sample_poll();
  sink.deliver(std::span(&p, 1));
  sub.sync();
  for (const auto& r : sub.all())
    EXPECT_THAT(r.topic, ::testing::Not(StartsWith("homeassistant/")));
  EXPECT_EQ(sub.on("kamstrup/heat1/heat_energy").at(0).payload, "55.006");
}

TEST_F(MqttSinkTest, EnergyUnitKwhConvertsExactlyAndLeavesGigajoulesAlone) {
  Broker broker(dir.path());
  Subscriber sub(broker.port());
  MqttConfig c = config_for(broker.port());
  c.energy_unit = "kWh";
  c.discovery_prefix = "ha";
  MqttSink sink(c);
  sink.meter_info(sample_info("heat1", "1"));
  sink.meter_info(sample_info("heat2", "2"));
  store::Poll gj = sample_poll("heat2");
  gj.values = {{60, "heat_energy", "123.456", "", "GJ"}, {64, "tariff2", "1.5", "", "MWh"}};
  const std::vector<store::Poll> polls{sample_poll("heat1"), gj};
  sink.deliver(polls);
  sub.sync();

  EXPECT_EQ(sub.on("kamstrup/heat1/heat_energy").at(0).payload, "55006");
  const json e = json::parse(sub.wait("ha/sensor/kamstrup_1_heat_energy/config")->payload);
  EXPECT_EQ(e["unit_of_measurement"], "kWh");
  EXPECT_EQ(e["device_class"], "energy");
  // The state object keeps the meter's own value and unit.
  const json s = json::parse(sub.on("kamstrup/heat1/state").at(0).payload);
  EXPECT_EQ(s["registers"][0]["name"], "heat_energy");
  EXPECT_EQ(s["registers"][0]["unit"], "MWh");
  EXPECT_THAT(sub.on("kamstrup/heat1/state").at(0).payload, HasSubstr("\"value\": 55.006"));
  // Other quantities are never converted.
  EXPECT_EQ(sub.on("kamstrup/heat1/volume").at(0).payload, "1234.56");

  // GJ → kWh is not an exact decimal scaling: published in GJ, which HA accepts for energy.
  EXPECT_EQ(sub.on("kamstrup/heat2/heat_energy").at(0).payload, "123.456");
  const json g = json::parse(sub.wait("ha/sensor/kamstrup_2_heat_energy/config")->payload);
  EXPECT_EQ(g["unit_of_measurement"], "GJ");
  EXPECT_EQ(g["device_class"], "energy");
  // Tariff registers count energy too: converted with it, and an energy sensor like it.
  EXPECT_EQ(sub.on("kamstrup/heat2/tariff2").at(0).payload, "1500");
  const json t = json::parse(sub.wait("ha/sensor/kamstrup_2_tariff2/config")->payload);
  EXPECT_EQ(t["unit_of_measurement"], "kWh");
  EXPECT_EQ(t["device_class"], "energy");
}

// What the sink asked the fan-out to log once (Sink::note), by key.
class Notes {
 public:
  explicit Notes(Sink& sink) {
    sink.set_note_handler([this](const std::string& key, const std::string& message) {
      std::lock_guard lk(mu_);
      got_.emplace_back(key, message);
    });
  }
  std::vector<std::pair<std::string, std::string>> all() {
    std::lock_guard lk(mu_);
    return got_;
  }
  std::vector<std::string> keys() {
    std::vector<std::string> k;
    for (const auto& [key, m] : all()) k.push_back(key);
    return k;
  }

 private:
  std::mutex mu_;
  std::vector<std::pair<std::string, std::string>> got_;
};

TEST_F(MqttSinkTest, DiscoveryAnnouncesClassesUnitsOriginCategoryAndPrecision) {
  Broker broker(dir.path());
  Subscriber sub(broker.port());
  MqttSink sink(config_for(broker.port()));
  Notes notes(sink);
  sink.meter_info(sample_info());
  store::Poll p = sample_poll();
  p.values = {
      {60, "heat_energy", "1.234", "", "Gcal"},
      {80, "power", "1.2", "", "MW"},
      {68, "volume", "312456", "", "l"},
      {74, "flow", "252", "", "l/h"},
      {89, "temp_diff", "20.10", "", "K"},
      {1004, "hour_counter", "7126", "", "h"},
      {99, "info", "0", "", ""},
      {582, "battery_days_left", "3650", "", "days"},
      {72, "mass1", "12.345", "", "ton"},
      {69, "volume2", "187.556", "", "m³×10"},
  };
  sink.deliver(std::span(&p, 1));
  sub.sync();
  auto config = [&](const std::string& reg) {
    const auto r = sub.wait(topic_of_config("kamstrup_67894321_" + reg));
    if (!r) throw std::runtime_error("no config for " + reg);
    return json::parse(r->payload);
  };
  struct Want {
    std::string reg, unit, device_class, value;
    int precision;
    bool diagnostic;
  };
  for (const Want& w : std::vector<Want>{
           {"heat_energy", "Gcal", "energy", "1.234", 3, false},
           {"power", "MW", "power", "1.2", 1, false},
           {"volume", "L", "volume", "312456", 0, false},
           {"flow", "L/h", "volume_flow_rate", "252", 0, false},
           {"temp_diff", "K", "temperature_delta", "20.10", 2, false},
           {"hour_counter", "h", "duration", "7126", 0, true},
           {"battery_days_left", "d", "duration", "3650", 0, true},
           {"mass1", "kg", "weight", "12345", 0, false},  // ton → kg, exactly
       }) {
    const json c = config(w.reg);
    EXPECT_EQ(c["unit_of_measurement"], w.unit) << w.reg;
    EXPECT_EQ(c["device_class"], w.device_class) << w.reg;
    EXPECT_EQ(c["suggested_display_precision"], w.precision) << w.reg;
    EXPECT_EQ(c.contains("entity_category"), w.diagnostic) << w.reg;
    if (w.diagnostic) {
      EXPECT_EQ(c["entity_category"], "diagnostic") << w.reg;
    }
    EXPECT_EQ(c["origin"]["name"], "kamstrup-reader") << w.reg;
    // The state topic carries the value in the announced unit.
    EXPECT_EQ(sub.on("kamstrup/heat1/" + w.reg).at(0).payload, w.value) << w.reg;
  }
  const json info = config("info");
  EXPECT_FALSE(info.contains("device_class"));
  EXPECT_FALSE(info.contains("unit_of_measurement"));
  EXPECT_EQ(info["entity_category"], "diagnostic");

  // The unit HA does not accept for volume: no device class, still unit, state class, value;
  // and said once, for that register only.
  const json v2 = config("volume2");
  EXPECT_FALSE(v2.contains("device_class"));
  EXPECT_EQ(v2["unit_of_measurement"], "m³×10");
  EXPECT_EQ(v2["state_class"], "total_increasing");
  EXPECT_EQ(sub.on("kamstrup/heat1/volume2").at(0).payload, "187.556");
  EXPECT_THAT(notes.keys(), ::testing::ElementsAre("mqtt.homeassistant.heat1.volume2"));
  EXPECT_THAT(notes.all().at(0).second,
              HasSubstr("'m³×10' is not one Home Assistant 2025.11 accepts for device class "
                        "volume: published without a device class"));

  // The per-poll object keeps the meter's own values and units.
  const json st = json::parse(sub.on("kamstrup/heat1/state").at(0).payload);
  using kamstrup::test::support::reading;
  EXPECT_EQ(reading(st["registers"], "mass1")["unit"], "ton");
  EXPECT_EQ(reading(st["registers"], "volume")["unit"], "l");
}

// A reload that changes the meter's `model` changes its info-code table: the flags only the old
// table documents lose their entities (empty retained config) and their retained states; a flag
// both tables name stays.
TEST_F(MqttSinkTest, FlagsTheNewModelDoesNotDocumentAreRetired) {
  Broker broker(dir.path());
  Subscriber sub(broker.port());
  MqttSink sink(config_for(broker.port()));
  MeterInfo info = sample_info();
  info.info_codes = "multical403";
  sink.meter_info(info);
  store::Poll p = sample_poll();
  p.values = {{99, "info", "8", "", ""}};  // bit 3: t1_above_range on the 403
  sink.deliver(std::span(&p, 1));
  const std::string t1_config =
      "homeassistant/binary_sensor/kamstrup_67894321_info_t1_above_range/config";
  ASSERT_TRUE(sub.wait(t1_config));
  ASSERT_TRUE(sub.wait("kamstrup/heat1/info/t1_above_range", "ON"));
  ASSERT_TRUE(sub.wait("homeassistant/binary_sensor/kamstrup_67894321_info_no_supply/config"));

  info.info_codes = "multical66c";
  sink.meter_info(info);
  ASSERT_TRUE(sub.wait(t1_config, ""));
  ASSERT_TRUE(sub.wait("kamstrup/heat1/info/t1_above_range", ""));
  ASSERT_TRUE(
      sub.wait("homeassistant/binary_sensor/kamstrup_67894321_info_t1_out_of_range/config"));
  sink.deliver(std::span(&p, 1));  // bit 3 on the 66-C: t1_out_of_range
  ASSERT_TRUE(sub.wait("kamstrup/heat1/info/t1_out_of_range", "ON"));

  Subscriber late(broker.port());
  late.sync();
  EXPECT_TRUE(late.on(t1_config).empty());
  EXPECT_TRUE(late.on("kamstrup/heat1/info/t1_above_range").empty());
  EXPECT_EQ(late.on("homeassistant/binary_sensor/kamstrup_67894321_info_no_supply/config").size(),
            1u);
  EXPECT_EQ(late.on("homeassistant/binary_sensor/kamstrup_67894321_info_burst/config").size(), 1u);
}

// The same across a restart: the new sink finds the old run's retained flag configs on the broker
// and deletes those its table does not document; another device's flags are left alone.
TEST_F(MqttSinkTest, FlagsAnEarlierRunLeftUnderAnotherModelAreRetired) {
  Broker broker(dir.path());
  const std::string t1_config =
      "homeassistant/binary_sensor/kamstrup_67894321_info_t1_above_range/config";
  const std::string other = "homeassistant/binary_sensor/kamstrup_11112222_info_v1_air/config";
  store::Poll p = sample_poll();
  p.values = {{99, "info", "8", "", ""}};
  {
    Subscriber sub(broker.port());
    MqttSink sink(config_for(broker.port()));
    MeterInfo info = sample_info();
    info.info_codes = "multical403";
    sink.meter_info(info);
    sink.deliver(std::span(&p, 1));
    ASSERT_TRUE(sub.wait("kamstrup/heat1/info/t1_above_range", "ON"));
    sub.publish(other, "{\"name\": \"another gateway's flag\"}", true);
    sub.sync();
  }
  Subscriber sub(broker.port());
  sub.sync();
  ASSERT_EQ(sub.on(t1_config).size(), 1u);  // retained by the first run
  MqttSink sink(config_for(broker.port()));
  MeterInfo info = sample_info();
  info.info_codes = "multical66c";
  sink.meter_info(info);
  ASSERT_TRUE(sub.wait(t1_config, ""));
  ASSERT_TRUE(sub.wait("kamstrup/heat1/info/t1_above_range", ""));

  Subscriber late(broker.port());
  late.sync();
  EXPECT_TRUE(late.on(t1_config).empty());
  EXPECT_EQ(late.on(other).size(), 1u);
  EXPECT_EQ(late.on("homeassistant/binary_sensor/kamstrup_67894321_info_no_supply/config").size(),
            1u);
}

// A register taken out of a meter's `registers:` list between runs: the next run deletes the
// entity and retained state the earlier one left, for a meter that answered as KMP. A meter whose
// registers its protocol decides (here one that answered /#n), other programs' configs and the
// registers still listed keep theirs.
TEST_F(MqttSinkTest, RegistersTakenOutOfTheListLoseTheirEntitiesOnTheNextRun) {
  Broker broker(dir.path());
  MeterInfo legacy = sample_info("heat2", "67000002");
  legacy.protocol = "legacy";
  const std::string volume1 = topic_of_config("kamstrup_67894321_volume");
  const std::string volume2 = topic_of_config("kamstrup_67000002_volume");
  const std::string energy1 = topic_of_config("kamstrup_67894321_heat_energy");
  const std::string foreign = topic_of_config("someone_else_volume");
  const std::string odd = topic_of_config("odd_shape");
  const store::Poll first_poll = sample_poll("heat1");
  std::vector<std::string> names;
  for (const auto& v : first_poll.values) names.push_back(v.name);
  // One run's sink: both meters list `names`, and both have answered.
  auto start_run = [&] {
    MqttConfig c = config_for(broker.port());
    c.meters = {"heat1", "heat2"};
    c.registers = {{"heat1", names}, {"heat2", names}};
    auto sink = std::make_unique<MqttSink>(c);
    sink->meter_info(sample_info());
    sink->meter_info(legacy);
    return sink;
  };
  {
    Subscriber sub(broker.port());
    auto sink = start_run();
    const std::vector<store::Poll> polls{first_poll, sample_poll("heat2")};
    sink->deliver(polls);
    ASSERT_TRUE(sub.wait(volume1));
    ASSERT_TRUE(sub.wait(volume2));
    ASSERT_TRUE(sub.wait("kamstrup/heat1/volume", "1234.56"));
    sub.publish(foreign,
                R"({"state_topic": "kamstrup/heat1/volume", "device": {"identifiers": )"
                R"(["kamstrup_67894321"]}, "origin": {"name": "another-program"}})",
                true);
    // Anyone can publish here: a config of the wrong shape is skipped, never a crash.
    sub.publish(odd, R"({"origin": {"name": 1}, "state_topic": "kamstrup/heat1/x", "device": {}})",
                true);
    sub.sync();
  }
  names.erase(std::find(names.begin(), names.end(), "volume"));
  Subscriber sub(broker.port());
  sub.sync();
  ASSERT_EQ(sub.on(volume1).size(), 1u);  // retained by the first run
  auto sink = start_run();
  ASSERT_TRUE(sub.wait(volume1, ""));
  ASSERT_TRUE(sub.wait("kamstrup/heat1/volume", ""));
  // The backlog stored before the list changed still has volume: it does not bring it back.
  sink->deliver(std::span(&first_poll, 1));

  Subscriber late(broker.port());
  late.sync();
  EXPECT_TRUE(late.on(volume1).empty());
  EXPECT_TRUE(late.on("kamstrup/heat1/volume").empty());
  EXPECT_EQ(late.on(energy1).size(), 1u);
  EXPECT_EQ(late.on("kamstrup/heat1/heat_energy").size(), 1u);
  EXPECT_EQ(late.on(volume2).size(), 1u);
  EXPECT_EQ(late.on("kamstrup/heat2/volume").size(), 1u);
  EXPECT_EQ(late.on(foreign).size(), 1u);
  EXPECT_EQ(late.on(odd).size(), 1u);
  EXPECT_EQ(late.on("kamstrup/heat1/temp1").size(), 1u);  // the backlog's other registers
}

TEST_F(MqttSinkTest, WaterMetersVolumeIsWaterAsHaVolumeClassSays) {
  Broker broker(dir.path());
  Subscriber sub(broker.port());
  MqttConfig c = config_for(broker.port());
  c.ha_volume_class = {{"water1", "water"}, {"heat1", "volume"}};
  MqttSink sink(c);
  sink.meter_info(sample_info("water1", "67012345"));
  sink.meter_info(sample_info("heat1", "67894321"));
  store::Poll w = sample_poll("water1");
  w.values = {{68, "volume", "312.456", "", "m³"}, {243, "volume_reverse", "0.012", "", "m³"}};
  const std::vector<store::Poll> polls{w, sample_poll("heat1")};
  sink.deliver(polls);
  auto config = [&](const std::string& id) {
    const auto r = sub.wait(topic_of_config(id));
    if (!r) throw std::runtime_error("no config " + id);
    return json::parse(r->payload);
  };
  EXPECT_EQ(config("kamstrup_67012345_volume")["device_class"], "water");
  EXPECT_EQ(config("kamstrup_67012345_volume")["state_class"], "total_increasing");
  EXPECT_EQ(config("kamstrup_67012345_volume_reverse")["device_class"], "water");
  EXPECT_EQ(config("kamstrup_67894321_volume")["device_class"], "volume");
}

TEST_F(MqttSinkTest, RegisterDisplayNamesFromTheFileNameTheEntities) {
  Broker broker(dir.path());
  Subscriber sub(broker.port());
  MqttConfig c = config_for(broker.port());
  c.labels["heat1"]["volume"] = "Hot water";
  MqttSink sink(c);
  sink.meter_info(sample_info());
  const store::Poll p = sample_poll();
  sink.deliver(std::span(&p, 1));
  EXPECT_EQ(json::parse(sub.wait(topic_of_config("kamstrup_67894321_volume"))->payload)["name"],
            "Hot water");
  EXPECT_EQ(json::parse(sub.wait(topic_of_config("kamstrup_67894321_temp1"))->payload)["name"],
            "T1 flow (forward) temperature");
}

TEST_F(MqttSinkTest, TwoMetersReportingOneSerialAreToldApartAndTheFirstKeepsItsIds) {
  Broker broker(dir.path());
  Subscriber sub(broker.port());
  MqttConfig c = config_for(broker.port());
  c.meters = {"a", "b", "c"};  // file order
  MqttSink sink(c);
  Notes notes(sink);
  // b answers first: alone with its serial, it has the plain ids.
  sink.meter_info(sample_info("b", "555"));
  const store::Poll pb = sample_poll("b");
  sink.deliver(std::span(&pb, 1));
  auto state_topic_of = [&](const std::string& id) {
    const auto r = sub.wait(topic_of_config(id));
    if (!r || r->payload.empty()) return std::string("(none)");
    return json::parse(r->payload)["state_topic"].get<std::string>();
  };
  EXPECT_EQ(state_topic_of("kamstrup_555_heat_energy"), "kamstrup/b/heat_energy");
  EXPECT_TRUE(notes.all().empty());

  // a, listed before b, reports the same serial: a has the plain ids, b's get its name.
  sink.meter_info(sample_info("a", "555"));
  sink.meter_info(sample_info("c", "777"));
  const std::vector<store::Poll> polls{sample_poll("a"), sample_poll("c"), pb};
  sink.deliver(polls);
  sub.sync();
  Subscriber late(broker.port());
  late.sync();
  auto retained = [&](const std::string& id) {
    const auto r = late.on(topic_of_config(id));
    return r.empty() ? json() : json::parse(r.back().payload);
  };
  const json a = retained("kamstrup_555_heat_energy");
  EXPECT_EQ(a["state_topic"], "kamstrup/a/heat_energy");
  EXPECT_EQ(a["device"]["identifiers"], json::array({"kamstrup_555"}));
  const json b = retained("kamstrup_555_b_heat_energy");
  EXPECT_EQ(b["unique_id"], "kamstrup_555_b_heat_energy");
  EXPECT_EQ(b["state_topic"], "kamstrup/b/heat_energy");
  EXPECT_EQ(b["device"]["identifiers"], json::array({"kamstrup_555_b"}));
  EXPECT_EQ(b["device"]["serial_number"], "555");
  // No collision, no change.
  EXPECT_EQ(retained("kamstrup_777_heat_energy")["state_topic"], "kamstrup/c/heat_energy");
  EXPECT_TRUE(late.on(topic_of_config("kamstrup_777_c_heat_energy")).empty());
  EXPECT_TRUE(late.on(topic_of_config("kamstrup_555_a_heat_energy")).empty());
  // Said once, naming both meters.
  ASSERT_EQ(notes.keys(), std::vector<std::string>{"mqtt.homeassistant.b"});
  EXPECT_THAT(notes.all()[0].second, HasSubstr("meters 'a' and 'b' both report serial 555"));
  EXPECT_THAT(notes.all()[0].second, HasSubstr("kamstrup_555_b_<register>"));
}

TEST_F(MqttSinkTest, AfterABacklogEachRegisterTopicGetsTheNewestAndTheStateTopicEveryPoll) {
  Broker broker(dir.path());
  Subscriber sub(broker.port());
  MqttSink sink(config_for(broker.port()));
  sink.meter_info(sample_info());
  std::vector<store::Poll> backlog;
  for (int i = 0; i < 5; ++i) {
    store::Poll p = sample_poll("heat1", kTime + i * 60000);
    p.seq = i + 1;
    p.values[0].value = "55.00" + std::to_string(i);
    backlog.push_back(p);
  }
  sink.deliver(backlog);
  sub.sync();
  const auto energy = sub.on("kamstrup/heat1/heat_energy");
  ASSERT_EQ(energy.size(), 1u);
  EXPECT_EQ(energy[0].payload, "55.004");
  EXPECT_EQ(sub.on("kamstrup/heat1/temp1").size(), 1u);
  std::vector<std::string> times;
  for (const auto& r : sub.on("kamstrup/heat1/state"))
    times.push_back(json::parse(r.payload)["time"]);
  EXPECT_THAT(times, ::testing::ElementsAre("2026-01-12T08:30:00.250Z", "2026-01-12T08:31:00.250Z",
                                            "2026-01-12T08:32:00.250Z", "2026-01-12T08:33:00.250Z",
                                            "2026-01-12T08:34:00.250Z"));

  // Store order is not always time order (logger records backfilled after live polls): the
  // newest read wins, and an older one never replaces what the retained topic has.
  store::Poll logged = sample_poll("heat1", kTime - 3600000);
  logged.source = "logger";
  logged.values[0].value = "54.000";
  store::Poll live = sample_poll("heat1", kTime + 5 * 60000);
  live.values[0].value = "55.005";
  sink.deliver(std::vector<store::Poll>{live, logged});
  sink.deliver(std::span(&logged, 1));
  sub.sync();
  std::vector<std::string> values;
  for (const auto& r : sub.on("kamstrup/heat1/heat_energy")) values.push_back(r.payload);
  EXPECT_THAT(values, ::testing::ElementsAre("55.004", "55.005"));
  EXPECT_EQ(sub.on("kamstrup/heat1/state").size(), 8u);  // every poll, the logger's too
  Subscriber late(broker.port());
  late.sync();
  EXPECT_EQ(late.on("kamstrup/heat1/heat_energy").at(0).payload, "55.005");
}

TEST_F(MqttSinkTest, FlatFormatIsKamstrup402MqttsPayloadOnItsTopic) {
  Broker broker(dir.path());
  Subscriber sub(broker.port());
  MqttConfig c = config_for(broker.port());
  c.format = MqttConfig::Format::Flat;
  c.meters = {"heat1", "heat2"};
  MqttSink sink(c);
  store::Poll p1 = sample_poll("heat1");
  p1.values = {{60, "heat_energy", "227.445", "", "GJ"}, {68, "volume", "2131.935", "", "m³"},
               {86, "temp1", "52.81", "", "°C"},         {87, "temp2", "39.90", "", "°C"},
               {89, "temp_diff", "12.91", "", "K"},      {1004, "hour_counter", "15312", "", "h"}};
  store::Poll p2 = sample_poll("heat2");
  p2.values = {{60, "heat_energy", "1.5", "", "MWh"}};
  sink.deliver(std::vector<store::Poll>{p1, p2});
  sub.sync();
  const auto values = sub.on("kamstrup/values");
  ASSERT_EQ(values.size(), 1u);
  EXPECT_EQ(values[0].payload,
            R"({"energy": 227.445, "volume": 2131.935, "temp1": 52.81, "temp2": 39.90, )"
            R"("tempdiff": 12.91, "hourcounter": 15312})");
  EXPECT_EQ(sub.on("kamstrup/heat2/values").at(0).payload, R"({"energy": 1.5})");
  EXPECT_TRUE(sub.on("kamstrup/heat1/state").empty());
  EXPECT_EQ(sub.on("kamstrup/heat1/volume").at(0).payload, "2131.935");  // still there
  // Retained, as kamstrup-402-mqtt's `retain: true`.
  Subscriber late(broker.port());
  late.sync();
  ASSERT_EQ(late.on("kamstrup/values").size(), 1u);
  EXPECT_TRUE(late.on("kamstrup/values")[0].retain);
}

TEST_F(MqttSinkTest, QosAndRetainAreHonoured) {
  Broker broker(dir.path());
  Subscriber sub(broker.port());  // subscribed with QoS 2: each message arrives at its own QoS
  for (int qos : {0, 1, 2}) {
    MqttConfig c = config_for(broker.port());
    c.client_id = "kamstrup-qos" + std::to_string(qos);
    c.base_topic = "q" + std::to_string(qos);
    c.qos = qos;
    c.retain = qos != 1;
    MqttSink sink(c);
    sink.meter_info(sample_info("heat1", "q" + std::to_string(qos)));
    const store::Poll p = sample_poll();
    sink.deliver(std::span(&p, 1));
    sub.sync();
    const std::string base = c.base_topic + "/heat1/";
    for (const std::string& t : {base + "heat_energy", base + "state"})
      EXPECT_EQ(sub.on(t).at(0).qos, qos) << t;
    EXPECT_EQ(sub.wait(topic_of_config("kamstrup_q" + std::to_string(qos) + "_temp1"))->qos, qos);
    Subscriber late(broker.port());
    late.sync();
    // A retained QoS 2 message reaches the callback only after its PUBREL, which may come after
    // the QoS 1 marker of sync(): wait for it rather than count at the marker.
    if (c.retain) {
      EXPECT_TRUE(late.wait(base + "heat_energy")) << qos;
    }
    EXPECT_EQ(late.on(base + "heat_energy").size(), c.retain ? 1u : 0u) << qos;
    EXPECT_TRUE(late.on(base + "state").empty());
  }
}

TEST_F(MqttSinkTest, DeliverWithoutBrokerThrowsQuickly) {
  const int port = free_port();  // nothing listens there
  MqttConfig c = config_for(port);
  MqttSink sink(c);
  const store::Poll p = sample_poll();
  try {
    sink.deliver(std::span(&p, 1));
    FAIL() << "delivered without a broker";
  } catch (const SinkError& e) {
    EXPECT_EQ(std::string(e.what()), c.url + ": not connected (connection refused)");
  }
  EXPECT_THROW(sink.deliver(std::span(&p, 1)), SinkError);  // and again, while backing off
  sink.meter_online("heat1", true);                         // never blocks, never throws
  sink.meter_info(sample_info());
}

TEST_F(MqttSinkTest, ReconnectsAfterBrokerRestartAndRetriedPollsAreNotLost) {
  auto broker = std::make_unique<Broker>(dir.path());
  const int port = broker->port();
  MqttSink sink(config_for(port));
  sink.meter_info(sample_info());
  store::Poll p1 = sample_poll("heat1", kTime);
  sink.deliver(std::span(&p1, 1));

  broker->stop();
  store::Poll p2 = sample_poll("heat1", kTime + 60000);
  p2.values[0].value = "55.007";
  store::Poll p3 = sample_poll("heat1", kTime + 120000);
  p3.values[0].value = "55.008";
  const std::vector<store::Poll> backlog{p2, p3};
  ASSERT_TRUE(wait_until([&] {
    try {
      sink.deliver(backlog);
      return false;
    } catch (const SinkError& e) {
      return std::string(e.what()).starts_with("mqtt://127.0.0.1:" + std::to_string(port) + ": ");
    }
  }));

  broker->start();  // same port, no persistence: every retained message is gone
  Subscriber sub(port);
  ASSERT_TRUE(deliver_eventually(sink, backlog));  // the fan-out's retry
  sub.sync();
  std::vector<std::string> times;
  for (const auto& r : sub.on("kamstrup/heat1/state"))
    times.push_back(json::parse(r.payload)["time"]);
  EXPECT_THAT(times,
              ::testing::IsSupersetOf({"2026-01-12T08:31:00.250Z", "2026-01-12T08:32:00.250Z"}));
  EXPECT_EQ(sub.on("kamstrup/heat1/heat_energy").back().payload, "55.008");
  // Reconnecting republished the status, the meter's availability and the discovery configs.
  EXPECT_TRUE(sub.wait("kamstrup/status", "online"));
  EXPECT_TRUE(sub.wait("kamstrup/heat1/availability", "online"));
  EXPECT_TRUE(sub.wait(topic_of_config("kamstrup_67894321_heat_energy")));
  EXPECT_TRUE(sub.wait(topic_of_config("kamstrup_67894321_date")));
}

TEST_F(MqttSinkTest, SilentBrokerTimesOutThenTheRetrySucceeds) {
  Broker broker(dir.path());
  Proxy proxy(broker.port());
  Subscriber sub(broker.port());
  MqttConfig c = config_for(proxy.port());
  c.timeout = 500ms;
  MqttSink sink(c);
  const store::Poll p = sample_poll();
  sink.deliver(std::span(&p, 1));

  proxy.stall(true);  // nothing is forwarded: no PUBACK comes back
  try {
    sink.deliver(std::span(&p, 1));
    FAIL() << "delivered through a stalled connection";
  } catch (const SinkError& e) {
    EXPECT_THAT(e.what(), HasSubstr("no acknowledgement from the broker for 500 ms"));
    EXPECT_THAT(e.what(), HasSubstr("of 9 messages unacknowledged"));
  }
  proxy.stall(false);
  EXPECT_TRUE(deliver_eventually(sink, {p}));
  sub.sync();
  EXPECT_GE(sub.on("kamstrup/heat1/state").size(), 2u);
}

// ---------------------------------------------------------------------------------------------
// TLS and passwords. Certificates come from the openssl CLI, the password file from
// mosquitto_passwd.

class MqttTlsTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    pki_ = new TempDir();
    const std::string d = pki_->path().string();
    const std::string ec = " -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes";
    std::ofstream(pki_->path() / "ext.cnf") << "subjectAltName=IP:127.0.0.1,DNS:localhost\n";
    std::ofstream(pki_->path() / "elsewhere.cnf") << "subjectAltName=DNS:elsewhere.example\n";
    const std::vector<std::string> cmds{
        "openssl req -x509" + ec + " -keyout " + d + "/ca.key -out " + d +
            "/ca.crt -days 2 -subj /CN=kamstrup-test-ca",
        "openssl req" + ec + " -keyout " + d + "/server.key -out " + d +
            "/server.csr -subj /CN=localhost",
        "openssl x509 -req -in " + d + "/server.csr -CA " + d + "/ca.crt -CAkey " + d +
            "/ca.key -CAcreateserial -out " + d + "/server.crt -days 2 -extfile " + d + "/ext.cnf",
        "openssl req" + ec + " -keyout " + d + "/elsewhere.key -out " + d +
            "/elsewhere.csr -subj /CN=elsewhere.example",
        "openssl x509 -req -in " + d + "/elsewhere.csr -CA " + d + "/ca.crt -CAkey " + d +
            "/ca.key -CAcreateserial -out " + d + "/elsewhere.crt -days 2 -extfile " + d +
            "/elsewhere.cnf",
        "openssl req -x509" + ec + " -keyout " + d + "/other.key -out " + d +
            "/other.crt -days 2 -subj /CN=some-other-ca",
        "mosquitto_passwd -c -b " + d + "/passwd kamstrup 's3cret pass'",
    };
    for (const auto& cmd : cmds) {
      ASSERT_EQ(std::system((cmd + " >" + d + "/pki.log 2>&1").c_str()), 0)
          << cmd << "\n"
          << slurp(pki_->path() / "pki.log");
    }
  }
  static void TearDownTestSuite() {
    delete pki_;
    pki_ = nullptr;
  }

  static std::string pki(const std::string& name) { return (pki_->path() / name).string(); }

  std::unique_ptr<Broker> tls_broker(const std::string& server = "server") {
    return std::make_unique<Broker>(dir.path(),
                                    "cafile " + pki("ca.crt") + "\ncertfile " +
                                        pki(server + ".crt") + "\nkeyfile " + pki(server + ".key") +
                                        "\npassword_file " + pki("passwd") + "\n",
                                    false);
  }

  static MqttConfig tls_config(int port) {
    MqttConfig c = config_for(port);
    c.url = "mqtts://127.0.0.1:" + std::to_string(port);
    c.ca_file = pki("ca.crt");
    c.username = "kamstrup";
    c.password = kamstrup::config::Secret::of("s3cret pass");
    return c;
  }

  static ClientTls subscriber_tls() { return {pki("ca.crt"), "kamstrup", "s3cret pass"}; }

  static TempDir* pki_;
  TempDir dir;
};

TempDir* MqttTlsTest::pki_ = nullptr;

TEST_F(MqttTlsTest, VerifiedCaAndPasswordDeliver) {
  auto broker = tls_broker();
  Subscriber sub(broker->port(), subscriber_tls());
  for (const std::string host : {"127.0.0.1", "localhost"}) {
    MqttConfig c = tls_config(broker->port());
    c.url = "mqtts://" + host + ":" + std::to_string(broker->port());
    MqttSink sink(c);
    store::Poll p = sample_poll();
    p.values[0].value = host == "localhost" ? "1.1" : "2.2";
    sink.deliver(std::span(&p, 1));
    EXPECT_TRUE(sub.wait("kamstrup/heat1/heat_energy", p.values[0].value)) << host;
  }
}

TEST_F(MqttTlsTest, WrongPasswordIsASinkError) {
  auto broker = tls_broker();
  MqttConfig c = tls_config(broker->port());
  c.password = kamstrup::config::Secret::of("wrong");
  MqttSink sink(c);
  const store::Poll p = sample_poll();
  try {
    sink.deliver(std::span(&p, 1));
    FAIL() << "delivered with a wrong password";
  } catch (const SinkError& e) {
    EXPECT_THAT(e.what(), StartsWith(c.url + ": not connected (refused by the broker: "));
  }
}

TEST_F(MqttTlsTest, UnknownCaIsASinkError) {
  auto broker = tls_broker();
  MqttConfig c = tls_config(broker->port());
  c.ca_file = pki("other.crt");
  MqttSink sink(c);
  const store::Poll p = sample_poll();
  try {
    sink.deliver(std::span(&p, 1));
    FAIL() << "delivered to a broker whose certificate no trusted CA signed";
  } catch (const SinkError& e) {
    EXPECT_THAT(e.what(), StartsWith(c.url + ": not connected ("));
    EXPECT_THAT(e.what(), HasSubstr("certificate verify failed"));
  }
}

TEST_F(MqttTlsTest, NoBrokerIsAQuickSinkErrorAndARestartedOneIsFoundAgain) {
  // libmosquitto 2.0.11 does not notice a refused TLS connection by itself (it spins until the
  // keepalive ends); the sink must.
  auto broker = tls_broker();
  const int port = broker->port();
  MqttConfig c = tls_config(port);
  c.timeout = 30s;  // an attempt that hung would show as a 30 s wait, not as a refusal
  MqttSink sink(c);
  const store::Poll p = sample_poll();
  sink.deliver(std::span(&p, 1));
  broker->stop();
  ASSERT_TRUE(wait_until([&] {
    try {
      sink.deliver(std::span(&p, 1));
      return false;
    } catch (const SinkError& e) {
      return std::string(e.what()) == c.url + ": not connected (connection refused)";
    }
  }));
  broker->start();
  Subscriber sub(port, subscriber_tls());
  store::Poll p2 = sample_poll();
  p2.values[0].value = "99.5";
  ASSERT_TRUE(deliver_eventually(sink, {p2}));
  EXPECT_TRUE(sub.wait("kamstrup/heat1/heat_energy", "99.5"));
}

TEST_F(MqttTlsTest, CertificateMustNameTheHostUnlessInsecure) {
  auto broker = tls_broker("elsewhere");  // signed by the right CA, for another name
  MqttConfig c = tls_config(broker->port());
  {
    MqttSink sink(c);
    const store::Poll p = sample_poll();
    try {
      sink.deliver(std::span(&p, 1));
      FAIL() << "delivered to a broker whose certificate names another host";
    } catch (const SinkError& e) {
      EXPECT_THAT(e.what(), HasSubstr("host name verification failed"));
    }
  }
  c.tls_insecure = true;  // the chain is still checked, the name is not
  MqttSink sink(c);
  const store::Poll p = sample_poll();
  EXPECT_NO_THROW(sink.deliver(std::span(&p, 1)));
}

}  // namespace
}  // namespace kamstrup::sinks
