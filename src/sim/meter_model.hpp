// A virtual Kamstrup meter without I/O: request frame bytes in, reply frame bytes (or silence)
// out, with values that evolve with an injected wall clock.
//
// Contract:
//  - Answers GetType (0x01), GetSerialNo (0x02) and GetRegister (0x10, 1–8 ids) addressed to
//    0x3F. GetRegister blocks follow the request order; unsupported ids are omitted (a reply
//    with zero blocks is valid). Everything else — bad framing or CRC, other addresses, other
//    CIDs, malformed bodies, frames from a meter — gets silence (KMP has no NAK).
//  - Values are exact integers at each register's exponent, encoded with kmp::encode_value at
//    the register's fixed NoB. Counters (energy, volume, hours, m³×°C) integrate power, flow and
//    time in integer base units, so they never decrease and never lose a fraction; a counter
//    that outgrows its NoB wraps like a real register, a gauge saturates.
//  - Gauges move once per simulated second: T1 60–80 °C, T2 30–45 °C, flow 80–400 l/h,
//    heat power = flow × (T1 − T2) × 1.16 Wh/(l·K); temp_diff is exactly the sent T1 − T2.
//    Electric power, phase voltages and currents likewise for the 382. Fixed gauges pin the
//    physical quantity (a fixed power of 0.0 stops the energy counter).
//  - Clock and date registers come from `now` in local time (units 47/48/49/50 digit formats).
//  - Time only moves forward: a `now` earlier than the last one evolves nothing.
//  - The same profile, seed and sequence of (request, now) give the same replies.
//  - history()/sent_value() may be called from another thread than handle().
//  - Data logger (profile.logger, EXPERIMENTAL): A0–A3 and 0x9B/0x9C addressed to the logger
//    address (0x7F) are answered from per-LID record lists (see LoggerSpec in profile.hpp):
//    A0 from the first record at or after Time, A1 after the last record read, A2 from RecID,
//    A3 from the last record at or before Time minus RecIDOff, towards the past. At most NRcs
//    records, fewer when MaxL would be exceeded (INFO bit 3); INFO bit 0 for an empty log, bit 2
//    for a Time/ID outside the log (or an invalid Time: wrong byte order), bit 4 when the last
//    record in the reading direction was sent. Replies without records use the short form
//    LID · 0 · LRO · NEW · INFO. An unknown LID or a disabled logger gets silence. Record ids
//    are the period index (hours/days/months since 1970, year number; with a compressed period,
//    periods since 1970) modulo 65536, so they are consecutive. 0x9B answers ES1..ES4 with ES2
//    bit 0 set while the hourly log has records after the last one read; a 0x9C whose
//    unconditional ES2 mask has bit 0 marks them read.
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <mutex>
#include <optional>
#include <random>
#include <span>
#include <string>
#include <vector>

#include "kmp/decimal.hpp"
#include "kmp/frame.hpp"
#include "kmp/logger.hpp"
#include "sim/profile.hpp"

namespace kamstrup::sim {

using WallClock = std::chrono::system_clock;

// What a frame asks of the meter, as far as it can be decoded (for logs and fault decisions).
struct RequestInfo {
  bool answerable = false;  // a well-formed GetType/GetSerialNo/GetRegister to 0x3F
  std::string reason;       // why not, when !answerable ("bad frame: CrcMismatch", ...)
  std::optional<std::uint8_t> dst;
  std::optional<std::uint8_t> cid;
  std::vector<std::uint16_t> ids;   // GetRegister and logger requests
  std::optional<std::uint8_t> lid;  // logger requests
};
// With a profile, requests to its enabled logger's address count as answerable too.
RequestInfo describe_request(std::span<const std::uint8_t> wire, const Profile* profile = nullptr);

struct SentValue {
  std::uint16_t id = 0;
  std::uint8_t unit_code = 0;
  kmp::Decimal value;  // exactly as encoded in the reply
};

// One logger record: its period index, id on the wire (index mod 65536), the boundary time it
// was written for, and the logged registers' values then.
struct LoggedRecord {
  std::int64_t index = 0;
  std::uint16_t id = 0;
  WallClock::time_point t;
  std::vector<SentValue> values;
};

struct Answer {
  std::optional<std::vector<std::uint8_t>> reply;  // wire bytes; nullopt = silence
  std::string reason;                              // why silent
  std::vector<SentValue> values;                   // GetRegister blocks, in reply order
  std::vector<LoggedRecord> records;               // logger replies: records sent, in order
  std::optional<std::uint8_t> log_info;            // logger replies: the INFO byte
};

struct SentReply {
  WallClock::time_point t;
  std::uint8_t cid = 0;
  std::vector<SentValue> values;
};

class MeterModel {
 public:
  MeterModel(Profile profile, std::uint64_t seed, WallClock::time_point start);

  Answer handle(std::span<const std::uint8_t> request, WallClock::time_point now);

  // The value register `id` has at `now` (evolving the model to `now`); nullopt when the
  // profile does not support it.
  std::optional<kmp::Decimal> value(std::uint16_t id, WallClock::time_point now);

  [[nodiscard]] const Profile& profile() const { return profile_; }

  // Logger `kind`'s records at `now` (evolving the model to `now`), oldest first; empty when the
  // profile has no such logger. Same thread as handle().
  std::vector<LoggedRecord> log_records(LogKind kind, WallClock::time_point now);

  // Replies this model produced, oldest first (the last kHistory of them).
  static constexpr std::size_t kHistory = 4096;
  [[nodiscard]] std::vector<SentReply> history() const;
  // The value of register `id` in the reply produced at exactly `t` (the `now` given to handle).
  [[nodiscard]] std::optional<kmp::Decimal> sent_value(std::uint16_t id,
                                                       WallClock::time_point t) const;

 private:
  struct Reg {
    RegisterSpec spec;
    kmp::Decimal value;
    kmp::uint128 quantum = 0;    // counters: base units per count
    kmp::uint128 remainder = 0;  // counters: base units not yet a whole count
    unsigned period = 0;         // extremes: year (YY) or month (YYMM) of the current value
  };
  // Physical state in integer milli-units.
  struct Physical {
    std::int64_t t1 = 70'000;  // m°C
    std::int64_t t2 = 40'000;
    std::int64_t flow = 250'000;                         // ml/h
    std::int64_t heat_power = 0;                         // mW
    std::int64_t el_power = 1'250'000;                   // mW
    std::int64_t volt[3] = {231'000, 231'000, 231'000};  // mV
  };

  struct Log {
    LogKind kind = LogKind::Hourly;
    std::uint8_t lid = 0;
    std::chrono::milliseconds period{0};  // 0: calendar
    std::size_t capacity = 0;
    std::deque<LoggedRecord> records;
    std::int64_t next_index = 0;  // the next boundary to write
    WallClock::time_point next_time;
    std::optional<std::int64_t> last_read;  // index of the last record sent
  };

  void advance(WallClock::time_point now);
  void integrate(std::int64_t dt_us);
  void walk();
  void pin();
  void pin(Physical& p) const;
  void refresh(WallClock::time_point now);
  void refresh_at(WallClock::time_point now);
  void snapshot(Log& log, WallClock::time_point t);
  void synthesize_past();
  [[nodiscard]] Physical past_physical(std::int64_t hour) const;
  Answer handle_logger(const kmp::Frame& frame);
  [[nodiscard]] static std::optional<std::int64_t> gauge_milli(const Reg& r);
  // A gauge register's value for a physical quantity in milli-base units.
  [[nodiscard]] static kmp::Decimal gauge_value(const Reg& r, std::int64_t milli);
  // Base units per µs a counter of behaviour `b` accrues (0 for non-counters).
  [[nodiscard]] static kmp::uint128 rate_of(Behaviour b, const Physical& p);
  Reg* first(Behaviour b);

  Profile profile_;
  std::mt19937_64 rng_;
  WallClock::time_point last_;
  std::int64_t since_walk_us_ = 0;
  Physical phys_;
  std::vector<Reg> regs_;
  std::uint64_t seed_ = 0;
  WallClock::time_point start_;
  std::vector<kmp::Decimal> start_values_;  // regs_ values at start_
  std::vector<std::size_t> logged_;         // indexes into regs_ of the logged registers
  std::vector<Log> logs_;
  bool past_done_ = false;

  mutable std::mutex history_mutex_;
  std::deque<SentReply> history_;
};

}  // namespace kamstrup::sim
