// Local calendar time for rollups: the hours, days and months of one IANA time zone, read from
// the system's tz database (/usr/share/zoneinfo) through Howard Hinnant's date/tz library
// (Debian libhowardhinnant-date-dev, built with USE_OS_TZDB): the reference implementation of
// C++20's std::chrono::locate_zone, which GCC 12's libstdc++ does not have yet. POSIX TZ with
// localtime_r would mean setenv("TZ") in a multi-threaded daemon, which is not safe.
//
// Buckets partition time: every instant lies in exactly one hour, day and month. A local day
// runs from one local midnight to the next (23 or 25 hours across a DST change; where midnight
// does not exist the day starts at the transition); an hour starts where the local clock shows a
// full hour; a month runs from its first day's start to the next month's.
#pragma once

#include <cstdint>
#include <string>

namespace date {
class time_zone;
}

namespace kamstrup::store {

enum class Step : std::uint8_t { Hour = 0, Day = 1, Month = 2, Year = 3 };
const char* step_name(Step s);  // "hour", "day", "month", "year"

class Zone {
 public:
  // The named zone ("Europe/Copenhagen", "UTC"), or the system's when `name` is empty (from
  // /etc/localtime; UTC when it names none). Throws std::runtime_error for an unknown name.
  explicit Zone(const std::string& name = "");
  // Whether the tz database knows the name.
  static bool exists(const std::string& name);

  [[nodiscard]] const std::string& name() const { return name_; }

  // The start (UTC Unix ms) of the bucket holding `t_ms`, and the start of the next bucket.
  [[nodiscard]] std::int64_t start(Step s, std::int64_t t_ms) const;
  [[nodiscard]] std::int64_t next(Step s, std::int64_t start_ms) const;

  // RFC 3339 with the zone's offset at that instant: "2026-10-25T00:00:00+02:00".
  [[nodiscard]] std::string local_text(std::int64_t t_ms) const;

 private:
  const date::time_zone* tz_ = nullptr;
  std::string name_;
};

}  // namespace kamstrup::store
