// Backfill from the meter's own logger, end to end: a simulated MULTICAL 403 (its hourly logger
// compressed to one record every 2 s) on a real pty, `kamstrup run` stopped and restarted while
// the meter runs on. The gap must come back as readings with the logged times and exactly the
// values the meter logged, delivered to the outputs like any other reading (source=logger).
#include <gtest/gtest.h>

#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <regex>
#include <thread>

#include "../e2e/process.hpp"
#include "../support/readings.hpp"

using namespace kamstrup::test;
using namespace std::chrono_literals;
using Json = nlohmann::json;

namespace {

const std::string kBin = KAMSTRUP_BINARY;

std::vector<Json> json_lines(const std::string& text) {
  std::vector<Json> out;
  std::size_t at = 0;
  while (at < text.size()) {
    auto end = text.find('\n', at);
    if (end == std::string::npos) break;
    auto j = Json::parse(text.substr(at, end - at), nullptr, false);
    if (!j.is_discarded()) out.push_back(j);
    at = end + 1;
  }
  return out;
}

std::int64_t parse_time_ms(const std::string& t) {
  // 2026-11-23T17:44:22.123Z
  std::tm tm{};
  strptime(t.c_str(), "%Y-%m-%dT%H:%M:%S", &tm);
  auto ms = std::stoll(t.substr(20, 3));
  return static_cast<std::int64_t>(timegm(&tm)) * 1000 + ms;
}

// Every logger record the simulator sent: unix ms → heat_energy text.
std::map<std::int64_t, std::string> logged_energy(const std::string& log_path) {
  std::map<std::int64_t, std::string> out;
  for (const auto& line : json_lines(Background::slurp(log_path))) {
    if (line.value("dir", "") != "tx" || !line.contains("records")) continue;
    for (const auto& rec : line.at("records")) {
      const auto& values = rec.at("values");
      if (!values.contains("60")) continue;
      const auto t = static_cast<std::int64_t>(std::llround(rec.at("t").get<double>() * 1000.0));
      out[t] = values.at("60").get<std::string>();
    }
  }
  return out;
}

struct Printed {
  std::vector<std::int64_t> poll_times;    // source poll
  std::vector<std::int64_t> logger_times;  // source logger
  std::map<std::int64_t, std::string> logger_energy;
};

Printed printed(const std::string& out) {
  Printed p;
  for (const auto& j : json_lines(out)) {
    if (!j.contains("source")) continue;
    const auto t = parse_time_ms(j.at("time").get<std::string>());
    if (j.at("source") == "logger") {
      p.logger_times.push_back(t);
      const auto& regs = j.at("registers");
      if (const auto* e = kamstrup::test::support::find_reading(regs, "heat_energy"))
        p.logger_energy[t] = e->at("value").dump();
    } else {
      p.poll_times.push_back(t);
    }
  }
  return p;
}

TEST(Backfill, RestartFillsTheGapWithTheMetersLoggedReadings) {
  TempDir dir;
  const std::string link = dir / "meter";
  const std::string sim_log = dir / "sim.log";
  Background sim({kBin, "simulate", "--profile", "multical403", "--pty", link, "--seed", "5",
                  "--logger-period", "hourly=2s", "--log", sim_log},
                 dir / "sim");
  ASSERT_TRUE(sim.wait_for_output("\n", 30000ms)) << sim.err();

  const std::string config = dir / "k.yaml";
  std::ofstream(config) << "meters:\n  - name: heat\n    port: " << link
                        << "\n    protocol: kmp\n    interval: 1s\n    registers: [heat_energy, "
                           "volume]\n    backfill: 20s\n    logger: hourly\n"
                        << "store:\n  path: " << (dir / "k.db") << "\nconsole:\n  format: json\n";

  // First start: 20 s of history (about 10 records) before the first poll.
  Background first({kBin, "run", "--config", config}, dir / "run1");
  for (int i = 0; i < 1200 && printed(first.out()).poll_times.size() < 3; ++i)
    std::this_thread::sleep_for(25ms);
  ASSERT_EQ(first.terminate_and_wait(), 0) << first.err();
  const Printed p1 = printed(first.out());
  ASSERT_GE(p1.poll_times.size(), 3U) << first.err();
  EXPECT_GE(p1.logger_times.size(), 8U) << first.out() << first.err();
  EXPECT_NE(first.err().find("backfill: stored"), std::string::npos) << first.err();

  // The meter runs on for ~12 s (about six hourly records) while the daemon is down.
  std::this_thread::sleep_for(12s);
  Background second({kBin, "run", "--config", config}, dir / "run2");
  for (int i = 0; i < 1200 && printed(second.out()).poll_times.empty(); ++i)
    std::this_thread::sleep_for(25ms);
  ASSERT_EQ(second.terminate_and_wait(), 0) << second.err();
  sim.stop();
  const Printed p2 = printed(second.out());
  ASSERT_FALSE(p2.poll_times.empty()) << second.err();

  // The gap: after run 1's last poll, before run 2's first poll, one record per 2 s.
  const auto gap_from = p1.poll_times.back();
  const auto gap_to = p2.poll_times.front();
  std::vector<std::int64_t> in_gap;
  for (auto t : p2.logger_times) {
    EXPECT_GT(t, gap_from) << "backfill re-delivered time already polled";
    EXPECT_LT(t, gap_to);
    in_gap.push_back(t);
  }
  EXPECT_GE(in_gap.size(), 5U) << second.out() << second.err();
  EXPECT_LE(in_gap.size(), 8U) << second.out();
  for (std::size_t i = 1; i < in_gap.size(); ++i) EXPECT_EQ(in_gap[i] - in_gap[i - 1], 2000);

  // Exactly what the meter logged at exactly those times.
  const auto logged = logged_energy(sim_log);
  ASSERT_FALSE(logged.empty()) << Background::slurp(sim_log);
  for (const auto& [t, value] : p2.logger_energy) {
    auto it = logged.find(t);
    ASSERT_NE(it, logged.end()) << "no logger record at " << t;
    EXPECT_EQ(value, it->second) << t;
  }
  EXPECT_EQ(p2.logger_energy.size(), in_gap.size());

  // And they are in the history, tagged as logger readings.
  auto h = run({kBin, "history", "--db", dir / "k.db", "--json", "--register", "heat_energy"});
  ASSERT_EQ(h.status, 0) << h.err;
  std::size_t logger_rows = 0;
  for (const auto& row : Json::parse(h.out)) {
    if (row.at("source") == "logger") ++logger_rows;
  }
  EXPECT_EQ(logger_rows, p1.logger_times.size() + p2.logger_times.size());
}

TEST(Backfill, AMeterWithoutALoggerIsReportedOnceAndStillPolled) {
  TempDir dir;
  const std::string link = dir / "meter";
  Background sim({kBin, "simulate", "--profile", "multical403", "--pty", link, "--no-logger"},
                 dir / "sim");
  ASSERT_TRUE(sim.wait_for_output("\n", 30000ms)) << sim.err();
  const std::string config = dir / "k.yaml";
  std::ofstream(config) << "meters:\n  - name: heat\n    port: " << link
                        << "\n    protocol: kmp\n    interval: 1s\n    registers: [heat_energy]\n"
                           "    backfill: 1d\n    retries: 0\n"
                        << "store:\n  path: " << (dir / "k.db") << "\nconsole:\n  format: json\n";
  Background daemon({kBin, "run", "--config", config}, dir / "run");
  for (int i = 0; i < 1200 && printed(daemon.out()).poll_times.size() < 3; ++i)
    std::this_thread::sleep_for(25ms);
  ASSERT_EQ(daemon.terminate_and_wait(), 0) << daemon.err();
  sim.stop();
  EXPECT_GE(printed(daemon.out()).poll_times.size(), 3U) << daemon.err();
  const std::string err = daemon.err();
  const auto first = err.find("does not support logger reads");
  ASSERT_NE(first, std::string::npos) << err;
  EXPECT_EQ(err.find("does not support logger reads", first + 1), std::string::npos) << err;
}

}  // namespace
