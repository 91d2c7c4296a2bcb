// Store benchmark (issue 12 §2): a generated store holding 10 years of rollups and one year of
// raw 60 s readings for 2 meters, filled through the store's real insert path (insert_all per
// simulated day, then retention as the daemon runs it); then every dashboard query through the
// HTTP handlers (web::Routes::dispatch: the store query plus the JSON, no socket), timed; the
// store's size; and how long the start-up checks take on it (the daemon's damage_report, which
// walks every page with page_check, and PRAGMA quick_check / integrity_check), each with the
// file's pages first dropped from the page cache (as after a boot) and again warm.
//
// Usage: store_bench [--dir DIR] [--keep] [--reuse FILE]
//   DIR: where the store is made (a real disk; default the current directory).
//   --reuse FILE: time the queries on an existing bench store instead of making one.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

#include <fcntl.h>
#include <sqlite3.h>
#include <unistd.h>

#include "store/store.hpp"
#include "web/history_api.hpp"
#include "web/server.hpp"

using namespace kamstrup;
using Clock = std::chrono::steady_clock;

namespace {

constexpr std::int64_t kMin = 60'000;
constexpr std::int64_t kHour = 60 * kMin;
constexpr std::int64_t kDay = 24 * kHour;
// 2016-01-01T00:00:00Z .. 2026-01-01: ten years; the last one at 60 s.
constexpr std::int64_t kStart = 1451606400000;
constexpr std::int64_t kEnd = 1767225600000;
constexpr std::int64_t kRawFrom = kEnd - 365 * kDay;

double seconds_since(Clock::time_point t) {
  return std::chrono::duration<double>(Clock::now() - t).count();
}

// Plausible 8-register readings of a heat meter at minute m (counters only go up).
store::Poll reading(const std::string& meter, std::int64_t t, int salt) {
  const std::int64_t m = (t - kStart) / kMin;
  const std::int64_t energy = 10000 + m / 7 + salt;   // ~75 MWh a year, in 0.001 MWh
  const std::int64_t volume = 500000 + m / 3 + salt;  // m³ in 0.01
  auto dec = [](std::int64_t v, int places) {
    if (places == 0) return std::to_string(v);
    std::int64_t scale = 1;
    for (int i = 0; i < places; ++i) scale *= 10;
    char buf[48];
    std::snprintf(buf, sizeof buf, "%lld.%0*lld", static_cast<long long>(v / scale), places,
                  static_cast<long long>(v % scale));
    return std::string(buf);
  };
  store::Poll p;
  p.meter = meter;
  p.time_ms = t;
  p.values = {{60, "heat_energy", dec(energy, 3), "", "MWh"},
              {68, "volume", dec(volume, 2), "", "m³"},
              {86, "temp1", dec(6000 + (m * 37 + salt) % 1500, 2), "", "°C"},
              {87, "temp2", dec(3500 + (m * 53 + salt) % 1000, 2), "", "°C"},
              {89, "temp_diff", dec(2500 + (m * 11) % 500, 2), "", "K"},
              {74, "flow", std::to_string(100 + (m * 7) % 400), "", "l/h"},
              {80, "power", dec(10 + (m * 13) % 200, 1), "", "kW"},
              {1004, "hour_counter", std::to_string(1000 + m / 60), "", "h"}};
  return p;
}

void fill(const std::string& path) {
  store::StoreConfig cfg;
  cfg.path = path;
  cfg.timezone = "Europe/Copenhagen";
  store::Store st(cfg);
  const auto t0 = Clock::now();
  std::size_t polls = 0;
  // Nine years of hourly readings (what a logger backfill or a slow poll leaves), then a year at
  // 60 s; one insert_all per meter and day, as a backfill does.
  for (std::int64_t day = kStart; day < kEnd; day += kDay) {
    for (int mi = 0; mi < 2; ++mi) {
      const std::string meter = mi == 0 ? "heat" : "flat";
      std::vector<store::Poll> batch;
      const std::int64_t step = day >= kRawFrom ? kMin : kHour;
      for (std::int64_t t = day; t < day + kDay; t += step) batch.push_back(reading(meter, t, mi));
      polls += batch.size();
      st.insert_all(batch);
    }
    // Retention as the daemon runs it, a year (the default): raw readings go, rollups stay.
    if ((day - kStart) % (30 * kDay) == 0) st.delete_before(day - 365 * kDay);
  }
  st.delete_before(kEnd - 365 * kDay);
  std::printf("filled %s: %zu polls through insert_all in %.0f s\n", path.c_str(), polls,
              seconds_since(t0));
}

// Drops the file's pages from the page cache (a cold start after boot).
void evict(const std::string& path) {
  for (const char* suffix : {"", "-wal"}) {
    const int fd = ::open((path + suffix).c_str(), O_RDONLY);
    if (fd < 0) continue;
    ::fdatasync(fd);
    ::posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
    ::close(fd);
  }
}

std::string quick_check(const std::string& path) {
  sqlite3* db = nullptr;
  sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READONLY, nullptr);
  std::string ok;
  sqlite3_exec(
      db, "PRAGMA quick_check",
      [](void* out, int, char** v, char**) {
        *static_cast<std::string*>(out) += v[0] != nullptr ? v[0] : "";
        return 0;
      },
      &ok, nullptr);
  sqlite3_close_v2(db);
  return ok;
}

struct Query {
  std::string name, path;
};

}  // namespace

int main(int argc, char** argv) {
  std::string dir = ".", reuse;
  bool keep = false;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--dir" && i + 1 < argc) dir = argv[++i];
    if (a == "--reuse" && i + 1 < argc) reuse = argv[++i];
    if (a == "--keep") keep = true;
  }
  const std::string path = reuse.empty() ? dir + "/store-bench.db" : reuse;
  if (reuse.empty()) {
    std::filesystem::remove(path);
    std::filesystem::remove(path + "-wal");
    std::filesystem::remove(path + "-shm");
    fill(path);
  }
  std::error_code ec;
  std::printf("store size: %.1f MB (%ju bytes)\n",
              static_cast<double>(std::filesystem::file_size(path, ec)) / 1e6,
              static_cast<std::uintmax_t>(std::filesystem::file_size(path, ec)));
  for (const char* cache : {"cold", "warm"}) {
    const bool cold = std::string(cache) == "cold";
    if (cold) evict(path);
    auto t = Clock::now();
    const std::string report = store::damage_report(path);
    std::printf("%s: store::damage_report (page_check, as the daemon starts): %s in %.2f s\n",
                cache, report.empty() ? "ok" : report.c_str(), seconds_since(t));
    if (cold) evict(path);
    t = Clock::now();
    const std::string quick = quick_check(path);
    std::printf("%s: PRAGMA quick_check: %s in %.2f s\n", cache, quick.c_str(), seconds_since(t));
    if (cold) evict(path);
    t = Clock::now();
    const std::string full = store::Store(path, store::Store::Access::ReadOnly).integrity_check();
    std::printf("%s: PRAGMA integrity_check: %s in %.2f s\n", cache, full.c_str(),
                seconds_since(t));
  }
  // The daemon's view: a writer store (it has the open buckets in memory) and the handlers.
  store::StoreConfig cfg;
  cfg.path = path;
  cfg.timezone = "Europe/Copenhagen";
  auto t_open = Clock::now();
  store::Store st(cfg);
  std::printf("open as the daemon (resume the rollups): %.3f s\n", seconds_since(t_open));
  web::Routes routes;
  web::add_history_api(routes, st, nullptr, [] { return kEnd; });
  auto ms = [](std::int64_t t) { return std::to_string(t); };
  const std::string to = ms(kEnd);
  std::vector<Query> qs;
  for (const std::string m : {"heat", "flat"}) {
    const std::string base = "/api/history?meter=" + m + "&register=";
    qs.push_back(
        {m + " temp1, last 24 h (raw)", base + "temp1&from=" + ms(kEnd - kDay) + "&to=" + to});
    qs.push_back(
        {m + " power, last 48 h (raw)", base + "power&from=" + ms(kEnd - 2 * kDay) + "&to=" + to});
    qs.push_back({m + " temp1, 7 days (auto: hour)",
                  base + "temp1&from=" + ms(kEnd - 7 * kDay) + "&to=" + to});
    qs.push_back(
        {m + " flow, 62 days (hour)", base + "flow&from=" + ms(kEnd - 62 * kDay) + "&to=" + to});
    qs.push_back({m + " heat_energy, 1 year (day)",
                  base + "heat_energy&from=" + ms(kEnd - 365 * kDay) + "&to=" + to});
    qs.push_back({m + " temp2, 3 years (day)",
                  base + "temp2&from=" + ms(kEnd - 3 * 365 * kDay) + "&to=" + to});
    qs.push_back(
        {m + " volume, 10 years (auto: month)", base + "volume&from=" + ms(kStart) + "&to=" + to});
    const std::string c = "/api/consumption?meter=" + m + "&register=heat_energy&period=";
    qs.push_back({m + " consumption per day, 31 days",
                  c + "day&from=" + ms(kEnd - 31 * kDay) + "&to=" + to});
    qs.push_back({m + " consumption per day, 1 year",
                  c + "day&from=" + ms(kEnd - 365 * kDay) + "&to=" + to});
    qs.push_back(
        {m + " consumption per month, 10 years", c + "month&from=" + ms(kStart) + "&to=" + to});
    qs.push_back(
        {m + " consumption per year, 10 years", c + "year&from=" + ms(kStart) + "&to=" + to});
  }
  std::printf("\n%-45s %8s %8s %8s %8s\n", "dashboard query (through the handler)", "points",
              "min ms", "median", "max ms");
  double worst = 0;
  for (const auto& q : qs) {
    web::Request r;
    r.method = "GET";
    const auto qm = q.path.find('?');
    r.path = q.path.substr(0, qm);
    std::string rest = q.path.substr(qm + 1);
    while (!rest.empty()) {
      const auto amp = rest.find('&');
      const std::string kv = rest.substr(0, amp);
      const auto eq = kv.find('=');
      r.query.emplace_back(kv.substr(0, eq), kv.substr(eq + 1));
      rest = amp == std::string::npos ? "" : rest.substr(amp + 1);
    }
    std::vector<double> times;
    std::size_t points = 0;
    for (int i = 0; i < 7; ++i) {
      const auto t = Clock::now();
      const auto resp = routes.dispatch(r);
      times.push_back(seconds_since(t) * 1000);
      if (resp.status != 200) {
        std::printf("%s: HTTP %d %s\n", q.name.c_str(), resp.status, resp.body.c_str());
        return 1;
      }
      points = static_cast<std::size_t>(std::count(resp.body.begin(), resp.body.end(), '{') - 1);
    }
    std::sort(times.begin(), times.end());
    worst = std::max(worst, times.back());
    std::printf("%-45s %8zu %8.2f %8.2f %8.2f\n", q.name.c_str(), points, times.front(), times[3],
                times.back());
  }
  std::printf("\nslowest query: %.2f ms (target <= 50 ms)\n", worst);
  if (!keep && reuse.empty()) {
    std::filesystem::remove(path);
    std::filesystem::remove(path + "-wal");
    std::filesystem::remove(path + "-shm");
  }
  return worst <= 50 ? 0 : 2;
}
