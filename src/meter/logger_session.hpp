// Reading a KMP meter's own data logger (0xA0–0xA3, 0x9B at the logger address 0x7F) over a
// MeterSession. EXPERIMENTAL: no public capture shows a real meter answering these commands;
// this follows the official document (docs/protocol.md §2.10) and is tested against the simulator.
//
// Discovery. Which log id (LID) holds which logger is not documented, so the first read of a
// session finds out: a GetEventStatus (0x9B) to the logger address tells whether a logger
// answers at all (nothing after the session's retries, and no answer to a probe of LID 1 either:
// "meter does not support logger reads"); then LIDs 1..max_lid are probed, each with a
// GetLogTimePast (A3) for its two newest records with the date and clock registers (1003,
// 1002), until four loggers answered. A logger is hourly/daily/monthly/yearly by the spacing of
// its two newest records (30 min–2 h, 20–28 h, 27–32 days, 360–370 days); loggers whose spacing
// fits no band (compressed test time, one record, empty) take the remaining kinds in order of
// spacing. The result (LoggerDirectory) is returned with every read: cache it per meter and pass
// it back in LogReadOptions::directory, or use a LoggerReader, which keeps it for its session.
//
// Record times come from the date (1003, YYMMDD) and clock (1002, HHMMSS) registers logged with
// each record, which the reader always asks for (so at most 6 other registers per read). They
// are the meter's local time and are converted with this machine's time zone (mktime); records
// without a logged date cannot be placed in time and fail the read (LogStatus::NoTime).
//
// Reading [from, to): one A0 (GetLogTimePresent) at `from` (or 2000-01-01 for the whole log),
// then A2 (GetLogIDPresent) from the next record id, each asking for as many records as fit
// MaxL (128 by default, the document's limit; the first request assumes 4-byte values), until a
// record at or after `to`, the end of the log (INFO bit 4) or the newest record id. With `last`,
// A3 (GetLogTimePast) towards the past from the newest record, then put in time order.
#pragma once

#include <asio/awaitable.hpp>

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "kmp/logger.hpp"
#include "meter/session.hpp"

namespace kamstrup::meter {

using kmp::LoggerKind;                               // Hourly, Daily, Monthly, Yearly
std::string_view logger_kind_name(LoggerKind kind);  // "hourly", ...
using kmp::parse_logger_kind;

struct LogRecord {
  std::int64_t time_ms = 0;  // Unix ms of the record's logged local date and time
  std::uint16_t record_id = 0;
  // One per requested register, in request order: a value, or Outcome::Unsupported when the
  // logger does not log it, or a codec outcome (UnknownUnit, ...) for a value that cannot be
  // decoded.
  std::vector<Reading> readings;
};

struct LoggerInfo {
  std::uint8_t lid = 0;
  std::optional<LoggerKind> kind;
  std::optional<std::int64_t> spacing_ms;  // between its two newest records
  bool empty = false;                      // answered with INFO bit 0
  bool rejected_time = false;              // answered "out of range" to a probe for its newest
  std::optional<std::uint16_t> newest_id;
  std::optional<std::int64_t> newest_ms;
};

struct LoggerDirectory {
  std::uint8_t dst = kmp::kDstLoggerTop;
  std::vector<LoggerInfo> loggers;  // in LID order
  [[nodiscard]] const LoggerInfo* find(LoggerKind kind) const;
};

enum class LogStatus : std::uint8_t {
  Ok,
  Unsupported,   // nothing answers on the logger address
  NoAnswer,      // the logger answered discovery but stopped answering during the read
  NoSuchLogger,  // no logger of the requested kind was found
  Empty,         // the logger has no records (INFO bit 0)
  // The requested range lies outside the log (INFO bit 2, or no record in it). For a backfill
  // whose `from` is after the newest record this just means "nothing new yet".
  OutOfRange,
  NoTime,    // the logger does not log the date register, so records have no time
  BadReply,  // replies that do not fit the request (or records that never fit MaxL)
  Usage,     // bad options (more than 6 registers, from ≥ to)
};
std::string_view log_status_name(LogStatus s);

struct LogReadOptions {
  LoggerKind kind = LoggerKind::Hourly;
  std::optional<std::int64_t> from_ms, to_ms;  // [from, to), Unix ms
  std::optional<std::size_t> last;             // only the newest N records (then filtered)
  std::vector<std::uint16_t> registers;        // empty = default_log_registers()
  kmp::TimeOrder order = kmp::TimeOrder::FieldTable;
  // Called after each reply: records delivered so far, estimated total (≥ done).
  std::function<void(std::size_t done, std::size_t total)> progress;
  // Called once per record in time order as soon as it is known (streaming output); with
  // `last`, only after all replies.
  std::function<void(const LogRecord&)> on_record;
  std::optional<LoggerDirectory> directory;  // skip discovery (cached per meter)
  std::optional<std::uint8_t> lid;           // skip discovery and read this LID
  std::uint8_t max_length = kmp::kDefaultMaxLength;
  std::uint8_t dst = kmp::kDstLoggerTop;
  std::uint8_t max_lid = 8;
};

struct LogReadResult {
  std::vector<LogRecord> records;  // in time order
  Failure failure = Failure::None;
  std::string error;  // empty on success; one sentence for users
  LogStatus status = LogStatus::Ok;
  LoggerDirectory directory;  // what discovery found (or what was passed in)
  std::uint8_t lid = 0;       // the LID read
  std::size_t requests = 0;   // logger exchanges (discovery included)
  [[nodiscard]] bool ok() const { return status == LogStatus::Ok; }
};

// heat_energy, volume, hour_counter.
std::vector<std::uint16_t> default_log_registers();

asio::awaitable<LogReadResult> read_log(MeterSession& session, const LogReadOptions& options);

// Discovery alone (status Ok with the directory, or Unsupported / NoAnswer).
asio::awaitable<LogReadResult> discover_loggers(MeterSession& session,
                                                const LogReadOptions& options);

// read_log that remembers the directory for its session.
class LoggerReader {
 public:
  explicit LoggerReader(MeterSession& session) : session_(session) {}
  asio::awaitable<LogReadResult> read(LogReadOptions options);
  [[nodiscard]] const std::optional<LoggerDirectory>& directory() const { return directory_; }

 private:
  MeterSession& session_;
  std::optional<LoggerDirectory> directory_;
};

// Pure helpers (tests): kinds by spacing as described above; local time ↔ logger time.
void classify_loggers(std::vector<LoggerInfo>& loggers);
kmp::LogTime log_time_of(std::int64_t unix_ms);  // local time
std::optional<std::int64_t> unix_ms_of(std::uint32_t yymmdd, std::uint32_t hhmmss);

}  // namespace kamstrup::meter
