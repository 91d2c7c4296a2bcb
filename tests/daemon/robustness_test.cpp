// `kamstrup run` as a real process under the faults of issue 11: reloads in a row and a SIGHUP
// storm, SIGTERM in the middle of a reload, a second daemon on one store, a store with a damaged
// page, a full disk (a real tmpfs mounted by the test), outputs that come back (influxd and
// mosquitto restarted by the test), a broker that keeps flapping, and a kill -9 loop. Each one
// bounded and a few iterations only; built in the default build, not again under ASan.
#include <httplib.h>
#include <sys/mount.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>

#include "daemon_support.hpp"
#include "store/store.hpp"

using namespace kamstrup::test::daemon_support;
namespace store = kamstrup::store;

namespace {

using Clock = std::chrono::steady_clock;

std::size_t count_in(const std::string& text, const std::string& needle) {
  std::size_t n = 0;
  for (auto at = text.find(needle); at != std::string::npos; at = text.find(needle, at + 1)) ++n;
  return n;
}

bool has(const std::string& text, const std::string& needle) {
  return text.find(needle) != std::string::npos;
}

double seconds_since(Clock::time_point t) {
  return std::chrono::duration<double>(Clock::now() - t).count();
}

// An InfluxDB output to a loopback port nothing listens on: an output that stays down, so a
// reload or a stop spends its whole drain time (5 s) on it.
std::string dead_influx() {
  return "influxdb:\n  url: http://127.0.0.1:" + std::to_string(free_tcp_port()) +
         "\n  database: k\n";
}

// The poll times in the history (one heat_energy row per poll), oldest first.
std::vector<std::string> stored_times(const std::string& db) {
  auto r = run({kBin, "history", "--db", db, "--json", "--register", "heat_energy"});
  EXPECT_EQ(r.status, 0) << r.err;
  std::vector<std::string> times;
  if (r.status != 0) return times;
  for (const auto& row : json::parse(r.out)) times.push_back(row.at("time").get<std::string>());
  return times;
}

std::string integrity(const std::string& db) {
  try {
    store::Store s(db, store::Store::Access::ReadOnly);
    return s.integrity_check();
  } catch (const std::exception& e) {
    return e.what();
  }
}

// ---------------------------------------------------------------------------------------------
// Signals for the daemon's whole life.

TEST(Lifecycle, TwoReloadsInARowAreHarmless) {
  TempDir dir;
  const std::string config = write_config(dir, dead_influx());
  const std::string polls = dir / "polls.jsonl";
  Background daemon({kBin, "run", "--config", config}, dir / "run");
  ASSERT_TRUE(wait_until([&] { return jsonl_times(polls).size() >= 2; }, 30s)) << daemon.err();
  daemon.signal(SIGHUP);
  ASSERT_TRUE(wait_until([&] { return has(daemon.err(), "SIGHUP: reloading"); }, 10s))
      << daemon.err();
  // The first reload is still draining the dead output: `systemctl reload` once more.
  std::this_thread::sleep_for(300ms);
  daemon.signal(SIGHUP);
  // The second one is not lost either: one more reload after the first.
  EXPECT_TRUE(
      wait_until([&] { return count_in(daemon.err(), "kamstrup run: 1 meter(s)") >= 3; }, 30s))
      << daemon.err();
  ASSERT_TRUE(daemon.running()) << daemon.err();
  const auto before = jsonl_times(polls).size();
  EXPECT_TRUE(wait_until([&] { return jsonl_times(polls).size() >= before + 2; }, 20s))
      << daemon.err();
  EXPECT_EQ(daemon.terminate_and_wait(), 0) << daemon.err();
}

TEST(Lifecycle, SighupStormIsHarmless) {
  TempDir dir;
  const std::string config = write_config(dir, "");
  const std::string polls = dir / "polls.jsonl";
  Background daemon({kBin, "run", "--config", config}, dir / "run");
  ASSERT_TRUE(wait_until([&] { return jsonl_times(polls).size() >= 2; }, 30s)) << daemon.err();
  for (int i = 0; i < 200 && daemon.running(); ++i) {
    daemon.signal(SIGHUP);
    std::this_thread::sleep_for(20ms);
  }
  ASSERT_TRUE(daemon.running()) << "killed by the SIGHUP storm\n" << daemon.err();
  const auto before = jsonl_times(polls).size();
  EXPECT_TRUE(wait_until([&] { return jsonl_times(polls).size() >= before + 2; }, 30s))
      << "no polls after the storm\n"
      << daemon.err();
  EXPECT_EQ(daemon.terminate_and_wait(), 0) << daemon.err();
  // SIGHUPs that arrive while a reload runs coalesce into one more reload.
  const std::size_t reloads = count_in(daemon.err(), "SIGHUP: reloading");
  EXPECT_GE(reloads, 1U);
  EXPECT_LT(reloads, 200U) << daemon.err();
  std::printf("[ figures  ] 200 SIGHUPs 20 ms apart: %zu reload(s)\n", reloads);
}

TEST(Lifecycle, SigtermDuringAReloadDrainsAndExitsZero) {
  TempDir dir;
  const std::string config = write_config(dir, dead_influx());
  const std::string polls = dir / "polls.jsonl";
  Background daemon({kBin, "run", "--config", config}, dir / "run");
  ASSERT_TRUE(wait_until([&] { return jsonl_times(polls).size() >= 2; }, 30s)) << daemon.err();
  daemon.signal(SIGHUP);
  ASSERT_TRUE(wait_until([&] { return has(daemon.err(), "SIGHUP: reloading"); }, 10s));
  std::this_thread::sleep_for(300ms);
  EXPECT_EQ(daemon.terminate_and_wait(), 0) << daemon.err();
  EXPECT_TRUE(has(daemon.err(), "stopped")) << daemon.err();
  // Not started again after the SIGTERM.
  EXPECT_EQ(count_in(daemon.err(), "kamstrup run: 1 meter(s)"), 1U) << daemon.err();
  // Drained: the working output has every poll the history holds.
  const auto stored = stored_times(dir / "k.db");
  const auto delivered = jsonl_times(polls);
  const std::set<std::string> got(delivered.begin(), delivered.end());
  ASSERT_GE(stored.size(), 2U);
  for (const auto& t : stored) EXPECT_EQ(got.count(t), 1U) << "stored, never delivered: " << t;
}

// ---------------------------------------------------------------------------------------------
// One daemon per store.

TEST(Lifecycle, SecondDaemonOnOneStoreExitsNamingTheHolder) {
  TempDir dir;
  const std::string config = write_config(dir, "");
  const std::string db = dir / "k.db";
  Background first({kBin, "run", "--config", config}, dir / "first");
  ASSERT_TRUE(wait_until([&] { return jsonl_times(dir / "polls.jsonl").size() >= 1; }, 30s))
      << first.err();
  const pid_t holder = first.pid();
  auto second = run({kBin, "run", "--config", config}, "", 8s);
  EXPECT_EQ(second.status, 1) << second.err;
  EXPECT_TRUE(has(second.err, "another kamstrup daemon (PID " + std::to_string(holder) +
                                  ") holds " + db + ".lock"))
      << second.err;
  // Readers do not take the lock.
  auto history = run({kBin, "history", "--db", db, "--json"});
  EXPECT_EQ(history.status, 0) << history.err;
  // Every poll is delivered once (one daemon polls).
  const auto times = jsonl_times(dir / "polls.jsonl");
  EXPECT_EQ(std::set<std::string>(times.begin(), times.end()).size(), times.size());
  // The lock goes with its process, also on kill -9.
  first.kill_hard();
  Background again({kBin, "run", "--config", config}, dir / "again");
  const auto n = jsonl_times(dir / "polls.jsonl").size();
  EXPECT_TRUE(wait_until([&] { return jsonl_times(dir / "polls.jsonl").size() > n; }, 30s))
      << again.err();
  EXPECT_EQ(again.terminate_and_wait(), 0) << again.err();
}

// ---------------------------------------------------------------------------------------------
// The store failing is not the meter failing.

// A real history with enough polls for a few hundred pages, then garbage over a page in the
// middle of the file.
std::string damaged_store(const TempDir& dir) {
  const std::string db = dir / "k.db";
  {
    store::Store s(db);
    std::vector<store::Poll> polls;
    for (int i = 0; i < 3000; ++i) {
      store::Poll p;
      p.meter = "heat";
      p.time_ms = 1'700'000'000'000 + i * 60'000LL;
      for (int r = 0; r < 8; ++r)
        p.values.push_back(
            {60 + r, "register_" + std::to_string(r), std::to_string(i * 7 + r), "", "kWh"});
      polls.push_back(std::move(p));
    }
    s.insert_all(polls);
  }
  const auto size = std::filesystem::file_size(db);
  const std::uintmax_t page = 4096;
  EXPECT_GE(size / page, 50U);
  std::fstream f(db, std::ios::in | std::ios::out | std::ios::binary);
  f.seekp(static_cast<std::streamoff>((size / page / 2) * page));
  const std::string garbage(page, '\x5a');
  f.write(garbage.data(), static_cast<std::streamsize>(garbage.size()));
  return db;
}

TEST(StoreFaults, DamagedPageStopsStartUpWithTheSqliteErrorAndAdvice) {
  TempDir dir;
  const std::string db = damaged_store(dir);
  const std::string before = Background::slurp(db);
  std::ofstream(dir / "k.yaml") << "meters:\n  - name: heat\n    port: sim:multical403\n"
                                << "    interval: 1s\nstore:\n  path: " << db << "\n";
  auto r = run({kBin, "run", "--config", dir / "k.yaml"}, "", 20s);
  EXPECT_EQ(r.status, 1) << r.err;
  EXPECT_TRUE(has(r.err, db + ": the history database is damaged")) << r.err;
  // SQLite's own words for the damage, and what to do.
  EXPECT_TRUE(has(r.err, "database disk image is malformed")) << r.err;
  EXPECT_TRUE(has(r.err, "PRAGMA integrity_check")) << r.err;
  EXPECT_TRUE(has(r.err, ".recover")) << r.err;
  EXPECT_EQ(Background::slurp(db), before) << "the damaged file was changed";
}

// A tmpfs of `size` mounted on <dir>/fs for the test's lifetime (needs root: CAP_SYS_ADMIN).
class Tmpfs {
 public:
  Tmpfs(const TempDir& dir, const std::string& size) : path_(dir / "fs") {
    std::filesystem::create_directory(path_);
    const std::string opts = "size=" + size + ",mode=0700";
    if (::mount("tmpfs", path_.c_str(), "tmpfs", 0, opts.c_str()) != 0) error_ = errno;
  }
  ~Tmpfs() {
    if (error_ == 0) ::umount2(path_.c_str(), MNT_DETACH);
  }
  Tmpfs(const Tmpfs&) = delete;
  Tmpfs& operator=(const Tmpfs&) = delete;
  [[nodiscard]] bool mounted() const { return error_ == 0; }
  [[nodiscard]] std::string why() const { return std::strerror(error_); }
  [[nodiscard]] std::string operator/(const std::string& name) const { return path_ + "/" + name; }

  // Fills the file system up (a file of zeros until ENOSPC); returns its size.
  std::size_t fill(const std::string& name) const {
    std::FILE* f = std::fopen((*this / name).c_str(), "wb");
    if (f == nullptr) return 0;
    std::setvbuf(f, nullptr, _IONBF, 0);
    const std::string block(4096, '\0');
    std::size_t n = 0;
    while (std::fwrite(block.data(), 1, block.size(), f) == block.size()) n += block.size();
    std::fclose(f);
    return n;
  }

 private:
  std::string path_;
  int error_ = 0;
};

// The gaps between consecutive poll times (seconds), for "the meter kept its schedule".
double widest_gap(const std::vector<std::string>& times) {
  double widest = 0;
  for (std::size_t i = 1; i < times.size(); ++i) {
    widest = std::max(
        widest, static_cast<double>(rfc3339_ms(times[i]) - rfc3339_ms(times[i - 1])) / 1000.0);
  }
  return widest;
}

struct DiskFullRun {
  std::string err;
  std::vector<std::string> stored;
  std::vector<std::string> delivered;
  double noticed_s = -1;  // from freeing the disk to the daemon's "writing again"
  std::size_t failed_polls = 0;
};

// Polls every second onto a store on a tmpfs, fills the tmpfs for `outage`, frees it, and stops
// the daemon after a few more polls.
DiskFullRun disk_full_run(const TempDir& dir, const Tmpfs& fs, std::chrono::seconds outage,
                          const std::string& store_extra, bool reload = false) {
  const std::string db = fs / "k.db";
  std::ofstream(dir / "k.yaml") << "meters:\n  - name: heat\n    port: sim:multical403\n"
                                << "    interval: 1s\nstore:\n  path: " << db << "\n"
                                << store_extra << "files:\n  - path: " << (dir / "polls.jsonl")
                                << "\n    format: jsonl\n";
  DiskFullRun out;
  Background daemon({kBin, "run", "--config", dir / "k.yaml"}, dir / "run");
  const std::string polls = dir / "polls.jsonl";
  EXPECT_TRUE(wait_until([&] { return jsonl_times(polls).size() >= 3; }, 30s)) << daemon.err();
  EXPECT_GT(fs.fill("filler"), 0U);
  EXPECT_TRUE(wait_until([&] { return has(daemon.err(), "store: cannot write"); }, 30s))
      << daemon.err();
  if (reload) {  // `systemctl reload` in the middle of the outage
    std::this_thread::sleep_for(outage / 2);
    daemon.signal(SIGHUP);
    std::this_thread::sleep_for(outage - outage / 2);
  } else {
    std::this_thread::sleep_for(outage);
  }
  std::filesystem::remove(fs / "filler");
  const auto freed = Clock::now();
  if (wait_until([&] { return has(daemon.err(), "store: writing again"); }, 30s))
    out.noticed_s = seconds_since(freed);
  const auto n = jsonl_times(polls).size();
  EXPECT_TRUE(wait_until([&] { return jsonl_times(polls).size() >= n + 2; }, 30s)) << daemon.err();
  EXPECT_EQ(daemon.terminate_and_wait(), 0) << daemon.err();
  out.err = daemon.err();
  out.stored = stored_times(db);
  out.delivered = jsonl_times(polls);
  EXPECT_EQ(integrity(db), "ok");
  return out;
}

TEST(StoreFaults, DiskFullHoldsReadingsAndTheMeterKeepsItsSchedule) {
  TempDir dir;
  Tmpfs fs(dir, "2m");
  if (!fs.mounted()) GTEST_SKIP() << "cannot mount a tmpfs (needs root): " << fs.why();
  const auto r = disk_full_run(dir, fs, 5s, "");
  // Said once when the store failed and once when it recovered, not at every poll.
  EXPECT_EQ(count_in(r.err, "store: cannot write"), 1U) << r.err;
  EXPECT_EQ(count_in(r.err, "store: writing again"), 1U) << r.err;
  // The meter was never taken for down, and no poll was lost: one every second throughout.
  EXPECT_EQ(count_in(r.err, "answering on"), 1U) << r.err;
  std::smatch m;
  ASSERT_TRUE(std::regex_search(
      r.err, m, std::regex(R"(store: writing again: (\d+) held poll\(s\) stored, (\d+) dropped)")))
      << r.err;
  EXPECT_GE(std::stoi(m[1].str()), 3) << "a poll a second for 5 s was held";
  EXPECT_EQ(m[2].str(), "0");
  ASSERT_GE(r.stored.size(), 10U);
  EXPECT_LT(widest_gap(r.stored), 2.5) << dump(r.stored);
  // Outputs deliver from the store only: each stored poll once it was stored, and nothing else.
  EXPECT_EQ(std::set<std::string>(r.delivered.begin(), r.delivered.end()),
            std::set<std::string>(r.stored.begin(), r.stored.end()));
  // Recovery is noticed within a poll interval (1 s; loose bound for a loaded machine).
  EXPECT_GE(r.noticed_s, 0) << r.err;
  EXPECT_LT(r.noticed_s, 3.0) << r.err;
  std::printf(
      "[ figures  ] disk full for 5 s: %zu polls stored, widest gap %.1f s, recovery "
      "noticed %.2f s after the disk was freed\n",
      r.stored.size(), widest_gap(r.stored), r.noticed_s);
}

// A reload while polls are held hands them to the next configuration: none is lost.
TEST(StoreFaults, DiskFullAcrossAReloadLosesNothing) {
  TempDir dir;
  Tmpfs fs(dir, "2m");
  if (!fs.mounted()) GTEST_SKIP() << "cannot mount a tmpfs (needs root): " << fs.why();
  const auto r = disk_full_run(dir, fs, 6s, "", /*reload=*/true);
  EXPECT_TRUE(has(r.err, "SIGHUP: reloading")) << r.err;
  EXPECT_FALSE(has(r.err, "lost")) << r.err;
  ASSERT_GE(r.stored.size(), 10U);
  EXPECT_LT(widest_gap(r.stored), 2.5) << dump(r.stored);
  EXPECT_EQ(std::set<std::string>(r.delivered.begin(), r.delivered.end()),
            std::set<std::string>(r.stored.begin(), r.stored.end()));
}

TEST(StoreFaults, HeldReadingsOverflowTheQueueCountedAndLogged) {
  TempDir dir;
  Tmpfs fs(dir, "2m");
  if (!fs.mounted()) GTEST_SKIP() << "cannot mount a tmpfs (needs root): " << fs.why();
  const auto r = disk_full_run(dir, fs, 6s, "  queue: 2\n");
  // Overflow is said once, with the limit, and counted at recovery.
  EXPECT_EQ(count_in(r.err, "the queue of 2 held polls is full"), 1U) << r.err;
  std::smatch m;
  ASSERT_TRUE(std::regex_search(
      r.err, m, std::regex(R"(store: writing again: (\d+) held poll\(s\) stored, (\d+) dropped)")))
      << r.err;
  EXPECT_EQ(m[1].str(), "2");
  EXPECT_GE(std::stoi(m[2].str()), 3);
  EXPECT_EQ(count_in(r.err, "answering on"), 1U) << r.err;
}

// What /metrics, /api/store and /api/meters say about the store while the disk is full and after:
// down with its error, the polls held, the overflow counted; up again once the disk is freed.
TEST(StoreFaults, DiskFullIsServedAsStoreHealth) {
  TempDir dir;
  Tmpfs fs(dir, "2m");
  if (!fs.mounted()) GTEST_SKIP() << "cannot mount a tmpfs (needs root): " << fs.why();
  const int port = free_tcp_port();
  std::ofstream(dir / "k.yaml") << "meters:\n  - name: heat\n    port: sim:multical403\n"
                                << "    interval: 1s\nstore:\n  path: " << (fs / "k.db")
                                << "\n  queue: 2\nhttp:\n  listen: 127.0.0.1:" << port << "\n";
  Background daemon({kBin, "run", "--config", dir / "k.yaml"}, dir / "run");
  httplib::Client client("127.0.0.1", port);
  auto get = [&](const std::string& path) {
    auto res = client.Get(path);
    return res && res->status == 200 ? res->body : std::string();
  };
  ASSERT_TRUE(wait_until(
      [&] {
        return has(get("/metrics"),
                   "kamstrup_polls_total{meter=\"heat\","
                   "result=\"ok\"} 2");
      },
      30s))
      << daemon.err();
  EXPECT_TRUE(has(get("/metrics"), "\nkamstrup_store_up 1\n"));
  EXPECT_GT(fs.fill("filler"), 0U);
  // A poll a second into a queue of 2: held, then the oldest dropped.
  ASSERT_TRUE(wait_until(
      [&] {
        return has(get("/metrics"), "kamstrup_store_held_polls 2\n") &&
               !has(get("/metrics"), "kamstrup_store_dropped_polls_total 0\n");
      },
      30s))
      << daemon.err() << get("/metrics");
  const std::string down = get("/metrics");
  EXPECT_TRUE(has(down, "\nkamstrup_store_up 0\n")) << down;
  EXPECT_TRUE(has(down, "\nkamstrup_store_queue_size 2\n")) << down;
  EXPECT_FALSE(has(down, "\nkamstrup_store_errors_total 0\n")) << down;
  auto check = run({"/usr/bin/promtool", "check", "metrics"}, down);
  EXPECT_EQ(check.status, 0) << check.out << check.err << down;
  const json store = json::parse(get("/api/store"));
  EXPECT_EQ(store.at("ok"), false);
  EXPECT_TRUE(has(store.at("state").get<std::string>(), "full")) << store.dump();
  EXPECT_TRUE(store.at("since").is_string()) << store.dump();
  EXPECT_GE(store.at("errors").get<int>(), 1);
  EXPECT_EQ(store.at("held"), 2);
  EXPECT_GE(store.at("dropped").get<int>(), 1);
  const json meter = json::parse(get("/api/meters")).at(0);
  EXPECT_EQ(meter.at("store").at("ok"), false) << meter.dump();
  EXPECT_EQ(meter.at("store").at("held"), 2) << meter.dump();

  std::filesystem::remove(fs / "filler");
  ASSERT_TRUE(wait_until([&] { return has(get("/metrics"), "\nkamstrup_store_up 1\n"); }, 30s))
      << daemon.err();
  const std::string up = get("/metrics");
  EXPECT_TRUE(has(up, "\nkamstrup_store_held_polls 0\n")) << up;
  EXPECT_FALSE(has(up, "\nkamstrup_store_dropped_polls_total 0\n")) << "a counter stays" << up;
  EXPECT_EQ(json::parse(get("/api/store")).at("ok"), true);
  EXPECT_EQ(daemon.terminate_and_wait(), 0) << daemon.err();
}

// ---------------------------------------------------------------------------------------------
// Outputs come back fast.

TEST(ComeBack, InfluxdGetsItsBacklogWithin5Seconds) {
  TempDir dir;
  support::Influxd influx;
  influx.start();
  influx.query("CREATE DATABASE \"k\"");
  const std::string config =
      write_config(dir, "influxdb:\n  url: " + influx.url() + "\n  database: k\n");
  const std::string polls = dir / "polls.jsonl";
  Background daemon({kBin, "run", "--config", config}, dir / "daemon");
  auto stored_all = [&](const std::vector<std::string>& want) {
    auto pts = influx.points_by_time("k");
    return std::all_of(want.begin(), want.end(),
                       [&](const std::string& t) { return pts.count(rfc3339_ms(t)) != 0; });
  };
  ASSERT_TRUE(wait_until([&] { return jsonl_times(polls).size() >= 2; }, 30s)) << daemon.err();
  influx.stop();
  // Long enough for the retry backoff to reach 16 s.
  std::this_thread::sleep_for(20s);
  influx.start();
  const auto back = Clock::now();
  const auto backlog = jsonl_times(polls);
  EXPECT_TRUE(wait_until([&] { return stored_all(backlog); }, 60s)) << daemon.err();
  const double took = seconds_since(back);
  EXPECT_LT(took, 5.0) << daemon.err();
  std::printf("[ figures  ] influxd back after 20 s: %zu polls in %.2f s\n", backlog.size(), took);
  EXPECT_EQ(daemon.terminate_and_wait(), 0) << daemon.err();
}

TEST(ComeBack, MqttBrokerGetsItsBacklogWithin5Seconds) {
  TempDir dir;
  PersistentBroker broker(dir, free_tcp_port());
  broker.start();
  const std::string sub_id = unique_id("back-sub");
  auto sub = std::make_unique<Subscriber>(broker.port(), sub_id, kStateTopic);
  const std::string config = write_config(dir, mqtt_outputs(broker.port(), unique_id("back")));
  const std::string polls = dir / "polls.jsonl";
  Background daemon({kBin, "run", "--config", config}, dir / "daemon");
  ASSERT_TRUE(wait_until(
      [&] {
        auto want = jsonl_times(polls);
        return want.size() >= 2 && contains_all(want, times_of(sub->payloads()));
      },
      30s))
      << daemon.err();
  StateLog arrived;
  broker.stop();
  arrived.add(sub->payloads());
  sub.reset();
  std::this_thread::sleep_for(20s);
  broker.start();
  const auto back = Clock::now();
  const auto backlog = jsonl_times(polls);
  sub = std::make_unique<Subscriber>(broker.port(), sub_id, kStateTopic);
  auto seen = [&] {
    auto all = arrived.times;
    const auto now = times_of(sub->payloads());
    all.insert(all.end(), now.begin(), now.end());
    return all;
  };
  EXPECT_TRUE(wait_until([&] { return contains_all(backlog, seen()); }, 60s))
      << daemon.err() << "missing:\n"
      << dump(missing(backlog, seen()));
  const double took = seconds_since(back);
  EXPECT_LT(took, 5.0) << daemon.err();
  std::printf("[ figures  ] broker back after 20 s: %zu polls in %.2f s\n", backlog.size(), took);
  EXPECT_EQ(daemon.terminate_and_wait(), 0) << daemon.err();
}

TEST(ComeBack, FlappingBrokerLosesNothingAndKeepsOrder) {
  TempDir dir;
  PersistentBroker broker(dir, free_tcp_port());
  broker.start();
  const std::string sub_id = unique_id("flap-sub");
  auto sub = std::make_unique<Subscriber>(broker.port(), sub_id, kStateTopic);
  const std::string config = write_config(dir, mqtt_outputs(broker.port(), unique_id("flap")));
  const std::string polls = dir / "polls.jsonl";
  Background daemon({kBin, "run", "--config", config}, dir / "daemon");
  ASSERT_TRUE(wait_until([&] { return jsonl_times(polls).size() >= 2; }, 30s)) << daemon.err();
  StateLog arrived;
  for (int cycle = 0; cycle < 4; ++cycle) {
    std::this_thread::sleep_for(2s);
    broker.stop();
    arrived.add(sub->payloads());
    sub.reset();
    std::this_thread::sleep_for(3s);
    broker.start();
    sub = std::make_unique<Subscriber>(broker.port(), sub_id, kStateTopic);
  }
  const auto back = Clock::now();
  const auto backlog = jsonl_times(polls);
  auto seen = [&] {
    auto all = arrived.times;
    const auto now = times_of(sub->payloads());
    all.insert(all.end(), now.begin(), now.end());
    return all;
  };
  EXPECT_TRUE(wait_until([&] { return contains_all(backlog, seen()); }, 60s))
      << daemon.err() << "missing:\n"
      << dump(missing(backlog, seen()));
  // Looser than ComeBack's 5 s: after flapping, the sink's reconnect backoff sits at its cap.
  const double took = seconds_since(back);
  EXPECT_LT(took, 10.0);
  EXPECT_EQ(daemon.terminate_and_wait(), 0) << daemon.err();
  const auto want = jsonl_times(polls);
  wait_until([&] { return contains_all(want, seen()); }, 10s);
  arrived.add(sub->payloads());
  sub.reset();
  const auto got = arrived.set();
  for (const auto& t : want) EXPECT_EQ(got.count(t), 1U) << "polled but never on MQTT: " << t;
  expect_in_order(arrived.times);
  std::printf(
      "[ figures  ] 4 broker flaps of 3 s: %zu polls, %zu messages, last backlog in %.2f s\n",
      want.size(), arrived.times.size(), took);
}

// ---------------------------------------------------------------------------------------------
// kill -9 at arbitrary moments, over and over.

TEST(KillNine, LoopKeepsTheStoreIntactAndRepeatsOnlyTheLastBatch) {
  TempDir dir;
  const std::string config = dir / "k.yaml";
  const std::string db = dir / "k.db";
  std::ofstream(config) << "meters:\n  - name: heat\n    port: sim:multical403\n    interval: 1s\n"
                        << "store:\n  path: " << db << "\nconsole:\n  format: json\n";
  constexpr std::size_t kRounds = 6;
  std::vector<std::vector<std::string>> printed(kRounds);
  for (std::size_t round = 0; round < kRounds; ++round) {
    Background daemon({kBin, "run", "--config", config}, dir / ("run" + std::to_string(round)));
    auto times = [&] {
      std::vector<std::string> out;
      const std::string text = daemon.out();
      std::size_t start = 0;
      for (std::size_t nl; (nl = text.find('\n', start)) != std::string::npos; start = nl + 1) {
        json j = json::parse(text.substr(start, nl - start), nullptr, false);
        if (j.is_object() && j.contains("time")) out.push_back(j.at("time").get<std::string>());
      }
      return out;
    };
    ASSERT_TRUE(wait_until([&] { return times().size() >= 2; }, 30s)) << daemon.err();
    // Somewhere inside a poll cycle, a different place each round.
    std::this_thread::sleep_for(std::chrono::milliseconds(97 + 173 * round));
    daemon.kill_hard();
    printed[round] = times();
    ASSERT_EQ(integrity(db), "ok") << "after kill -9 number " << round + 1;
  }
  const auto stored = stored_times(db);
  const std::set<std::string> in_store(stored.begin(), stored.end());
  std::size_t repeats = 0;
  for (std::size_t round = 0; round < kRounds; ++round) {
    for (const auto& t : printed[round])
      EXPECT_EQ(in_store.count(t), 1U) << "printed but not in the history: " << t;
    // A poll printed again by a later round is one of the last the killed daemon printed (its
    // cursor was not saved yet): at-least-once, never an old one replayed.
    if (round + 1 < kRounds) {
      const auto& now = printed[round];
      const auto& next = printed[round + 1];
      std::size_t again = 0;
      for (const auto& t : next)
        again += static_cast<std::size_t>(std::count(now.begin(), now.end(), t));
      EXPECT_LE(again, 2U) << "round " << round + 1 << " repeated " << again << " polls";
      for (std::size_t i = 0; i + again < now.size(); ++i)
        EXPECT_EQ(std::count(next.begin(), next.end(), now[i]), 0)
            << "replayed old poll " << now[i];
      repeats += again;
    }
  }
  std::printf("[ figures  ] %zu kill -9: %zu polls stored, %zu printed again after a kill\n",
              kRounds, stored.size(), repeats);
}

}  // namespace
