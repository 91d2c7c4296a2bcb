// `kamstrup history`, the real binary, over a database written with the Store API: the three
// output formats with exact values, the filters and time forms, and the usage errors.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <chrono>
#include <filesystem>
#include <regex>
#include <string>
#include <vector>

#include "../e2e/process.hpp"
#include "store/store.hpp"
#include "store_test_util.hpp"

namespace kamstrup::history_cli {
namespace {

using Json = nlohmann::json;
using store::Poll;
using store::Store;
using store::test::TempDir;
using ::testing::HasSubstr;

// 2026-11-23T14:00:00Z
constexpr std::int64_t kT0 = 1'795'442'400'000;

test::RunResult kamstrup(std::vector<std::string> args) {
  args.insert(args.begin(), {KAMSTRUP_BINARY, "history"});
  test::RunResult r = test::run(args, "", std::chrono::seconds(60));
  for (const char* marker : {"Sanitizer", "runtime error:", "terminate called"}) {
    EXPECT_EQ(r.err.find(marker), std::string::npos) << r.err;
  }
  return r;
}

std::string describe(const test::RunResult& r) {
  return "exit " + std::to_string(r.status) + "\n--- stdout:\n" + r.out + "--- stderr:\n" + r.err;
}

// The raw text of every "value" token (nlohmann would read big numbers through double).
std::vector<std::string> raw_value_tokens(const std::string& text) {
  static const std::regex re(R"re("value"\s*:\s*([^,}\]\s]+))re");
  std::vector<std::string> out;
  for (auto it = std::sregex_iterator(text.begin(), text.end(), re); it != std::sregex_iterator();
       ++it) {
    out.push_back((*it)[1].str());
  }
  return out;
}

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> out;
  std::size_t start = 0;
  for (std::size_t nl; (nl = text.find('\n', start)) != std::string::npos; start = nl + 1) {
    out.push_back(text.substr(start, nl - start));
  }
  EXPECT_EQ(start, text.size()) << "output does not end with a newline";
  return out;
}

class HistoryCli : public ::testing::Test {
 protected:
  void SetUp() override {
    Store s(db_);
    Poll a1;
    a1.meter = "flat, 3";
    a1.time_ms = kT0;
    a1.values = {{60, "heat_energy", "1267650600228229401496703205383000", "", "MWh"},
                 {86, "temp1", "-123.45", "", "°C"},
                 {1003, "date", "", "2022-01-12", ""}};
    s.insert(a1);
    Poll b1;
    b1.meter = "garage";
    b1.time_ms = kT0 + 60'000 + 250;  // 14:01:00.250
    b1.values = {{60, "heat_energy", "0.0", "", "GJ"},
                 {-1, "legacy_flow", "12.5", "", "l/h"},
                 {4242, "register_4242", "7", "", ""}};
    s.insert(b1);
    Poll a0;  // a backfilled logger record: older, inserted last
    a0.meter = "flat, 3";
    a0.time_ms = kT0 - 86'400'000;
    a0.source = "logger";
    a0.values = {{60, "heat_energy", "55.006", "", "MWh"}};
    s.insert(a0);
  }
  TempDir dir_;
  std::string db_ = dir_ / "kamstrup.db";
};

TEST_F(HistoryCli, CsvIsExact) {
  auto r = kamstrup({"--db", db_, "--csv"});
  ASSERT_EQ(r.status, 0) << describe(r);
  EXPECT_EQ(
      r.out,
      "time,meter,register,id,value,unit,text,source\n"
      "2026-11-22T14:00:00.000Z,\"flat, 3\",heat_energy,60,55.006,MWh,,logger\n"
      "2026-11-23T14:00:00.000Z,\"flat, 3\",heat_energy,60,1267650600228229401496703205383000,"
      "MWh,,poll\n"
      "2026-11-23T14:00:00.000Z,\"flat, 3\",temp1,86,-123.45,°C,,poll\n"
      "2026-11-23T14:00:00.000Z,\"flat, 3\",date,1003,,,2022-01-12,poll\n"
      "2026-11-23T14:01:00.250Z,garage,heat_energy,60,0.0,GJ,,poll\n"
      "2026-11-23T14:01:00.250Z,garage,legacy_flow,,12.5,l/h,,poll\n"
      "2026-11-23T14:01:00.250Z,garage,register_4242,4242,7,,,poll\n");
  EXPECT_EQ(r.err, "");
}

TEST_F(HistoryCli, JsonIsOneArrayWithExactNumberTokens) {
  auto r = kamstrup({"--db", db_, "--json"});
  ASSERT_EQ(r.status, 0) << describe(r);
  Json j = Json::parse(r.out, nullptr, false);
  ASSERT_FALSE(j.is_discarded()) << r.out;
  ASSERT_TRUE(j.is_array());
  ASSERT_EQ(j.size(), 7U);
  EXPECT_EQ(raw_value_tokens(r.out),
            (std::vector<std::string>{"55.006", "1267650600228229401496703205383000", "-123.45",
                                      "null", "0.0", "12.5", "7"}));
  EXPECT_EQ(j[0].at("time"), "2026-11-22T14:00:00.000Z");
  EXPECT_EQ(j[0].at("meter"), "flat, 3");
  EXPECT_EQ(j[0].at("register"), "heat_energy");
  EXPECT_EQ(j[0].at("id"), 60);
  EXPECT_EQ(j[0].at("unit"), "MWh");
  EXPECT_EQ(j[0].at("source"), "logger");
  EXPECT_FALSE(j[0].contains("text"));
  EXPECT_TRUE(j[1].at("value").is_number());
  EXPECT_EQ(j[2].at("unit"), "°C");
  EXPECT_TRUE(j[3].at("value").is_null());
  EXPECT_EQ(j[3].at("text"), "2022-01-12");
  EXPECT_EQ(j[4].at("time"), "2026-11-23T14:01:00.250Z");
  EXPECT_TRUE(j[5].at("id").is_null());
  EXPECT_EQ(j[5].at("register"), "legacy_flow");

  auto none = kamstrup({"--db", db_, "--json", "--meter", "nobody"});
  ASSERT_EQ(none.status, 0) << describe(none);
  EXPECT_EQ(Json::parse(none.out, nullptr, false), Json::array());
}

TEST_F(HistoryCli, TableForPeople) {
  auto r = kamstrup({"--db", db_});
  ASSERT_EQ(r.status, 0) << describe(r);
  auto lines = lines_of(r.out);
  ASSERT_EQ(lines.size(), 8U) << r.out;
  EXPECT_THAT(lines[0], ::testing::MatchesRegex("time +meter +register +value +unit"));
  EXPECT_THAT(lines[1],
              ::testing::MatchesRegex("2026-11-22T14:00:00Z +flat, 3 +heat_energy +55.006 +MWh"));
  EXPECT_THAT(lines[2], HasSubstr("1267650600228229401496703205383000  MWh"));
  EXPECT_THAT(lines[4], ::testing::MatchesRegex(".*date +2022-01-12"));  // the text, not ""
  EXPECT_THAT(lines[5], ::testing::MatchesRegex("2026-11-23T14:01:00Z +garage +heat_energy .*"));
  // Columns line up: every value column ends where the header's "value" ends.
  const std::size_t value_end = lines[0].find("value") + 5;
  EXPECT_EQ(lines[2].find("1267650600228229401496703205383000") + 34, value_end);
  EXPECT_EQ(lines[6].find("12.5") + 4, value_end);
}

TEST_F(HistoryCli, FiltersMeterRegisterTimeAndLimit) {
  auto csv_rows = [&](std::vector<std::string> args) {
    args.push_back("--csv");
    args.insert(args.begin(), {"--db", db_});
    auto r = kamstrup(args);
    EXPECT_EQ(r.status, 0) << describe(r);
    auto lines = lines_of(r.out);
    if (!lines.empty()) lines.erase(lines.begin());
    return lines;
  };
  EXPECT_EQ(csv_rows({"--meter", "garage"}).size(), 3U);
  EXPECT_EQ(csv_rows({"--register", "heat_energy"}).size(), 3U);
  EXPECT_EQ(csv_rows({"--register", "60"}).size(), 3U);
  EXPECT_EQ(csv_rows({"--register", "0x3C", "--meter", "flat, 3"}).size(), 2U);
  // Not catalogue names, but stored ones; an uncatalogued id matches the stored id.
  EXPECT_EQ(csv_rows({"--register", "legacy_flow"}).size(), 1U);
  EXPECT_EQ(csv_rows({"--register", "register_4242"}).size(), 1U);
  auto by_id = csv_rows({"--register", "4242"});
  ASSERT_EQ(by_id.size(), 1U);
  EXPECT_EQ(by_id[0], "2026-11-23T14:01:00.250Z,garage,register_4242,4242,7,,,poll");
  EXPECT_EQ(csv_rows({"--from", "2026-11-23"}).size(), 6U);
  EXPECT_EQ(csv_rows({"--to", "2026-11-23"}).size(), 1U);
  EXPECT_EQ(csv_rows({"--from", "2026-11-23T14:01:00Z", "--to", "2026-11-23T14:01:01Z"}).size(),
            3U);
  EXPECT_EQ(csv_rows({"--from", "2026-11-23T14:01:00.251Z"}).size(), 0U);
  EXPECT_EQ(csv_rows({"--from", "2026-11-23T15:01:00+01:00"}).size(), 3U);
  auto newest = csv_rows({"--limit", "2", "--register", "heat_energy"});
  ASSERT_EQ(newest.size(), 2U);
  EXPECT_THAT(newest[0], HasSubstr("1267650600228229401496703205383000"));
  EXPECT_THAT(newest[1], HasSubstr("garage"));
}

TEST(HistoryCliRelative, RelativeTimesCountBackFromNow) {
  TempDir dir;
  const std::string db = dir / "k.db";
  const auto now = std::chrono::duration_cast<std::chrono::milliseconds>(
                       std::chrono::system_clock::now().time_since_epoch())
                       .count();
  {
    Store s(db);
    for (std::int64_t ago_min : {2 * 24 * 60, 3 * 60, 30, 5}) {
      Poll p = store::test::make_poll("m", now - ago_min * 60'000, ago_min);
      s.insert(p);
    }
  }
  auto count = [&](const std::string& from) {
    auto r = kamstrup({"--db", db, "--register", "flow", "--csv", "--from", from});
    EXPECT_EQ(r.status, 0) << describe(r);
    return lines_of(r.out).size() - 1;
  };
  EXPECT_EQ(count("-15m"), 1U);
  EXPECT_EQ(count("-1h"), 2U);
  EXPECT_EQ(count("-24h"), 3U);
  EXPECT_EQ(count("-7d"), 4U);
}

TEST(HistoryCliErrors, MissingDatabaseIsAUsageErrorAndIsNotCreated) {
  TempDir dir;
  const std::string db = dir / "none.db";
  auto r = kamstrup({"--db", db});
  EXPECT_EQ(r.status, 2) << describe(r);
  EXPECT_THAT(r.err, HasSubstr("no history at " + db + " (the daemon creates it; see --db)"));
  EXPECT_EQ(r.out, "");
  EXPECT_FALSE(std::filesystem::exists(db));
  EXPECT_FALSE(std::filesystem::exists(db + "-wal"));
}

TEST(HistoryCliErrors, DefaultDatabaseIsKamstrupDbInTheWorkingDirectory) {
  ASSERT_FALSE(std::filesystem::exists("kamstrup.db")) << "test precondition";
  auto r = kamstrup({});
  EXPECT_EQ(r.status, 2) << describe(r);
  EXPECT_THAT(r.err, HasSubstr("no history at kamstrup.db (the daemon creates it; see --db)"));
  EXPECT_FALSE(std::filesystem::exists("kamstrup.db"));
}

TEST(HistoryCliErrors, UnknownRegisterSuggestsNames) {
  TempDir dir;
  { Store s(dir / "k.db"); }
  auto r = kamstrup({"--db", dir / "k.db", "--register", "heat_enrgy"});
  EXPECT_EQ(r.status, 2) << describe(r);
  EXPECT_THAT(r.err, HasSubstr("unknown register 'heat_enrgy'"));
  EXPECT_THAT(r.err, HasSubstr("heat_energy"));
  EXPECT_EQ(r.out, "");
}

TEST(HistoryCliErrors, BadArgumentsAreUsageErrors) {
  TempDir dir;
  { Store s(dir / "k.db"); }
  const std::string db = dir / "k.db";
  for (const auto& args : std::vector<std::vector<std::string>>{
           {"--from", "yesterday"},
           {"--from", "2026-02-30"},
           {"--to", "2026-11-23T25:00:00Z"},
           {"--from", "-5x"},
           {"--from", "2026-11-23", "--to", "2026-11-22"},
           {"--csv", "--json"},
           {"--limit", "0"},
       }) {
    std::vector<std::string> full = {"--db", db};
    full.insert(full.end(), args.begin(), args.end());
    auto r = kamstrup(full);
    EXPECT_EQ(r.status, 2) << args[0] << " " << args[1] << "\n" << describe(r);
    EXPECT_THAT(r.err, HasSubstr("kamstrup: ")) << describe(r);
  }
}

TEST(HistoryCliErrors, NotAHistoryDatabase) {
  TempDir dir;
  store::test::RawDb(dir / "other.db", true).exec("CREATE TABLE t(x)");
  auto r = kamstrup({"--db", dir / "other.db"});
  EXPECT_EQ(r.status, 2) << describe(r);
  EXPECT_THAT(r.err, HasSubstr("other.db: not a kamstrup history database"));
}

TEST(HistoryCliErrors, EmptyResultNamesTheKnownMeters) {
  TempDir dir;
  {
    Store s(dir / "k.db");
    Poll p = store::test::make_poll("attic", 1000, 1);
    s.insert(p);
  }
  auto r = kamstrup({"--db", dir / "k.db", "--meter", "atic"});
  EXPECT_EQ(r.status, 0) << describe(r);
  EXPECT_EQ(r.out, "");
  EXPECT_THAT(r.err, HasSubstr("no meter 'atic'; meters: attic"));
}

}  // namespace
}  // namespace kamstrup::history_cli

namespace kamstrup::history_cli {
namespace {

// --consumption: the local-day table from the rollups, exact; --backup: a copy that opens.
TEST(HistoryCliRollups, ConsumptionPerLocalDayAndAnOnlineBackup) {
  TempDir dir;
  const std::string db = dir / "k.db";
  {
    store::StoreConfig c;
    c.path = db;
    c.timezone = "Europe/Copenhagen";
    Store s(c);
    // 2026-10-25 00:00 CEST, every hour for 49 hours: +0.010 MWh an hour, a replaced meter at
    // hour 30.
    const std::int64_t start = 1792879200000;
    for (std::int64_t h = 0; h <= 49; ++h) {
      Poll p;
      p.meter = "heat";
      p.time_ms = start + h * 3'600'000;
      const std::int64_t v = h < 30 ? 1000 + 10 * h : 5 + 10 * (h - 30);
      p.values = {{60, "heat_energy",
                   std::to_string(v / 1000) + "." +
                       std::string(v % 1000 < 100 ? (v % 1000 < 10 ? "00" : "0") : "") +
                       std::to_string(v % 1000),
                   "", "MWh"}};
      s.insert(p);
    }
  }
  auto r = kamstrup({"--db", db, "--consumption", "day", "--meter", "heat", "--from",
                     "2026-10-24T22:00:00Z", "--to", "2026-10-26T23:00:00Z", "--csv"});
  ASSERT_EQ(r.status, 0) << describe(r);
  // Day one: 25 hours x 0.010; day two: 5 hours, a drop (counted 0), then 19 hours.
  EXPECT_EQ(r.out,
            "start,end,consumption,complete,resets\n"
            "2026-10-25T00:00:00+02:00,2026-10-26T00:00:00+01:00,0.250,true,0\n"
            "2026-10-26T00:00:00+01:00,2026-10-27T00:00:00+01:00,0.230,true,1\n");
  auto table = kamstrup({"--db", db, "--consumption", "day", "--from", "2026-10-24T22:00:00Z",
                         "--to", "2026-10-25T23:00:00Z"});
  ASSERT_EQ(table.status, 0) << describe(table);
  EXPECT_THAT(table.out, HasSubstr("# heat heat_energy (MWh) per local day, Europe/Copenhagen"));
  EXPECT_THAT(table.out, HasSubstr("2026-10-25T00:00:00+02:00  2026-10-26T00:00:00+01:00"));
  auto bad = kamstrup({"--db", db, "--consumption", "week"});
  EXPECT_EQ(bad.status, 2) << describe(bad);

  const std::string copy = dir / "copy.db";
  auto b = kamstrup({"--db", db, "--backup", copy});
  ASSERT_EQ(b.status, 0) << describe(b);
  EXPECT_THAT(b.err, HasSubstr("copied"));
  Store c(copy, Store::Access::ReadOnly);
  EXPECT_EQ(c.polls_after(0, 1000).size(), 50U);
  EXPECT_EQ(c.integrity_check(), "ok");
  auto again = kamstrup({"--db", db, "--backup", copy});  // never overwrites
  EXPECT_EQ(again.status, 2) << describe(again);
  EXPECT_THAT(again.err, HasSubstr("exists"));
}

}  // namespace
}  // namespace kamstrup::history_cli
