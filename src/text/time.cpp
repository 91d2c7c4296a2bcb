#include "text/time.hpp"

#include <charconv>
#include <chrono>
#include <cstdio>

namespace kamstrup::text {

namespace {

bool all_digits(std::string_view s) {
  return !s.empty() && s.find_first_not_of("0123456789") == std::string_view::npos;
}

std::optional<int> number(std::string_view s) {
  int v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc{} || p != s.data() + s.size()) return std::nullopt;
  return v;
}

}  // namespace

std::optional<std::int64_t> date_ms(std::string_view s) {
  if (s.size() != 10 || s[4] != '-' || s[7] != '-' || !all_digits(s.substr(0, 4)) ||
      !all_digits(s.substr(5, 2)) || !all_digits(s.substr(8, 2))) {
    return std::nullopt;
  }
  using namespace std::chrono;
  const year_month_day ymd{year{*number(s.substr(0, 4))},
                           month{static_cast<unsigned>(*number(s.substr(5, 2)))},
                           day{static_cast<unsigned>(*number(s.substr(8, 2)))}};
  if (!ymd.ok()) return std::nullopt;
  return duration_cast<milliseconds>(sys_days{ymd}.time_since_epoch()).count();
}

std::optional<std::int64_t> rfc3339_ms(std::string_view s) {
  if (s.size() < 20) return std::nullopt;
  auto day = date_ms(s.substr(0, 10));
  const char sep = s[10];
  if (!day || (sep != 'T' && sep != 't' && sep != ' ')) return std::nullopt;
  std::string_view t = s.substr(11);
  if (t.size() < 9 || t[2] != ':' || t[5] != ':' || !all_digits(t.substr(0, 2)) ||
      !all_digits(t.substr(3, 2)) || !all_digits(t.substr(6, 2))) {
    return std::nullopt;
  }
  const int hh = *number(t.substr(0, 2)), mm = *number(t.substr(3, 2)),
            ss = *number(t.substr(6, 2));
  if (hh > 23 || mm > 59 || ss > 60) return std::nullopt;  // 60: a leap second
  t.remove_prefix(8);
  std::int64_t frac_ms = 0;
  if (!t.empty() && t[0] == '.') {
    std::size_t n = 1;
    while (n < t.size() && t[n] >= '0' && t[n] <= '9') ++n;
    if (n == 1) return std::nullopt;
    // Stored times have millisecond resolution; finer digits are truncated.
    for (std::size_t i = 1; i < 4; ++i) frac_ms = frac_ms * 10 + (i < n ? t[i] - '0' : 0);
    t.remove_prefix(n);
  }
  std::int64_t offset_min = 0;
  if (t == "Z" || t == "z") {
  } else if (t.size() == 6 && (t[0] == '+' || t[0] == '-') && t[3] == ':' &&
             all_digits(t.substr(1, 2)) && all_digits(t.substr(4, 2))) {
    const int oh = *number(t.substr(1, 2)), om = *number(t.substr(4, 2));
    if (oh > 23 || om > 59) return std::nullopt;
    offset_min = (t[0] == '+' ? 1 : -1) * (oh * 60 + om);
  } else {
    return std::nullopt;
  }
  return *day + ((hh * 60 + mm - offset_min) * 60 + ss) * 1000 + frac_ms;
}

std::string utc_text(std::int64_t time_ms, TimeDigits digits) {
  using namespace std::chrono;
  const sys_time<milliseconds> tp{milliseconds{time_ms}};
  const auto day = floor<days>(tp);
  const year_month_day ymd{day};
  const hh_mm_ss hms{floor<milliseconds>(tp - day)};
  char buf[48];
  std::snprintf(buf, sizeof buf, "%04d-%02u-%02uT%02d:%02d:%02d", static_cast<int>(ymd.year()),
                static_cast<unsigned>(ymd.month()), static_cast<unsigned>(ymd.day()),
                static_cast<int>(hms.hours().count()), static_cast<int>(hms.minutes().count()),
                static_cast<int>(hms.seconds().count()));
  std::string out = buf;
  if (digits == TimeDigits::millis) {
    std::snprintf(buf, sizeof buf, ".%03d", static_cast<int>(hms.subseconds().count()));
    out += buf;
  }
  return out + "Z";
}

}  // namespace kamstrup::text
