// A conversation with a pre-KMP MULTICAL (66/III/401/41) over a Port, in either of its optical
// protocols (docs/protocol.md §6):
//  - `/#n`: the request goes out at 300 baud 7E2; once it has left the wire (its length × the
//    character time) the port switches to 1200 baud 7E1 (a 1-stop-bit receiver also takes the
//    meter's 2-stop-bit characters), drops what arrived meanwhile (our own echo), reads the
//    CR-terminated reply line(s) and switches back. The meter answers within 0.3-2 s.
//  - IEC 62056-21 mode A: `/?!` CR LF at 300 baud 7E1, the meter answers at 300 baud with its
//    identification, (after our ACK 000 where the meter family wants it) the data block and the
//    BCC, which is verified.
// Failed exchanges are retried, each request at least `retry_interval` after the previous one
// ([MC66TD]: repeat every ≥ 5 s until data arrives). No value ever comes from a line that failed
// validation (field count/width/digits) or a block whose BCC failed.
#pragma once

#include <asio/awaitable.hpp>

#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "legacy/iec.hpp"
#include "legacy/standard.hpp"
#include "meter/session.hpp"
#include "transport/port.hpp"

namespace kamstrup::meter {

struct LegacyOptions {
  transport::LineSettings request_line{300, 7, transport::Parity::Even, 2};
  transport::LineSettings reply_line{1200, 7, transport::Parity::Even, 1};
  transport::LineSettings iec_line{300, 7, transport::Parity::Even, 1};
  // From the moment the request has left the wire until the reply's first character.
  std::chrono::milliseconds reply_timeout{2500};
  // Once a reply has started, this much silence ends it.
  std::chrono::milliseconds inter_byte_timeout{500};
  unsigned retries = 2;
  // Minimum time between the starts of two requests after a failed one.
  std::chrono::milliseconds retry_interval{5000};
  // Whether a request that got nothing from the meter (silence, or only our own echo) is asked
  // again; auto-detection turns it off (see SessionOptions::retry_silence).
  bool retry_silence = true;
  // Send ACK "000" CR LF after the IEC identification line (harmless for meters that do not
  // wait for it; MC III/41/401 do).
  bool iec_ack = true;
  // The meter's scale; when unset it is derived from the program number in the /#2 reply (read
  // once per session and cached).
  std::optional<legacy::Scale> scale;
};

// The raw answer to one `/#n` request.
struct LegacyReply {
  std::vector<std::string> lines;  // without CR; our own echoed request removed
  std::size_t bad_lines = 0;       // lines that failed validation (not in `lines`)
  Failure failure = Failure::None;
  [[nodiscard]] bool answered() const { return failure == Failure::None; }
};

class LegacySession {
 public:
  LegacySession(transport::Port& port, LegacyOptions options);

  // /#2 once for the scale (unless given), then /#1: heat_energy, volume, hour_counter, temp1,
  // temp2, temp_diff, power, flow, peak_power, info (info_codes: MULTICAL 66-C). failure == None
  // means the meter answered; a program number outside the scale table leaves every reading
  // Outcome::UnknownProgram and the number in ReadResult::unknown_program.
  asio::awaitable<ReadResult> read_standard();
  // The IEC 62056-21 mode A readout, every item as a reading (6.8 heat_energy, ...).
  asio::awaitable<ReadResult> read_iec();
  // Any /#n ("1", "#1" or "/#1"): the raw lines (digits and spaces only) and a Failure. One line
  // for /#1-/#4, /#B, /#C, /#D; the logger requests read lines until the meter falls silent.
  // Throws std::invalid_argument for a code that is not a request.
  asio::awaitable<LegacyReply> request(std::string_view code);

  [[nodiscard]] const SessionStats& stats() const { return stats_; }
  [[nodiscard]] const LegacyOptions& options() const { return options_; }
  // The scale in use (given, or read from the meter), if known.
  [[nodiscard]] const std::optional<legacy::Scale>& scale() const { return scale_; }
  // The program number read from /#2, if any.
  [[nodiscard]] const std::optional<legacy::ProgramNumber>& program() const { return program_; }
  // The identification line of the last IEC readout ("/KAM 0 MC").
  [[nodiscard]] const std::string& identification() const { return identification_; }

 private:
  template <typename Accept>
  asio::awaitable<LegacyReply> exchange(const std::string& request, std::size_t max_lines,
                                        Accept accept);
  asio::awaitable<LegacyReply> exchange_once(const std::string& request, std::size_t max_lines);
  struct IecAttempt {
    std::optional<legacy::IecReadout> readout;
    Failure failure = Failure::Silent;
  };
  asio::awaitable<IecAttempt> iec_once();
  // Decodes a complete readout into `readout`; the failure (None when it decoded), counted.
  Failure decoded_failure(std::string_view bytes, std::optional<legacy::IecReadout>& readout);
  asio::awaitable<void> wait_until(Clock::time_point t);
  asio::awaitable<void> pace_before_request();
  asio::awaitable<void> set_line(const transport::LineSettings& settings);

  transport::Port& port_;
  LegacyOptions options_;
  SessionStats stats_;
  std::optional<legacy::Scale> scale_;
  std::optional<legacy::ProgramNumber> program_;
  std::string identification_;
  Clock::time_point last_request_{};
  bool had_failure_ = false;
};

// The catalogue names read_standard() reports, in order.
std::vector<std::string> legacy_standard_names();

// How to set the scale of a meter whose program number is not in the table, for people.
std::string unknown_program_text(const legacy::ProgramNumber& program);
// The same for a result whose unknown_program is set; "" otherwise.
std::string unknown_program_text(const ReadResult& result);

// The readings named (all when `names` is empty), in the order named; a name the result lacks
// is added as Outcome::Unsupported (a /#1 or IEC reply carries a fixed set of quantities: a
// configured `volume2` the meter lacks is reported, never silently absent).
ReadResult select_readings(ReadResult result, const std::vector<std::string>& names);

}  // namespace kamstrup::meter
