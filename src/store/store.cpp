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
#include <mutex>
#include <sstream>
#include <unordered_map>
#include <utility>

namespace kamstrup::store {

namespace {

// 'KAMS' in the file header, so that a reader can tell our file from any other SQLite file.
constexpr std::int32_t kApplicationId = 0x4B414D53;

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

// Version 3: which table names the flags of each meter's info code.
constexpr const char* kSchemaV3 =
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

  void open();
  void create_or_migrate();
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

void Db::open() {
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
  create_or_migrate();
}

void Db::create_or_migrate() {
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
    // Version 1 lacks only meter_info, which readers do without (meter_info() is empty);
    // version 2 only its info_codes ("").
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
    exec(kSchemaV1, "cannot create the schema");
    exec(("PRAGMA application_id=" + std::to_string(kApplicationId)).c_str(),
         "cannot set application_id");
    version = 1;
  }
  // Later versions migrate here, one step at a time, in the same transaction.
  if (version == 1) {
    exec(kSchemaV2, "cannot add the meter_info table (schema version 2)");
    version = 2;
  }
  if (version == 2) {
    exec(kSchemaV3, "cannot add meter_info.info_codes (schema version 3)");
    version = 3;
  }
  // Only when it changed: an open that writes nothing also works on a full disk.
  if (version != found)
    exec(("PRAGMA user_version=" + std::to_string(version)).c_str(), "cannot set user_version");
  tx.commit();
  schema = static_cast<int>(version);
}

}  // namespace

struct Store::Impl {
  std::mutex mu;  // one connection, opened NOMUTEX: every use goes through this lock
  Db d;
};

Store::Store(const std::string& path) : Store(path, Access::ReadWrite) {}

Store::Store(const std::string& path, Access access) : impl_(std::make_unique<Impl>()) {
  impl_->d.path = path;
  impl_->d.access = access;
  impl_->d.open();
}

Store::~Store() = default;

const std::string& Store::path() const {
  return impl_->d.path;
}

namespace {

// Inside the caller's transaction; returns the new seq without touching poll.seq (the caller
// sets it once the transaction has committed).
std::int64_t insert_rows(Db& d, const Poll& poll) {
  Use(d, d.prepare("INSERT INTO polls(meter, time_ms, source) VALUES(?1, ?2, ?3)"))
      .bind(1, poll.meter)
      .bind(2, poll.time_ms)
      .bind(3, poll.source)
      .run("cannot insert a poll");
  const std::int64_t seq = sqlite3_last_insert_rowid(d.db);
  sqlite3_stmt* ins = d.prepare(
      "INSERT INTO readings(seq, idx, register_id, name, value, text, unit) "
      "VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7)");
  std::int64_t idx = 0;
  for (const Value& v : poll.values) {
    Use u(d, ins);
    u.bind(1, seq).bind(2, idx++);
    if (v.register_id < 0) {
      u.bind_null(3);
    } else {
      u.bind(3, std::int64_t{v.register_id});
    }
    u.bind(4, v.name).bind(5, v.value).bind(6, v.text).bind(7, v.unit).run("cannot insert a value");
  }
  return seq;
}

}  // namespace

std::int64_t Store::insert(Poll& poll) {
  std::lock_guard lock(impl_->mu);
  auto& d = impl_->d;
  d.require_writable("insert");
  Transaction tx(d, true);
  const std::int64_t seq = insert_rows(d, poll);
  tx.commit();
  poll.seq = seq;
  return seq;
}

void Store::insert_all(std::span<Poll> polls) {
  if (polls.empty()) return;
  std::lock_guard lock(impl_->mu);
  auto& d = impl_->d;
  d.require_writable("insert");
  Transaction tx(d, true);
  std::vector<std::int64_t> seqs;
  seqs.reserve(polls.size());
  for (const Poll& p : polls) seqs.push_back(insert_rows(d, p));
  tx.commit();
  for (std::size_t i = 0; i < polls.size(); ++i) polls[i].seq = seqs[i];
}

std::vector<Poll> Store::polls_after(std::int64_t after, std::size_t limit) const {
  std::lock_guard lock(impl_->mu);
  auto& d = impl_->d;
  std::vector<Poll> polls;
  if (limit == 0) return polls;
  Transaction tx(d, false);
  {
    Use u(d, d.prepare("SELECT seq, meter, time_ms, source FROM polls WHERE seq > ?1 "
                       "ORDER BY seq LIMIT ?2"));
    u.bind(1, after).bind(2, to_i64(limit));
    while (u.step("cannot read polls")) {
      Poll p;
      p.seq = sqlite3_column_int64(u.get(), 0);
      p.meter = column_text(u.get(), 1);
      p.time_ms = sqlite3_column_int64(u.get(), 2);
      p.source = column_text(u.get(), 3);
      polls.push_back(std::move(p));
    }
  }
  if (polls.empty()) return polls;
  {
    Use u(d, d.prepare("SELECT seq, register_id, name, value, text, unit FROM readings "
                       "WHERE seq > ?1 AND seq <= ?2 ORDER BY seq, idx"));
    u.bind(1, after).bind(2, polls.back().seq);
    std::size_t i = 0;
    while (u.step("cannot read values")) {
      const std::int64_t seq = sqlite3_column_int64(u.get(), 0);
      while (i < polls.size() && polls[i].seq < seq) ++i;
      if (i == polls.size()) break;
      if (polls[i].seq != seq) continue;  // unreachable with foreign keys on; be defensive
      Value v;
      v.register_id = sqlite3_column_type(u.get(), 1) == SQLITE_NULL
                          ? -1
                          : static_cast<std::int32_t>(sqlite3_column_int64(u.get(), 1));
      v.name = column_text(u.get(), 2);
      v.value = column_text(u.get(), 3);
      v.text = column_text(u.get(), 4);
      v.unit = column_text(u.get(), 5);
      polls[i].values.push_back(std::move(v));
    }
  }
  tx.commit();
  return polls;
}

std::int64_t Store::last_seq() const {
  std::lock_guard lock(impl_->mu);
  auto& d = impl_->d;
  // sqlite_sequence keeps the highest seq ever handed out, also when those polls are gone.
  Use u(d, d.prepare("SELECT max(COALESCE((SELECT seq FROM sqlite_sequence WHERE name = 'polls'), "
                     "0), COALESCE((SELECT max(seq) FROM polls), 0))"));
  return u.step("cannot read the last seq") ? sqlite3_column_int64(u.get(), 0) : 0;
}

std::int64_t Store::cursor(const std::string& sink) const {
  std::lock_guard lock(impl_->mu);
  auto& d = impl_->d;
  Use u(d, d.prepare("SELECT seq FROM cursors WHERE sink = ?1"));
  u.bind(1, sink);
  return u.step("cannot read a cursor") ? sqlite3_column_int64(u.get(), 0) : 0;
}

void Store::set_cursor(const std::string& sink, std::int64_t seq) {
  std::lock_guard lock(impl_->mu);
  auto& d = impl_->d;
  d.require_writable("set_cursor");
  Use(d, d.prepare("INSERT INTO cursors(sink, seq) VALUES(?1, ?2) "
                   "ON CONFLICT(sink) DO UPDATE SET seq = excluded.seq"))
      .bind(1, sink)
      .bind(2, seq)
      .run("cannot save a cursor");
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

std::vector<HistoryRow> Store::history(const HistoryQuery& q) const {
  std::lock_guard lock(impl_->mu);
  auto& d = impl_->d;
  // The SQL depends on which filters are set (so each can use its index); every variant is
  // cached like the fixed statements.
  std::string where;
  auto cond = [&](const char* c) {
    where += (where.empty() ? " WHERE " : " AND ") + std::string(c);
  };
  if (q.meter) cond("p.meter = ?1");
  if (q.from_ms) cond("p.time_ms >= ?2");
  if (q.to_ms) cond("p.time_ms < ?3");
  if (q.register_name) cond("r.name = ?4");
  if (q.register_id) cond("r.register_id = ?5");
  // With a limit, take the newest rows and put them back in time order below.
  const char* order = q.limit > 0 ? " ORDER BY p.time_ms DESC, p.seq DESC, r.idx DESC LIMIT ?6"
                                  : " ORDER BY p.time_ms, p.seq, r.idx";
  const std::string sql =
      "SELECT p.seq, p.meter, p.time_ms, p.source, r.register_id, r.name, r.value, r.text, "
      "r.unit FROM polls p JOIN readings r ON r.seq = p.seq" +
      where + order;
  Use u(d, d.prepare(sql));
  if (q.meter) u.bind(1, *q.meter);
  if (q.from_ms) u.bind(2, *q.from_ms);
  if (q.to_ms) u.bind(3, *q.to_ms);
  if (q.register_name) u.bind(4, *q.register_name);
  if (q.register_id) u.bind(5, std::int64_t{*q.register_id});
  if (q.limit > 0) u.bind(6, to_i64(q.limit));
  std::vector<HistoryRow> rows;
  while (u.step("cannot read history")) {
    sqlite3_stmt* s = u.get();
    HistoryRow row;
    row.seq = sqlite3_column_int64(s, 0);
    row.meter = column_text(s, 1);
    row.time_ms = sqlite3_column_int64(s, 2);
    row.source = column_text(s, 3);
    row.value.register_id = sqlite3_column_type(s, 4) == SQLITE_NULL
                                ? -1
                                : static_cast<std::int32_t>(sqlite3_column_int64(s, 4));
    row.value.name = column_text(s, 5);
    row.value.value = column_text(s, 6);
    row.value.text = column_text(s, 7);
    row.value.unit = column_text(s, 8);
    rows.push_back(std::move(row));
  }
  if (q.limit > 0) std::reverse(rows.begin(), rows.end());
  return rows;
}

std::size_t Store::delete_before(std::int64_t cutoff_ms) {
  std::lock_guard lock(impl_->mu);
  auto& d = impl_->d;
  d.require_writable("delete_before");
  Transaction tx(d, true);
  // Readings go with their poll (ON DELETE CASCADE). Cursors are left alone: one below the
  // oldest remaining seq just means that output's backlog was trimmed.
  Use(d, d.prepare("DELETE FROM polls WHERE time_ms < ?1"))
      .bind(1, cutoff_ms)
      .run("cannot delete old polls");
  // changes() counts the polls only, not the cascaded readings.
  const auto n = static_cast<std::size_t>(sqlite3_changes64(d.db));
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
  auto& d = impl_->d;
  Use u(d, d.prepare("SELECT DISTINCT meter FROM polls ORDER BY meter"));
  std::vector<std::string> out;
  while (u.step("cannot list meters")) out.push_back(column_text(u.get(), 0));
  return out;
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
          duration<C>("retention", &C::retention,
                      {std::chrono::hours(1), std::chrono::hours(24 * 365 * 100),
                       std::chrono::seconds(1), true},
                      "readings older than this are deleted hourly (`0s` keeps everything). An "
                      "output that is down longer than this loses the oldest part of its backlog",
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
