// The fan-out against a real SQLite store. Most outputs here are recording test doubles (they
// stand in for "an output that is up / down"; every real output has its own tests against its
// real server): what is checked is the delivery guarantee itself. The rejection and stored meter
// info tests use the real InfluxDB output, against a recording HTTP server that refuses one
// poll (InfluxDB's own answer to a field type conflict) and against a real influxd.
#include <gtest/gtest.h>

#include <atomic>
#include <filesystem>
#include <mutex>
#include <set>
#include <thread>

#include "../support/http_recorder.hpp"
#include "../support/servers.hpp"
#include "daemon/fanout.hpp"
#include "sinks/influxdb.hpp"

using namespace kamstrup;
using namespace std::chrono_literals;

namespace {

class RecordingSink : public sinks::Sink {
 public:
  RecordingSink(std::string id, std::atomic<bool>& up) : id_(std::move(id)), up_(up) {}
  std::string id() const override { return id_; }
  void deliver(std::span<const store::Poll> polls) override {
    ++attempts;
    if (!up_) throw sinks::SinkError(id_ + ": down");
    std::lock_guard lock(mu);
    for (const auto& p : polls) seqs.push_back(p.seq);
  }
  void meter_online(const std::string& meter, bool online) override {
    std::lock_guard lock(mu);
    events.push_back(meter + (online ? ":online" : ":offline"));
  }
  std::vector<std::int64_t> delivered() {
    std::lock_guard lock(mu);
    return seqs;
  }
  std::atomic<int> attempts{0};
  std::mutex mu;
  std::vector<std::int64_t> seqs;
  std::vector<std::string> events;

 private:
  std::string id_;
  std::atomic<bool>& up_;
};

std::string temp_db(const std::string& name) {
  auto dir = std::filesystem::path(::testing::TempDir()) / ("kamstrup-fanout-" + name);
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  return (dir / "k.db").string();
}

store::Poll poll(int i) {
  store::Poll p;
  p.meter = "heat";
  p.time_ms = 1700000000000 + i * 1000;
  p.values.push_back({60, "heat_energy", std::to_string(i) + ".001", "", "MWh"});
  return p;
}

// The real InfluxDB 1.x output, writing to database "k" at `url`.
std::vector<std::unique_ptr<sinks::Sink>> influx_output(const std::string& url) {
  sinks::InfluxConfig c;
  c.url = url;
  c.database = "k";
  std::vector<std::unique_ptr<sinks::Sink>> v;
  v.push_back(std::make_unique<sinks::InfluxSink>(c));
  return v;
}

template <typename F>
bool eventually(F f, std::chrono::milliseconds limit = 10s) {
  auto end = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < end) {
    if (f()) return true;
    std::this_thread::sleep_for(10ms);
  }
  return f();
}

TEST(Fanout, DeadOutputKeepsItsBacklogAndCatchesUpInOrderWithoutBlockingOthers) {
  store::Store st(temp_db("dead"));
  std::atomic<bool> a_up{true}, b_up{false};
  auto a = std::make_unique<RecordingSink>("a", a_up);
  auto b = std::make_unique<RecordingSink>("b", b_up);
  auto* ra = a.get();
  auto* rb = b.get();
  std::vector<std::unique_ptr<sinks::Sink>> sinks;
  sinks.push_back(std::move(a));
  sinks.push_back(std::move(b));
  daemon::Fanout f(st, std::move(sinks));
  f.start();
  for (int i = 0; i < 20; ++i) {
    auto p = poll(i);
    st.insert(p);
    f.notify();
  }
  ASSERT_TRUE(eventually([&] { return ra->delivered().size() == 20; }));
  EXPECT_TRUE(rb->delivered().empty());
  EXPECT_GE(rb->attempts.load(), 1);
  auto health = f.health();
  EXPECT_EQ(health[1].backlog, 20);
  EXPECT_FALSE(health[1].last_error.empty());

  b_up = true;  // the output comes back; the fan-out retries after its backoff
  ASSERT_TRUE(eventually([&] { return rb->delivered().size() == 20; }));
  auto got = rb->delivered();
  for (std::size_t i = 1; i < got.size(); ++i) EXPECT_LT(got[i - 1], got[i]) << "out of order";
  f.stop(1s);
  EXPECT_EQ(st.cursor("b"), got.back());
}

// An output that refuses a value (it cannot send it right) says so through notice(): every one
// is counted, and the delivery of the rest of the poll goes on.
class RefusingSink : public sinks::Sink {
 public:
  std::string id() const override { return "refusing"; }
  void deliver(std::span<const store::Poll> polls) override {
    for (const auto& p : polls) {
      (void)p;
      notice("refusing.devices.heat.volume", "unit 'ton' cannot become litres");
      ++delivered;
    }
  }
  std::atomic<int> delivered{0};
};

TEST(Fanout, RefusedValuesAreCountedWithTheirConfigKey) {
  store::Store st(temp_db("refused"));
  auto s = std::make_unique<RefusingSink>();
  auto* rs = s.get();
  std::vector<std::unique_ptr<sinks::Sink>> sinks;
  sinks.push_back(std::move(s));
  daemon::Fanout f(st, std::move(sinks));
  f.start();
  for (int i = 0; i < 3; ++i) {
    auto p = poll(i);
    st.insert(p);
    f.notify();
  }
  ASSERT_TRUE(eventually([&] { return rs->delivered.load() == 3; }));
  ASSERT_TRUE(eventually([&] { return f.health()[0].cursor == 3; }));
  const auto h = f.health()[0];
  EXPECT_EQ(h.refused_values, 3U);
  EXPECT_EQ(h.last_refusal, "refusing.devices.heat.volume: unit 'ton' cannot become litres");
  f.stop(1s);
}

// An output that sends everything but tells the user something once (note(): a Home Assistant
// device class left out) is logged, not counted as refusing values.
class NotingSink : public sinks::Sink {
 public:
  std::string id() const override { return "noting"; }
  void deliver(std::span<const store::Poll> polls) override {
    for (const auto& p : polls) {
      (void)p;
      note("mqtt.homeassistant.heat.volume2", "published without a device class");
      ++delivered;
    }
  }
  std::atomic<int> delivered{0};
};

TEST(Fanout, NotesAreNotRefusals) {
  store::Store st(temp_db("noted"));
  auto s = std::make_unique<NotingSink>();
  auto* ns = s.get();
  std::vector<std::unique_ptr<sinks::Sink>> sinks;
  sinks.push_back(std::move(s));
  daemon::Fanout f(st, std::move(sinks));
  f.start();
  for (int i = 0; i < 3; ++i) {
    auto p = poll(i);
    st.insert(p);
    f.notify();
  }
  ASSERT_TRUE(eventually([&] { return ns->delivered.load() == 3; }));
  ASSERT_TRUE(eventually([&] { return f.health()[0].cursor == 3; }));
  EXPECT_EQ(f.health()[0].refused_values, 0U);
  EXPECT_EQ(f.health()[0].last_refusal, "");
  f.stop(1s);
}

TEST(Fanout, ARestartResumesFromTheDurableCursor) {
  std::string path = temp_db("restart");
  std::atomic<bool> up{true};
  std::int64_t last = 0;
  {
    store::Store st(path);
    auto s = std::make_unique<RecordingSink>("out", up);
    auto* r = s.get();
    std::vector<std::unique_ptr<sinks::Sink>> v;
    v.push_back(std::move(s));
    daemon::Fanout f(st, std::move(v));
    f.start();
    for (int i = 0; i < 5; ++i) {
      auto p = poll(i);
      last = st.insert(p);
      f.notify();
    }
    ASSERT_TRUE(eventually([&] { return r->delivered().size() == 5; }));
    f.stop(1s);
  }
  {
    store::Store st(path);
    for (int i = 5; i < 8; ++i) {  // stored while the output was not running
      auto p = poll(i);
      st.insert(p);
    }
    auto s = std::make_unique<RecordingSink>("out", up);
    auto* r = s.get();
    std::vector<std::unique_ptr<sinks::Sink>> v;
    v.push_back(std::move(s));
    daemon::Fanout f(st, std::move(v));
    f.start();
    f.notify();
    ASSERT_TRUE(eventually([&] { return r->delivered().size() == 3; }));
    auto got = r->delivered();
    EXPECT_EQ(got.front(), last + 1);  // nothing already confirmed is sent again, nothing skipped
    f.stop(1s);
  }
}

TEST(Fanout, BacklogCountsThePollsStillInTheStoreAlsoAfterRetention) {
  store::Store st(temp_db("backlog"));
  std::atomic<bool> up{false};
  std::vector<std::unique_ptr<sinks::Sink>> v;
  v.push_back(std::make_unique<RecordingSink>("out", up));
  daemon::Fanout f(st, std::move(v));
  f.start();
  for (int i = 0; i < 10; ++i) {
    auto p = poll(i);
    st.insert(p);
  }
  EXPECT_EQ(f.health()[0].backlog, 10);
  // Retention deletes the 4 oldest polls, which the output never got.
  ASSERT_EQ(st.delete_before(poll(4).time_ms), 4U);
  EXPECT_EQ(f.health()[0].cursor, 0);
  EXPECT_EQ(f.health()[0].backlog, 6);  // last_seq - cursor would still say 10
  f.stop(0ms);
}

// InfluxDB refuses a point whose field type conflicts with the series (HTTP 400): without the
// rejected class that poll would be retried forever and the output's backlog would stall.
TEST(Fanout, APollTheTargetRefusesIsSkippedCountedAndLaterPollsFlow) {
  test::Recorder rec;
  const std::string bad = "heat_energy_mwh=2.001 ";
  rec.set([&bad](const httplib::Request& req, httplib::Response& res) {
    if (req.body.find(bad) != std::string::npos) {
      res.status = 400;
      res.set_content(
          R"({"error":"partial write: field type conflict: input field \"heat_energy_mwh\")"
          R"( on measurement \"kamstrup\" is type float, already exists as type string"})",
          "application/json");
    } else {
      res.status = 204;
    }
  });
  store::Store st(temp_db("rejected"));
  std::int64_t last = 0;
  for (int i = 0; i < 5; ++i) {  // a backlog: one batch with the bad poll in the middle
    auto p = poll(i);
    last = st.insert(p);
  }
  daemon::Fanout f(st, influx_output(rec.url()));
  f.start();
  ASSERT_TRUE(eventually([&] { return f.health()[0].cursor == last; })) << f.health()[0].last_error;
  auto h = f.health()[0];
  EXPECT_EQ(h.rejected, 1U);
  EXPECT_EQ(h.delivered, 4U);
  EXPECT_EQ(h.backlog, 0);
  EXPECT_EQ(h.last_error, "");  // the output is up: it delivers everything else
  EXPECT_NE(h.last_rejection.find("HTTP 400"), std::string::npos) << h.last_rejection;
  EXPECT_NE(h.last_rejection.find("field type conflict"), std::string::npos) << h.last_rejection;
  EXPECT_EQ(st.cursor("influxdb"), last);

  // Every other poll was accepted by the server, the refused one never was.
  std::multiset<std::string> accepted;
  for (const auto& r : rec.requests()) {
    if (r.body.find(bad) != std::string::npos) continue;  // answered 400
    std::size_t start = 0;
    for (std::size_t nl; (nl = r.body.find('\n', start)) != std::string::npos; start = nl + 1) {
      auto line = r.body.substr(start, nl - start);
      accepted.insert(
          line.substr(line.find(' ') + 1, line.find(' ', line.find(' ') + 1) - line.find(' ') - 1));
    }
  }
  EXPECT_EQ(accepted,
            (std::multiset<std::string>{"heat_energy_mwh=0.001", "heat_energy_mwh=1.001",
                                        "heat_energy_mwh=3.001", "heat_energy_mwh=4.001"}));

  // Later polls keep flowing.
  auto p = poll(5);
  last = st.insert(p);
  f.notify();
  ASSERT_TRUE(eventually([&] { return f.health()[0].cursor == last; }));
  EXPECT_EQ(f.health()[0].delivered, 5U);
  EXPECT_EQ(f.health()[0].rejected, 1U);
  EXPECT_NE(rec.requests().back().body.find("heat_energy_mwh=5.001 "), std::string::npos);
  f.stop(1s);
}

// After a restart the backlog is replayed before the meter answers again: the serial the meter
// gave an earlier run comes from the store, so those points land in the series with the serial
// tag. A real influxd (Debian package influxdb) stores them; its answer is checked point by point.
TEST(Fanout, BacklogReplayedAtStartCarriesTheStoredSerial) {
  test::support::Influxd influxd;
  influxd.start();
  influxd.create_database("k");
  const std::string path = temp_db("serial");
  sinks::MeterInfo heat{"heat", "MULTICAL 403", "0x0403", "A2", "6543210", "kmp"};
  {  // an earlier run: the meter answered (identity kept by the fan-out), then polls piled up
    store::Store st(path);
    daemon::Fanout f(st, {});
    f.start();
    f.meter_info(heat);
    f.stop(0ms);
    ASSERT_TRUE(st.meter_info("heat").has_value());
    EXPECT_EQ(*st.meter_info("heat"), heat);
    for (int i = 0; i < 3; ++i) {
      auto p = poll(i);
      st.insert(p);
    }
    auto p = poll(3);
    p.meter = "cool";  // a meter that never answered: no serial known
    st.insert(p);
  }
  store::Store st(path);
  daemon::Fanout f(st, influx_output(influxd.url()));
  f.start();  // no meter_info() in this run, no notify(): the replay starts by itself
  ASSERT_TRUE(eventually([&] { return f.health()[0].cursor == st.last_seq(); }))
      << f.health()[0].last_error;
  f.stop(1s);
  auto points = influxd.points("k");
  ASSERT_EQ(points.size(), 4U);
  int tagged = 0;
  for (auto& pt : points) {
    if (pt["meter"] == "heat") {
      EXPECT_EQ(pt["serial"], "6543210");
      ++tagged;
    } else {
      EXPECT_EQ(pt["meter"], "cool");
      EXPECT_TRUE(pt["serial"].is_null());
    }
  }
  EXPECT_EQ(tagged, 3);
}

TEST(Fanout, MeterEventsReachEveryOutputInOrder) {
  store::Store st(temp_db("events"));
  std::atomic<bool> up{true};
  auto s = std::make_unique<RecordingSink>("out", up);
  auto* r = s.get();
  std::vector<std::unique_ptr<sinks::Sink>> v;
  v.push_back(std::move(s));
  daemon::Fanout f(st, std::move(v));
  f.start();
  f.meter_online("heat", true);
  f.meter_online("heat", false);
  ASSERT_TRUE(eventually([&] {
    std::lock_guard lock(r->mu);
    return r->events.size() == 2;
  }));
  std::lock_guard lock(r->mu);
  EXPECT_EQ(r->events, (std::vector<std::string>{"heat:online", "heat:offline"}));
}

}  // namespace

namespace {

TEST(Probe, EndpointsOfOutputUrls) {
  using daemon::Endpoint;
  using daemon::probe_endpoint;
  EXPECT_EQ(probe_endpoint("http://127.0.0.1:8086"), (Endpoint{"127.0.0.1", 8086}));
  EXPECT_EQ(probe_endpoint("https://user:pw@influx.example/write?db=k"),
            (Endpoint{"influx.example", 443}));
  EXPECT_EQ(probe_endpoint("http://emonpi.local/emoncms"), (Endpoint{"emonpi.local", 80}));
  EXPECT_EQ(probe_endpoint("mqtt://[::1]:1884"), (Endpoint{"::1", 1884}));
  EXPECT_EQ(probe_endpoint("mqtts://broker"), (Endpoint{"broker", 8883}));
  EXPECT_EQ(probe_endpoint("HTTP://h:81/"), (Endpoint{"h", 81}));
  EXPECT_FALSE(probe_endpoint(""));
  EXPECT_FALSE(probe_endpoint("/var/log/k.jsonl"));
  EXPECT_FALSE(probe_endpoint("ftp://h"));         // no default port we know
  EXPECT_FALSE(probe_endpoint("http://:80"));      // no host
  EXPECT_FALSE(probe_endpoint("http://h:99999"));  // no such port
  EXPECT_FALSE(probe_endpoint("http://h:8o"));
}

TEST(Probe, TcpConnectSucceedsOnlyWhereSomethingListens) {
  const int port = test::support::free_port();
  const daemon::Endpoint ep{"127.0.0.1", static_cast<std::uint16_t>(port)};
  EXPECT_FALSE(daemon::tcp_connects(ep, 500ms));
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = htons(static_cast<std::uint16_t>(port));
  ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
  ASSERT_EQ(::listen(fd, 4), 0);
  EXPECT_TRUE(daemon::tcp_connects(ep, 500ms));
  ::close(fd);
}

// An output whose target accepts connections but fails every delivery (an HTTP 5xx) keeps its
// backoff: the probe only shortens the wait for a target that was unreachable and came back.
class ReachableButFailing : public RecordingSink {
 public:
  ReachableButFailing(std::atomic<bool>& up, int port)
      : RecordingSink("failing", up), port_(port) {}
  std::string probe_url() const override { return "http://127.0.0.1:" + std::to_string(port_); }

 private:
  int port_;
};

TEST(Fanout, AReachableButFailingTargetKeepsItsBackoff) {
  const int port = test::support::free_port();
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = htons(static_cast<std::uint16_t>(port));
  ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
  ASSERT_EQ(::listen(fd, 64), 0);
  store::Store st(temp_db("reachable-failing"));
  auto p = poll(1);
  st.insert(p);
  std::atomic<bool> up{false};
  auto sink = std::make_unique<ReachableButFailing>(up, port);
  auto* s = sink.get();
  std::vector<std::unique_ptr<sinks::Sink>> sinks;
  sinks.push_back(std::move(sink));
  daemon::Fanout f(st, std::move(sinks));
  f.start();
  // Attempts at 0, 1 s and 3 s (backoff 1 s, 2 s, then 4 s); a probe-driven retry would try
  // every half second.
  std::this_thread::sleep_for(4500ms);
  EXPECT_EQ(s->attempts.load(), 3);
  up = true;
  f.stop(2s);
  ::close(fd);
}

}  // namespace
