// KMP data-logger commands (docs/protocol.md §2.3, §2.10; official doc 5512-447 §6.3). Pure encode
// / decode of CID + data, like messages.hpp. EXPERIMENTAL: no public capture shows a real meter
// answering these commands; everything here follows the document.
//
// Loggers answer on their own destination address (0x7F top module / MC801 internal logger,
// 0xBF base module). Requests (all integers big-endian):
//   A0 GetLogTimePresent  LID · n (1..8) · n × RID (16) · NRcs (8) · MaxL (8) · Time (64)
//   A1 GetLogLastPresent  LID · n · RIDs · NRcs · MaxL
//   A2 GetLogIDPresent    LID · n · RIDs · NRcs · MaxL · RecID (16)
//   A3 GetLogTimePast     LID · n · RIDs · NRcs · MaxL · Time (64) · RecIDOff (16)
// Response (CID echoed, same for all four):
//   LID · N (8) · RecID₁ (16) · N × [RID (16) · unit · NoB · SiEx · value (NoB)]
//   · for each further record: RecID (16) · N × value (NoB each, formats of record 1)
//   · LRORecID (16) · NewRecID (16) · INFO (8)
// The number of records is not sent: it follows from the length. INFO is always the last byte;
// when INFO ≠ 0 the layout may be shorter. The document does not say how, so these short forms
// (data after the CID, no records) are accepted, and nothing else:
//   INFO | LID INFO | LID N INFO | LID LRO NEW INFO | LID N LRO NEW INFO
// (1, 2, 3, 6 or 7 bytes; a full layout has at least 9.)
//
// Time (64 bit): the field table says YY MM DD hh mm ss WK Info (one binary byte each, year
// 2000+YY); the document's own A0/A3 examples print the 8 bytes reversed. Which order meters
// expect is UNCERTAIN: TimeOrder below is the one switch, used only by encode/decode_log_time.
//
// Event status: 0x9B GetEventStatus (no data) → 4 status bytes ES1..ES4 (ES2 bit 0: the
// interval log has unread records, bit 1: the RTC log has); 0x9C ClearEventStatus sends 4
// conditional + 4 unconditional clear masks and gets the same 4-byte answer. The document
// does not define the other bits or the difference between the two masks.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <span>
#include <string_view>
#include <vector>

#include "kmp/error.hpp"
#include "kmp/frame.hpp"
#include "kmp/messages.hpp"

namespace kamstrup::kmp {

inline constexpr std::uint8_t kCidGetEventStatus = 0x9B;
inline constexpr std::uint8_t kCidClearEventStatus = 0x9C;
inline constexpr std::uint8_t kCidGetLogTimePresent = 0xA0;
inline constexpr std::uint8_t kCidGetLogLastPresent = 0xA1;
inline constexpr std::uint8_t kCidGetLogIdPresent = 0xA2;
inline constexpr std::uint8_t kCidGetLogTimePast = 0xA3;

inline constexpr std::size_t kMaxLogRegisters = 8;
// The document's size table marks 128 bytes as the limit of MaxL.
inline constexpr std::uint8_t kDefaultMaxLength = 128;

// INFO byte of a logger response.
inline constexpr std::uint8_t kLogInfoEmpty = 0x01;       // bit 0: the log is empty
inline constexpr std::uint8_t kLogInfoOutOfRange = 0x04;  // bit 2: requested time/ID out of range
inline constexpr std::uint8_t kLogInfoMaxLength = 0x08;   // bit 3: MaxL reached, records dropped
inline constexpr std::uint8_t kLogInfoEndOfLog = 0x10;    // bit 4: end of log reached

[[nodiscard]] bool is_log_cid(std::uint8_t cid);

// The interval loggers a heat meter keeps. Not a protocol field (LIDs are per device and must be
// discovered); shared by the reader and the simulator.
enum class LoggerKind : std::uint8_t { Hourly, Daily, Monthly, Yearly };
inline constexpr std::size_t kLoggerKinds = 4;
std::string_view to_string(LoggerKind kind);  // "hourly", "daily", "monthly", "yearly"
std::optional<LoggerKind> parse_logger_kind(std::string_view text);

// ---- timestamps ------------------------------------------------------------------------------
enum class TimeOrder : std::uint8_t {
  FieldTable,  // YY MM DD hh mm ss WK Info (the document's field table; default)
  Reversed,    // Info WK ss mm hh DD MM YY (the document's A0/A3 examples)
};
std::string_view to_string(TimeOrder order);  // "field-table", "reversed"
std::optional<TimeOrder> parse_time_order(std::string_view text);

// Meter-local civil time, as the logger sends it.
struct LogTime {
  std::uint8_t year = 0;  // 2000 + year
  std::uint8_t month = 1;
  std::uint8_t day = 1;
  std::uint8_t hour = 0;
  std::uint8_t minute = 0;
  std::uint8_t second = 0;
  std::uint8_t weekday = 0;  // WK, 0 in the document
  std::uint8_t info = 0;     // 0 in the document
  bool operator==(const LogTime&) const = default;
  // A real calendar date and time of day (month 1–12, day within the month, 23:59:59).
  [[nodiscard]] bool valid() const;
};
std::array<std::uint8_t, 8> encode_log_time(const LogTime& t, TimeOrder order);
LogTime decode_log_time(std::span<const std::uint8_t, 8> bytes, TimeOrder order);

// Days since 1970-01-01 of a proleptic Gregorian date, and back (pure calendar arithmetic, no
// time zone: callers decide what the civil time means).
std::int64_t days_from_civil(std::int64_t year, unsigned month, unsigned day);
void civil_from_days(std::int64_t days, std::int64_t& year, unsigned& month, unsigned& day);

// ---- requests --------------------------------------------------------------------------------
enum class LogCommand : std::uint8_t {
  TimePresent = kCidGetLogTimePresent,
  LastPresent = kCidGetLogLastPresent,
  IdPresent = kCidGetLogIdPresent,
  TimePast = kCidGetLogTimePast,
};

// Fields a command does not use stay at their defaults (time {}, record_id 0).
struct LogRequest {
  LogCommand command = LogCommand::LastPresent;
  std::uint8_t lid = 1;
  std::vector<std::uint16_t> registers;  // NRgs 1..8
  std::uint8_t records = 1;              // NRcs
  std::uint8_t max_length = kDefaultMaxLength;
  LogTime time{};               // A0, A3
  std::uint16_t record_id = 0;  // A2: RecID; A3: RecIDOff
  bool operator==(const LogRequest&) const = default;
};

// Wire bytes to `dst`. Malformed when registers is empty or longer than 8.
Result<std::vector<std::uint8_t>> encode_log_request(const LogRequest& req, TimeOrder order,
                                                     std::uint8_t dst = kDstLoggerTop);
Result<LogRequest> decode_log_request(const Frame& frame, TimeOrder order);

// ---- responses -------------------------------------------------------------------------------
struct LogColumn {
  std::uint16_t id = 0;
  std::uint8_t unit_code = 0;
  std::uint8_t nob = 0;
  std::uint8_t siex = 0;
  bool operator==(const LogColumn&) const = default;
};

struct LogRecordData {
  std::uint16_t record_id = 0;
  std::vector<std::vector<std::uint8_t>> values;  // one mantissa per column, NoB bytes each
  bool operator==(const LogRecordData&) const = default;
};

struct LogReply {
  std::uint8_t cid = kCidGetLogLastPresent;
  std::uint8_t info = 0;
  std::optional<std::uint8_t> lid;             // absent only in the INFO-only short form
  std::optional<std::uint8_t> register_count;  // N as sent (= columns.size() with records)
  std::vector<LogColumn> columns;              // formats of the first record
  std::vector<LogRecordData> records;          // in the meter's order
  std::optional<std::uint16_t> last_read_id;   // LRORecID
  std::optional<std::uint16_t> newest_id;      // NewRecID
  bool operator==(const LogReply&) const = default;

  // Decodes one cell with decode_value (UnknownUnit / BadLength fail that cell only).
  [[nodiscard]] Result<RegisterValue> value(std::size_t record, std::size_t column) const;
  [[nodiscard]] std::optional<std::size_t> column_of(std::uint16_t id) const;
};

// Parses a logger response. `expected_cid` (when given) must match. Truncated: a format, value
// or record runs past the end; Malformed: N > 8, a register twice, INFO = 0 without a full
// layout, or a length that fits no layout.
Result<LogReply> decode_log_response(const Frame& frame,
                                     std::optional<std::uint8_t> expected_cid = std::nullopt);
// Wire bytes of a response (simulator, tests). Records present → the full layout (lid, ids
// required; each record one mantissa of its column's NoB per column); no records → the short
// form the present optionals select (INFO must be ≠ 0). Malformed when inconsistent.
Result<std::vector<std::uint8_t>> encode_log_response(const LogReply& reply,
                                                      std::uint8_t dst = kDstLoggerTop);
// Application-layer length (CID included) of a full response, the quantity MaxL caps:
// 3 + 2m + 5n + m·ΣNoB + 5 for m records of the given columns.
std::size_t log_response_length(std::span<const LogColumn> columns, std::size_t records);

// ---- event status ------------------------------------------------------------------------------
using EventStatus = std::array<std::uint8_t, 4>;  // ES1..ES4
struct ClearEventStatusRequest {
  EventStatus conditional{};
  EventStatus unconditional{};
  bool operator==(const ClearEventStatusRequest&) const = default;
};
std::vector<std::uint8_t> encode_get_event_status(std::uint8_t dst = kDstLoggerTop);
std::vector<std::uint8_t> encode_clear_event_status(const ClearEventStatusRequest& req,
                                                    std::uint8_t dst = kDstLoggerTop);
// GetEventStatus → nullopt; ClearEventStatus → its masks.
Result<std::optional<ClearEventStatusRequest>> decode_event_status_request(const Frame& frame);
std::vector<std::uint8_t> encode_event_status_response(std::uint8_t cid, const EventStatus& status,
                                                       std::uint8_t dst = kDstLoggerTop);
// A 0x9B or 0x9C reply (its CID must equal `cid`).
Result<EventStatus> decode_event_status_response(const Frame& frame, std::uint8_t cid);

}  // namespace kamstrup::kmp
