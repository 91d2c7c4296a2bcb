// How long the daemon's start-up check of the history (PRAGMA quick_check, store::damage_report)
// takes on a big store, against the full PRAGMA integrity_check. Makes the store through the
// real insert path (Store::insert_all, the backfill path: one transaction per day of polls) if
// the file does not exist yet, then times each check on a cold and a warm page cache.
//
//   build/bench/store_check_bench FILE [DAYS [METERS [INTERVAL_S]]]
//   (defaults: 365 days, 2 meters, 60 s: the most a store holds under the default retention)
#include <fcntl.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

#include "store/store.hpp"

namespace {

using Clock = std::chrono::steady_clock;

double since(Clock::time_point t) {
  return std::chrono::duration<double>(Clock::now() - t).count();
}

// Eight registers as a MULTICAL 403 reports them, slowly growing.
kamstrup::store::Poll poll_at(const std::string& meter, std::int64_t t, std::int64_t i) {
  kamstrup::store::Poll p;
  p.meter = meter;
  p.time_ms = t;
  auto v = [&](std::int32_t id, const char* name, std::string value, const char* unit) {
    p.values.push_back({id, name, std::move(value), "", unit});
  };
  v(60, "heat_energy", std::to_string(55006 + i / 60) + "." + std::to_string(i % 10) + "00", "MWh");
  v(68, "volume", std::to_string(1875 + i / 30) + ".56", "m3");
  v(86, "temp1", std::to_string(60 + i % 15) + ".00", "°C");
  v(87, "temp2", std::to_string(35 + i % 10) + ".00", "°C");
  v(89, "temp_diff", std::to_string(25 + i % 5) + ".00", "K");
  v(74, "flow", std::to_string(200 + i % 90), "l/h");
  v(80, "power", std::to_string(7 + i % 4) + ".7", "kW");
  v(1004, "hour_counter", std::to_string(7126 + i / 60), "h");
  return p;
}

void make(const std::string& path, int days, int meters, int interval_s) {
  kamstrup::store::Store s(path);
  const std::int64_t start = 1'600'000'000'000;
  const std::int64_t per_day = 86'400 / interval_s;
  const auto t0 = Clock::now();
  for (std::int64_t d = 0; d < days; ++d) {
    std::vector<kamstrup::store::Poll> polls;
    for (std::int64_t k = 0; k < per_day; ++k) {
      const std::int64_t i = d * per_day + k;
      for (int m = 0; m < meters; ++m)
        polls.push_back(poll_at("meter" + std::to_string(m), start + i * interval_s * 1000, i));
    }
    s.insert_all(polls);
  }
  std::printf("made %s: %d days x %d meters every %d s in %.1f s\n", path.c_str(), days, meters,
              interval_s, since(t0));
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

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: %s FILE [DAYS [METERS [INTERVAL_S]]]\n", argv[0]);
    return 2;
  }
  const std::string path = argv[1];
  const int days = argc > 2 ? std::atoi(argv[2]) : 365;
  const int meters = argc > 3 ? std::atoi(argv[3]) : 2;
  const int interval = argc > 4 ? std::atoi(argv[4]) : 60;
  if (!std::filesystem::exists(path)) make(path, days, meters, interval);
  std::printf("size %.1f MB\n", static_cast<double>(std::filesystem::file_size(path)) / 1e6);
  for (const char* cache : {"cold", "warm"}) {
    if (std::string(cache) == "cold") evict(path);
    auto t = Clock::now();
    const auto report = kamstrup::store::damage_report(path);
    std::printf("%s: damage_report (quick_check) %.2f s: %s\n", cache, since(t),
                report.empty() ? "ok" : report.c_str());
    if (std::string(cache) == "cold") evict(path);
    t = Clock::now();
    {
      const kamstrup::store::Store s(path, kamstrup::store::Store::Access::ReadOnly);
      const auto walk = s.page_check();
      std::printf("%s: page_check %.2f s: %s\n", cache, since(t), walk.c_str());
    }
    if (std::string(cache) == "cold") evict(path);
    t = Clock::now();
    const kamstrup::store::Store s(path, kamstrup::store::Store::Access::ReadOnly);
    const auto full = s.integrity_check();
    std::printf("%s: integrity_check %.2f s: %s\n", cache, since(t), full.c_str());
  }
  return 0;
}
