// The embedded history: every reading the daemon takes, in SQLite (WAL), and the per-output
// delivery cursors that make store-and-forward work. A poll is durable once insert() returns:
// a kill -9 at any moment leaves either the whole poll or none of it.
//
// Thread safety: one Store may be used from several threads (the scheduler inserts, each
// output's delivery thread reads and moves its cursor); calls are serialised internally.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <vector>

#include "config/keys.hpp"

namespace kamstrup::store {

// The `store:` section of the configuration file.
struct StoreConfig {
  std::string path = "kamstrup.db";
  std::chrono::milliseconds retention{std::chrono::hours(24 * 365)};  // 0 = keep forever
  // Polls the daemon holds in memory while the store cannot be written (disk full, I/O error),
  // written in order once it can; past this the oldest held poll is dropped (and counted).
  std::size_t queue = 1000;
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

class Store {
 public:
  // The schema this build writes (PRAGMA user_version). Older files are migrated on open; a
  // newer file is refused rather than misread.
  // 1: polls, readings, cursors. 2: + meter_info. 3: + meter_info.info_codes.
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
  std::int64_t cursor(const std::string& sink) const;
  void set_cursor(const std::string& sink, std::int64_t seq);

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

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace kamstrup::store
