// `kamstrup run` as a real process delivering to real servers that go away and come back: a
// mosquitto broker and an influxd, each started by the test on a free loopback port, stopped
// while the daemon keeps polling its built-in simulated meter, and started again (a new process
// on the same port). A `files` jsonl output is the reference of what was polled: every poll in it
// must reach the server (at least once, in order), also when the daemon was killed with -9
// while the output was down.
#include "daemon_support.hpp"

#include "sinks/influxdb.hpp"

using namespace kamstrup::test::daemon_support;

namespace {

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
