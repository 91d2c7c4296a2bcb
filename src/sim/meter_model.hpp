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
#include "sim/profile.hpp"

namespace kamstrup::sim {

using WallClock = std::chrono::system_clock;

// What a frame asks of the meter, as far as it can be decoded (for logs and fault decisions).
struct RequestInfo {
  bool answerable = false;  // a well-formed GetType/GetSerialNo/GetRegister to 0x3F
  std::string reason;       // why not, when !answerable ("bad frame: CrcMismatch", ...)
  std::optional<std::uint8_t> dst;
  std::optional<std::uint8_t> cid;
  std::vector<std::uint16_t> ids;  // GetRegister only
};
RequestInfo describe_request(std::span<const std::uint8_t> wire);

struct SentValue {
  std::uint16_t id = 0;
  std::uint8_t unit_code = 0;
  kmp::Decimal value;  // exactly as encoded in the reply
};

struct Answer {
  std::optional<std::vector<std::uint8_t>> reply;  // wire bytes; nullopt = silence
  std::string reason;                              // why silent
  std::vector<SentValue> values;                   // GetRegister blocks, in reply order
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

  void advance(WallClock::time_point now);
  void integrate(std::int64_t dt_us);
  void walk();
  void pin();
  void refresh(WallClock::time_point now);
  [[nodiscard]] static std::optional<std::int64_t> gauge_milli(const Reg& r);
  Reg* first(Behaviour b);

  Profile profile_;
  std::mt19937_64 rng_;
  WallClock::time_point last_;
  std::int64_t since_walk_us_ = 0;
  Physical phys_;
  std::vector<Reg> regs_;

  mutable std::mutex history_mutex_;
  std::deque<SentReply> history_;
};

}  // namespace kamstrup::sim
