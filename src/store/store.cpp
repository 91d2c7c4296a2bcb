#include "store/store.hpp"

#include <fcntl.h>
#include <sqlite3.h>
#include <sys/file.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <map>
#include <mutex>
#include <set>
#include <sstream>
#include <unordered_map>
#include <utility>

#include "kmp/catalogue.hpp"
#include "kmp/units.hpp"
#include "store/codec.hpp"
#include "store/rollup.hpp"

namespace kamstrup::store {

namespace {

// 'KAMS' in the file header, so that a reader can tell our file from any other SQLite file.
constexpr std::int32_t kApplicationId = 0x4B414D53;

// Pages of new (and converted) files. A commit appends every page it changed to the WAL, and
// after the commit's fsync the next append dirties the WAL's last 4 KiB again: a poll that
// changes two 1 KiB pages costs ~6 KiB of writes, two 4 KiB pages ~13 KiB (docs/performance.md).
constexpr int kPageSize = 1024;

// Version 1. Notes on the choices:
//  * AUTOINCREMENT: seqs are never reused, not even after delete_before() removed the newest
//    polls; a reused seq would sit at or below some output's cursor and never be delivered.
//  * readings is WITHOUT ROWID, clustered on (seq, idx): polls_after() reads a poll's values as
//    one contiguous range, and the (name) index carries (seq, idx) without a rowid lookup.
//  * value is TEXT and always bound as text: exact decimals ("1267650600228229401496703205383000",
//    "0.0") must never pass through REAL.
//  * polls(time_ms) serves delete_before() and history queries without a meter.
constexpr const char* kSchemaV1 = R"sql(
CREATE TABLE polls(
  seq INTEGER PRIMARY KEY AUTOINCREMENT,
  meter TEXT NOT NULL,
  time_ms INTEGER NOT NULL,
  source TEXT NOT NULL
);
CREATE TABLE readings(
  seq INTEGER NOT NULL REFERENCES polls(seq) ON DELETE CASCADE,
  idx INTEGER NOT NULL,
  register_id INTEGER,
  name TEXT NOT NULL,
  value TEXT NOT NULL,
  text TEXT NOT NULL,
  unit TEXT NOT NULL,
  PRIMARY KEY(seq, idx)
) WITHOUT ROWID;
CREATE TABLE cursors(
  sink TEXT PRIMARY KEY,
  seq INTEGER NOT NULL
);
CREATE INDEX polls_meter_time ON polls(meter, time_ms);
CREATE INDEX polls_time ON polls(time_ms);
CREATE INDEX readings_name ON readings(name);
)sql";

// Version 2: what the daemon learnt about each meter (GetType, GetSerialNo), one row a meter.
constexpr const char* kSchemaV2 = R"sql(
CREATE TABLE meter_info(
  meter TEXT PRIMARY KEY,
  model TEXT NOT NULL,
  meter_type TEXT NOT NULL,
  sw_revision TEXT NOT NULL,
  serial TEXT NOT NULL,
  protocol TEXT NOT NULL
);
)sql";

// Version 3 (docs/history.md; bytes written per poll: docs/performance.md). Notes:
//  * polls holds a poll's values packed in one BLOB (store/codec.hpp): a poll is one row, so a
//    commit writes one table page and one index page instead of seven (readings, three indexes,
//    sqlite_sequence). The readings table and its name index are gone; register filters decode.
//  * No AUTOINCREMENT (its sqlite_sequence row was one more page per commit): seqs still never
//    repeat, because delete_before() records the highest seq in meta('seq_floor') before it
//    deletes anything and the next seq is above max(seq, seq_floor).
//  * One index, (meter, time_ms): history and rollup queries, last_time(), and delete_before()
//    per meter. polls_time is gone.
//  * rollups is WITHOUT ROWID clustered on (series, step, start_ms): one register's buckets at
//    one step are one contiguous range. Gauges keep min, max and the exact sum in a, b, c;
//    counters keep first, last and consumption there. Rows are written when a series moves to
//    a new hour (the open hour, day and month as they stand), not per poll.
constexpr const char* kSchemaV3 = R"sql(
CREATE TABLE series(
  id INTEGER PRIMARY KEY,
  meter TEXT NOT NULL,
  name TEXT NOT NULL,
  unit TEXT NOT NULL,
  cumulative INTEGER NOT NULL,
  UNIQUE(meter, name, unit)
);
CREATE TABLE rollups(
  series INTEGER NOT NULL,
  step INTEGER NOT NULL,
  start_ms INTEGER NOT NULL,
  first_ms INTEGER NOT NULL,
  last_ms INTEGER NOT NULL,
  count INTEGER NOT NULL,
  baseline INTEGER NOT NULL,
  resets INTEGER NOT NULL,
  a TEXT NOT NULL,
  b TEXT NOT NULL,
  c TEXT NOT NULL,
  PRIMARY KEY(series, step, start_ms)
) WITHOUT ROWID;
)sql";

constexpr const char* kPollsV3 = R"sql(
CREATE TABLE polls(
  seq INTEGER PRIMARY KEY,
  meter TEXT NOT NULL,
  time_ms INTEGER NOT NULL,
  source TEXT NOT NULL,
  vals BLOB NOT NULL
);
CREATE INDEX polls_meter_time ON polls(meter, time_ms);
)sql";

// Also version 3: which table names the flags of each meter's info code.
constexpr const char* kSchemaV3InfoCodes =
    "ALTER TABLE meter_info ADD COLUMN info_codes TEXT NOT NULL DEFAULT ''";

std::int64_t to_i64(std::size_t n) {
  return n > static_cast<std::size_t>(std::numeric_limits<std::int64_t>::max())
             ? std::numeric_limits<std::int64_t>::max()
             : static_cast<std::int64_t>(n);
}

std::string column_text(sqlite3_stmt* s, int col) {
  const auto* p = reinterpret_cast<const char*>(sqlite3_column_text(s, col));
  if (p == nullptr) return {};
  return {p, static_cast<std::size_t>(sqlite3_column_bytes(s, col))};
}

// Why an open failed, in words a user can act on; SQLite itself only says "unable to open
// database file".
std::string open_hint(const std::string& path, int system_errno) {
  namespace fs = std::filesystem;
  std::error_code ec;
  fs::path parent = fs::path(path).parent_path();
  if (parent.empty()) parent = ".";
  if (!fs::exists(parent, ec)) return "directory " + parent.string() + " does not exist";
  if (!fs::is_directory(parent, ec)) return parent.string() + " is not a directory";
  if (fs::is_directory(path, ec)) return "it is a directory";
  if (system_errno != 0) return std::strerror(system_errno);
  return {};
}

// One connection and its statement cache. Not thread-safe: Store::Impl's mutex guards it.
struct Db {
  std::string path;
  Store::Access access = Store::Access::ReadWrite;
  int schema = 0;  // the file's schema version once open
  sqlite3* db = nullptr;
  std::unordered_map<std::string, sqlite3_stmt*> stmts;

  Db() = default;
  Db(const Db&) = delete;
  Db& operator=(const Db&) = delete;
  ~Db() {
    for (auto& [sql, s] : stmts) sqlite3_finalize(s);
    if (db != nullptr) sqlite3_close_v2(db);
  }

  [[noreturn]] void fail(const std::string& what) const {
    std::string msg = path + ": " + what;
    if (db != nullptr) msg += std::string(": ") + sqlite3_errmsg(db);
    throw StoreError(msg);
  }

  void exec(const char* sql, const char* what) {
    if (sqlite3_exec(db, sql, nullptr, nullptr, nullptr) != SQLITE_OK) fail(what);
  }

  sqlite3_stmt* prepare(const std::string& sql) {
    if (auto it = stmts.find(sql); it != stmts.end()) return it->second;
    sqlite3_stmt* s = nullptr;
    if (sqlite3_prepare_v3(db, sql.c_str(), static_cast<int>(sql.size()), SQLITE_PREPARE_PERSISTENT,
                           &s, nullptr) != SQLITE_OK) {
      fail("cannot prepare a query (is this a kamstrup history database?)");
    }
    stmts.emplace(sql, s);
    return s;
  }

  void require_writable(const char* what) const {
    if (access == Store::Access::ReadOnly)
      throw StoreError(path + ": " + what + ": opened read-only");
  }

  // One pragma's single integer result.
  std::int64_t pragma_int(const char* sql) {
    sqlite3_stmt* s = nullptr;
    if (sqlite3_prepare_v2(db, sql, -1, &s, nullptr) != SQLITE_OK) fail(sql);
    int rc = sqlite3_step(s);
    std::int64_t v = rc == SQLITE_ROW ? sqlite3_column_int64(s, 0) : 0;
    sqlite3_finalize(s);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE) fail(sql);
    return v;
  }

  std::string pragma_text(const char* sql) {
    sqlite3_stmt* s = nullptr;
    if (sqlite3_prepare_v2(db, sql, -1, &s, nullptr) != SQLITE_OK) fail(sql);
    std::string out;
    int rc = SQLITE_ROW;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
      if (!out.empty()) out += "\n";
      out += column_text(s, 0);
    }
    sqlite3_finalize(s);
    if (rc != SQLITE_DONE) fail(sql);
    return out;
  }

  void open(const std::function<void()>& build_rollups);
  void create_or_migrate(const std::function<void()>& build_rollups);
  void migrate_v2_polls();
  void check_bind(int rc) const {
    if (rc != SQLITE_OK) fail("cannot bind a value");
  }
  bool migrated_from_v2 = false;
};

// A cached statement in use: bindings and cursor are cleared whatever happens, so the next use
// starts clean and no text binding outlives the strings it points into.
class Use {
 public:
  Use(const Db& impl, sqlite3_stmt* s) : impl_(impl), s_(s) {}
  ~Use() {
    sqlite3_reset(s_);
    sqlite3_clear_bindings(s_);
  }
  Use(const Use&) = delete;
  Use& operator=(const Use&) = delete;

  Use& bind(int i, std::int64_t v) {
    check(sqlite3_bind_int64(s_, i, v));
    return *this;
  }
  // The string must outlive the step (SQLITE_STATIC: no copy on the insert path).
  Use& bind(int i, const std::string& v) {
    check(sqlite3_bind_text(s_, i, v.data(), static_cast<int>(v.size()), SQLITE_STATIC));
    return *this;
  }
  Use& bind_null(int i) {
    check(sqlite3_bind_null(s_, i));
    return *this;
  }
  // True while there are rows; throws on errors.
  bool step(const char* what) {
    int rc = sqlite3_step(s_);
    if (rc == SQLITE_ROW) return true;
    if (rc == SQLITE_DONE) return false;
    impl_.fail(what);
  }
  void run(const char* what) {
    while (step(what)) {
    }
  }
  [[nodiscard]] sqlite3_stmt* get() const { return s_; }

 private:
  void check(int rc) const {
    if (rc != SQLITE_OK) impl_.fail("cannot bind a value");
  }
  const Db& impl_;
  sqlite3_stmt* s_;
};

// A transaction that rolls back unless committed. Reads use one too, so that a multi-statement
// read (polls, then their values) sees one snapshot even while another process writes.
class Transaction {
 public:
  Transaction(Db& impl, bool write) : impl_(impl) {
    // IMMEDIATE takes the write lock up front: a deferred transaction that later needs to write
    // can fail with SQLITE_BUSY without the busy handler being consulted.
    Use(impl_, impl_.prepare(write ? "BEGIN IMMEDIATE" : "BEGIN")).run("cannot begin");
  }
  ~Transaction() {
    if (!done_ && sqlite3_get_autocommit(impl_.db) == 0) {
      // Best effort: SQLite may already have rolled back (SQLITE_FULL, IOERR); nothing to add.
      sqlite3_exec(impl_.db, "ROLLBACK", nullptr, nullptr, nullptr);
    }
  }
  Transaction(const Transaction&) = delete;
  Transaction& operator=(const Transaction&) = delete;

  void commit() {
    Use(impl_, impl_.prepare("COMMIT")).run("cannot commit");
    done_ = true;
  }

 private:
  Db& impl_;
  bool done_ = false;
};

void Db::open(const std::function<void()>& build_rollups) {
  const bool ro = access == Store::Access::ReadOnly;
  // NOMUTEX: the Store's own mutex already serialises every use of the connection.
  int flags = SQLITE_OPEN_NOMUTEX |
              (ro ? SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE);
  int rc = sqlite3_open_v2(path.c_str(), &db, flags, nullptr);
  if (rc != SQLITE_OK) {
    std::string msg = path + ": " + (db != nullptr ? sqlite3_errmsg(db) : "out of memory");
    std::string hint = open_hint(path, db != nullptr ? sqlite3_system_errno(db) : 0);
    if (!hint.empty()) msg += " (" + hint + ")";
    sqlite3_close_v2(db);
    db = nullptr;
    throw StoreError(msg);
  }
  sqlite3_extended_result_codes(db, 1);
  // The daemon writes while `kamstrup history` and outputs read; a checkpoint or a second
  // writer holds the lock for milliseconds, so waiting beats failing.
  sqlite3_busy_timeout(db, 5000);

  if (!ro) {
    // Takes effect on a new, empty file only (a converted one gets it through VACUUM).
    exec(("PRAGMA page_size=" + std::to_string(kPageSize)).c_str(), "cannot set page_size");
    // WAL: readers never block the writer and a commit is one append to the -wal file.
    if (pragma_text("PRAGMA journal_mode=WAL") != "wal") {
      throw StoreError(path + ": cannot switch to WAL mode (is it on a network file system?)");
    }
    // Crash safety vs durability. In WAL mode a commit appends the transaction's pages and then
    // a commit frame; recovery replays frames only up to the last complete, checksummed commit
    // frame, so a torn transaction is never seen. kill -9 loses nothing either way: the
    // appended pages are in the OS page cache, which outlives the process, so NORMAL (fsync
    // only at checkpoints) would already keep every poll whose insert() returned. It would not
    // survive a power cut or kernel panic, though: the last commits could roll back. FULL
    // fsyncs the WAL at every commit, so a poll is on disk once insert() returns. It costs one
    // fsync per poll and per cursor move: 1-5 ms per 8-value poll on a VM's virtual disk
    // against ~0.5 ms with NORMAL, nothing next to one poll per meter every few seconds; a
    // logger backfill goes through insert_all(), one fsync per batch.
    exec("PRAGMA synchronous=FULL", "cannot set synchronous");
    // A big delete_before() can blow the -wal file up; shrink it back after checkpoints.
    exec("PRAGMA journal_size_limit=67108864", "cannot set journal_size_limit");
  } else {
    exec("PRAGMA query_only=ON", "cannot set query_only");
  }
  exec("PRAGMA foreign_keys=ON", "cannot enable foreign keys");
  create_or_migrate(build_rollups);
}

void Db::create_or_migrate(const std::function<void()>& build_rollups) {
  if (access == Store::Access::ReadOnly) {
    // Read first: a file that is not a database fails here with "file is not a database".
    std::int64_t app = pragma_int("PRAGMA application_id");
    std::int64_t version = pragma_int("PRAGMA user_version");
    if (app != kApplicationId || version == 0) {
      throw StoreError(path + ": not a kamstrup history database");
    }
    if (version > Store::kSchemaVersion) {
      throw StoreError(path + ": written by a newer kamstrup (schema version " +
                       std::to_string(version) + ", this build reads up to " +
                       std::to_string(Store::kSchemaVersion) + ")");
    }
    if (version < 3) {
      // The layout changed (one row per poll); the daemon converts the file when it starts.
      throw StoreError(path + ": schema version " + std::to_string(version) +
                       ": run the daemon of this version once (kamstrup run) to convert it");
    }
    schema = static_cast<int>(version);
    return;
  }
  // Under the write lock, so two processes opening a new file do not both create the schema.
  Transaction tx(*this, true);
  std::int64_t app = pragma_int("PRAGMA application_id");
  std::int64_t version = pragma_int("PRAGMA user_version");
  const std::int64_t found = version;
  if (app != 0 && app != kApplicationId) {
    throw StoreError(path + ": not a kamstrup history database (another application's file)");
  }
  if (version > Store::kSchemaVersion) {
    throw StoreError(path + ": written by a newer kamstrup (schema version " +
                     std::to_string(version) + ", this build knows up to " +
                     std::to_string(Store::kSchemaVersion) + ")");
  }
  if (version == 0) {
    if (pragma_int("SELECT count(*) FROM sqlite_master") != 0) {
      throw StoreError(path + ": not a kamstrup history database (it holds other tables)");
    }
    exec("CREATE TABLE cursors(sink TEXT PRIMARY KEY, seq INTEGER NOT NULL);",
         "cannot create the schema");
    exec(kSchemaV2, "cannot create the schema");
    exec(kSchemaV3, "cannot create the schema");
    exec(kSchemaV3InfoCodes, "cannot create the schema");
    exec(kPollsV3, "cannot create the schema");
    exec("CREATE TABLE meta(key TEXT PRIMARY KEY, value)", "cannot create the schema");
    exec(("PRAGMA application_id=" + std::to_string(kApplicationId)).c_str(),
         "cannot set application_id");
    version = 3;
  }
  // Later versions migrate here, one step at a time, in the same transaction: a crash leaves the
  // old version whole.
  if (version == 1) {
    exec(kSchemaV2, "cannot add the meter_info table (schema version 2)");
    version = 2;
  }
  if (version == 2) {
    migrate_v2_polls();
    exec(kSchemaV3, "cannot add the rollup tables (schema version 3)");
    exec(kSchemaV3InfoCodes, "cannot add meter_info.info_codes (schema version 3)");
    schema = 3;
    if (build_rollups) build_rollups();
    version = 3;
    migrated_from_v2 = true;
  }
  // Only when it changed: an open that writes nothing also works on a full disk.
  if (version != found)
    exec(("PRAGMA user_version=" + std::to_string(version)).c_str(), "cannot set user_version");
  tx.commit();
  schema = static_cast<int>(version);
}

// v2 -> v3: the readings rows of each poll become its packed BLOB; seqs stay, and the highest
// seq ever handed out (sqlite_sequence) becomes the seq floor.
void Db::migrate_v2_polls() {
  exec(
      "CREATE TABLE polls3(seq INTEGER PRIMARY KEY, meter TEXT NOT NULL, "
      "time_ms INTEGER NOT NULL, source TEXT NOT NULL, vals BLOB NOT NULL)",
      "cannot convert the polls (schema version 3)");
  {
    sqlite3_stmt* ins = prepare(
        "INSERT INTO polls3(seq, meter, time_ms, source, vals) "
        "VALUES(?1, ?2, ?3, ?4, ?5)");
    Use polls(*this, prepare("SELECT seq, meter, time_ms, source FROM polls ORDER BY seq"));
    Use vals(*this, prepare("SELECT seq, register_id, name, value, text, unit FROM readings "
                            "ORDER BY seq, idx"));
    bool have_val = vals.step("cannot read values");
    while (polls.step("cannot read polls")) {
      const std::int64_t seq = sqlite3_column_int64(polls.get(), 0);
      std::vector<Value> values;
      while (have_val && sqlite3_column_int64(vals.get(), 0) <= seq) {
        if (sqlite3_column_int64(vals.get(), 0) == seq) {
          Value v;
          v.register_id = sqlite3_column_type(vals.get(), 1) == SQLITE_NULL
                              ? -1
                              : static_cast<std::int32_t>(sqlite3_column_int64(vals.get(), 1));
          v.name = column_text(vals.get(), 2);
          v.value = column_text(vals.get(), 3);
          v.text = column_text(vals.get(), 4);
          v.unit = column_text(vals.get(), 5);
          values.push_back(std::move(v));
        }
        have_val = vals.step("cannot read values");
      }
      const std::string meter = column_text(polls.get(), 1);
      const std::string source = column_text(polls.get(), 3);
      const std::string blob = encode_values(values);
      Use u(*this, ins);
      u.bind(1, seq).bind(2, meter).bind(3, sqlite3_column_int64(polls.get(), 2)).bind(4, source);
      check_bind(
          sqlite3_bind_blob(ins, 5, blob.data(), static_cast<int>(blob.size()), SQLITE_STATIC));
      u.run("cannot convert a poll");
    }
  }
  const std::int64_t floor =
      pragma_int("SELECT COALESCE((SELECT seq FROM sqlite_sequence WHERE name = 'polls'), 0)");
  exec("DROP TABLE readings", "cannot drop the old readings table");
  exec("DROP TABLE polls", "cannot drop the old polls table");
  exec("ALTER TABLE polls3 RENAME TO polls", "cannot rename the converted polls");
  exec("CREATE INDEX polls_meter_time ON polls(meter, time_ms)", "cannot index the polls");
  exec(("CREATE TABLE meta(key TEXT PRIMARY KEY, value); INSERT INTO meta(key, value) "
        "VALUES('seq_floor', " +
        std::to_string(floor) + ")")
           .c_str(),
       "cannot keep the seq floor");
}

}  // namespace

// --- rollup maintenance (docs/history.md) ---

namespace {

// One series' state: its roller (the open hour, day and month) and, for a reader that cannot
// write, the buckets it closed while catching up from the raw readings.
struct SeriesRt {
  std::int64_t id = 0;
  std::string meter, name, unit;
  bool cumulative = false;
  Roller roller;
  std::map<std::pair<int, std::int64_t>, Bucket> unsaved;  // read-only: (step, start) -> bucket
  SeriesRt(const Zone& z, bool cum) : cumulative(cum), roller(z, cum) {}
};

bool is_cumulative(const std::string& name) {
  const kmp::RegisterDef* def = kmp::find_register(std::string_view(name));
  return def != nullptr && def->state_class == "total_increasing";
}

// A value rolls up when it is a number (not a date, clock or text).
std::optional<kmp::Decimal> rollable(const Value& v) {
  if (!v.text.empty() || v.value.empty()) return std::nullopt;
  return kmp::Decimal::parse(v.value);
}

Bucket bucket_from_row(sqlite3_stmt* s, int col, bool cumulative) {
  // Columns from col: start_ms, first_ms, last_ms, count, baseline, resets, a, b, c.
  Bucket b;
  b.start_ms = sqlite3_column_int64(s, col);
  b.first_ms = sqlite3_column_int64(s, col + 1);
  b.last_ms = sqlite3_column_int64(s, col + 2);
  b.count = sqlite3_column_int64(s, col + 3);
  b.baseline = sqlite3_column_int64(s, col + 4) != 0;
  b.resets = sqlite3_column_int64(s, col + 5);
  auto dec = [&](int c) {
    return kmp::Decimal::parse(column_text(s, col + c)).value_or(kmp::Decimal{});
  };
  if (cumulative) {
    b.first = dec(6);
    b.last = dec(7);
    b.consumption = dec(8);
  } else {
    b.min = dec(6);
    b.max = dec(7);
    b.sum = dec(8);
  }
  return b;
}

constexpr const char* kBucketCols = "start_ms, first_ms, last_ms, count, baseline, resets, a, b, c";

}  // namespace

struct Store::Impl {
  std::mutex mu;  // one connection, opened NOMUTEX: every use goes through this lock
  Db d;
  std::unique_ptr<Zone> zone;
  bool rollups_loaded = false;
  std::map<std::int64_t, std::unique_ptr<SeriesRt>> series;  // by id
  std::int64_t raw_from_ms = std::numeric_limits<std::int64_t>::min();
  std::int64_t seq_floor = 0;
  std::vector<CounterReset> resets;  // seen in the current write, reported after it
  std::vector<OpenNote> notes;
  // Cursor moves not yet on disk, and when they were last written.
  std::map<std::string, std::int64_t> cursors;
  std::chrono::steady_clock::time_point cursors_written = std::chrono::steady_clock::now();
  std::mutex listeners_mu;
  std::map<int, Listener> listeners;
  int next_listener = 1;

  bool writable() const { return d.access == Access::ReadWrite; }

  std::optional<std::string> meta_text(const char* key) {
    Use u(d, d.prepare("SELECT value FROM meta WHERE key = ?1"));
    const std::string k = key;
    u.bind(1, k);
    if (!u.step("cannot read meta") || sqlite3_column_type(u.get(), 0) == SQLITE_NULL)
      return std::nullopt;
    return column_text(u.get(), 0);
  }
  void set_meta(const char* key, const std::string& value) {
    const std::string k = key;
    Use(d, d.prepare("INSERT INTO meta(key, value) VALUES(?1, ?2) ON CONFLICT(key) DO UPDATE "
                     "SET value = excluded.value"))
        .bind(1, k)
        .bind(2, value)
        .run("cannot write meta");
  }
  void read_meta() {
    if (auto f = meta_text("seq_floor")) seq_floor = std::stoll(*f);
    if (auto r = meta_text("raw_from_ms")) raw_from_ms = std::stoll(*r);
  }

  // --- series ---

  SeriesRt* load_series_row(sqlite3_stmt* s) {
    const bool cum = sqlite3_column_int64(s, 4) != 0;
    auto rt = std::make_unique<SeriesRt>(*zone, cum);
    rt->id = sqlite3_column_int64(s, 0);
    rt->meter = column_text(s, 1);
    rt->name = column_text(s, 2);
    rt->unit = column_text(s, 3);
    SeriesRt* p = rt.get();
    series[rt->id] = std::move(rt);
    return p;
  }

  // The series a value goes to: the one in its own unit, else one it converts into exactly, else
  // a new one (created when writable; nullptr for a reader). `value` becomes the converted value.
  SeriesRt* series_for(const std::string& meter, const Value& v, kmp::Decimal& value) {
    SeriesRt* exact = nullptr;
    SeriesRt* convertible = nullptr;
    std::optional<kmp::Decimal> converted;
    for (auto& [id, s] : series) {
      if (s->meter != meter || s->name != v.name) continue;
      if (s->unit == v.unit) {
        exact = s.get();
        break;
      }
      if (convertible == nullptr) {
        if (auto c = kmp::convert_exact(value, v.unit, s->unit)) {
          convertible = s.get();
          converted = c;
        }
      }
    }
    if (exact != nullptr) return exact;
    if (convertible != nullptr) {
      value = *converted;
      return convertible;
    }
    if (!writable()) return nullptr;
    const std::int64_t cum = is_cumulative(v.name) ? 1 : 0;
    Use(d, d.prepare("INSERT INTO series(meter, name, unit, cumulative) VALUES(?1, ?2, ?3, ?4)"))
        .bind(1, meter)
        .bind(2, v.name)
        .bind(3, v.unit)
        .bind(4, cum)
        .run("cannot add a series");
    auto rt = std::make_unique<SeriesRt>(*zone, cum != 0);
    rt->id = sqlite3_last_insert_rowid(d.db);
    rt->meter = meter;
    rt->name = v.name;
    rt->unit = v.unit;
    SeriesRt* p = rt.get();
    series[rt->id] = std::move(rt);
    return p;
  }

  // --- bucket rows ---

  void save_bucket(SeriesRt& s, Step step, const Bucket& b) {
    if (!writable()) {
      s.unsaved[{static_cast<int>(step), b.start_ms}] = b;
      return;
    }
    const std::string a = s.cumulative ? b.first.to_string() : b.min.to_string();
    const std::string bb = s.cumulative ? b.last.to_string() : b.max.to_string();
    const std::string c = s.cumulative ? b.consumption.to_string() : b.sum.to_string();
    Use(d, d.prepare("INSERT OR REPLACE INTO rollups(series, step, start_ms, first_ms, last_ms, "
                     "count, baseline, resets, a, b, c) "
                     "VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)"))
        .bind(1, s.id)
        .bind(2, std::int64_t{static_cast<int>(step)})
        .bind(3, b.start_ms)
        .bind(4, b.first_ms)
        .bind(5, b.last_ms)
        .bind(6, b.count)
        .bind(7, std::int64_t{b.baseline ? 1 : 0})
        .bind(8, b.resets)
        .bind(9, a)
        .bind(10, bb)
        .bind(11, c)
        .run("cannot write a rollup");
  }

  // The open hour, day and month as they stand: what a restart resumes from.
  void snapshot(SeriesRt& s) {
    for (Step step : kLevels) {
      if (const auto& b = s.roller.open(step)) save_bucket(s, step, *b);
    }
  }

  // Feeds one reading in time order; the series' open buckets are saved first whenever it moves
  // to a new hour, so that saved rows are always one consistent state.
  void fold(SeriesRt& s, const Reading& r) {
    for (Step step : kLevels) {
      const auto& b = s.roller.open(step);
      if (b && s.roller.bucket_start(step, r.time_ms) != b->start_ms) {
        snapshot(s);
        break;
      }
    }
    auto fed = s.roller.feed(r, {});
    if (fed.reset) {
      resets.push_back({s.meter, s.name, r.time_ms, fed.before.to_string(), r.value.to_string()});
    }
  }

  // Calls f(time_ms, value) for the readings of `meter` named `name` with time >= from_ms, in
  // time order (then seq), values converted into the series' unit (others skipped).
  template <class F>
  void raw_values(const SeriesRt& s, std::int64_t from_ms, F&& f) {
    Use u(d, d.prepare("SELECT time_ms, vals FROM polls WHERE meter = ?1 AND time_ms >= ?2 "
                       "ORDER BY time_ms, seq"));
    u.bind(1, s.meter).bind(2, from_ms);
    while (u.step("cannot read polls")) {
      const auto* p = static_cast<const char*>(sqlite3_column_blob(u.get(), 1));
      const std::string_view blob(p == nullptr ? "" : p,
                                  static_cast<std::size_t>(sqlite3_column_bytes(u.get(), 1)));
      auto values = decode_values(blob);
      if (!values) continue;
      for (const Value& v : *values) {
        if (v.name != s.name) continue;
        auto dec = rollable(v);
        if (!dec) continue;
        if (v.unit != s.unit) {
          // Same rule as series_for(): a value in another unit belongs to this series only when
          // no series of its own unit exists and it converts exactly.
          bool own = false;
          for (auto& [id, o] : series) {
            if (o->meter == s.meter && o->name == s.name && o->unit == v.unit) own = true;
          }
          if (own) continue;
          dec = kmp::convert_exact(*dec, v.unit, s.unit);
          if (!dec) continue;
        }
        f(sqlite3_column_int64(u.get(), 0), *dec);
      }
    }
  }

  std::optional<Bucket> latest_row(const SeriesRt& s, Step step, std::int64_t before_ms) {
    Use u(d, d.prepare(std::string("SELECT ") + kBucketCols +
                       " FROM rollups WHERE series = ?1 AND step = ?2 AND start_ms < ?3 "
                       "ORDER BY start_ms DESC LIMIT 1"));
    u.bind(1, s.id).bind(2, std::int64_t{static_cast<int>(step)}).bind(3, before_ms);
    if (!u.step("cannot read rollups")) return std::nullopt;
    return bucket_from_row(u.get(), 0, s.cumulative);
  }

  // Picks a series up where its saved rows end: the latest row of each level is its open bucket,
  // then the raw readings after it are fed.
  void resume(SeriesRt& s) {
    constexpr std::int64_t kMax = std::numeric_limits<std::int64_t>::max();
    std::optional<Bucket> hour = latest_row(s, Step::Hour, kMax);
    for (Step step : kLevels) s.roller.resume(step, latest_row(s, step, kMax));
    std::int64_t from = std::numeric_limits<std::int64_t>::min();
    if (hour) {
      s.roller.set_previous(Reading{hour->last_ms, s.cumulative ? hour->last : kmp::Decimal{}});
      from = hour->last_ms + 1;
    }
    raw_values(s, from, [&](std::int64_t t, const kmp::Decimal& v) { fold(s, {t, v}); });
  }

  // Rebuilds a series from the bucket of `from_ms` on: hours from the raw readings (those still
  // kept), days from hours, months from days. For a reading that came in older than the newest.
  void recompute(SeriesRt& s, std::int64_t from_ms) {
    std::int64_t h0 = s.roller.bucket_start(Step::Hour, from_ms);
    if (h0 < raw_from_ms) {
      // Retention removed raw readings there: rebuild only the hours it left whole.
      h0 = zone->start(Step::Hour, raw_from_ms);
      if (h0 < raw_from_ms) h0 = zone->next(Step::Hour, h0);
    }
    const std::int64_t d0 = zone->start(Step::Day, h0);
    const std::int64_t m0 = zone->start(Step::Month, d0);
    const std::int64_t starts[3] = {h0, d0, m0};
    Roller fresh(*zone, s.cumulative);
    // The state just before h0: the last reading, and the day and month so far from saved rows.
    std::optional<Bucket> before = latest_row(s, Step::Hour, h0);
    if (before) fresh.set_previous(Reading{before->last_ms, before->last});
    auto merged = [&](Step step, std::int64_t from, std::int64_t to) {
      std::optional<Bucket> acc;
      Use u(d, d.prepare(std::string("SELECT ") + kBucketCols +
                         " FROM rollups WHERE series = ?1 AND step = ?2 AND start_ms >= ?3 AND "
                         "start_ms < ?4 ORDER BY start_ms"));
      u.bind(1, s.id).bind(2, std::int64_t{static_cast<int>(step)}).bind(3, from).bind(4, to);
      while (u.step("cannot read rollups")) {
        Bucket b = bucket_from_row(u.get(), 0, s.cumulative);
        acc = acc ? merge(*acc, b, s.cumulative) : std::optional<Bucket>(b);
      }
      return acc;
    };
    std::optional<Bucket> day = merged(Step::Hour, d0, h0);
    if (day) day->start_ms = d0;
    std::optional<Bucket> month = merged(Step::Day, m0, d0);
    if (month) month->start_ms = m0;
    if (month && day) {
      month = merge(*month, *day, s.cumulative);
    } else if (day) {
      month = day;
    }
    if (month) month->start_ms = m0;
    fresh.resume(Step::Day, day);
    fresh.resume(Step::Month, month);
    for (int i = 0; i < 3; ++i) {
      if (writable()) {
        Use(d, d.prepare("DELETE FROM rollups WHERE series = ?1 AND step = ?2 AND start_ms >= ?3"))
            .bind(1, s.id)
            .bind(2, std::int64_t{i})
            .bind(3, starts[i])
            .run("cannot clear rollups");
      } else {
        std::erase_if(s.unsaved, [&](const auto& kv) {
          return kv.first.first == i && kv.first.second >= starts[i];
        });
      }
    }
    s.roller = std::move(fresh);
    // Counters: a reading at exactly h0 closes the hour before (kept), so start after it.
    raw_values(s, s.cumulative ? h0 + 1 : h0, [&](std::int64_t t, const kmp::Decimal& v) {
      fold(s, {t, v});
    });
    snapshot(s);
  }

  // Loads every series and catches up with the raw readings (once per writer; per query for a
  // reader, which sees another process write).
  void load_rollups() {
    series.clear();
    std::vector<SeriesRt*> all;
    {
      Use u(d, d.prepare("SELECT id, meter, name, unit, cumulative FROM series ORDER BY id"));
      while (u.step("cannot read series")) all.push_back(load_series_row(u.get()));
    }
    for (SeriesRt* s : all) resume(*s);
    rollups_loaded = true;
  }

  // Feeds the numeric values of stored polls into their series (inside the write transaction).
  void roll(const std::vector<const Poll*>& polls) {
    std::map<SeriesRt*, std::int64_t> late;  // series -> oldest out-of-order reading
    for (const Poll* p : polls) {
      for (const Value& v : p->values) {
        auto dec = rollable(v);
        if (!dec) continue;
        SeriesRt* s = series_for(p->meter, v, *dec);
        if (s == nullptr) continue;
        const auto& prev = s->roller.previous();
        if (late.count(s) != 0 || (prev && p->time_ms < prev->time_ms)) {
          auto [it, fresh] = late.emplace(s, p->time_ms);
          if (!fresh) it->second = std::min(it->second, p->time_ms);
          continue;
        }
        fold(*s, {p->time_ms, *dec});
      }
    }
    for (auto& [s, from] : late) recompute(*s, from);
  }

  // Days and months again from the hours, in the current zone (store.timezone changed).
  void rebuild_days(SeriesRt& s) {
    Use(d, d.prepare("DELETE FROM rollups WHERE series = ?1 AND step > 0"))
        .bind(1, s.id)
        .run("cannot clear rollups");
    std::optional<Bucket> day, month;
    Use u(d, d.prepare(std::string("SELECT ") + kBucketCols +
                       " FROM rollups WHERE series = ?1 AND step = 0 ORDER BY start_ms"));
    u.bind(1, s.id);
    auto add = [&](std::optional<Bucket>& acc, Step step, const Bucket& h) {
      const std::int64_t start = zone->start(step, h.start_ms);
      if (acc && acc->start_ms != start) {
        save_bucket(s, step, *acc);
        acc.reset();
      }
      if (acc) {
        acc = merge(*acc, h, s.cumulative).value_or(*acc);
      } else {
        acc = h;
        acc->start_ms = start;
      }
    };
    while (u.step("cannot read rollups")) {
      const Bucket h = bucket_from_row(u.get(), 0, s.cumulative);
      add(day, Step::Day, h);
      add(month, Step::Month, h);
    }
    if (day) save_bucket(s, Step::Day, *day);
    if (month) save_bucket(s, Step::Month, *month);
  }

  // Schema v2 -> v3: every series from the raw readings, meter by meter in time order.
  void build_from_raw() {
    std::vector<std::string> meters;
    {
      Use u(d, d.prepare("SELECT DISTINCT meter FROM polls ORDER BY meter"));
      while (u.step("cannot list meters")) meters.push_back(column_text(u.get(), 0));
    }
    for (const std::string& m : meters) {
      Use u(d, d.prepare("SELECT time_ms, vals FROM polls WHERE meter = ?1 ORDER BY time_ms, seq"));
      u.bind(1, m);
      while (u.step("cannot read polls")) {
        const auto* p = static_cast<const char*>(sqlite3_column_blob(u.get(), 1));
        auto values = decode_values(std::string_view(
            p == nullptr ? "" : p, static_cast<std::size_t>(sqlite3_column_bytes(u.get(), 1))));
        if (!values) continue;
        Poll poll;
        poll.meter = m;
        poll.time_ms = sqlite3_column_int64(u.get(), 0);
        poll.values = std::move(*values);
        roll({&poll});
      }
    }
    for (auto& [id, s] : series) snapshot(*s);
  }

  void write_cursors();
  std::vector<std::int64_t> write_polls(std::span<Poll> polls);
  void stored(std::span<Poll> polls, const std::vector<std::int64_t>& seqs);
  std::vector<Bucket> buckets(SeriesRt& s, Step step, std::int64_t from_ms, std::int64_t to_ms);
};

Store::Store(const std::string& path) : Store(path, Access::ReadWrite) {}

Store::Store(const StoreConfig& config) : Store(config.path, Access::ReadWrite, config.timezone) {}

Store::Store(const std::string& path, Access access) : Store(path, access, std::string()) {}

Store::Store(const std::string& path, Access access, const std::string& timezone)
    : impl_(std::make_unique<Impl>()) {
  auto& im = *impl_;
  im.d.path = path;
  im.d.access = access;
  try {
    im.zone = std::make_unique<Zone>(timezone);
  } catch (const std::exception& e) {
    throw StoreError(path + ": store.timezone: " + e.what());
  }
  // The migration's rollups are built inside its transaction, in the configured zone.
  im.d.open([&im] {
    im.set_meta("timezone", im.zone->name());
    im.build_from_raw();
  });
  if (im.d.migrated_from_v2) {
    im.notes.push_back(
        {"converted the history from schema version 2 to 3: one row per poll, "
         "rollups built for " +
         std::to_string(im.series.size()) + " register series (days in " + im.zone->name() + ")"});
    for (const auto& r : im.resets) {
      im.notes.push_back({"meter " + r.meter + ": " + r.register_name + " went down from " +
                          r.before + " to " + r.after +
                          " (meter replaced or reset?); counted as "
                          "no consumption"});
    }
    im.resets.clear();
    im.series.clear();
    // The freed pages of the old layout go back to the file system, and the pages get the
    // smaller size of new files (docs/performance.md). VACUUM needs the rollback journal and no
    // other connection; when a reader has the file open it is left for later: the converted file
    // works as it is (its freed pages are reused).
    try {
      im.d.exec("PRAGMA journal_mode=DELETE", "cannot leave WAL mode to compact");
      im.d.exec(("PRAGMA page_size=" + std::to_string(kPageSize)).c_str(), "cannot set page_size");
      im.d.exec("VACUUM", "cannot compact the converted file");
    } catch (const StoreError& e) {
      im.notes.push_back({std::string("not compacted after the conversion: ") + e.what()});
    }
    if (im.d.pragma_text("PRAGMA journal_mode=WAL") != "wal")
      throw StoreError(path + ": cannot switch back to WAL mode");
  }
  if (access == Access::ReadOnly) {
    // The rollups are in the zone the writer used.
    std::lock_guard lock(im.mu);
    if (auto tz = im.meta_text("timezone")) {
      try {
        im.zone = std::make_unique<Zone>(*tz);
      } catch (const std::exception& e) {
        throw StoreError(path + ": " + e.what());
      }
    }
    im.read_meta();
    return;
  }
  std::lock_guard lock(im.mu);
  Transaction tx(im.d, true);
  im.read_meta();
  const auto stored = im.meta_text("timezone");
  im.load_rollups();
  if (stored && *stored != im.zone->name()) {
    for (auto& [id, s] : im.series) im.rebuild_days(*s);
    im.notes.push_back({"store.timezone changed from " + *stored + " to " + im.zone->name() +
                        ": days and months rebuilt from the hourly rollups"});
    im.load_rollups();
  }
  if (!stored || *stored != im.zone->name()) im.set_meta("timezone", im.zone->name());
  tx.commit();
  im.resets.clear();
}

Store::~Store() {
  auto& im = *impl_;
  if (!im.writable()) return;
  // Best effort: what is not written here is rebuilt from the raw readings on the next open.
  try {
    std::lock_guard lock(im.mu);
    Transaction tx(im.d, true);
    if (im.rollups_loaded) {
      for (auto& [id, s] : im.series) im.snapshot(*s);
    }
    im.write_cursors();
    tx.commit();
  } catch (const std::exception&) {
  }
}

const std::string& Store::path() const {
  return impl_->d.path;
}

std::vector<OpenNote> Store::open_notes() const {
  std::lock_guard lock(impl_->mu);
  return impl_->notes;
}

std::string Store::timezone() const {
  return impl_->zone->name();
}

int Store::subscribe(Listener l) {
  std::lock_guard lock(impl_->listeners_mu);
  const int id = impl_->next_listener++;
  impl_->listeners[id] = std::move(l);
  return id;
}

void Store::unsubscribe(int id) {
  std::lock_guard lock(impl_->listeners_mu);
  impl_->listeners.erase(id);
}

namespace {

// Inside the caller's transaction; returns the new seq without touching poll.seq (the caller
// sets it once the transaction has committed).
std::int64_t insert_rows(Db& d, const Poll& poll, std::int64_t seq_floor) {
  std::int64_t seq = 0;
  {
    Use u(d, d.prepare("SELECT max(seq) FROM polls"));
    if (u.step("cannot read the last seq")) seq = sqlite3_column_int64(u.get(), 0);
  }
  seq = std::max(seq, seq_floor) + 1;
  const std::string blob = encode_values(poll.values);
  sqlite3_stmt* s =
      d.prepare("INSERT INTO polls(seq, meter, time_ms, source, vals) VALUES(?1, ?2, ?3, ?4, ?5)");
  Use u(d, s);
  u.bind(1, seq).bind(2, poll.meter).bind(3, poll.time_ms).bind(4, poll.source);
  d.check_bind(sqlite3_bind_blob(s, 5, blob.data(), static_cast<int>(blob.size()), SQLITE_STATIC));
  u.run("cannot insert a poll");
  return seq;
}

}  // namespace

void Store::Impl::write_cursors() {
  for (const auto& [sink, seq] : cursors) {
    Use(d, d.prepare("INSERT INTO cursors(sink, seq) VALUES(?1, ?2) "
                     "ON CONFLICT(sink) DO UPDATE SET seq = excluded.seq"))
        .bind(1, sink)
        .bind(2, seq)
        .run("cannot save a cursor");
  }
  cursors.clear();
  cursors_written = std::chrono::steady_clock::now();
}

void Store::Impl::stored(std::span<Poll> polls, const std::vector<std::int64_t>& seqs) {
  for (std::size_t i = 0; i < polls.size(); ++i) polls[i].seq = seqs[i];
  std::vector<CounterReset> seen;
  seen.swap(resets);
  std::vector<Listener> ls;
  {
    std::lock_guard lock(listeners_mu);
    for (auto& [id, l] : listeners) ls.push_back(l);
  }
  for (auto& l : ls) {
    if (l.polls) l.polls(std::span<const Poll>(polls.data(), polls.size()));
    if (l.reset) {
      for (const auto& r : seen) l.reset(r);
    }
  }
}

// One write: the polls, their rollups and (when due) the cursors, in one transaction. A failure
// in the rollups fails the insert (the transaction rolls back as a whole) and drops the in-memory
// rollup state, which the next insert rebuilds from what is on disk.
std::vector<std::int64_t> Store::Impl::write_polls(std::span<Poll> polls) {
  d.require_writable("insert");
  std::vector<std::int64_t> seqs;
  try {
    Transaction tx(d, true);
    if (!rollups_loaded) load_rollups();
    std::vector<const Poll*> ptrs;
    for (const Poll& p : polls) {
      seqs.push_back(insert_rows(d, p, seq_floor));
      ptrs.push_back(&p);
    }
    roll(ptrs);
    if (!cursors.empty() && std::chrono::steady_clock::now() - cursors_written >= kCursorFlush)
      write_cursors();
    tx.commit();
  } catch (...) {
    rollups_loaded = false;
    series.clear();
    resets.clear();
    throw;
  }
  return seqs;
}

std::int64_t Store::insert(Poll& poll) {
  std::vector<std::int64_t> seqs;
  {
    std::lock_guard lock(impl_->mu);
    seqs = impl_->write_polls(std::span<Poll>(&poll, 1));
  }
  impl_->stored(std::span<Poll>(&poll, 1), seqs);
  return poll.seq;
}

void Store::insert_all(std::span<Poll> polls) {
  if (polls.empty()) return;
  std::vector<std::int64_t> seqs;
  {
    std::lock_guard lock(impl_->mu);
    seqs = impl_->write_polls(polls);
  }
  impl_->stored(polls, seqs);
}

std::vector<Poll> Store::polls_after(std::int64_t after, std::size_t limit) const {
  std::lock_guard lock(impl_->mu);
  auto& d = impl_->d;
  std::vector<Poll> polls;
  if (limit == 0) return polls;
  Use u(d, d.prepare("SELECT seq, meter, time_ms, source, vals FROM polls WHERE seq > ?1 "
                     "ORDER BY seq LIMIT ?2"));
  u.bind(1, after).bind(2, to_i64(limit));
  while (u.step("cannot read polls")) {
    Poll p;
    p.seq = sqlite3_column_int64(u.get(), 0);
    p.meter = column_text(u.get(), 1);
    p.time_ms = sqlite3_column_int64(u.get(), 2);
    p.source = column_text(u.get(), 3);
    const auto* b = static_cast<const char*>(sqlite3_column_blob(u.get(), 4));
    auto values = decode_values(std::string_view(
        b == nullptr ? "" : b, static_cast<std::size_t>(sqlite3_column_bytes(u.get(), 4))));
    if (!values) d.fail("poll " + std::to_string(p.seq) + " has damaged values");
    p.values = std::move(*values);
    polls.push_back(std::move(p));
  }
  return polls;
}

std::int64_t Store::last_seq() const {
  std::lock_guard lock(impl_->mu);
  auto& d = impl_->d;
  Use u(d, d.prepare("SELECT max(seq) FROM polls"));
  const std::int64_t max =
      u.step("cannot read the last seq") ? sqlite3_column_int64(u.get(), 0) : 0;
  // The floor as on disk (another process may have deleted since this one opened).
  std::int64_t floor = impl_->seq_floor;
  if (auto f = impl_->meta_text("seq_floor")) floor = std::max<std::int64_t>(floor, std::stoll(*f));
  return std::max(max, floor);
}

std::int64_t Store::cursor(const std::string& sink) const {
  std::lock_guard lock(impl_->mu);
  if (auto it = impl_->cursors.find(sink); it != impl_->cursors.end()) return it->second;
  auto& d = impl_->d;
  Use u(d, d.prepare("SELECT seq FROM cursors WHERE sink = ?1"));
  u.bind(1, sink);
  return u.step("cannot read a cursor") ? sqlite3_column_int64(u.get(), 0) : 0;
}

void Store::set_cursor(const std::string& sink, std::int64_t seq) {
  std::lock_guard lock(impl_->mu);
  auto& im = *impl_;
  im.d.require_writable("set_cursor");
  im.cursors[sink] = seq;
  if (std::chrono::steady_clock::now() - im.cursors_written >= kCursorFlush) {
    Transaction tx(im.d, true);
    im.write_cursors();
    tx.commit();
  }
}

void Store::flush_cursors() {
  std::lock_guard lock(impl_->mu);
  auto& im = *impl_;
  if (im.cursors.empty()) return;
  Transaction tx(im.d, true);
  im.write_cursors();
  tx.commit();
}

std::int64_t Store::count_after(std::int64_t after) const {
  std::lock_guard lock(impl_->mu);
  auto& d = impl_->d;
  Use u(d, d.prepare("SELECT count(*) FROM polls WHERE seq > ?1"));
  u.bind(1, after);
  return u.step("cannot count polls") ? sqlite3_column_int64(u.get(), 0) : 0;
}

void Store::set_meter_info(const MeterInfo& info) {
  std::lock_guard lock(impl_->mu);
  auto& d = impl_->d;
  d.require_writable("set_meter_info");
  Use(d, d.prepare("INSERT INTO meter_info(meter, model, meter_type, sw_revision, serial, "
                   "protocol, info_codes) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7) "
                   "ON CONFLICT(meter) DO UPDATE SET "
                   "model = excluded.model, meter_type = excluded.meter_type, "
                   "sw_revision = excluded.sw_revision, serial = excluded.serial, "
                   "protocol = excluded.protocol, info_codes = excluded.info_codes"))
      .bind(1, info.name)
      .bind(2, info.model)
      .bind(3, info.meter_type)
      .bind(4, info.sw_revision)
      .bind(5, info.serial)
      .bind(6, info.protocol)
      .bind(7, info.info_codes)
      .run("cannot save meter info");
}

namespace {

std::vector<MeterInfo> read_meter_infos(Db& d, const std::string* meter) {
  std::vector<MeterInfo> out;
  if (d.schema < 2) return out;  // a version 1 file opened read-only
  // A version 2 file opened read-only has no info_codes yet.
  const std::string columns =
      std::string("SELECT meter, model, meter_type, sw_revision, serial, ") +
      (d.schema < 3 ? "protocol, ''" : "protocol, info_codes") + " FROM meter_info ";
  Use u(d, d.prepare(columns + (meter != nullptr ? "WHERE meter = ?1" : "ORDER BY meter")));
  if (meter != nullptr) u.bind(1, *meter);
  while (u.step("cannot read meter info")) {
    MeterInfo m;
    m.name = column_text(u.get(), 0);
    m.model = column_text(u.get(), 1);
    m.meter_type = column_text(u.get(), 2);
    m.sw_revision = column_text(u.get(), 3);
    m.serial = column_text(u.get(), 4);
    m.protocol = column_text(u.get(), 5);
    m.info_codes = column_text(u.get(), 6);
    out.push_back(std::move(m));
  }
  return out;
}

}  // namespace

std::optional<MeterInfo> Store::meter_info(const std::string& meter) const {
  std::lock_guard lock(impl_->mu);
  auto v = read_meter_infos(impl_->d, &meter);
  if (v.empty()) return std::nullopt;
  return std::move(v.front());
}

std::vector<MeterInfo> Store::meter_infos() const {
  std::lock_guard lock(impl_->mu);
  return read_meter_infos(impl_->d, nullptr);
}

namespace {

// Meter names with polls, by index seeks (a skip-scan of polls_meter_time) rather than reading
// the whole index.
std::vector<std::string> meter_names(Db& d) {
  Use u(d, d.prepare("WITH RECURSIVE m(x) AS (SELECT min(meter) FROM polls UNION ALL "
                     "SELECT (SELECT min(meter) FROM polls WHERE meter > m.x) FROM m "
                     "WHERE m.x IS NOT NULL) SELECT x FROM m WHERE x IS NOT NULL"));
  std::vector<std::string> out;
  while (u.step("cannot list meters")) out.push_back(column_text(u.get(), 0));
  return out;
}

bool matches(const HistoryQuery& q, const Value& v) {
  if (q.register_name && v.name != *q.register_name) return false;
  if (q.register_id && v.register_id != *q.register_id) return false;
  return true;
}

// One meter's matching rows, oldest first; with a limit, its newest `limit` rows.
void history_of(Db& d, const std::string& meter, const HistoryQuery& q,
                std::vector<HistoryRow>& out) {
  const bool newest = q.limit > 0;
  const std::string sql = std::string(
                              "SELECT seq, time_ms, source, vals FROM polls WHERE meter = "
                              "?1 AND time_ms >= ?2 AND time_ms < ?3 ORDER BY ") +
                          (newest ? "time_ms DESC, seq DESC" : "time_ms, seq");
  Use u(d, d.prepare(sql));
  u.bind(1, meter)
      .bind(2, q.from_ms.value_or(std::numeric_limits<std::int64_t>::min()))
      .bind(3, q.to_ms.value_or(std::numeric_limits<std::int64_t>::max()));
  std::size_t taken = 0;
  const std::size_t first = out.size();
  while (u.step("cannot read history")) {
    const auto* b = static_cast<const char*>(sqlite3_column_blob(u.get(), 3));
    auto values = decode_values(std::string_view(
        b == nullptr ? "" : b, static_cast<std::size_t>(sqlite3_column_bytes(u.get(), 3))));
    if (!values) d.fail("a poll has damaged values");
    std::vector<HistoryRow> rows;
    for (Value& v : *values) {
      if (!matches(q, v)) continue;
      HistoryRow row;
      row.seq = sqlite3_column_int64(u.get(), 0);
      row.meter = meter;
      row.time_ms = sqlite3_column_int64(u.get(), 1);
      row.source = column_text(u.get(), 2);
      row.value = std::move(v);
      rows.push_back(std::move(row));
    }
    if (newest) {
      // Walking backwards: this poll's values go in reverse, the whole is reversed below.
      for (auto it = rows.rbegin(); it != rows.rend() && taken < q.limit; ++it, ++taken)
        out.push_back(std::move(*it));
      if (taken >= q.limit) break;
    } else {
      for (auto& r : rows) out.push_back(std::move(r));
    }
  }
  if (newest) std::reverse(out.begin() + static_cast<std::ptrdiff_t>(first), out.end());
}

}  // namespace

std::vector<HistoryRow> Store::history(const HistoryQuery& q) const {
  std::lock_guard lock(impl_->mu);
  auto& d = impl_->d;
  Transaction tx(d, false);  // one snapshot across the meters
  std::vector<std::string> meters;
  if (q.meter) {
    meters.push_back(*q.meter);
  } else {
    meters = meter_names(d);
  }
  std::vector<HistoryRow> rows;
  for (const auto& m : meters) history_of(d, m, q, rows);
  if (meters.size() > 1) {
    // Stable: within one poll the values keep their order.
    std::stable_sort(rows.begin(), rows.end(), [](const HistoryRow& a, const HistoryRow& b) {
      return a.time_ms != b.time_ms ? a.time_ms < b.time_ms : a.seq < b.seq;
    });
    if (q.limit > 0 && rows.size() > q.limit)
      rows.erase(rows.begin(), rows.end() - static_cast<std::ptrdiff_t>(q.limit));
  }
  tx.commit();
  return rows;
}

std::size_t Store::delete_before(std::int64_t cutoff_ms) {
  std::lock_guard lock(impl_->mu);
  auto& im = *impl_;
  auto& d = im.d;
  d.require_writable("delete_before");
  Transaction tx(d, true);
  // Rollups first: a series resumes from its saved rows plus the raw readings after them, so
  // the open buckets are saved before their raw readings can go.
  if (!im.rollups_loaded) im.load_rollups();
  for (auto& [id, s] : im.series) im.snapshot(*s);
  // Seqs never repeat: the next one is above the highest ever handed out, also when this
  // deletes the newest polls. Cursors are left alone: one below the oldest remaining seq just
  // means that output's backlog was trimmed.
  {
    Use u(d, d.prepare("SELECT max(seq) FROM polls"));
    if (u.step("cannot read the last seq"))
      im.seq_floor = std::max<std::int64_t>(im.seq_floor, sqlite3_column_int64(u.get(), 0));
  }
  std::size_t n = 0;
  for (const auto& m : meter_names(d)) {
    Use(d, d.prepare("DELETE FROM polls WHERE meter = ?1 AND time_ms < ?2"))
        .bind(1, m)
        .bind(2, cutoff_ms)
        .run("cannot delete old polls");
    n += static_cast<std::size_t>(sqlite3_changes64(d.db));
  }
  if (n > 0) {
    im.set_meta("seq_floor", std::to_string(im.seq_floor));
    im.raw_from_ms = std::max(im.raw_from_ms, cutoff_ms);
    im.set_meta("raw_from_ms", std::to_string(im.raw_from_ms));
  }
  tx.commit();
  return n;
}

std::optional<std::int64_t> Store::last_time(const std::string& meter) const {
  std::lock_guard lock(impl_->mu);
  auto& d = impl_->d;
  Use u(d, d.prepare("SELECT max(time_ms) FROM polls WHERE meter = ?1"));
  u.bind(1, meter);
  if (!u.step("cannot read the last time") || sqlite3_column_type(u.get(), 0) == SQLITE_NULL) {
    return std::nullopt;
  }
  return sqlite3_column_int64(u.get(), 0);
}

std::vector<std::string> Store::meters() const {
  std::lock_guard lock(impl_->mu);
  return meter_names(impl_->d);
}

int Store::schema_version() const {
  std::lock_guard lock(impl_->mu);
  return static_cast<int>(impl_->d.pragma_int("PRAGMA user_version"));
}

std::string Store::integrity_check() const {
  std::lock_guard lock(impl_->mu);
  return impl_->d.pragma_text("PRAGMA integrity_check");
}

std::string Store::quick_check(int max_lines) const {
  std::lock_guard lock(impl_->mu);
  const std::string sql = "PRAGMA quick_check(" + std::to_string(std::max(max_lines, 1)) + ")";
  return impl_->d.pragma_text(sql.c_str());
}

std::string Store::page_check() const {
  std::lock_guard lock(impl_->mu);
  auto& d = impl_->d;
  std::vector<std::pair<std::string, std::string>> trees;  // (table, index or "")
  {
    Use u(d, d.prepare("SELECT type, name, tbl_name FROM sqlite_schema WHERE rootpage > 0 "
                       "ORDER BY rootpage"));
    while (u.step("cannot list the schema"))
      trees.emplace_back(column_text(u.get(), 2),
                         column_text(u.get(), 0) == "index" ? column_text(u.get(), 1) : "");
  }
  auto quoted = [](const std::string& name) {
    std::string q = "\"";
    for (char c : name) q += c == '"' ? std::string("\"\"") : std::string(1, c);
    return q + "\"";
  };
  for (const auto& [table, index] : trees) {
    const std::string sql = "SELECT count(*) FROM " + quoted(table) +
                            (index.empty() ? " NOT INDEXED" : " INDEXED BY " + quoted(index));
    sqlite3_stmt* s = nullptr;
    int rc = sqlite3_prepare_v2(d.db, sql.c_str(), -1, &s, nullptr);
    if (rc == SQLITE_OK) {
      while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
      }
    }
    std::string err = rc == SQLITE_DONE ? "" : sqlite3_errmsg(d.db);
    sqlite3_finalize(s);
    if (!err.empty()) return (index.empty() ? "table " + table : "index " + index) + ": " + err;
  }
  return "ok";
}

std::string damage_report(const std::string& path) {
  std::error_code ec;
  if (!std::filesystem::exists(path, ec) || std::filesystem::file_size(path, ec) == 0) return {};
  std::string problem;
  try {
    // Every page of every b-tree, not quick_check: that also decodes every record and costs
    // about 8 times as long on a year of polls (docs/performance.md); a damaged page is what
    // stops a store from working, and `sqlite3 ... "PRAGMA integrity_check"` lists the rest.
    const Store s(path, Store::Access::ReadOnly);
    problem = s.page_check();
    if (problem == "ok") return {};
  } catch (const StoreError& e) {
    // Damage in the header or the schema shows up when opening: SQLite's words, as they are.
    problem = e.what();
  }
  std::string folded;
  for (char c : problem) folded += c == '\n' ? std::string("; ") : std::string(1, c);
  return path + ": the history database is damaged (SQLite: " + folded +
         "). Nothing was changed. Stop here and look: sqlite3 " + path +
         " \"PRAGMA integrity_check\" lists the damage; sqlite3 " + path + " .recover | sqlite3 " +
         path + ".recovered saves what can be read into a new file, which store.path can then " +
         "name (or move the damaged file away to start a new history)";
}

WriterLock::WriterLock(const std::string& database_path) : database_(database_path) {
  const std::string lock = database_path + ".lock";
  fd_ = ::open(lock.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd_ < 0) throw StoreError(lock + ": cannot create the lock file: " + std::strerror(errno));
  if (::flock(fd_, LOCK_EX | LOCK_NB) != 0) {
    const int err = errno;
    ::close(fd_);
    fd_ = -1;
    if (err != EWOULDBLOCK) throw StoreError(lock + ": cannot lock: " + std::strerror(err));
    // The holder writes its PID right after locking: give it a moment.
    std::string pid;
    for (int i = 0; i < 20 && pid.empty(); ++i) {
      std::ifstream in(lock);
      std::getline(in, pid);
      if (pid.empty()) ::usleep(10000);
    }
    throw StoreError("another kamstrup daemon (PID " + (pid.empty() ? "unknown" : pid) +
                     ") holds " + lock);
  }
  const std::string pid = std::to_string(::getpid()) + "\n";
  if (::ftruncate(fd_, 0) != 0 || ::pwrite(fd_, pid.data(), pid.size(), 0) < 0) {
    // The lock holds without the PID; only the refused daemon's message is poorer.
  }
}

WriterLock::~WriterLock() {
  // Closing releases the flock. The file stays: unlinking it would let a third process lock a
  // new file while a second still waits on the old one.
  if (fd_ >= 0) ::close(fd_);
}

// --- rollup queries ---

namespace {

RollupRow to_row(const Bucket& b, bool cumulative, std::int64_t end_ms) {
  RollupRow r;
  r.start_ms = b.start_ms;
  r.end_ms = end_ms;
  r.first_ms = b.first_ms;
  r.last_ms = b.last_ms;
  r.count = b.count;
  r.resets = b.resets;
  r.baseline = b.baseline;
  if (cumulative) {
    r.first = b.first.to_string();
    r.last = b.last.to_string();
    r.consumption = b.consumption.to_string();
  } else {
    r.min = b.min.to_string();
    r.max = b.max.to_string();
    if (auto m = b.mean()) r.mean = m->to_string();
  }
  return r;
}

// Every decimal of a bucket converted exactly; nullopt when one does not convert.
std::optional<Bucket> convert_bucket(Bucket b, const std::string& from, const std::string& to,
                                     bool cumulative) {
  auto conv = [&](kmp::Decimal& v) {
    auto c = kmp::convert_exact(v, from, to);
    if (c) v = *c;
    return c.has_value();
  };
  if (cumulative) {
    if (!conv(b.first) || !conv(b.last) || !conv(b.consumption)) return std::nullopt;
  } else if (!conv(b.min) || !conv(b.max) || !conv(b.sum)) {
    return std::nullopt;
  }
  return b;
}

}  // namespace

// The buckets of one series at one stored step overlapping [from, to): saved rows, then what
// this process has that is newer (a reader's caught-up buckets, the open ones).
std::vector<Bucket> Store::Impl::buckets(SeriesRt& s, Step step, std::int64_t from_ms,
                                         std::int64_t to_ms) {
  std::map<std::int64_t, Bucket> out;
  // A bucket overlaps when it starts before `to` and ends after `from`: it starts after the
  // start of the bucket holding `from`.
  const std::int64_t lo = zone->start(step, from_ms);
  {
    Use u(d, d.prepare(std::string("SELECT ") + kBucketCols +
                       " FROM rollups WHERE series = ?1 AND step = ?2 AND start_ms >= ?3 AND "
                       "start_ms < ?4 ORDER BY start_ms"));
    u.bind(1, s.id).bind(2, std::int64_t{static_cast<int>(step)}).bind(3, lo).bind(4, to_ms);
    while (u.step("cannot read rollups")) {
      Bucket b = bucket_from_row(u.get(), 0, s.cumulative);
      out[b.start_ms] = std::move(b);
    }
  }
  for (const auto& [key, b] : s.unsaved) {
    if (key.first == static_cast<int>(step) && b.start_ms >= lo && b.start_ms < to_ms)
      out[b.start_ms] = b;
  }
  if (const auto& open = s.roller.open(step)) {
    if (open->start_ms >= lo && open->start_ms < to_ms) out[open->start_ms] = *open;
  }
  std::vector<Bucket> v;
  v.reserve(out.size());
  for (auto& [start, b] : out) v.push_back(std::move(b));
  return v;
}

RollupSeries Store::rollups(const RollupQuery& q) const {
  std::lock_guard lock(impl_->mu);
  auto& im = *impl_;
  Transaction tx(im.d, false);
  // A reader catches up with the raw readings the writer has not rolled into saved rows yet.
  if (!im.writable() || !im.rollups_loaded) im.load_rollups();
  std::vector<SeriesRt*> parts;
  for (auto& [id, s] : im.series) {
    if (s->meter == q.meter && s->name == q.register_name) parts.push_back(s.get());
  }
  if (parts.empty()) {
    throw StoreError("no rollups of register " + q.register_name + " of meter " + q.meter);
  }
  // The newest unit is the one of the series read last.
  auto newest = std::max_element(parts.begin(), parts.end(), [](SeriesRt* a, SeriesRt* b) {
    const auto& pa = a->roller.previous();
    const auto& pb = b->roller.previous();
    return (pa ? pa->time_ms : 0) < (pb ? pb->time_ms : 0);
  });
  RollupSeries out;
  out.unit = (*newest)->unit;
  out.cumulative = (*newest)->cumulative;
  const Step stored = q.step == Step::Year ? Step::Month : q.step;
  // Start from the month holding the year's start, so a year is whole.
  const std::int64_t from =
      q.step == Step::Year ? im.zone->start(Step::Year, q.from_ms) : q.from_ms;
  std::map<std::int64_t, Bucket> merged;  // by start; two units in one bucket are merged
  for (SeriesRt* s : parts) {
    for (Bucket b : im.buckets(*s, stored, from, q.to_ms)) {
      if (s->unit != out.unit) {
        auto c = convert_bucket(b, s->unit, out.unit, s->cumulative);
        if (!c) {
          throw UnitConflict("register " + q.register_name + " of meter " + q.meter +
                             " was stored in " + s->unit + " and " + out.unit +
                             ", which do not convert exactly; ask for a range in one unit");
        }
        b = *c;
      }
      const std::int64_t key =
          q.step == Step::Year ? im.zone->start(Step::Year, b.start_ms) : b.start_ms;
      auto it = merged.find(key);
      if (it == merged.end()) {
        b.start_ms = key;
        merged.emplace(key, b);
      } else {
        const bool later = b.first_ms >= it->second.first_ms;
        auto m =
            later ? merge(it->second, b, out.cumulative) : merge(b, it->second, out.cumulative);
        if (m) {
          m->start_ms = key;
          it->second = *m;
        }
      }
    }
  }
  const Step row_step = q.step;
  for (auto& [start, b] : merged) {
    const std::int64_t end = im.zone->next(row_step, start);
    if (end <= q.from_ms || start >= q.to_ms) continue;
    out.rows.push_back(to_row(b, out.cumulative, end));
  }
  tx.commit();
  return out;
}

bool complete(const RollupRow& row, bool cumulative, std::int64_t now_ms) {
  const std::int64_t tol = std::min<std::int64_t>((row.end_ms - row.start_ms) / 4, 3'600'000);
  if (row.end_ms > now_ms || row.count == 0) return false;
  if (cumulative && !row.baseline) return false;
  if (row.first_ms < row.start_ms - tol || row.first_ms > row.start_ms + tol) return false;
  return row.last_ms >= row.end_ms - tol;
}

std::optional<bool> Store::cumulative(const std::string& meter,
                                      const std::string& register_name) const {
  std::lock_guard lock(impl_->mu);
  auto& d = impl_->d;
  Use u(d, d.prepare("SELECT max(cumulative) FROM series WHERE meter = ?1 AND name = ?2"));
  u.bind(1, meter).bind(2, register_name);
  if (!u.step("cannot read series") || sqlite3_column_type(u.get(), 0) == SQLITE_NULL)
    return std::nullopt;
  return sqlite3_column_int64(u.get(), 0) != 0;
}

std::vector<Store::SeriesName> Store::series() const {
  std::lock_guard lock(impl_->mu);
  auto& d = impl_->d;
  Use u(d, d.prepare("SELECT meter, name, unit, cumulative FROM series ORDER BY meter, name, id"));
  std::vector<SeriesName> out;
  while (u.step("cannot read series")) {
    out.push_back({column_text(u.get(), 0), column_text(u.get(), 1), column_text(u.get(), 2),
                   sqlite3_column_int64(u.get(), 3) != 0});
  }
  return out;
}

void Store::backup(const std::string& dest) const {
  std::error_code ec;
  if (std::filesystem::exists(dest, ec)) throw StoreError(dest + ": exists; not overwritten");
  sqlite3* out = nullptr;
  if (sqlite3_open_v2(dest.c_str(), &out, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, nullptr) !=
      SQLITE_OK) {
    std::string why = out != nullptr ? sqlite3_errmsg(out) : "out of memory";
    sqlite3_close_v2(out);
    throw StoreError(dest + ": cannot create: " + why);
  }
  std::string err;
  {
    std::lock_guard lock(impl_->mu);
    sqlite3_backup* b = sqlite3_backup_init(out, "main", impl_->d.db, "main");
    if (b == nullptr) {
      err = sqlite3_errmsg(out);
    } else {
      // All pages in one step: a writer in another process restarts a stepwise copy each time
      // it commits; one step holds the read snapshot throughout and never restarts.
      const int rc = sqlite3_backup_step(b, -1);
      sqlite3_backup_finish(b);
      if (rc != SQLITE_DONE) err = sqlite3_errstr(rc);
    }
  }
  if (err.empty() &&
      sqlite3_exec(out, "PRAGMA journal_mode=DELETE", nullptr, nullptr, nullptr) != SQLITE_OK) {
    err = sqlite3_errmsg(out);
  }
  sqlite3_close_v2(out);
  if (!err.empty()) {
    std::filesystem::remove(dest, ec);
    throw StoreError(dest + ": backup failed: " + err);
  }
}

namespace {
config::Key<StoreConfig> with_default(config::Key<StoreConfig> k, std::string doc) {
  k.meta.default_doc = std::move(doc);
  return k;
}
}  // namespace

const config::Table<StoreConfig>& store_keys() {
  using C = StoreConfig;
  using namespace config;
  static const Table<C> t{
      "store",
      "The SQLite history (WAL): every reading with meter, register, exact decimal text, unit "
      "and UTC time. Always on: outputs deliver from it.",
      {
          file_path<C>("path", &C::path, PathRule::FileInExistingDir,
                       "the database file; its directory must exist",
                       "/var/lib/kamstrup/kamstrup.db"),
          with_default(
              str<C>("timezone", &C::timezone,
                     "the IANA time zone of the rollups' local days and months (docs/history.md); "
                     "empty: the system's zone. Changing it rebuilds the days and months from the "
                     "hourly rollups",
                     "Europe/Copenhagen",
                     [](const std::string& v, const std::string& path) {
                       if (!v.empty() && !Zone::exists(v))
                         fail(path, "unknown time zone '" + v +
                                        "' (a name from the tz database, e.g. Europe/Copenhagen)");
                     }),
              "the system's zone"),
          duration<C>("retention", &C::retention,
                      {std::chrono::hours(1), std::chrono::hours(24 * 365 * 100),
                       std::chrono::seconds(1), true},
                      "raw readings older than this are deleted hourly (`0s` keeps everything); "
                      "the hourly, daily and monthly rollups are kept forever. An output that is "
                      "down longer than this loses the oldest part of its backlog",
                      "730d"),
          integer<C>("queue", &C::queue, 1, 1000000,
                     "polls held in memory while the store cannot be written (disk full, I/O "
                     "error), written in order when it can again; beyond this the oldest held "
                     "poll is dropped, logged and counted",
                     "5000"),
      },
      [](C& c, const std::string& path, Context& ctx) {
        ctx.claim_file(c.path, join(path, "path"));
      }};
  return t;
}

}  // namespace kamstrup::store
