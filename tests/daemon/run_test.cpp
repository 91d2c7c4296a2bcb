// `kamstrup run` as a real process against its built-in simulated meter: a kill -9 at an
// arbitrary moment loses nothing that was acknowledged (every poll an output printed is in the
// history after a restart), the restarted daemon delivers what the killed one had stored but
// not yet delivered, SIGTERM exits 0, and a bad configuration stops start-up with exit 2.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <regex>
#include <set>
#include <thread>

#include "../e2e/process.hpp"
#include "../support/readings.hpp"
#include "store/store.hpp"

using namespace kamstrup::test;
using namespace std::chrono_literals;

namespace {

const std::string kBin = KAMSTRUP_BINARY;

std::set<std::string> printed_poll_times(const std::string& out) {
  // Console text lines: "<RFC 3339 ms time> <meter>  register=value ..."
  static const std::regex kLine(R"((\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z) heat  heat_energy=)");
  std::set<std::string> times;
  for (auto it = std::sregex_iterator(out.begin(), out.end(), kLine); it != std::sregex_iterator();
       ++it) {
    times.insert((*it)[1].str());
  }
  return times;
}

std::size_t count_of(const Background& b) {
  return printed_poll_times(b.out()).size();
}

TEST(Run, KillNineLosesNothingAcknowledged) {
  TempDir dir;
  const std::string config = dir / "k.yaml";
  std::ofstream(config) << "meters:\n  - name: heat\n    port: sim:multical403\n    interval: 1s\n"
                        << "store:\n  path: " << (dir / "k.db") << "\nconsole:\n  format: text\n";
  std::set<std::string> printed;
  for (int round = 0; round < 3; ++round) {
    Background daemon({kBin, "run", "--config", config}, dir / ("run" + std::to_string(round)));
    std::size_t want = 2 + static_cast<std::size_t>(round);
    for (int i = 0; i < 400 && count_of(daemon) < want; ++i) std::this_thread::sleep_for(25ms);
    ASSERT_GE(count_of(daemon), want) << daemon.err();
    // Kill somewhere inside the next poll cycle, not just right after a print.
    std::this_thread::sleep_for(std::chrono::milliseconds(137 * (round + 1)));
    daemon.kill_hard();
    auto times = printed_poll_times(daemon.out());
    printed.insert(times.begin(), times.end());
  }
  auto r = run({kBin, "history", "--db", dir / "k.db", "--json", "--register", "heat_energy"});
  ASSERT_EQ(r.status, 0) << r.err;
  auto rows = nlohmann::json::parse(r.out);
  std::set<std::string> stored;
  for (const auto& row : rows) stored.insert(row.at("time").get<std::string>());
  for (const auto& t : printed)
    EXPECT_EQ(stored.count(t), 1U) << "printed but not in the history: " << t;
  EXPECT_GE(stored.size(), printed.size());

  // Every stored poll has all eight registers of the default read list (no torn polls).
  auto all = run({kBin, "history", "--db", dir / "k.db", "--json"});
  ASSERT_EQ(all.status, 0);
  std::map<std::string, int> per_poll;
  for (const auto& row : nlohmann::json::parse(all.out))
    ++per_poll[row.at("time").get<std::string>()];
  for (const auto& [t, n] : per_poll) EXPECT_EQ(n, 8) << t;

  // A clean run afterwards delivers whatever the killed daemons stored but had not printed.
  Background last({kBin, "run", "--config", config}, dir / "last");
  for (int i = 0; i < 400 && count_of(last) < 1; ++i) std::this_thread::sleep_for(25ms);
  last.stop();
  auto again = printed_poll_times(last.out());
  printed.insert(again.begin(), again.end());
  for (const auto& t : stored)
    EXPECT_EQ(printed.count(t), 1U) << "stored but never delivered: " << t;
}

TEST(Run, SigtermExitsCleanly) {
  TempDir dir;
  const std::string config = dir / "k.yaml";
  std::ofstream(config) << "meters:\n  - name: heat\n    port: sim:multical403\n    interval: 1s\n"
                        << "store:\n  path: " << (dir / "k.db") << "\nconsole: {}\n";
  Background daemon({kBin, "run", "--config", config}, dir / "run");
  for (int i = 0; i < 400 && count_of(daemon) < 1; ++i) std::this_thread::sleep_for(25ms);
  ASSERT_GE(count_of(daemon), 1U) << daemon.err();
  EXPECT_EQ(daemon.terminate_and_wait(), 0) << daemon.err();
  EXPECT_NE(daemon.err().find("stopped"), std::string::npos);
}

// `kamstrup run` starts the daemon with GNUTLS_NO_IMPLICIT_INIT=1 (GnuTLS, loaded with libcurl
// but unused, then skips its load-time set-up), and the daemon's own children (the exec
// output's command, whose parent is the daemon) do not inherit it.
TEST(Run, GnutlsSwitchReachesTheDaemonButNotItsChildren) {
  TempDir dir;
  const std::string config = dir / "k.yaml";
  const std::string child_env = dir / "child.env", daemon_env = dir / "daemon.env";
  std::ofstream(config) << "meters:\n  - name: heat\n    port: sim:multical403\n    interval: 1s\n"
                        << "store:\n  path: " << (dir / "k.db") << "\n"
                        << "exec:\n  command: \"env > '" << child_env
                        << ".tmp' && tr '\\\\0' '\\\\n' < /proc/$PPID/environ > '" << daemon_env
                        << "' && mv '" << child_env << ".tmp' '" << child_env << "'\"\n";
  Background daemon({kBin, "run", "--config", config}, dir / "run");
  for (int i = 0; i < 400 && !std::filesystem::exists(child_env); ++i)
    std::this_thread::sleep_for(25ms);
  ASSERT_TRUE(std::filesystem::exists(child_env)) << daemon.err();
  const std::string child = Background::slurp(child_env);
  const std::string parent = Background::slurp(daemon_env);
  EXPECT_NE(parent.find("\nGNUTLS_NO_IMPLICIT_INIT=1\n"), std::string::npos) << parent;
  EXPECT_NE(child.find("\nPATH="), std::string::npos) << child;  // a real environment dump
  EXPECT_EQ(child.find("GNUTLS_NO_IMPLICIT_INIT"), std::string::npos) << child;
  EXPECT_EQ(child.find("KAMSTRUP_SET_GNUTLS"), std::string::npos) << child;
  EXPECT_EQ(daemon.terminate_and_wait(), 0) << daemon.err();
}

TEST(Run, SighupReloadsTheConfigurationAndKeepsTheOldOneWhenTheNewOneIsBad) {
  TempDir dir;
  const std::string config = dir / "k.yaml";
  auto write = [&](const std::string& meter) {
    std::ofstream(config) << "meters:\n  - name: " << meter << "\n    port: sim:multical403\n"
                          << "    interval: 1s\n    registers: [heat_energy]\nstore:\n  path: "
                          << (dir / "k.db") << "\nconsole:\n  format: json\n";
  };
  write("first");
  Background daemon({kBin, "run", "--config", config}, dir / "run");
  auto polls_of = [&](const std::string& meter) {
    std::size_t n = 0;
    std::string needle = "{\"meter\": \"" + meter + "\"";
    for (std::size_t at = daemon.out().find(needle); at != std::string::npos;
         at = daemon.out().find(needle, at + 1)) {
      ++n;
    }
    return n;
  };
  for (int i = 0; i < 400 && polls_of("first") < 1; ++i) std::this_thread::sleep_for(25ms);
  ASSERT_GE(polls_of("first"), 1U) << daemon.err();

  std::ofstream(config)
      << "meters:\n  - name: second\n    port: sim:multical403\n    intervall: 1s\n";
  daemon.signal(SIGHUP);
  for (int i = 0;
       i < 400 && daemon.err().find("keeping the running configuration") == std::string::npos;
       ++i) {
    std::this_thread::sleep_for(25ms);
  }
  EXPECT_NE(daemon.err().find(
                "SIGHUP: keeping the running configuration: meters[0].intervall: unknown key"),
            std::string::npos)
      << daemon.err();
  std::size_t before = polls_of("first");
  for (int i = 0; i < 400 && polls_of("first") <= before; ++i) std::this_thread::sleep_for(25ms);
  EXPECT_GT(polls_of("first"), before) << "the old configuration keeps running";

  write("second");
  daemon.signal(SIGHUP);
  for (int i = 0; i < 400 && polls_of("second") < 1; ++i) std::this_thread::sleep_for(25ms);
  EXPECT_GE(polls_of("second"), 1U) << daemon.err();
  EXPECT_EQ(daemon.terminate_and_wait(), 0);
}

TEST(Run, BadConfigStopsBeforeAnythingOpens) {
  TempDir dir;
  const std::string config = dir / "bad.yaml";
  std::ofstream(config) << "meters:\n  - name: heat\n    port: /dev/ttyUSB0\n    interval: often\n";
  auto r = run({kBin, "run", "--config", config});
  EXPECT_EQ(r.status, 2);
  EXPECT_EQ(r.err,
            "kamstrup: meters[0].interval: expected a duration like 500ms, 60s, 15m, 1h or 30d, "
            "got 'often'\n");
  EXPECT_FALSE(std::filesystem::exists(dir / "kamstrup.db"));
  auto check = run({kBin, "config", "check", config});
  EXPECT_EQ(check.status, 2);
  EXPECT_EQ(check.err, r.err);
  auto missing = run({kBin, "run", "--config", dir / "nope.yaml"});
  EXPECT_EQ(missing.status, 2);
  EXPECT_NE(missing.err.find("nope.yaml: cannot read"), std::string::npos);
}

TEST(Run, ConfigCheckPrintsTheEffectiveConfigWithSecretsMasked) {
  TempDir dir;
  const std::string config = dir / "k.yaml";
  std::ofstream(config)
      << "meters:\n  - name: heat\n    port: /dev/ttyUSB0\n"
      << "mqtt:\n  url: mqtt://127.0.0.1:1883\n  username: u\n  password: hunter2\n";
  auto r = run({kBin, "config", "check", config});
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_NE(r.out.find("password: \"********\""), std::string::npos) << r.out;
  EXPECT_EQ(r.out.find("hunter2"), std::string::npos);
  EXPECT_NE(
      r.out.find(
          "registers: [heat_energy, volume, temp1, temp2, temp_diff, flow, power, hour_counter]"),
      std::string::npos);
}

}  // namespace

namespace {

// A MULTICAL 66-C (the built-in simulated one) under `protocol: auto`: the daemon finds /#n,
// says so once, and stores values scaled by the meter's own program number (4-4-119: MWh).
TEST(Run, AutoDetectsALegacyMeterAndStoresScaledValues) {
  TempDir dir;
  const std::string config = dir / "k.yaml";
  std::ofstream(config) << "meters:\n  - name: old\n    port: sim:multical66c\n    interval: 2s\n"
                        << "    timeout: 500ms\n    retries: 0\n"
                        << "store:\n  path: " << (dir / "k.db") << "\nconsole:\n  format: json\n";
  Background daemon({kBin, "run", "--config", config}, dir / "run");
  for (int i = 0; i < 1600 && daemon.out().find("\"heat_energy\"") == std::string::npos; ++i)
    std::this_thread::sleep_for(25ms);
  EXPECT_EQ(daemon.terminate_and_wait(), 0) << daemon.err();
  const std::string out = daemon.out();
  const auto line_end = out.find('\n');
  ASSERT_NE(line_end, std::string::npos) << daemon.err();
  auto poll = nlohmann::json::parse(out.substr(0, line_end));
  EXPECT_EQ(poll.at("meter"), "old");
  using kamstrup::test::support::reading;
  EXPECT_EQ(reading(poll.at("registers"), "heat_energy").at("unit"), "MWh") << out;
  EXPECT_EQ(reading(poll.at("registers"), "temp1").at("unit"), "°C") << out;
  EXPECT_TRUE(reading(poll.at("registers"), "peak_power").at("id").is_null()) << out;
  const std::string err = daemon.err();
  const auto said = err.find("speaks MULTICAL /#n (auto-detected)");
  EXPECT_NE(said, std::string::npos) << err;
  EXPECT_EQ(err.find("speaks MULTICAL /#n", said + 1), std::string::npos) << err;
  {  // a /#n meter's info code is read with the MULTICAL 66-C table unless `model` says otherwise
    kamstrup::store::Store st(dir / "k.db", kamstrup::store::Store::Access::ReadOnly);
    ASSERT_TRUE(st.meter_info("old").has_value());
    EXPECT_EQ(st.meter_info("old")->info_codes, "multical66c");
  }

  // Restarted on the same history: the protocol kept in the store's meter info is asked first
  // and answers, so the one probe made is `/#1` (no silent KMP or IEC probes before it).
  Background again({kBin, "run", "--config", config}, dir / "run2");
  for (int i = 0; i < 1600 && again.out().find("\"heat_energy\"") == std::string::npos; ++i)
    std::this_thread::sleep_for(25ms);
  EXPECT_EQ(again.terminate_and_wait(), 0) << again.err();
  EXPECT_NE(again.out().find("\"heat_energy\""), std::string::npos) << again.err();
  EXPECT_NE(again.err().find("speaks MULTICAL /#n (as in the last run)"), std::string::npos)
      << again.err();
}

}  // namespace

namespace {

// A configured register the meter does not have (the simulated MULTICAL 403 has no volume2) is
// said once per meter, not at every poll and not never; the registers it has keep coming.
TEST(Run, AConfiguredRegisterTheMeterLacksIsLoggedOnce) {
  TempDir dir;
  const std::string config = dir / "k.yaml";
  std::ofstream(config) << "meters:\n  - name: heat\n    port: sim:multical403\n    interval: 1s\n"
                        << "    registers: [heat_energy, volume2, info]\n    model: multical403\n"
                        << "store:\n  path: " << (dir / "k.db") << "\nconsole:\n  format: json\n";
  Background daemon({kBin, "run", "--config", config}, dir / "run");
  auto polls = [&] {
    std::size_t n = 0;
    const std::string out = daemon.out();
    for (auto at = out.find("\"heat_energy\""); at != std::string::npos;
         at = out.find("\"heat_energy\"", at + 1)) {
      ++n;
    }
    return n;
  };
  for (int i = 0; i < 800 && polls() < 3; ++i) std::this_thread::sleep_for(25ms);
  EXPECT_EQ(daemon.terminate_and_wait(), 0) << daemon.err();
  ASSERT_GE(polls(), 3U) << daemon.err();
  const std::string err = daemon.err();
  const std::string said = "meter heat: the meter does not have volume2";
  const auto at = err.find(said);
  EXPECT_NE(at, std::string::npos) << err;
  EXPECT_EQ(err.find(said, at + 1), std::string::npos) << "said more than once:\n" << err;
  EXPECT_EQ(daemon.out().find("\"volume2\""), std::string::npos) << "never a value for it";
  // The meter's identity keeps the table that names its info code's flags (`model`).
  kamstrup::store::Store st(dir / "k.db", kamstrup::store::Store::Access::ReadOnly);
  ASSERT_TRUE(st.meter_info("heat").has_value());
  EXPECT_EQ(st.meter_info("heat")->info_codes, "multical403");
}

}  // namespace
