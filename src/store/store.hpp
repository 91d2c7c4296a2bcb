// The embedded history: every reading the daemon takes, in SQLite (WAL), the per-output
// delivery cursors that make store-and-forward work, and hourly/daily/monthly rollups of every
// numeric register kept forever (docs/history.md). A poll is durable once insert() returns:
// a kill -9 at any moment leaves either the whole poll or none of it.
//
// Thread safety: one Store may be used from several threads (the scheduler inserts, each
// output's delivery thread reads and moves its cursor); calls are serialised internally.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <vector>

#include "config/keys.hpp"
#include "store/zone.hpp"

namespace kamstrup::store {

// The `store:` section of the configuration file.
struct StoreConfig {
  std::string path = "kamstrup.db";
  std::chrono::milliseconds retention{std::chrono::hours(24 * 365)};  // 0 = keep forever
  // Polls the daemon holds in memory while the store cannot be written (disk full, I/O error),
  // written in order once it can; past this the oldest held poll is dropped (and counted).
  std::size_t queue = 1000;
  std::string timezone;  // IANA zone of the rollups' days and months; "" = the system's
  bool operator==(const StoreConfig&) const = default;
};
const config::Table<StoreConfig>& store_keys();

class StoreError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// One writer per store: an exclusive flock(2) on "<database>.lock" beside the database, held for
// the object's lifetime (the kernel releases it when the process dies, also on kill -9). The
// file holds the holder's PID as text, for the message of the one that is refused. Readers
// (`kamstrup history`) do not take it.
class WriterLock {
 public:
  // Throws StoreError "another kamstrup daemon (PID <n>) holds <lock file>" when another
  // process holds it, or naming the file and the system's reason when it cannot be made.
  explicit WriterLock(const std::string& database_path);
  ~WriterLock();
  WriterLock(const WriterLock&) = delete;
  WriterLock& operator=(const WriterLock&) = delete;
  // The database path it guards.
  [[nodiscard]] const std::string& database() const { return database_; }

 private:
  std::string database_;
  int fd_ = -1;
};

// What a damaged database gets told at start-up: SQLite's error and what to do about it. Empty
// when `path` does not exist yet or every page of its tables and indexes reads (page_check()).
// Never changes the file (it is opened read-only).
std::string damage_report(const std::string& path);

// A register's values in the asked range come in units that do not convert exactly (GJ and MWh).
class UnitConflict : public StoreError {
 public:
  using StoreError::StoreError;
};

// One register's value in one poll. Values stay exact decimal text until an output prints them.
struct Value {
  std::int32_t register_id = -1;  // KMP register id; -1 for quantities without one (legacy)
  std::string name;               // catalogue name (heat_energy, ...)
  std::string value;              // exact decimal text ("55.006"); "" when there is no number
  std::string text;               // readable text for dates/times/ASCII ("2022-01-12"); or ""
  std::string unit;               // as the meter sent it ("MWh", "°C", "")
  bool operator==(const Value&) const = default;
};

// The readings of one meter from one poll (or one logger record), delivered as a unit.
struct Poll {
  std::int64_t seq = 0;         // store order; assigned by insert()
  std::string meter;            // configured meter name
  std::int64_t time_ms = 0;     // UTC Unix time of the read, milliseconds
  std::string source = "poll";  // "poll", or "logger" for backfilled records
  std::vector<Value> values;
  bool operator==(const Poll&) const = default;
};

// What the daemon learnt about a meter when it last identified it (GetType, GetSerialNo). Kept
// in the store so that outputs have it at start-up, before the meter answers again (InfluxDB's
// serial tag on replayed backlog, Home Assistant discovery). sinks::MeterInfo is this type.
struct MeterInfo {
  std::string name;         // configured meter name
  std::string model;        // e.g. "MULTICAL 403" or "" when unknown
  std::string meter_type;   // GetType meter type, e.g. "0x0403"
  std::string sw_revision;  // e.g. "A2"
  std::string serial;       // GetSerialNo, decimal text; "" when unknown
  std::string protocol;     // "kmp"
  // Which table names the flags of the meter's info code (kmp::info_codes_name: "multical403",
  // "multical66c", "unknown"); "" when not known (an identity kept by an older build).
  std::string info_codes{};
  bool operator==(const MeterInfo&) const = default;
};

// One row of `kamstrup history`.
struct HistoryRow {
  std::int64_t seq = 0;
  std::string meter;
  std::int64_t time_ms = 0;
  std::string source;
  Value value;
};

struct HistoryQuery {
  std::optional<std::string> meter;
  std::optional<std::string> register_name;  // catalogue name
  std::optional<std::int64_t> from_ms;       // inclusive
  std::optional<std::int64_t> to_ms;         // exclusive
  std::size_t limit = 0;                     // 0 = no limit
  // KMP register id, for ids the catalogue does not name (a catalogued id is better matched by
  // its name, which is indexed). Both set = both must match.
  std::optional<std::int32_t> register_id;
};

// One rollup bucket as the queries give it (docs/history.md). Decimals are exact text.
struct RollupRow {
  std::int64_t start_ms = 0;   // UTC instant of the local hour/day/month/year start
  std::int64_t end_ms = 0;     // the next bucket's start
  std::int64_t first_ms = 0;   // gauge: first reading; counter: the reading `first` comes from
  std::int64_t last_ms = 0;    // the last reading in the bucket
  std::int64_t count = 0;      // readings in the bucket
  std::string min, max, mean;  // gauges (mean: 3 more fraction digits, half-even)
  std::string first, last, consumption;  // counters
  std::int64_t resets = 0;               // counters: steps down (meter replaced or reset)
  bool baseline = false;                 // counters: `first` is a reading from before the bucket
};

// Whether a bucket's numbers are final (docs/history.md): it is over at now_ms and a reading lies
// within min(bucket length / 4, 1 h) before each edge (counters: the reading `first` comes from
// before the start, the last one before the end; gauges: the first and last readings from the
// edges). Buckets of a gap's edges, the first bucket of a series and the current one are not.
bool complete(const RollupRow& row, bool cumulative, std::int64_t now_ms);

struct RollupQuery {
  std::string meter;
  std::string register_name;
  Step step = Step::Hour;
  std::int64_t from_ms = 0;  // buckets that end after from_ms ...
  std::int64_t to_ms = 0;    // ... and start before to_ms
};

struct RollupSeries {
  std::string unit;  // the newest unit; older buckets converted exactly into it
  bool cumulative = false;
  std::vector<RollupRow> rows;  // oldest first; only buckets that have readings
};

// A counter that went down: the meter was replaced or reset. Counted as no consumption.
struct CounterReset {
  std::string meter;
  std::string register_name;
  std::int64_t time_ms = 0;
  std::string before, after;  // the counter before the drop and after it
};

// What a store learnt while it opened (a migration, a time zone change), for the daemon's log.
struct OpenNote {
  std::string text;
};

class Store {
 public:
  // The schema this build writes (PRAGMA user_version). Older files are migrated on open; a
  // newer file is refused rather than misread.
  // 1: polls, readings, cursors. 2: + meter_info. 3: one row per poll (values packed), rollups,
  // series, meta, meter_info.info_codes; no AUTOINCREMENT (the seq floor is kept in meta).
  static constexpr int kSchemaVersion = 3;

  enum class Access {
    ReadWrite,  // the daemon: creates the file if needed
    ReadOnly,   // readers (`kamstrup history`): never creates or changes the file; a missing
                // file throws, and so do insert(), insert_all(), set_cursor(), delete_before(),
                // set_meter_info(). Reads files of schema version 1 too (not yet migrated by a
                // newer daemon): they have no meter info.
  };

  // Opens or creates the database (parent directory must exist), enables WAL, creates or
  // migrates the schema. Throws StoreError naming the path.
  explicit Store(const std::string& path);
  Store(const std::string& path, Access access);
  // The daemon's: the path and the time zone of the rollups (a changed zone rebuilds the days and
  // months from the hours on open). Throws StoreError for an unknown zone.
  explicit Store(const StoreConfig& config);
  // As above with the rollups' time zone ("" = the system's; a reader uses the file's own).
  Store(const std::string& path, Access access, const std::string& timezone);
  // Writes the open rollup buckets and pending cursors.
  ~Store();
  Store(const Store&) = delete;
  Store& operator=(const Store&) = delete;

  // Appends the poll in one transaction, sets poll.seq and returns it.
  std::int64_t insert(Poll& poll);
  // Appends several polls (a logger backfill) in one transaction: all or none, in span order,
  // each poll's seq set. One commit (one fsync) instead of one per poll.
  void insert_all(std::span<Poll> polls);

  // Polls with seq > after, oldest first, at most `limit`.
  std::vector<Poll> polls_after(std::int64_t after, std::size_t limit) const;
  // The highest seq ever assigned (0 for a new store). Seqs are never reused, also after
  // delete_before() removed the newest polls, so cursors stay meaningful.
  std::int64_t last_seq() const;

  // Delivery cursor of an output ("mqtt", "influxdb", ...): the last seq it has confirmed.
  // An output seen for the first time starts at 0 (it gets the whole retained history).
  // set_cursor() is written to disk at most every kCursorFlush (and on close): a kill -9 can make
  // an output get up to that much again (delivery stays at least once), and a poll's commit
  // does not pay for a cursor page per output.
  std::int64_t cursor(const std::string& sink) const;
  void set_cursor(const std::string& sink, std::int64_t seq);
  static constexpr std::chrono::seconds kCursorFlush{30};
  // Writes pending cursor moves now.
  void flush_cursors();

  // Polls with seq > after that are still in the store: an output's backlog. Unlike
  // last_seq() - cursor it stays right after retention deleted undelivered polls.
  std::int64_t count_after(std::int64_t after) const;

  // The meter's identity, replacing what was stored for info.name.
  void set_meter_info(const MeterInfo& info);
  // The stored identity of one meter, or nullopt.
  std::optional<MeterInfo> meter_info(const std::string& meter) const;
  // Every stored identity, by name.
  std::vector<MeterInfo> meter_infos() const;

  // Matching rows ordered by poll time, then seq, then the poll's value order. With a limit,
  // the newest `limit` rows (still oldest first).
  std::vector<HistoryRow> history(const HistoryQuery& q) const;

  // Deletes polls read before `cutoff_ms`; returns how many polls went.
  std::size_t delete_before(std::int64_t cutoff_ms);

  // The newest poll's time per meter (for backfill and status), or nullopt.
  std::optional<std::int64_t> last_time(const std::string& meter) const;

  [[nodiscard]] const std::string& path() const;

  // Meter names that have polls, sorted.
  std::vector<std::string> meters() const;
  // PRAGMA user_version of the file.
  int schema_version() const;
  // PRAGMA integrity_check: "ok", or SQLite's list of problems.
  std::string integrity_check() const;
  // PRAGMA quick_check: the same checks but for index contents against their tables, in about
  // the time of reading the file once; "ok", or SQLite's list of problems (at most `max_lines`).
  std::string quick_check(int max_lines = 10) const;
  // Reads every page of every table and index once (a count(*) over each b-tree: SQLite checks
  // each page's header as it loads it) without decoding a record: catches a damaged page at a
  // fraction of quick_check's cost (docs/performance.md). "ok", or SQLite's error.
  std::string page_check() const;

  // --- rollups (docs/history.md) ---
  // The time zone the rollups' days and months are in.
  [[nodiscard]] std::string timezone() const;
  // The buckets of one register at `step` (Year: merged from months) overlapping [from, to),
  // including the open (current) ones. Throws StoreError "no such ..." when the meter or the
  // register has no rollups, UnitConflict when units do not convert.
  RollupSeries rollups(const RollupQuery& q) const;
  // Whether `register_name` of `meter` is rolled up as a counter; nullopt when never stored.
  std::optional<bool> cumulative(const std::string& meter, const std::string& register_name) const;
  // Registers with rollups, per meter: (meter, register, unit), sorted.
  struct SeriesName {
    std::string meter, register_name, unit;
    bool cumulative = false;
  };
  std::vector<SeriesName> series() const;

  // Copies the whole database to `dest` (SQLite's online backup) while others keep writing;
  // `dest` must not exist. The copy is a consistent snapshot (a rollback-journal file; opening
  // it with the daemon turns it back to WAL).
  void backup(const std::string& dest) const;

  // Called after each committed insert()/insert_all() with the stored polls (their seqs set), on
  // the inserting thread, outside the store's lock; and for each counter drop seen. The daemon's
  // /api/live and its log use these. Returns an id for unsubscribe().
  struct Listener {
    std::function<void(std::span<const Poll>)> polls;
    std::function<void(const CounterReset&)> reset;
  };
  int subscribe(Listener l);
  void unsubscribe(int id);

  // Notes from opening (migration, rebuilt days), for the caller to log once.
  [[nodiscard]] std::vector<OpenNote> open_notes() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace kamstrup::store
