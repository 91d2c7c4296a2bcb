// The daemon's /metrics endpoint, fetched over HTTP from a running `kamstrup run`, passes
// `promtool check metrics` (Debian package prometheus) and carries the register values exactly as
// the history stored them, plus reader and output health.
#include <gtest/gtest.h>
#include <httplib.h>

#include <nlohmann/json.hpp>
#include <regex>
#include <thread>

#include "../e2e/process.hpp"
#include "../support/readings.hpp"
#include "daemon/http.hpp"
#include "store/store.hpp"

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

// The built-in server itself (its own small HTTP/1.1 server, no HTTP library), spoken to by
// cpp-httplib's client as a stand-in for Prometheus and curl.
TEST(HttpServer, ServesThePagesAnswers404And405AndReportsABusyPort) {
  TempDir dir;
  kamstrup::store::Store st(dir / "k.db");
  kamstrup::daemon::Status status;
  kamstrup::daemon::MeterStatus m;
  m.name = "heat";
  m.up = true;
  m.last_poll.values.push_back({60, "heat_energy", "55.006", "", "MWh"});
  status.set(m);
  kamstrup::daemon::Fanout fanout(st, {});
  kamstrup::daemon::HttpConfig cfg;
  cfg.host = "127.0.0.1";
  cfg.port = static_cast<std::uint16_t>(free_tcp_port());
  kamstrup::daemon::HttpServer server(cfg, status, fanout, st);

  httplib::Client client("127.0.0.1", cfg.port);
  auto res = client.Get("/metrics?x=1");
  ASSERT_TRUE(res) << httplib::to_string(res.error());
  EXPECT_EQ(res->status, 200);
  EXPECT_EQ(res->get_header_value("Content-Type"), "text/plain; version=0.0.4; charset=utf-8");
  EXPECT_NE(
      res->body.find(
          R"(kamstrup_register_value{meter="heat",register="heat_energy",id="60",unit="MWh"} 55.006)"),
      std::string::npos)
      << res->body;
  auto check = run({"/usr/bin/promtool", "check", "metrics"}, res->body);
  EXPECT_EQ(check.status, 0) << check.out << check.err;

  res = client.Get("/api/meters");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 200);
  auto meters = nlohmann::json::parse(res->body);
  EXPECT_EQ(meters.at(0).at("name"), "heat");
  EXPECT_EQ(kamstrup::test::support::reading(meters.at(0).at("last").at("registers"), "heat_energy")
                .at("value")
                .dump(),
            "55.006");
  res = client.Get("/api/outputs");
  ASSERT_TRUE(res);
  EXPECT_EQ(nlohmann::json::parse(res->body), nlohmann::json::array());
  res = client.Get("/");  // the dashboard (tests/web/dashboard_test.cpp, tests/browser/)
  ASSERT_TRUE(res);
  EXPECT_NE(res->body.find("dashboard.js"), std::string::npos);
  res = client.Head("/metrics");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 200);
  EXPECT_EQ(res->body, "");

  res = client.Get("/nothing");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 404);
  res = client.Post("/metrics", "x", "text/plain");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 405);

  try {
    kamstrup::daemon::HttpServer second(cfg, status, fanout, st);
    FAIL() << "two servers on one port";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("http.listen: cannot listen on 127.0.0.1:" +
                                         std::to_string(cfg.port)),
              std::string::npos)
        << e.what();
  }
  server.stop();
  EXPECT_FALSE(client.Get("/metrics"));  // stopped: nothing listens any more
}

TEST(Metrics, RejectedPollsAreCountedPerOutput) {
  kamstrup::daemon::SinkHealth h;
  h.id = "influxdb";
  h.rejected = 3;
  h.backlog = 2;
  std::string text = kamstrup::daemon::prometheus_metrics({}, {h});
  EXPECT_NE(text.find("kamstrup_output_rejected_total{output=\"influxdb\"} 3\n"), std::string::npos)
      << text;
  EXPECT_NE(text.find("kamstrup_output_backlog_polls{output=\"influxdb\"} 2\n"), std::string::npos)
      << text;
  auto check = run({"/usr/bin/promtool", "check", "metrics"}, text);
  EXPECT_EQ(check.status, 0) << check.out << check.err;
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

// What the meter's answer says beyond its values, rendered by a running daemon: a simulated
// MULTICAL 403 (its own process, on a pty) whose info code has t1_above_range (8) and an
// undocumented bit (2) set, asked for volume2, which it does not have.
TEST(Metrics, UnsupportedRegistersInfoFlagsAndStoreHealthOverHttp) {
  TempDir dir;
  const std::string link = dir / "meter";
  std::ofstream(dir / "meter.yaml") << "base: multical403\nserial: 40312345\n"
                                    << "registers:\n  info: \"10\"\n";
  Background sim({kBin, "simulate", "--profile-file", dir / "meter.yaml", "--pty", link},
                 dir / "sim");
  ASSERT_TRUE(sim.wait_for_output("\n", 30000ms)) << sim.err();
  const int port = free_tcp_port();
  std::ofstream(dir / "k.yaml") << "meters:\n  - name: heat\n    port: " << link
                                << "\n    protocol: kmp\n    interval: 1s\n    model: multical403\n"
                                << "    registers: [heat_energy, volume2, info]\n"
                                << "store:\n  path: " << (dir / "k.db") << "\n  queue: 7\n"
                                << "http:\n  listen: 127.0.0.1:" << port << "\n";
  Background daemon({kBin, "run", "--config", dir / "k.yaml"}, dir / "run");
  httplib::Client client("127.0.0.1", port);
  std::string body;
  for (int i = 0; i < 400 && body.empty(); ++i) {
    auto res = client.Get("/metrics");
    if (res && res->status == 200 && res->body.find("kamstrup_info_code{") != std::string::npos)
      body = res->body;
    else
      std::this_thread::sleep_for(50ms);
  }
  ASSERT_FALSE(body.empty()) << daemon.err();
  auto check = run({"/usr/bin/promtool", "check", "metrics"}, body);
  EXPECT_EQ(check.status, 0) << check.out << check.err << body;
  for (const char* line : {
           R"(kamstrup_register_supported{meter="heat",register="heat_energy"} 1)",
           R"(kamstrup_register_supported{meter="heat",register="info"} 1)",
           R"(kamstrup_register_supported{meter="heat",register="volume2"} 0)",
           R"(kamstrup_info_code{meter="heat"} 10)",
           R"(kamstrup_info_flag{meter="heat",flag="t1_above_range"} 1)",
           R"(kamstrup_info_flag{meter="heat",flag="no_supply"} 0)",
           R"(kamstrup_info_flag{meter="heat",flag="t2_above_range"} 0)",
           "kamstrup_store_up 1",
           "kamstrup_store_errors_total 0",
           "kamstrup_store_held_polls 0",
           "kamstrup_store_queue_size 7",
           "kamstrup_store_dropped_polls_total 0",
       }) {
    EXPECT_NE(body.find(std::string(line) + "\n"), std::string::npos) << line << "\n" << body;
  }

  auto res = client.Get("/api/meters");
  ASSERT_TRUE(res);
  const auto meters = nlohmann::json::parse(res->body);
  ASSERT_EQ(meters.size(), 1U) << res->body;
  const auto& m = meters.at(0);
  EXPECT_EQ(m.at("unsupported"), nlohmann::json::array({"volume2"})) << res->body;
  EXPECT_EQ(m.at("info_codes"), "multical403") << res->body;
  EXPECT_EQ(m.at("info_flags"), nlohmann::json::array({"bit_1", "t1_above_range"})) << res->body;
  EXPECT_EQ(m.at("store").at("ok"), true) << res->body;
  EXPECT_EQ(m.at("store").at("state"), "ok") << res->body;
  EXPECT_EQ(m.at("store").at("errors"), 0) << res->body;
  EXPECT_EQ(m.at("store").at("held"), 0) << res->body;
  res = client.Get("/api/store");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 200);
  const auto store = nlohmann::json::parse(res->body);
  EXPECT_EQ(store.at("path"), dir / "k.db") << res->body;
  EXPECT_EQ(store.at("ok"), true);
  EXPECT_EQ(store.at("queue"), 7);
  EXPECT_EQ(store.at("dropped"), 0);
  EXPECT_TRUE(store.at("since").is_null()) << res->body;  // never failed
  EXPECT_EQ(daemon.terminate_and_wait(), 0) << daemon.err();
}

}  // namespace
