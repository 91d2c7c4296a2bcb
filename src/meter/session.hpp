// A conversation with one KMP meter over a Port: batching, echo and noise skipping, deadlines,
// retries that honour the meter's 1.6 s recovery rule, and a diagnosis when nothing valid comes
// back. A register never gets a value from a frame that failed CRC or validation.
#pragma once

#include <asio/awaitable.hpp>

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "kmp/info_code.hpp"
#include "kmp/messages.hpp"
#include "legacy/standard.hpp"
#include "transport/port.hpp"

namespace kamstrup::meter {

using Clock = std::chrono::steady_clock;

struct SessionOptions {
  // Time allowed for the reply's first byte after our request has left the wire. The meter
  // must start answering within 1.6 s (official doc §2.1); the rest is slack for ser2net links.
  std::chrono::milliseconds reply_timeout{2000};
  // Once a reply has started, a silence this long ends it (a real meter sends back to back).
  std::chrono::milliseconds inter_byte_timeout{500};
  // Extra attempts after a failed exchange.
  unsigned retries = 2;
  // After invalid data or silence the meter discards requests for 1.6 s (doc §2.1).
  std::chrono::milliseconds recovery{1600};
  // Whether an exchange that got nothing from the meter (silence, or only our own echo) is
  // retried. Auto-detection turns it off: a meter that ignores a protocol is asked the next one
  // instead of waiting out this one's retries (a dead meter is diagnosed in seconds).
  bool retry_silence = true;
  std::uint8_t dst = kmp::kDstMeter;
};

// Why an exchange produced no valid reply, from least to most informative.
enum class Failure : std::uint8_t {
  None,
  Silent,     // not a single byte came back
  EchoOnly,   // only our own request came back (an echoing head in front of a sleeping meter)
  Garbage,    // bytes, but no frame that decodes (line settings, a second reader)
  CrcErrors,  // frames arrived but failed their CRC (alignment, ambient light)
};

std::string_view failure_name(Failure f);
// Silent or EchoOnly: not a byte came from the meter itself.
bool nothing_from_meter(Failure f);
// One sentence with the likely cause and fix, for users.
std::string_view diagnosis_text(Failure f);

// Counters for health metrics and for tests that assert exact wire traffic.
struct SessionStats {
  std::uint64_t frames_sent = 0;
  std::uint64_t bytes_sent = 0;
  std::uint64_t bytes_received = 0;
  std::uint64_t replies = 0;      // valid replies
  std::uint64_t timeouts = 0;     // exchanges that ended without a valid reply in time
  std::uint64_t crc_errors = 0;   // reply frames that failed CRC
  std::uint64_t bad_frames = 0;   // other invalid reply frames (escape, layout, wrong CID, ...)
  std::uint64_t echoes = 0;       // our own request seen on the receive line
  std::uint64_t noise_bytes = 0;  // bytes outside any frame (0x00 included)
  std::uint64_t retries = 0;
};

// What became of one requested register.
enum class Outcome : std::uint8_t {
  Value,        // read: Reading::value holds it
  Unsupported,  // the meter does not have it (omitted from its reply, or its protocol's reply
                // has no such quantity)
  // Its block in the reply could not be decoded (kmp::Error of that block only).
  UnknownUnit,  // unit code outside the unit table
  BadLength,    // a length that cannot hold a number
  Malformed,    // any other undecodable block
  // Its request got no valid reply (Failure).
  Silent,
  EchoOnly,
  Garbage,
  CrcErrors,
  // Legacy `/#n`: the meter answered, but its program number is not in the scale table, so no
  // value can be scaled (ReadResult::unknown_program has the number).
  UnknownProgram,
};

// The text scripts see ("Unsupported", "UnknownUnit", "Silent", ...: the `failed[].error` of
// `read --json`, the table's notes); "" for Value. Never renamed.
std::string_view outcome_name(Outcome o);
// The outcome of a register whose request got no valid reply (Failure::None → Value).
Outcome outcome_of(Failure f);
// The outcome of a register block that could not be decoded.
Outcome outcome_of(kmp::Error e);

// The outcome for one requested register.
struct Reading {
  // KMP register id; -1 for a quantity without one (legacy `/#n` and IEC readouts: peak_power,
  // customer_number, ...). JSON shows -1 as null, the table as "-".
  std::int32_t id = -1;
  std::string name;  // catalogue name or register_<id>
  std::optional<kmp::RegisterValue> value;
  // Value exactly when `value` is set.
  Outcome outcome = Outcome::Value;
  [[nodiscard]] bool unsupported() const { return outcome == Outcome::Unsupported; }
  // outcome_name(outcome): "" when there is a value.
  [[nodiscard]] std::string_view error() const { return outcome_name(outcome); }
};

struct ReadResult {
  std::vector<Reading> readings;  // one per distinct requested id, in request order
  // Set when no valid answer came back at all (then every reading is a failure).
  Failure failure = Failure::None;
  // Legacy `/#n`: the meter's program number when it is not in the scale table (every reading
  // is then UnknownProgram; unknown_program_text() says how to set the scale).
  std::optional<legacy::ProgramNumber> unknown_program;
  // Which table decodes the meter's info code (register 99 "info"): the legacy `/#n` session
  // sets the MULTICAL 66-C codes; the caller may set the model it knows (kmp/info_code.hpp).
  kmp::InfoCodes info_codes = kmp::InfoCodes::Unknown;
  [[nodiscard]] bool answered() const { return failure == Failure::None; }
  // The registers the meter does not have (Outcome::Unsupported), in request order.
  [[nodiscard]] std::vector<const Reading*> unsupported() const;
};

class MeterSession {
 public:
  MeterSession(transport::Port& port, SessionOptions options);

  // Reads any number of registers in as few frames as possible (≤ 8 ids each), back to back so
  // the meter stays awake. Duplicate ids are read once. Port errors propagate as PortError.
  asio::awaitable<ReadResult> read_registers(std::span<const std::uint16_t> ids);

  struct TypeResult {
    std::optional<kmp::TypeResponse> type;
    Failure failure = Failure::None;
  };
  asio::awaitable<TypeResult> get_type();

  struct SerialResult {
    std::optional<std::uint32_t> serial;
    Failure failure = Failure::None;
  };
  asio::awaitable<SerialResult> get_serial();

  // One request/reply exchange of any frame (e.g. the logger's A0–A3 at 0x7F, see
  // logger_session.hpp): the reply must come from `dst` with the request's CID and satisfy
  // `accept`; retried, spaced and diagnosed like every other exchange. `retries` overrides the
  // options' count for this exchange.
  struct Exchange {
    std::optional<kmp::Frame> reply;
    Failure failure = Failure::None;
  };
  asio::awaitable<Exchange> exchange(const std::vector<std::uint8_t>& request, std::uint8_t dst,
                                     std::function<bool(const kmp::Frame&)> accept,
                                     std::optional<unsigned> retries = std::nullopt);

  [[nodiscard]] const SessionStats& stats() const { return stats_; }
  [[nodiscard]] const SessionOptions& options() const { return options_; }

 private:
  struct Attempt {
    std::optional<kmp::Frame> reply;
    Failure failure = Failure::None;
  };
  // One request/reply exchange, with retries. `accept` validates the application layer; a
  // reply it rejects counts as a bad frame and is retried.
  template <typename Accept>
  asio::awaitable<Attempt> transact(const std::vector<std::uint8_t>& request, Accept accept,
                                    std::optional<std::uint8_t> dst = std::nullopt,
                                    std::optional<unsigned> retries = std::nullopt);
  asio::awaitable<Attempt> exchange_once(const std::vector<std::uint8_t>& request, std::uint8_t cid,
                                         std::uint8_t dst);
  asio::awaitable<void> wait_until(Clock::time_point t);

  transport::Port& port_;
  SessionOptions options_;
  SessionStats stats_;
  Clock::time_point last_failure_{};
  bool had_failure_ = false;
};

// Splits ids (duplicates removed, order kept) into request batches of at most 8.
std::vector<std::vector<std::uint16_t>> plan_batches(std::span<const std::uint16_t> ids);

}  // namespace kamstrup::meter
