// `kamstrup run` with ten meters as real processes: eight simulated meters on TCP ports (with
// echo and line noise), one that is asleep on a pty, and one behind a real ser2net that is killed
// and restarted while the daemon runs. Every meter keeps its own schedule: the asleep meter and
// the dead link do not hold up the others, the ser2net meter recovers, and the asleep meter's
// state is logged once, not once per poll.
#include <gtest/gtest.h>

#include <ctime>
#include <functional>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "../e2e/process.hpp"
#include "text/time.hpp"

using namespace kamstrup::test;
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

// An RFC 3339 time ("…:30:00.250Z", "…:30:00Z") → Unix ms, through the parser the CLI and the
// HTTP API use; -1 when it is not one.
std::int64_t rfc3339_ms(const std::string& text) {
  return kamstrup::text::rfc3339_ms(text).value_or(-1);
}

std::int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::size_t lines_in(const std::string& text) {
  return static_cast<std::size_t>(std::count(text.begin(), text.end(), '\n'));
}

std::string find_ser2net() {
  for (const char* d : {"/usr/sbin", "/usr/bin", "/usr/local/sbin", "/usr/local/bin"}) {
    const std::string path = std::string(d) + "/ser2net";
    if (access(path.c_str(), X_OK) == 0) return path;
  }
  return {};
}

// Poll times (Unix ms) per meter in the jsonl output.
std::map<std::string, std::vector<std::int64_t>> polls_per_meter(const std::string& path) {
  std::map<std::string, std::vector<std::int64_t>> out;
  for (const auto& l : jsonl(path))
    out[l.at("meter").get<std::string>()].push_back(rfc3339_ms(l.at("time").get<std::string>()));
  return out;
}

TEST(Fleet, TenMetersKeepTheirScheduleThroughASleepingMeterAndASer2netRestart) {
  const std::string ser2net_bin = find_ser2net();
  ASSERT_FALSE(ser2net_bin.empty()) << "ser2net is not installed (Debian package ser2net)";
  TempDir dir;

  // Eight meters on P..P+7.
  const int tcp_base = free_tcp_port(8);
  Background tcp_sims({kBin, "simulate", "--tcp", "127.0.0.1:" + std::to_string(tcp_base),
                       "--count", "8", "--echo", "--noise"},
                      dir / "sim-tcp");
  ASSERT_TRUE(wait_until([&] { return lines_in(tcp_sims.out()) >= 8 || !tcp_sims.running(); }, 30s))
      << tcp_sims.out() << tcp_sims.err();
  ASSERT_TRUE(tcp_sims.running()) << tcp_sims.out() << tcp_sims.err();

  // A meter that never answers (only the optical head's echo comes back).
  Background asleep({kBin, "simulate", "--pty", dir / "asleep", "--asleep", "--echo"},
                    dir / "sim-asleep");
  ASSERT_TRUE(asleep.wait_for_output("\n", 30s)) << asleep.err();

  // A meter behind ser2net.
  Background m10_sim({kBin, "simulate", "--pty", dir / "m10"}, dir / "sim-m10");
  ASSERT_TRUE(m10_sim.wait_for_output("\n", 30s)) << m10_sim.err();
  const int ser2net_port = free_tcp_port();
  const std::string ser2net_config = dir / "ser2net.yaml";
  std::ofstream(ser2net_config) << "connection: &m10\n"
                                << "  accepter: tcp,127.0.0.1," << ser2net_port << "\n"
                                << "  connector: serialdev," << (dir / "m10") << ",1200n82,local\n";
  int ser2net_runs = 0;
  auto start_ser2net = [&] {
    // -n: foreground; -d: debug output; -u: no UUCP lock files.
    return std::make_unique<Background>(
        std::vector<std::string>{ser2net_bin, "-n", "-d", "-u", "-P", dir / "ser2net.pid", "-c",
                                 ser2net_config},
        dir / ("ser2net" + std::to_string(++ser2net_runs)));
  };
  auto ser2net = start_ser2net();

  const std::string config = dir / "k.yaml";
  {
    std::ofstream c(config);
    c << "meters:\n";
    for (int i = 0; i < 8; ++i) {
      c << "  - name: tcp" << i << "\n    port: socket://127.0.0.1:" << tcp_base + i
        << "\n    interval: 2s\n";
    }
    // Shorter timeout and retries than the default so that it fails several polls in the run.
    c << "  - name: asleep\n    port: " << (dir / "asleep")
      << "\n    interval: 2s\n    timeout: 1s\n    retries: 1\n";
    c << "  - name: m10\n    port: socket://127.0.0.1:" << ser2net_port << "\n    interval: 2s\n";
    c << "store:\n  path: " << (dir / "k.db") << "\n"
      << "files:\n  - path: " << (dir / "polls.jsonl") << "\n    format: jsonl\n";
  }
  const std::string polls = dir / "polls.jsonl";
  const auto start = std::chrono::steady_clock::now();
  Background daemon({kBin, "run", "--config", config}, dir / "daemon");

  std::this_thread::sleep_until(start + 6s);
  ser2net->stop();
  const std::int64_t killed_ms = now_ms();
  std::this_thread::sleep_until(start + 12s);
  ser2net = start_ser2net();
  const std::int64_t restarted_ms = now_ms();
  std::this_thread::sleep_until(start + 20s);
  // The ser2net meter backs off after failures (2 s, 4 s, 8 s, ...): give it time to come back.
  wait_until(
      [&] {
        const auto counts =
            polls_per_meter(polls);  // a range-for over a temporary's element would dangle
        const auto it = counts.find("m10");
        if (it == counts.end()) return false;
        for (auto t : it->second) {
          if (t > restarted_ms) return true;
        }
        return false;
      },
      25s);
  EXPECT_EQ(daemon.terminate_and_wait(), 0) << daemon.err();

  auto per_meter = polls_per_meter(polls);
  const std::string diag = "--- daemon stderr:\n" + daemon.err();
  for (int i = 0; i < 8; ++i) {
    const std::string name = "tcp" + std::to_string(i);
    EXPECT_GE(per_meter[name].size(), 6U) << name << diag;
  }
  EXPECT_EQ(per_meter["asleep"].size(), 0U) << diag;
  std::size_t before_kill = 0, after_restart = 0;
  for (auto t : per_meter["m10"]) {
    before_kill += t < killed_ms ? 1U : 0U;
    after_restart += t > restarted_ms ? 1U : 0U;
  }
  EXPECT_GE(before_kill, 1U) << "the ser2net meter never answered before the kill" << diag;
  EXPECT_GE(after_restart, 1U) << "the ser2net meter did not recover after ser2net came back"
                               << diag << "--- ser2net:\n"
                               << ser2net->out() << ser2net->err();

  // The asleep meter's state is logged when it changes, not on every failed poll.
  const std::string err = daemon.err();
  std::size_t asleep_lines = 0;
  std::size_t pos = 0;
  for (std::size_t nl; (nl = err.find('\n', pos)) != std::string::npos; pos = nl + 1) {
    if (err.substr(pos, nl - pos).find("asleep") != std::string::npos) ++asleep_lines;
  }
  EXPECT_GE(asleep_lines, 1U) << "the asleep meter's state was never logged" << diag;
  EXPECT_LE(asleep_lines, 2U) << diag;
}

}  // namespace
