// Rollups (docs/history.md) against a brute-force computation from the raw readings: the v2
// fixture migrated in place (tests/data/store-v2), live inserts, logger backfill landing in
// buckets already rolled up, gaps, counter drops, DST days, unit changes, retention, restarts.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdlib>
#include <map>

#include "brute_force.hpp"
#include "store/zone.hpp"
#include "store_test_util.hpp"

namespace kamstrup::store::test {
namespace {

using ::testing::HasSubstr;

constexpr const char* kCph = "Europe/Copenhagen";
constexpr std::int64_t kMin = 60'000;
constexpr std::int64_t kHour = 3'600'000;
// 2026-10-22 22:00 UTC = 2026-10-23 00:00 CEST: the fixture's first local midnight.
constexpr std::int64_t kFixtureStart = 1792706400000;

std::string fixture(const TempDir& dir) {
  const std::string out = dir / "history.db";
  const std::string cmd =
      std::string("xz -dc '") + KAMSTRUP_TEST_DATA + "/store-v2/history-v2.db.xz' > '" + out + "'";
  if (std::system(cmd.c_str()) != 0) throw std::runtime_error("cannot unpack the v2 fixture");
  return out;
}

StoreConfig config(const std::string& path, const std::string& tz = kCph) {
  StoreConfig c;
  c.path = path;
  c.timezone = tz;
  return c;
}

// What the v2 file holds, read with plain SQL before the migration.
std::vector<Poll> v2_polls(const std::string& path) {
  RawDb raw(path);
  std::vector<Poll> polls;
  std::map<std::int64_t, std::size_t> at;
  for (auto& r : raw.rows("SELECT seq, meter, time_ms, source FROM polls ORDER BY seq")) {
    Poll p;
    p.seq = std::stoll(r[0]);
    p.meter = r[1];
    p.time_ms = std::stoll(r[2]);
    p.source = r[3];
    at[p.seq] = polls.size();
    polls.push_back(p);
  }
  for (auto& r : raw.rows("SELECT seq, register_id, name, value, text, unit FROM readings "
                          "ORDER BY seq, idx")) {
    Value v{r[1] == "NULL" ? -1 : std::stoi(r[1]), r[2], r[3], r[4], r[5]};
    polls[at.at(std::stoll(r[0]))].values.push_back(v);
  }
  return polls;
}

TEST(Migration, TheV2FixtureIsConvertedInPlaceLosingNothing) {
  TempDir dir;
  const std::string path = fixture(dir);
  const auto before = v2_polls(path);
  ASSERT_EQ(before.size(), 2343U);
  std::vector<std::vector<std::string>> cursors, infos;
  std::string last;
  {
    RawDb pre(path);
    cursors = pre.rows("SELECT sink, seq FROM cursors ORDER BY sink");
    infos = pre.rows("SELECT * FROM meter_info ORDER BY meter");
    last = pre.one("SELECT seq FROM sqlite_sequence WHERE name = 'polls'");
    ASSERT_EQ(pre.one("PRAGMA user_version"), "2");
  }

  Store st(config(path));
  EXPECT_EQ(st.schema_version(), 3);
  EXPECT_EQ(st.polls_after(0, 100000), before);  // every value's exact text, seqs, order
  EXPECT_EQ(std::to_string(st.last_seq()), last);
  EXPECT_EQ(st.cursor("mqtt"), std::stoll(cursors[1][1]));
  EXPECT_EQ(st.cursor("influxdb"), std::stoll(cursors[0][1]));
  EXPECT_EQ(st.meter_info("heat")->serial, "6543210");
  EXPECT_EQ(st.timezone(), kCph);
  EXPECT_EQ(st.integrity_check(), "ok");
  ASSERT_FALSE(st.open_notes().empty());
  EXPECT_THAT(st.open_notes()[0].text, HasSubstr("schema version 2 to 3"));

  RawDb raw(path);
  EXPECT_EQ(raw.one("SELECT count(*) FROM sqlite_master WHERE name = 'readings'"), "0");
  EXPECT_EQ(raw.one("PRAGMA page_size"), "1024");
  EXPECT_EQ(raw.one("PRAGMA journal_mode"), "wal");
  // Every meter_info row whole, with the info-code table added by version 3 left empty.
  auto with_codes = infos;
  for (auto& row : with_codes) row.push_back("");
  EXPECT_EQ(raw.rows("SELECT * FROM meter_info ORDER BY meter"), with_codes);
  // A new poll after the conversion gets the next seq.
  auto p = make_poll("heat", kFixtureStart + 200 * kHour, 1);
  EXPECT_EQ(st.insert(p), std::stoll(last) + 1);
}

TEST(Migration, EveryRollupOfTheFixtureMatchesABruteForceComputation) {
  TempDir dir;
  const std::string path = fixture(dir);
  std::size_t buckets = 0;
  {
    Store st(config(path));
    const auto series = st.series();
    ASSERT_GE(series.size(), 17U);  // heat 8, flat 6, water 4 (info included)
    for (const auto& s : series) {
      for (Step step : {Step::Hour, Step::Day, Step::Month, Step::Year})
        buckets += check_rollups(st, s.meter, s.register_name, kCph, step);
    }
    // Days are local days: 2026-10-25 (end of DST) is one bucket of 25 hours.
    RollupQuery q{"heat", "temp1", Step::Day, kFixtureStart, kFixtureStart + 5 * 24 * kHour};
    const auto days = st.rollups(q).rows;
    ASSERT_EQ(days.size(), 5U);  // 23rd, 24th, 25th, 26th, and the half 27th
    EXPECT_EQ(days[2].end_ms - days[2].start_ms, 25 * kHour);
    EXPECT_EQ(days[2].count, 25 * 12);
    // The replaced meter: one drop, never negative consumption.
    RollupQuery f{"flat", "heat_energy", Step::Day, kFixtureStart, kFixtureStart + 5 * 24 * kHour};
    const auto flat = st.rollups(f).rows;
    ASSERT_EQ(flat.size(), 5U);
    EXPECT_EQ(flat[2].resets, 1);
    for (const auto& d : flat) EXPECT_EQ(d.consumption.find('-'), std::string::npos);
    // The backfilled hours (logger records at 07:00, 08:00 and 09:00 local in the gap) each
    // have their one reading.
    RollupQuery h{"heat", "temp1", Step::Hour, kFixtureStart + 32 * kHour,
                  kFixtureStart + 35 * kHour};
    const auto hours = st.rollups(h).rows;
    ASSERT_EQ(hours.size(), 3U);
    for (const auto& r : hours) EXPECT_EQ(r.count, 1);
  }
  EXPECT_GT(buckets, 1000U);
  // Reopened (the writer resumes from saved rows) and read by a reader: the same.
  Store again(config(path));
  EXPECT_TRUE(again.open_notes().empty());
  for (Step step : {Step::Hour, Step::Day, Step::Month})
    check_rollups(again, "flat", "heat_energy", kCph, step);
  Store ro(path, Store::Access::ReadOnly);
  for (Step step : {Step::Hour, Step::Day}) check_rollups(ro, "heat", "volume", kCph, step);
}

Poll one(const std::string& meter, std::int64_t t, const std::string& name,
         const std::string& value, const std::string& unit, const std::string& source = "poll") {
  Poll p;
  p.meter = meter;
  p.time_ms = t;
  p.source = source;
  p.values = {{-1, name, value, "", unit}};
  return p;
}

// 2026-03-01 00:00 UTC.
constexpr std::int64_t kMar1 = 1772323200000;

TEST(Rollups, AGapsConsumptionGoesToTheBucketWhereTheCounterIsReadNext) {
  TempDir dir;
  Store st(config(dir / "k.db", "UTC"));
  for (auto [t, v] : std::vector<std::pair<std::int64_t, std::string>>{
           {kMar1 + 10 * kHour + 30 * kMin, "1.000"},
           {kMar1 + 11 * kHour, "1.100"},  // exactly at 11:00: closes hour 10
           {kMar1 + 13 * kHour + 15 * kMin, "1.400"}}) {
    auto p = one("m", t, "heat_energy", v, "MWh");
    st.insert(p);
  }
  const auto rows = st.rollups({"m", "heat_energy", Step::Hour, kMar1, kMar1 + 24 * kHour}).rows;
  ASSERT_EQ(rows.size(), 2U);
  EXPECT_EQ(rows[0].start_ms, kMar1 + 10 * kHour);
  EXPECT_EQ(rows[0].first, "1.000");  // no reading before: the bucket's own first
  EXPECT_FALSE(rows[0].baseline);
  EXPECT_EQ(rows[0].last, "1.100");
  EXPECT_EQ(rows[0].consumption, "0.100");
  EXPECT_EQ(rows[1].start_ms, kMar1 + 13 * kHour);  // hours 11 and 12 have no reading
  EXPECT_EQ(rows[1].first, "1.100");
  EXPECT_TRUE(rows[1].baseline);
  EXPECT_EQ(rows[1].first_ms, kMar1 + 11 * kHour);
  EXPECT_EQ(rows[1].consumption, "0.300");
  const auto day = st.rollups({"m", "heat_energy", Step::Day, kMar1, kMar1 + 1}).rows;
  ASSERT_EQ(day.size(), 1U);
  EXPECT_EQ(day[0].consumption, "0.400");
}

TEST(Rollups, ACounterThatGoesDownCountsNoConsumptionAndIsReported) {
  TempDir dir;
  Store st(config(dir / "k.db", "UTC"));
  std::vector<CounterReset> seen;
  st.subscribe({{}, [&](const CounterReset& r) { seen.push_back(r); }});
  for (auto [t, v] : std::vector<std::pair<int, std::string>>{
           {0, "500.5"}, {10, "501.0"}, {20, "0.2"}, {30, "0.9"}}) {
    auto p = one("m", kMar1 + t * kMin, "volume", v, "m³");
    st.insert(p);
  }
  ASSERT_EQ(seen.size(), 1U);
  EXPECT_EQ(seen[0].before, "501.0");
  EXPECT_EQ(seen[0].after, "0.2");
  EXPECT_EQ(seen[0].time_ms, kMar1 + 20 * kMin);
  const auto h = st.rollups({"m", "volume", Step::Hour, kMar1, kMar1 + kHour}).rows;
  ASSERT_EQ(h.size(), 1U);
  EXPECT_EQ(h[0].consumption, "1.2");  // 0.5 before the drop, 0.7 after it
  EXPECT_EQ(h[0].resets, 1);
  check_rollups(st, "m", "volume", "UTC", Step::Hour);
}

// Readings every 5 minutes for two days in Copenhagen, with a 3-hour outage on day one.
void live_with_gap(Store& st, std::vector<Poll>& gap) {
  const std::int64_t start = kFixtureStart;  // local midnight
  for (std::int64_t i = 0; i < 2 * 24 * 12; ++i) {
    const std::int64_t t = start + i * 5 * kMin + 250;
    Poll p;
    p.meter = "heat";
    p.time_ms = t;
    p.values = {
        {60, "heat_energy", "55." + std::to_string(100 + i), "", "MWh"},
        {86, "temp1", std::to_string(60 + i % 17) + "." + std::to_string(i % 10), "", "°C"}};
    const bool down = i >= 6 * 12 && i < 9 * 12;
    if (down) {
      if (i % 12 == 0) {  // the meter's hourly logger has these
        p.source = "logger";
        p.time_ms -= 250;
        gap.push_back(p);
      }
      continue;
    }
    st.insert(p);
  }
}

TEST(Rollups, LoggerBackfillIntoBucketsAlreadyRolledUpRecomputesThem) {
  TempDir dir;
  Store st(config(dir / "k.db"));
  std::vector<Poll> gap;
  live_with_gap(st, gap);
  const auto before =
      st.rollups({"heat", "heat_energy", Step::Hour, kFixtureStart, kFixtureStart + 48 * kHour});
  const auto temps =
      st.rollups({"heat", "temp1", Step::Hour, kFixtureStart, kFixtureStart + 48 * kHour});
  st.insert_all(gap);  // older than the newest reading: lands in rolled-up buckets
  for (Step step : {Step::Hour, Step::Day, Step::Month}) {
    check_rollups(st, "heat", "heat_energy", kCph, step);
    check_rollups(st, "heat", "temp1", kCph, step);
  }
  const auto after =
      st.rollups({"heat", "heat_energy", Step::Hour, kFixtureStart, kFixtureStart + 48 * kHour});
  // The logger records at 06:00, 07:00 and 08:00 local close the hours ending there: two of
  // those hours (06-07, 07-08) had no counter bucket before; the gauge gets three hours.
  EXPECT_EQ(after.rows.size(), before.rows.size() + 2);
  EXPECT_EQ(st.rollups({"heat", "temp1", Step::Hour, kFixtureStart, kFixtureStart + 48 * kHour})
                .rows.size(),
            temps.rows.size() + 3);
  // The hour after the gap no longer carries the whole gap's consumption.
  auto find = [](const std::vector<RollupRow>& rows, std::int64_t start) {
    for (const auto& r : rows)
      if (r.start_ms == start) return r;
    return RollupRow{};
  };
  const std::int64_t resumed = kFixtureStart + 9 * kHour;
  EXPECT_EQ(find(before.rows, resumed).first_ms, kFixtureStart + 6 * kHour - 5 * kMin + 250);
  EXPECT_EQ(find(after.rows, resumed).first_ms, kFixtureStart + 8 * kHour);
  Store again(config(dir / "k.db"));
  for (Step step : {Step::Hour, Step::Day}) check_rollups(again, "heat", "heat_energy", kCph, step);
}

TEST(Rollups, DaysAreLocalDaysOf23And25Hours) {
  TempDir dir;
  Store st(config(dir / "k.db"));
  // 2026-03-28 00:00 CET (23:00 UTC the day before) .. 2026-03-31: 29 March has 23 hours.
  const std::int64_t start = 1774652400000;
  for (std::int64_t t = start; t < start + 72 * kHour; t += 20 * kMin) {
    auto p = one("m", t, "temp1", std::to_string(t / kMin % 50) + ".5", "°C");
    st.insert(p);
  }
  const auto days = st.rollups({"m", "temp1", Step::Day, start, start + 71 * kHour}).rows;
  ASSERT_EQ(days.size(), 3U);
  EXPECT_EQ(days[0].end_ms - days[0].start_ms, 24 * kHour);
  EXPECT_EQ(days[1].end_ms - days[1].start_ms, 23 * kHour);
  EXPECT_EQ(days[1].count, 23 * 3);
  EXPECT_EQ(Zone(kCph).local_text(days[1].start_ms), "2026-03-29T00:00:00+01:00");
  EXPECT_EQ(Zone(kCph).local_text(days[1].end_ms), "2026-03-30T00:00:00+02:00");
  check_rollups(st, "m", "temp1", kCph, Step::Day);
  check_rollups(st, "m", "temp1", kCph, Step::Hour);
}

TEST(Rollups, AUnitChangeConvertsExactlyOrStartsANewSeries) {
  TempDir dir;
  Store st(config(dir / "k.db", "UTC"));
  auto a = one("m", kMar1, "heat_energy", "1.000", "MWh");
  auto b = one("m", kMar1 + 10 * kMin, "heat_energy", "1250", "kWh");  // 1.250 MWh
  st.insert(a);
  st.insert(b);
  auto h = st.rollups({"m", "heat_energy", Step::Hour, kMar1, kMar1 + kHour});
  EXPECT_EQ(h.unit, "MWh");
  ASSERT_EQ(h.rows.size(), 1U);
  EXPECT_EQ(h.rows[0].consumption, "0.250");
  EXPECT_EQ(h.rows[0].last, "1.250");
  auto c = one("m", kMar1 + 20 * kMin, "heat_energy", "4.6", "GJ");  // GJ -> MWh is not exact
  st.insert(c);
  EXPECT_EQ(st.series().size(), 2U);
  // The newest unit is GJ, and MWh -> GJ is exact (x 3.6): the older bucket converts.
  h = st.rollups({"m", "heat_energy", Step::Hour, kMar1, kMar1 + kHour});
  EXPECT_EQ(h.unit, "GJ");
  ASSERT_EQ(h.rows.size(), 1U);
  EXPECT_EQ(h.rows[0].first, "3.6000");
  EXPECT_EQ(h.rows[0].consumption, "0.9000");  // the step into the new series is not counted
  auto e = one("m", kMar1 + 30 * kMin, "heat_energy", "1.300", "MWh");
  st.insert(e);  // back to MWh: its own series again, and GJ -> MWh does not convert
  EXPECT_THROW(st.rollups({"m", "heat_energy", Step::Hour, kMar1, kMar1 + kHour}), UnitConflict);
}

TEST(Rollups, RetentionDeletesRawReadingsOnlyAndRollupsSurviveRestarts) {
  TempDir dir;
  std::vector<RollupRow> hours;
  {
    Store st(config(dir / "k.db", "UTC"));
    std::vector<Poll> gap;
    live_with_gap(st, gap);
    hours = st.rollups({"heat", "temp1", Step::Hour, 0, kFixtureStart + 49 * kHour}).rows;
    EXPECT_GT(st.delete_before(kFixtureStart + 47 * kHour), 0U);
    EXPECT_EQ(st.rollups({"heat", "temp1", Step::Hour, 0, kFixtureStart + 49 * kHour}).rows.size(),
              hours.size());
  }
  Store st(config(dir / "k.db", "UTC"));
  const auto again = st.rollups({"heat", "temp1", Step::Hour, 0, kFixtureStart + 49 * kHour}).rows;
  ASSERT_EQ(again.size(), hours.size());
  for (std::size_t i = 0; i < hours.size(); ++i) {
    EXPECT_EQ(again[i].mean, hours[i].mean);
    EXPECT_EQ(again[i].count, hours[i].count);
  }
}

TEST(Rollups, AChangedTimeZoneRebuildsDaysFromHours) {
  TempDir dir;
  {
    Store st(config(dir / "k.db", "UTC"));
    std::vector<Poll> gap;
    live_with_gap(st, gap);
  }
  Store st(config(dir / "k.db", kCph));
  ASSERT_EQ(st.open_notes().size(), 1U);
  EXPECT_THAT(st.open_notes()[0].text, HasSubstr("changed from UTC to Europe/Copenhagen"));
  check_rollups(st, "heat", "temp1", kCph, Step::Day);
  check_rollups(st, "heat", "heat_energy", kCph, Step::Month);
}

TEST(Rollups, AReaderSeesTheOpenBucketsAWriterHasNotSavedYet) {
  TempDir dir;
  Store st(config(dir / "k.db", "UTC"));
  for (int i = 0; i < 30; ++i) {
    auto p = one("m", kMar1 + i * kMin, "temp1", std::to_string(i) + ".0", "°C");
    st.insert(p);
  }
  Store ro(dir / "k.db", Store::Access::ReadOnly);
  const auto h = ro.rollups({"m", "temp1", Step::Hour, kMar1, kMar1 + kHour}).rows;
  ASSERT_EQ(h.size(), 1U);
  EXPECT_EQ(h[0].count, 30);
  EXPECT_EQ(h[0].mean, "14.5000");
  EXPECT_EQ(h[0].max, "29.0");
}

}  // namespace
}  // namespace kamstrup::store::test
