// Rollups computed the slow, obvious way, to check the store's incremental ones against: bucket
// edges enumerated from the calendar (date/tz directly, not store::Zone), readings selected by
// comparing their times with the edges, consumption summed step by step over the whole series.
#pragma once

#include <date/tz.h>

#include <algorithm>
#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "kmp/decimal.hpp"
#include "store/store.hpp"

namespace kamstrup::store::test {

struct TimedValue {
  std::int64_t time_ms;
  kmp::Decimal value;
};

struct Expected {
  std::int64_t start_ms = 0, end_ms = 0;
  std::int64_t count = 0;
  std::string min, max, mean;
  std::string first, last, consumption;
  std::int64_t resets = 0;
};

// [start, end) of every bucket of `step` from the one holding from_ms to the one holding to_ms.
inline std::vector<std::pair<std::int64_t, std::int64_t>> edges(const std::string& zone, Step step,
                                                                std::int64_t from_ms,
                                                                std::int64_t to_ms) {
  using namespace std::chrono;
  const date::time_zone* tz = date::locate_zone(zone);
  auto ms = [](date::sys_time<milliseconds> t) { return t.time_since_epoch().count(); };
  auto at_midnight = [&](date::local_days d) { return ms(tz->to_sys(d, date::choose::earliest)); };
  std::vector<std::pair<std::int64_t, std::int64_t>> out;
  const auto first_local = tz->to_local(date::sys_time<milliseconds>{milliseconds{from_ms}});
  date::year_month_day ymd{date::floor<date::days>(first_local)};
  if (step == Step::Hour) {
    // Whole-hour offsets (the zones tested): local hours are UTC hours.
    std::int64_t h = from_ms - ((from_ms % 3'600'000) + 3'600'000) % 3'600'000;
    for (; h <= to_ms; h += 3'600'000) out.emplace_back(h, h + 3'600'000);
    return out;
  }
  date::local_days d;
  if (step == Step::Day) d = date::local_days{ymd};
  if (step == Step::Month) d = date::local_days{ymd.year() / ymd.month() / 1};
  if (step == Step::Year) d = date::local_days{ymd.year() / 1 / 1};
  for (;;) {
    date::local_days next;
    const date::year_month_day y{d};
    if (step == Step::Day) next = d + date::days{1};
    if (step == Step::Month) next = date::local_days{(y.year() / y.month() + date::months{1}) / 1};
    if (step == Step::Year) next = date::local_days{(y.year() + date::years{1}) / 1 / 1};
    out.emplace_back(at_midnight(d), at_midnight(next));
    if (out.back().second > to_ms) break;
    d = next;
  }
  return out;
}

// Buckets with at least one reading. Gauges: readings with start <= t < end. Counters: readings
// with start < t <= end; first = the latest reading at or before start (else the bucket's first),
// consumption = sum over the bucket's readings of max(0, reading - the reading before it).
inline std::vector<Expected> brute_force(const std::vector<TimedValue>& rs, bool cumulative,
                                         const std::string& zone, Step step) {
  std::vector<Expected> out;
  if (rs.empty()) return out;
  for (auto [s, e] : edges(zone, step, rs.front().time_ms - 1, rs.back().time_ms)) {
    Expected x;
    x.start_ms = s;
    x.end_ms = e;
    std::optional<kmp::Decimal> lo, hi, sum, cons;
    std::optional<std::size_t> first_in, last_in;
    for (std::size_t i = 0; i < rs.size(); ++i) {
      const auto t = rs[i].time_ms;
      const bool in = cumulative ? (t > s && t <= e) : (t >= s && t < e);
      if (!in) continue;
      if (!first_in) first_in = i;
      last_in = i;
      ++x.count;
      const auto& v = rs[i].value;
      if (cumulative) {
        if (!cons)
          cons = kmp::Decimal{0, std::min(v.exponent, (i > 0 ? rs[i - 1] : rs[i]).value.exponent),
                              false};
        if (i > 0) {
          auto d = v.minus(rs[i - 1].value);
          if (d->negative) {
            ++x.resets;
          } else {
            cons = cons->plus(*d);
          }
        }
      } else {
        if (!lo || v.compare(*lo) < 0) lo = v;
        if (!hi || v.compare(*hi) > 0) hi = v;
        sum = sum ? sum->plus(v) : v;
      }
    }
    if (x.count == 0) continue;
    if (cumulative) {
      x.first = (*first_in > 0 ? rs[*first_in - 1] : rs[*first_in]).value.to_string();
      x.last = rs[*last_in].value.to_string();
      x.consumption = cons->to_string();
    } else {
      x.min = lo->to_string();
      x.max = hi->to_string();
      x.mean = sum->divided(static_cast<std::uint64_t>(x.count), std::max(0, -sum->exponent) + 3)
                   ->to_string();
    }
    out.push_back(x);
  }
  return out;
}

inline std::vector<TimedValue> readings_of(const Store& st, const std::string& meter,
                                           const std::string& reg) {
  HistoryQuery q;
  q.meter = meter;
  q.register_name = reg;
  std::vector<TimedValue> out;
  for (const auto& r : st.history(q)) {
    if (!r.value.text.empty() || r.value.value.empty()) continue;
    out.push_back({r.time_ms, *kmp::Decimal::parse(r.value.value)});
  }
  return out;
}

// Compares every bucket the store gives for [from, to) with the brute force; returns the number
// of buckets compared (failures are reported through gtest).
inline std::size_t check_rollups(const Store& st, const std::string& meter, const std::string& reg,
                                 const std::string& zone, Step step) {
  const auto rs = readings_of(st, meter, reg);
  const bool cum = st.cumulative(meter, reg).value_or(false);
  const auto want = brute_force(rs, cum, zone, step);
  RollupQuery q;
  q.meter = meter;
  q.register_name = reg;
  q.step = step;
  q.from_ms = rs.front().time_ms - 400LL * 86'400'000;
  q.to_ms = rs.back().time_ms + 400LL * 86'400'000;
  const auto got = st.rollups(q);
  const std::string where = meter + "/" + reg + " " + step_name(step);
  EXPECT_EQ(got.rows.size(), want.size()) << where;
  for (std::size_t i = 0; i < std::min(got.rows.size(), want.size()); ++i) {
    const auto& g = got.rows[i];
    const auto& w = want[i];
    const std::string at = where + " bucket " + std::to_string(w.start_ms);
    EXPECT_EQ(g.start_ms, w.start_ms) << at;
    EXPECT_EQ(g.end_ms, w.end_ms) << at;
    EXPECT_EQ(g.count, w.count) << at;
    EXPECT_EQ(g.min, w.min) << at;
    EXPECT_EQ(g.max, w.max) << at;
    EXPECT_EQ(g.mean, w.mean) << at;
    EXPECT_EQ(g.first, w.first) << at;
    EXPECT_EQ(g.last, w.last) << at;
    EXPECT_EQ(g.consumption, w.consumption) << at;
    EXPECT_EQ(g.resets, w.resets) << at;
  }
  return want.size();
}

}  // namespace kamstrup::store::test
