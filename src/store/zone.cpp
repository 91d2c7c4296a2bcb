#include "store/zone.hpp"

#include <date/tz.h>

#include <cstdio>
#include <stdexcept>

namespace kamstrup::store {

namespace {
using std::chrono::milliseconds;
using ms_time = date::sys_time<milliseconds>;
using local_ms = date::local_time<milliseconds>;

std::int64_t count(ms_time t) {
  return t.time_since_epoch().count();
}
}  // namespace

const char* step_name(Step s) {
  switch (s) {
    case Step::Hour:
      return "hour";
    case Step::Day:
      return "day";
    case Step::Month:
      return "month";
    case Step::Year:
      return "year";
  }
  return "?";
}

Zone::Zone(const std::string& name) {
  if (name.empty()) {
    try {
      tz_ = date::current_zone();
    } catch (const std::exception&) {
      tz_ = date::locate_zone("UTC");  // no /etc/localtime: the system runs on UTC
    }
  } else {
    try {
      tz_ = date::locate_zone(name);
    } catch (const std::exception&) {
      throw std::runtime_error("unknown time zone '" + name +
                               "' (a name from the tz database, e.g. Europe/Copenhagen)");
    }
  }
  name_ = std::string(tz_->name());
}

bool Zone::exists(const std::string& name) {
  try {
    date::locate_zone(name);
    return true;
  } catch (const std::exception&) {
    return false;
  }
}

std::int64_t Zone::start(Step s, std::int64_t t_ms) const {
  const ms_time t{milliseconds{t_ms}};
  const local_ms local = tz_->to_local(t);
  switch (s) {
    case Step::Hour: {
      // Back by the local minutes and seconds into the hour: the repeated hour at the end of DST
      // stays two buckets (mapping the local hh:00 back to UTC could not tell them apart).
      const auto into = local - date::floor<std::chrono::hours>(local);
      return count(t - into);
    }
    case Step::Day:
      return count(tz_->to_sys(date::floor<date::days>(local), date::choose::earliest));
    case Step::Month:
    case Step::Year: {
      const date::year_month_day ymd{date::floor<date::days>(local)};
      const auto first = s == Step::Month ? ymd.year() / ymd.month() / 1 : ymd.year() / 1 / 1;
      return count(tz_->to_sys(date::local_days{first}, date::choose::earliest));
    }
  }
  return t_ms;
}

std::int64_t Zone::next(Step s, std::int64_t start_ms) const {
  if (s == Step::Hour) return start_ms + 3'600'000;
  const local_ms local = tz_->to_local(ms_time{milliseconds{start_ms}});
  const date::year_month_day ymd{date::floor<date::days>(local)};
  date::local_days next_day;
  if (s == Step::Day) {
    next_day = date::local_days{ymd} + date::days{1};
  } else if (s == Step::Month) {
    next_day = date::local_days{(ymd.year() / ymd.month() + date::months{1}) / 1};
  } else {
    next_day = date::local_days{(ymd.year() + date::years{1}) / 1 / 1};
  }
  return count(tz_->to_sys(next_day, date::choose::earliest));
}

std::string Zone::local_text(std::int64_t t_ms) const {
  const ms_time t{milliseconds{t_ms}};
  const auto info = tz_->get_info(date::floor<std::chrono::seconds>(t));
  const local_ms local = tz_->to_local(t);
  const auto day = date::floor<date::days>(local);
  const date::year_month_day ymd{day};
  const date::hh_mm_ss hms{date::floor<std::chrono::seconds>(local - day)};
  const long off_min = static_cast<long>(info.offset.count() / 60);
  char buf[64];
  std::snprintf(buf, sizeof buf, "%04d-%02u-%02uT%02d:%02d:%02d%c%02ld:%02ld",
                static_cast<int>(ymd.year()), static_cast<unsigned>(ymd.month()),
                static_cast<unsigned>(ymd.day()), static_cast<int>(hms.hours().count()),
                static_cast<int>(hms.minutes().count()), static_cast<int>(hms.seconds().count()),
                off_min < 0 ? '-' : '+', (off_min < 0 ? -off_min : off_min) / 60,
                (off_min < 0 ? -off_min : off_min) % 60);
  return buf;
}

}  // namespace kamstrup::store
