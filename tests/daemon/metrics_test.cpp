// The daemon's /metrics endpoint, fetched over HTTP from a running `kamstrup run`, passes
// `promtool check metrics` (Debian package prometheus) and carries the register values exactly as
// the history stored them, plus reader and output health.
#include <gtest/gtest.h>
#include <httplib.h>

#include <nlohmann/json.hpp>
#include <regex>
#include <thread>

#include "../e2e/process.hpp"
#include "daemon/http.hpp"

using namespace kamstrup::test;
using namespace std::chrono_literals;

namespace {

const std::string kBin = KAMSTRUP_BINARY;

TEST(Metrics, EndpointPassesPromtoolAndMatchesTheHistory) {
  TempDir dir;
  const int port = free_tcp_port();
  std::ofstream(dir / "k.yaml")
      << "meters:\n  - name: heat\n    port: sim:multical403\n    interval: 1s\n"
      << "store:\n  path: " << (dir / "k.db") << "\n"
      << "http:\n  listen: 127.0.0.1:" << port << "\n"
      << "files:\n  - path: " << (dir / "out.jsonl") << "\n";
  Background daemon({kBin, "run", "--config", dir / "k.yaml"}, dir / "run");
  httplib::Client client("127.0.0.1", port);
  std::string body;
  for (int i = 0; i < 200; ++i) {
    auto res = client.Get("/metrics");
    if (res && res->status == 200 &&
        res->body.find("kamstrup_register_value{") != std::string::npos) {
      body = res->body;
      break;
    }
    std::this_thread::sleep_for(50ms);
  }
  ASSERT_FALSE(body.empty()) << daemon.err();
  auto check = run({"/usr/bin/promtool", "check", "metrics"}, body);
  EXPECT_EQ(check.status, 0) << check.out << check.err << body;

  // The gauge carries the exact stored text for the poll it reports.
  std::smatch m;
  ASSERT_TRUE(std::regex_search(
      body, m,
      std::regex(
          R"(kamstrup_register_value\{meter="heat",register="heat_energy",id="60",unit="MWh"\} (\S+))")))
      << body;
  const std::string exported = m[1].str();
  daemon.stop();
  auto hist = run({kBin, "history", "--db", dir / "k.db", "--register", "heat_energy", "--csv"});
  ASSERT_EQ(hist.status, 0) << hist.err;
  EXPECT_NE(hist.out.find(",heat_energy,60," + exported + ",MWh,"), std::string::npos) << hist.out;
  for (const char* family :
       {"kamstrup_meter_up{meter=\"heat\"} 1", "kamstrup_frames_sent_total{meter=\"heat\"}",
        "kamstrup_crc_errors_total{meter=\"heat\"} 0",
        "kamstrup_last_success_timestamp_seconds{meter=\"heat\"}",
        "kamstrup_output_backlog_polls{output=\"file:"}) {
    EXPECT_NE(body.find(family), std::string::npos) << family << "\n" << body;
  }
}

TEST(Metrics, LabelValuesAreEscaped) {
  kamstrup::daemon::MeterStatus m;
  m.name = "heat";
  m.last_poll.values.push_back({54, "odd\"name\\x", "1", "", "a\nb"});
  std::string text = kamstrup::daemon::prometheus_metrics({m}, {});
  EXPECT_NE(text.find(R"(register="odd\"name\\x",id="54",unit="a\nb"} 1)"), std::string::npos)
      << text;
  auto check = run({"/usr/bin/promtool", "check", "metrics"}, text);
  EXPECT_EQ(check.status, 0) << check.out << check.err;
}

}  // namespace
