// The history store on real SQLite files: exact values, order, paging, cursors, history
// queries, retention, concurrent use, schema versioning and open errors.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>

#include <unistd.h>
#include <vector>

#include "store/codec.hpp"
#include "store/store.hpp"
#include "store_test_util.hpp"

namespace kamstrup::store {
namespace {

using test::make_poll;
using test::RawDb;
using test::TempDir;
using ::testing::HasSubstr;

std::vector<std::int64_t> seqs_of(const std::vector<Poll>& polls) {
  std::vector<std::int64_t> out;
  for (const auto& p : polls) out.push_back(p.seq);
  return out;
}

TEST(Store, RoundTripIsByteExact) {
  TempDir dir;
  Poll p;
  p.meter = "flat 3";
  p.time_ms = 1'795'000'000'123;
  p.source = "logger";
  p.values = {
      {60, "heat_energy", "1267650600228229401496703205383000", "", "MWh"},
      {86, "temp1", "-123.45", "", "°C"},
      {87, "temp2", "0.0", "", "°C"},
      {80, "power", "0.000", "", "kW"},
      {1003, "date", "", "2022-01-12", ""},
      {-1, "legacy_energy", "00012.50", "", "GJ"},
      {99, "name, with \"quotes\"\n", "7", "text with 'quotes', commas\tand tabs", "m³/h"},
  };
  Poll copy = p;
  {
    Store s(dir / "k.db");
    const std::int64_t seq = s.insert(p);
    EXPECT_GT(seq, 0);
    EXPECT_EQ(p.seq, seq);
  }
  Store s(dir / "k.db");
  const auto polls = s.polls_after(0, 10);
  ASSERT_EQ(polls.size(), 1U);
  copy.seq = p.seq;
  EXPECT_EQ(polls[0], copy);
  // Byte-exact in the file too: the poll is one row whose BLOB decodes to exactly these values
  // (schema v3, store/codec.hpp); nothing went through REAL.
  RawDb raw(dir / "k.db");
  EXPECT_EQ(raw.one("SELECT typeof(vals) FROM polls"), "blob");
  const std::string hex = raw.one("SELECT hex(vals) FROM polls");
  std::string blob;
  for (std::size_t i = 0; i + 1 < hex.size(); i += 2)
    blob.push_back(static_cast<char>(std::stoi(hex.substr(i, 2), nullptr, 16)));
  EXPECT_EQ(decode_values(blob), std::optional<std::vector<Value>>(copy.values));
}

TEST(Store, EmptyPollRoundTrips) {
  TempDir dir;
  Store s(dir / "k.db");
  Poll p;
  p.meter = "m";
  p.time_ms = 5;
  s.insert(p);
  auto polls = s.polls_after(0, 5);
  ASSERT_EQ(polls.size(), 1U);
  EXPECT_EQ(polls[0], p);
}

TEST(Store, InsertAllIsOneTransactionInOrder) {
  TempDir dir;
  Store s(dir / "k.db");
  Poll first = make_poll("m", 1, 1);
  s.insert(first);
  std::vector<Poll> batch;
  for (int i = 0; i < 5; ++i) batch.push_back(make_poll("m", 100 - i, 10 + i, "logger"));
  s.insert_all(batch);
  for (std::size_t i = 0; i < batch.size(); ++i) {
    EXPECT_EQ(batch[i].seq, first.seq + 1 + static_cast<std::int64_t>(i));
  }
  auto polls = s.polls_after(first.seq, 100);
  EXPECT_EQ(polls, batch);
  s.insert_all({});  // nothing to do, no error
  EXPECT_EQ(s.last_seq(), batch.back().seq);
}

TEST(Store, FailedInsertLeavesNothingAndTheStoreUsable) {
  TempDir dir;
  Store s(dir / "k.db");
  // A trigger that rejects one meter's poll makes an insert fail halfway through a batch.
  RawDb(dir / "k.db")
      .exec(
          "CREATE TRIGGER reject BEFORE INSERT ON polls WHEN NEW.meter = 'bad' "
          "BEGIN SELECT RAISE(ABORT, 'rejected by test'); END");
  std::vector<Poll> batch = {make_poll("good", 1, 1), make_poll("bad", 2, 2),
                             make_poll("good", 3, 3)};
  try {
    s.insert_all(batch);
    FAIL() << "the batch went in";
  } catch (const StoreError& e) {
    EXPECT_THAT(e.what(), HasSubstr("rejected by test"));
    EXPECT_THAT(e.what(), HasSubstr(dir / "k.db"));
  }
  for (const auto& p : batch) EXPECT_EQ(p.seq, 0);
  EXPECT_TRUE(s.polls_after(0, 10).empty());
  Poll bad = make_poll("bad", 4, 4);
  EXPECT_THROW(s.insert(bad), StoreError);
  EXPECT_EQ(bad.seq, 0);

  Poll good = make_poll("good", 5, 5);
  EXPECT_GT(s.insert(good), 0);
  EXPECT_EQ(s.polls_after(0, 10), (std::vector<Poll>{good}));
  RawDb raw(dir / "k.db");
  EXPECT_EQ(raw.one("SELECT count(*) FROM polls"), "1");
}

TEST(Store, SeqsIncreaseInInsertOrder) {
  TempDir dir;
  Store s(dir / "k.db");
  EXPECT_EQ(s.last_seq(), 0);
  std::vector<Poll> inserted;
  std::int64_t prev = 0;
  for (int i = 0; i < 20; ++i) {
    // Times deliberately out of order (backfilled logger records are older): store order is
    // insert order, not time order.
    Poll p =
        make_poll(i % 2 == 0 ? "a" : "b", 1'000'000 - i * 1000, i, i % 3 == 0 ? "logger" : "poll");
    const std::int64_t seq = s.insert(p);
    EXPECT_GT(seq, prev);
    prev = seq;
    inserted.push_back(p);
  }
  EXPECT_EQ(s.last_seq(), prev);
  EXPECT_EQ(s.polls_after(0, 100), inserted);
}

TEST(Store, PollsAfterPages) {
  TempDir dir;
  Store s(dir / "k.db");
  std::vector<Poll> inserted;
  for (int i = 0; i < 25; ++i) {
    Poll p = make_poll("m", 1000 + i, i);
    s.insert(p);
    inserted.push_back(p);
  }
  std::vector<Poll> paged;
  std::vector<std::size_t> sizes;
  std::int64_t after = 0;
  for (;;) {
    auto page = s.polls_after(after, 10);
    if (page.empty()) break;
    sizes.push_back(page.size());
    after = page.back().seq;
    paged.insert(paged.end(), page.begin(), page.end());
  }
  EXPECT_EQ(sizes, (std::vector<std::size_t>{10, 10, 5}));
  EXPECT_EQ(paged, inserted);
  EXPECT_TRUE(s.polls_after(0, 0).empty());
  // Starting in the middle.
  auto tail = s.polls_after(inserted[19].seq, 100);
  EXPECT_EQ(seqs_of(tail),
            (std::vector<std::int64_t>{inserted[20].seq, inserted[21].seq, inserted[22].seq,
                                       inserted[23].seq, inserted[24].seq}));
}

TEST(Store, CursorsPersistAcrossReopen) {
  TempDir dir;
  {
    Store s(dir / "k.db");
    EXPECT_EQ(s.cursor("mqtt"), 0);
    s.set_cursor("mqtt", 17);
    s.set_cursor("influxdb", 3);
    s.set_cursor("file:/var/log/k.jsonl", 9);
    s.set_cursor("mqtt", 42);
  }
  Store s(dir / "k.db");
  EXPECT_EQ(s.cursor("mqtt"), 42);
  EXPECT_EQ(s.cursor("influxdb"), 3);
  EXPECT_EQ(s.cursor("file:/var/log/k.jsonl"), 9);
  EXPECT_EQ(s.cursor("never-seen"), 0);
}

class History : public ::testing::Test {
 protected:
  void SetUp() override {
    store_ = std::make_unique<Store>(dir_ / "k.db");
    // a: polls at t=1000, 2000, 3000; b: polls at 1500, 2500; then a logger record for a at
    // t=500 inserted last.
    for (std::int64_t t : {1000, 2000, 3000}) add("a", t, "poll");
    for (std::int64_t t : {1500, 2500}) add("b", t, "poll");
    add("a", 500, "logger");
  }
  void add(const std::string& meter, std::int64_t t, const std::string& source) {
    Poll p = make_poll(meter, t, t, source);
    p.values.push_back({4242, "register_4242", "1", "", ""});
    store_->insert(p);
  }
  // (meter, time, register) of each row.
  static std::vector<std::string> keys(const std::vector<HistoryRow>& rows) {
    std::vector<std::string> out;
    for (const auto& r : rows) {
      out.push_back(r.meter + "@" + std::to_string(r.time_ms) + ":" + r.value.name);
    }
    return out;
  }
  TempDir dir_;
  std::unique_ptr<Store> store_;
};

TEST_F(History, AllRowsInTimeOrder) {
  auto rows = store_->history({});
  ASSERT_EQ(rows.size(), 6U * 9U);
  for (std::size_t i = 1; i < rows.size(); ++i) {
    EXPECT_LE(rows[i - 1].time_ms, rows[i].time_ms);
  }
  // The logger record (inserted last, read earliest) comes first, values in poll order.
  EXPECT_EQ(rows[0].time_ms, 500);
  EXPECT_EQ(rows[0].source, "logger");
  EXPECT_EQ(rows[0].value.name, "heat_energy");
  EXPECT_EQ(rows[0].value.value, "500.006");
  EXPECT_EQ(rows[1].value.name, "volume");
  EXPECT_EQ(rows[8].value.name, "register_4242");
  EXPECT_EQ(rows.back().meter, "a");
  EXPECT_EQ(rows.back().time_ms, 3000);
}

TEST_F(History, FiltersByMeterRegisterAndTime) {
  HistoryQuery q;
  q.meter = "a";
  q.register_name = "heat_energy";
  auto rows = store_->history(q);
  EXPECT_EQ(keys(rows), (std::vector<std::string>{"a@500:heat_energy", "a@1000:heat_energy",
                                                  "a@2000:heat_energy", "a@3000:heat_energy"}));
  EXPECT_EQ(rows[1].value.value, "1000.006");
  EXPECT_EQ(rows[1].value.unit, "MWh");
  EXPECT_EQ(rows[1].value.register_id, 60);
  EXPECT_EQ(rows[1].source, "poll");
  EXPECT_EQ(rows[0].source, "logger");

  // from inclusive, to exclusive.
  q.from_ms = 1000;
  q.to_ms = 3000;
  EXPECT_EQ(keys(store_->history(q)),
            (std::vector<std::string>{"a@1000:heat_energy", "a@2000:heat_energy"}));

  HistoryQuery only_b;
  only_b.meter = "b";
  only_b.register_name = "temp1";
  EXPECT_EQ(keys(store_->history(only_b)),
            (std::vector<std::string>{"b@1500:temp1", "b@2500:temp1"}));

  HistoryQuery window;
  window.from_ms = 1500;
  window.to_ms = 2001;
  window.register_name = "flow";
  EXPECT_EQ(keys(store_->history(window)),
            (std::vector<std::string>{"b@1500:flow", "a@2000:flow"}));

  HistoryQuery by_id;
  by_id.register_id = 4242;
  by_id.to_ms = 1500;
  EXPECT_EQ(keys(store_->history(by_id)),
            (std::vector<std::string>{"a@500:register_4242", "a@1000:register_4242"}));

  HistoryQuery none;
  none.meter = "nobody";
  EXPECT_TRUE(store_->history(none).empty());
}

TEST_F(History, LimitKeepsTheNewestRowsInTimeOrder) {
  HistoryQuery q;
  q.register_name = "power";
  q.limit = 3;
  EXPECT_EQ(keys(store_->history(q)),
            (std::vector<std::string>{"a@2000:power", "b@2500:power", "a@3000:power"}));
  q.limit = 100;
  EXPECT_EQ(store_->history(q).size(), 6U);
  q.meter = "b";
  q.limit = 1;
  EXPECT_EQ(keys(store_->history(q)), (std::vector<std::string>{"b@2500:power"}));
}

TEST_F(History, LastTimePerMeterAndMeterList) {
  EXPECT_EQ(store_->last_time("a"), 3000);
  EXPECT_EQ(store_->last_time("b"), 2500);
  EXPECT_EQ(store_->last_time("c"), std::nullopt);
  EXPECT_EQ(store_->meters(), (std::vector<std::string>{"a", "b"}));
}

TEST(Store, DeleteBeforeTrimsPollsAndKeepsCursors) {
  TempDir dir;
  Store s(dir / "k.db");
  std::vector<std::int64_t> seqs;
  for (int i = 0; i < 10; ++i) {
    Poll p = make_poll("m", 1000 * (i + 1), i);
    seqs.push_back(s.insert(p));
  }
  s.set_cursor("slow", seqs[1]);  // far behind: its backlog gets trimmed
  s.set_cursor("fast", seqs[7]);
  EXPECT_EQ(s.delete_before(5000), 4U);  // t = 1000..4000
  EXPECT_EQ(s.delete_before(5000), 0U);

  RawDb raw(dir / "k.db");
  EXPECT_EQ(raw.one("SELECT count(*) FROM polls"), "6");
  const std::string rollups = raw.one("SELECT count(*) FROM rollups");
  EXPECT_NE(rollups, "0");

  EXPECT_EQ(s.cursor("slow"), seqs[1]);
  EXPECT_EQ(s.cursor("fast"), seqs[7]);
  // The slow output resumes at the oldest poll still kept.
  EXPECT_EQ(seqs_of(s.polls_after(s.cursor("slow"), 100)),
            (std::vector<std::int64_t>{seqs[4], seqs[5], seqs[6], seqs[7], seqs[8], seqs[9]}));
  EXPECT_EQ(seqs_of(s.polls_after(s.cursor("fast"), 100)),
            (std::vector<std::int64_t>{seqs[8], seqs[9]}));

  // Deleting everything keeps seqs unique: the next poll is after every cursor.
  EXPECT_EQ(s.delete_before(1'000'000), 6U);
  EXPECT_TRUE(s.polls_after(0, 100).empty());
  EXPECT_EQ(raw.one("SELECT count(*) FROM rollups"), rollups);  // rollups are kept forever
  EXPECT_EQ(s.last_seq(), seqs[9]);
  Poll next = make_poll("m", 2'000'000, 99);
  EXPECT_GT(s.insert(next), seqs[9]);
  EXPECT_EQ(seqs_of(s.polls_after(s.cursor("fast"), 100)), (std::vector<std::int64_t>{next.seq}));
}

TEST(Store, SeqsAreNotReusedAfterReopen) {
  TempDir dir;
  std::int64_t last = 0;
  {
    Store s(dir / "k.db");
    for (int i = 0; i < 3; ++i) {
      Poll p = make_poll("m", i, i);
      last = s.insert(p);
    }
    s.delete_before(100);
  }
  Store s(dir / "k.db");
  EXPECT_EQ(s.last_seq(), last);
  Poll p = make_poll("m", 200, 1);
  EXPECT_EQ(s.insert(p), last + 1);
}

TEST(Store, ConcurrentInsertsReadsAndCursorMoves) {
  TempDir dir;
  Store s(dir / "k.db");
  constexpr int kPolls = 300;
  std::atomic<bool> writer_done{false};
  std::atomic<int> errors{0};
  std::atomic<int> reads{0};

  std::thread writer([&] {
    try {
      std::int64_t prev = 0;
      for (int i = 0; i < kPolls; ++i) {
        Poll p = make_poll(i % 2 == 0 ? "a" : "b", 1000 + i, i);
        const std::int64_t seq = s.insert(p);
        if (seq <= prev) ++errors;
        prev = seq;
      }
    } catch (const std::exception& e) {
      ADD_FAILURE() << "writer: " << e.what();
      ++errors;
    }
    writer_done = true;
  });
  std::thread reader([&] {
    try {
      while (!writer_done) {
        auto polls = s.polls_after(0, 1000);
        for (std::size_t i = 0; i < polls.size(); ++i) {
          if (polls[i].values.size() != 8) ++errors;
          if (i > 0 && polls[i].seq <= polls[i - 1].seq) ++errors;
        }
        HistoryQuery q;
        q.meter = "a";
        q.register_name = "heat_energy";
        q.limit = 5;
        for (const auto& r : s.history(q)) {
          if (r.meter != "a" || r.value.name != "heat_energy") ++errors;
        }
        (void)s.last_seq();
        ++reads;
      }
    } catch (const std::exception& e) {
      ADD_FAILURE() << "reader: " << e.what();
      ++errors;
    }
  });
  std::thread delivery([&] {
    try {
      std::int64_t delivered = 0;
      for (;;) {
        const bool done = writer_done;
        auto batch = s.polls_after(s.cursor("mqtt"), 7);
        if (batch.empty()) {
          if (done) break;
          std::this_thread::yield();
          continue;
        }
        for (const auto& p : batch) {
          if (p.values.size() != 8) ++errors;
        }
        delivered += static_cast<std::int64_t>(batch.size());
        s.set_cursor("mqtt", batch.back().seq);
      }
      if (delivered != kPolls) {
        ADD_FAILURE() << "delivered " << delivered << " polls";
        ++errors;
      }
    } catch (const std::exception& e) {
      ADD_FAILURE() << "delivery: " << e.what();
      ++errors;
    }
  });
  writer.join();
  reader.join();
  delivery.join();

  EXPECT_EQ(errors.load(), 0);
  EXPECT_GT(reads.load(), 0);
  EXPECT_EQ(s.cursor("mqtt"), s.last_seq());
  EXPECT_EQ(s.polls_after(0, 1000).size(), static_cast<std::size_t>(kPolls));
  EXPECT_EQ(s.integrity_check(), "ok");
}

TEST(Store, SchemaIsVersionedAndInWalMode) {
  TempDir dir;
  {
    Store s(dir / "k.db");
    EXPECT_EQ(s.schema_version(), Store::kSchemaVersion);
    EXPECT_EQ(s.integrity_check(), "ok");
  }
  RawDb raw(dir / "k.db");
  EXPECT_EQ(raw.one("PRAGMA user_version"), std::to_string(Store::kSchemaVersion));
  EXPECT_EQ(raw.one("PRAGMA journal_mode"), "wal");
  EXPECT_EQ(raw.one("PRAGMA application_id"), std::to_string(0x4B414D53));
  // Reopening an existing file keeps the data and the version.
  Store again(dir / "k.db");
  EXPECT_EQ(again.schema_version(), Store::kSchemaVersion);
}

TEST(Store, MeterInfoIsKeptReplacedAndReadBackAfterReopening) {
  TempDir dir;
  MeterInfo heat{"heat", "MULTICAL 403", "0x0403", "A2", "6543210", "kmp", "multical403"};
  MeterInfo cool{"cool", "", "0x0602", "B1", "", "kmp", "unknown"};
  {
    Store s(dir / "k.db");
    EXPECT_FALSE(s.meter_info("heat").has_value());
    EXPECT_TRUE(s.meter_infos().empty());
    s.set_meter_info(heat);
    s.set_meter_info(cool);
    ASSERT_TRUE(s.meter_info("heat").has_value());
    EXPECT_EQ(*s.meter_info("heat"), heat);
    heat.serial = "7000001";  // the head was moved to another meter under the same name
    heat.sw_revision = "A3";
    s.set_meter_info(heat);
    EXPECT_EQ(*s.meter_info("heat"), heat);
  }
  Store again(dir / "k.db");
  EXPECT_EQ(again.meter_infos(), (std::vector<MeterInfo>{cool, heat}));  // by name
  Store ro(dir / "k.db", Store::Access::ReadOnly);
  EXPECT_EQ(*ro.meter_info("heat"), heat);
  EXPECT_THROW(ro.set_meter_info(heat), StoreError);
}

TEST(Store, AVersion1FileIsMigratedByAWriterAndRefusedByAReader) {
  TempDir dir;
  {  // what a build of schema version 1 left behind (its schema, verbatim)
    RawDb raw(dir / "k.db", true);
    raw.exec(R"sql(
CREATE TABLE polls(seq INTEGER PRIMARY KEY AUTOINCREMENT, meter TEXT NOT NULL,
  time_ms INTEGER NOT NULL, source TEXT NOT NULL);
CREATE TABLE readings(seq INTEGER NOT NULL REFERENCES polls(seq) ON DELETE CASCADE,
  idx INTEGER NOT NULL, register_id INTEGER, name TEXT NOT NULL, value TEXT NOT NULL,
  text TEXT NOT NULL, unit TEXT NOT NULL, PRIMARY KEY(seq, idx)) WITHOUT ROWID;
CREATE TABLE cursors(sink TEXT PRIMARY KEY, seq INTEGER NOT NULL);
CREATE INDEX polls_meter_time ON polls(meter, time_ms);
CREATE INDEX polls_time ON polls(time_ms);
CREATE INDEX readings_name ON readings(name);
INSERT INTO polls(meter, time_ms, source) VALUES('heat', 1000, 'poll'), ('heat', 2000, 'poll');
DELETE FROM polls WHERE seq = 2;
INSERT INTO readings VALUES(1, 0, 60, 'heat_energy', '55.006', '', 'MWh'),
                           (1, 1, NULL, 'legacy_energy', '00012.50', '', 'GJ');
INSERT INTO cursors VALUES('mqtt', 1);
PRAGMA application_id = 1262570835;
PRAGMA user_version = 1;
)sql");
  }
  try {
    Store ro(dir / "k.db", Store::Access::ReadOnly);  // `kamstrup history` before the upgrade
    FAIL() << "read a version 1 file";
  } catch (const StoreError& e) {
    EXPECT_THAT(e.what(), HasSubstr("run the daemon"));
  }
  Store s(dir / "k.db");
  EXPECT_EQ(s.schema_version(), 3);
  EXPECT_EQ(s.cursor("mqtt"), 1);
  EXPECT_EQ(s.last_seq(), 2);  // the deleted poll's seq is not handed out again
  const auto polls = s.polls_after(0, 10);
  ASSERT_EQ(polls.size(), 1U);
  EXPECT_EQ(polls[0].values, (std::vector<Value>{{60, "heat_energy", "55.006", "", "MWh"},
                                                 {-1, "legacy_energy", "00012.50", "", "GJ"}}));
  s.set_meter_info({"heat", "MULTICAL 403", "0x0403", "A2", "6543210", "kmp"});
  EXPECT_EQ(s.meter_info("heat")->serial, "6543210");
  EXPECT_EQ(s.integrity_check(), "ok");
  auto p = make_poll("heat", 3000, 1);
  EXPECT_EQ(s.insert(p), 3);
}

TEST(Store, CountAfterCountsWhatIsStillThereAfterRetention) {
  TempDir dir;
  Store s(dir / "k.db");
  for (int i = 1; i <= 10; ++i) {
    auto p = make_poll("heat", i * 1000, i);
    s.insert(p);
  }
  EXPECT_EQ(s.count_after(0), 10);
  EXPECT_EQ(s.count_after(3), 7);
  EXPECT_EQ(s.delete_before(6000), 5U);  // seqs 1-5 go, among them undelivered 4 and 5
  EXPECT_EQ(s.count_after(3), 5);
  EXPECT_EQ(s.last_seq() - 3, 7);  // what the old backlog figure would have said
  EXPECT_EQ(s.count_after(10), 0);
}

TEST(Store, RefusesAFileFromANewerVersion) {
  TempDir dir;
  { Store s(dir / "k.db"); }
  RawDb(dir / "k.db").exec("PRAGMA user_version = 99");
  try {
    Store s(dir / "k.db");
    FAIL() << "opened a schema version 99 file";
  } catch (const StoreError& e) {
    EXPECT_THAT(e.what(), HasSubstr(dir / "k.db"));
    EXPECT_THAT(e.what(), HasSubstr("newer"));
  }
  EXPECT_THROW(Store(dir / "k.db", Store::Access::ReadOnly), StoreError);
}

TEST(Store, RefusesOtherSqliteFilesAndNonDatabases) {
  TempDir dir;
  RawDb(dir / "other.db", true).exec("CREATE TABLE t(x)");
  try {
    Store s(dir / "other.db");
    FAIL() << "took over another application's database";
  } catch (const StoreError& e) {
    EXPECT_THAT(e.what(), HasSubstr("other.db: not a kamstrup history database"));
  }
  RawDb raw(dir / "other.db");
  EXPECT_EQ(raw.one("SELECT count(*) FROM sqlite_master"), "1");  // untouched

  {
    std::ofstream f(dir / "text.db");
    f << "this is not a database, just some text that is long enough to have a header ......";
  }
  try {
    Store s(dir / "text.db");
    FAIL() << "opened a text file";
  } catch (const StoreError& e) {
    EXPECT_THAT(e.what(), HasSubstr(dir / "text.db"));
    EXPECT_THAT(e.what(), HasSubstr("not a database"));
  }
}

TEST(Store, OpenErrorNamesThePathAndTheMissingDirectory) {
  TempDir dir;
  const std::string path = dir / "nope/kamstrup.db";
  try {
    Store s(path);
    FAIL() << "opened " << path;
  } catch (const StoreError& e) {
    EXPECT_EQ(std::string(e.what()), path + ": unable to open database file (directory " +
                                         (dir / "nope") + " does not exist)");
  }
  EXPECT_FALSE(std::filesystem::exists(dir / "nope"));
}

TEST(Store, ReadOnlyNeverCreatesAndRefusesWrites) {
  TempDir dir;
  EXPECT_THROW(Store(dir / "missing.db", Store::Access::ReadOnly), StoreError);
  EXPECT_FALSE(std::filesystem::exists(dir / "missing.db"));

  Store writer(dir / "k.db");
  Poll p = make_poll("m", 1000, 1);
  writer.insert(p);
  Store reader(dir / "k.db", Store::Access::ReadOnly);
  EXPECT_EQ(reader.polls_after(0, 10).size(), 1U);
  Poll q = make_poll("m", 2000, 2);
  EXPECT_THROW(reader.insert(q), StoreError);
  std::vector<Poll> batch = {make_poll("m", 3000, 3)};
  EXPECT_THROW(reader.insert_all(batch), StoreError);
  EXPECT_THROW(reader.set_cursor("x", 1), StoreError);
  EXPECT_THROW(reader.delete_before(5000), StoreError);
  // A reader sees what the writer commits later (WAL: no reopen needed).
  writer.insert(q);
  EXPECT_EQ(reader.polls_after(0, 10).size(), 2U);
  EXPECT_EQ(reader.history({}).size(), 16U);
}

TEST(Store, ReadOnlyOpensAfterTheWriterClosed) {
  TempDir dir;
  {
    Store s(dir / "k.db");
    Poll p = make_poll("m", 1000, 1);
    s.insert(p);
  }
  // The daemon is stopped: its last close checkpointed and removed the -wal and -shm files, so
  // the reader has to open a WAL database without them.
  ASSERT_FALSE(std::filesystem::exists(dir / "k.db-wal"));
  const auto size = std::filesystem::file_size(dir / "k.db");
  {
    Store reader(dir / "k.db", Store::Access::ReadOnly);
    EXPECT_EQ(reader.history({}).size(), 8U);
    EXPECT_EQ(reader.last_seq(), 1);
  }
  EXPECT_EQ(std::filesystem::file_size(dir / "k.db"), size);
}

}  // namespace

namespace {

using test::make_poll;
using test::RawDb;
using test::TempDir;

// A version 2 file (meter_info without info_codes) is read as it is, and a writer adds the
// column: identities kept by the older build read back with info_codes "".
// Version 2 files get their info_codes column from the v2 -> v3 conversion, checked on the
// fixture in rollup_test.cpp (Migration.TheV2FixtureIsConvertedInPlaceLosingNothing).
TEST(Store, InfoCodesAreKeptAndReplaced) {
  TempDir dir;
  Store s(dir / "k.db");
  s.set_meter_info({"heat", "MULTICAL 403", "0x0403", "A2", "6543210", "kmp", ""});
  EXPECT_EQ(s.meter_info("heat")->info_codes, "");
  s.set_meter_info({"heat", "MULTICAL 403", "0x0403", "A2", "6543210", "kmp", "multical66c"});
  EXPECT_EQ(s.meter_info("heat")->info_codes, "multical66c");
  EXPECT_EQ(s.integrity_check(), "ok");
}

TEST(WriterLock, OneHolderAtATimeNamedByItsPid) {
  TempDir dir;
  const std::string db = dir / "k.db";
  {
    WriterLock first(db);
    EXPECT_EQ(first.database(), db);
    try {
      WriterLock second(db);
      ADD_FAILURE() << "a second lock on the same store";
    } catch (const StoreError& e) {
      EXPECT_EQ(std::string(e.what()), "another kamstrup daemon (PID " +
                                           std::to_string(::getpid()) + ") holds " + db + ".lock");
    }
    // Another store is another lock.
    WriterLock other(dir / "other.db");
  }
  WriterLock again(db);  // released with its holder
  std::ifstream in(db + ".lock");
  std::string pid;
  std::getline(in, pid);
  EXPECT_EQ(pid, std::to_string(::getpid()));
}

TEST(WriterLock, ALockFileThatCannotBeMadeSaysWhy) {
  TempDir dir;
  try {
    WriterLock lock(dir / "missing/k.db");
    ADD_FAILURE() << "locked in a missing directory";
  } catch (const StoreError& e) {
    EXPECT_NE(std::string(e.what()).find("missing/k.db.lock: cannot create the lock file: "),
              std::string::npos)
        << e.what();
  }
}

// Garbage over a page in the middle of a real history: quick_check finds it, and start-up gets
// SQLite's words and what to do; the file is not touched.
TEST(Store, DamageReportNamesSqlitesFindingAndTheWayOut) {
  TempDir dir;
  const std::string db = dir / "k.db";
  EXPECT_EQ(damage_report(db), "");  // not there yet: nothing to check
  {
    Store s(db);
    std::vector<Poll> polls;
    for (int i = 0; i < 2000; ++i) polls.push_back(make_poll("heat", 1000 + i, i));
    s.insert_all(polls);
    EXPECT_EQ(s.quick_check(), "ok");
    EXPECT_EQ(s.page_check(), "ok");
  }
  EXPECT_EQ(damage_report(db), "");
  const auto size = std::filesystem::file_size(db);
  ASSERT_GE(size / 4096, 20U);
  {
    std::fstream f(db, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(static_cast<std::streamoff>(size / 4096 / 2 * 4096));
    const std::string garbage(4096, '\x5a');
    f.write(garbage.data(), static_cast<std::streamsize>(garbage.size()));
  }
  const auto report = damage_report(db);
  EXPECT_EQ(report.rfind(db + ": the history database is damaged (SQLite: ", 0), 0U) << report;
  EXPECT_NE(report.find("database disk image is malformed"), std::string::npos) << report;
  EXPECT_NE(report.find("PRAGMA integrity_check"), std::string::npos) << report;
  EXPECT_NE(report.find(".recover"), std::string::npos) << report;
  EXPECT_EQ(report.find('\n'), std::string::npos) << "one line for the log";
  // The checks themselves say it, as text or as SQLite's error (depending on the page hit).
  auto says_damaged = [&](auto check) {
    try {
      const Store ro(db, Store::Access::ReadOnly);
      return check(ro) != "ok";
    } catch (const StoreError& e) {
      return std::string(e.what()).find("malformed") != std::string::npos;
    }
  };
  EXPECT_TRUE(says_damaged([](const Store& s) { return s.quick_check(); }));
  EXPECT_TRUE(says_damaged([](const Store& s) { return s.page_check(); }));
}

// The cheap check finds garbage wherever it lands: every tenth page of a real history, each in
// a copy of its own (page 1 is the header, which opening checks).
TEST(Store, PageCheckFindsAGarbagePageAnywhere) {
  TempDir dir;
  const std::string clean = dir / "clean.db";
  {
    Store s(clean);
    std::vector<Poll> polls;
    for (int i = 0; i < 3000; ++i) polls.push_back(make_poll(i % 2 == 0 ? "a" : "b", 1000 + i, i));
    s.insert_all(polls);
    s.set_cursor("mqtt", 10);
  }
  const auto pages = std::filesystem::file_size(clean) / 4096;
  ASSERT_GE(pages, 20U);
  for (std::uintmax_t page = 1; page < pages; page += pages / 10) {
    SCOPED_TRACE("garbage over page " + std::to_string(page + 1) + " of " + std::to_string(pages));
    const std::string db = dir / ("damaged" + std::to_string(page) + ".db");
    std::filesystem::copy_file(clean, db);
    {
      std::fstream f(db, std::ios::in | std::ios::out | std::ios::binary);
      f.seekp(static_cast<std::streamoff>(page * 4096));
      const std::string garbage(4096, '\x5a');
      f.write(garbage.data(), static_cast<std::streamsize>(garbage.size()));
    }
    EXPECT_NE(damage_report(db), "");
  }
}

}  // namespace

}  // namespace kamstrup::store
