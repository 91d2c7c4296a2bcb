// What a simulated pre-KMP MULTICAL (LegacySpec in profile.hpp) answers, without I/O: requests
// recognised in the reader's bytes, and reply texts built from the MeterModel's evolving values
// with the meter's scale. The simulator's front end (simulator.cpp) adds the line checks and the
// timing:
//  - `/#n`: the request must arrive at the profile's line (300 baud; on a pty baud and stop bits
//    are checked through termios) and the reader must have switched its port to `reply_line`'s
//    baud (1200) within 1 s, polled through termios; otherwise silence, logged with fault "line".
//    The reply starts `turnaround` after the switch was seen and is paced at reply_line.
//  - `/?!`: at 300 baud (baud checked); identification line, then (after ACK "000" CR LF when
//    iec_ack is set) STX data ETX BCC, all paced at 300 7E1.
//  - Faults: --asleep, --drop and --echo apply as for KMP; --corrupt replaces one digit of the
//    reply (of the data block, for IEC) by NUL, which is how a reader's serial driver delivers a
//    character that failed its parity check; --noise is KMP only.
//    Over TCP there is no line to check: replies follow `turnaround` after the request.
//  - Log lines (JSON, like the KMP ones): rx {"dir": "rx", "request": "/#1" | "/?!" | "ACK",
//    "hex", "bytes", "line", "valid"}, tx {"dir": "tx", "request", "hex", "text", "bytes",
//    "sent", "fault", "reason", "line": the line it is paced at, "values": {"heat_energy":
//    "507.109", ...} (every quantity exactly as the reply states it)}.
#pragma once

#include <chrono>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "legacy/standard.hpp"
#include "sim/meter_model.hpp"
#include "sim/profile.hpp"

namespace kamstrup::sim {

class LegacyResponder {
 public:
  // Throws ProfileError for a profile whose scale cannot be derived.
  explicit LegacyResponder(const Profile& profile);

  struct Request {
    enum class Kind : std::uint8_t { Standard, Iec, Ack };
    Kind kind = Kind::Standard;
    char code = 0;                           // Standard: '1'..'9', 'B', 'C', 'D', 'J'
    [[nodiscard]] std::string text() const;  // "/#1", "/?!", "ACK"
  };
  // The complete requests in these bytes (a request may span calls).
  std::vector<Request> feed(std::span<const std::uint8_t> bytes);
  void reset();

  struct Reply {
    std::string bytes;
    std::map<std::string, std::string> values;  // name → exact decimal text, as sent
  };
  // The reply to /#code at `now`; nullopt when this meter does not answer it.
  std::optional<Reply> standard(char code, MeterModel& model, WallClock::time_point now) const;
  // The IEC identification line (CR LF included) and the data block (STX .. BCC).
  [[nodiscard]] std::string iec_identification() const;
  Reply iec_data(MeterModel& model, WallClock::time_point now) const;

  [[nodiscard]] const legacy::Scale& scale() const { return scale_; }
  // The line the IEC readout is paced at: 300 baud 7E1.
  [[nodiscard]] static LineSpec iec_line() { return LineSpec{300, 7, 'E', 1}; }

 private:
  const Profile& profile_;
  legacy::Scale scale_;
  legacy::RequestScanner scanner_;
};

}  // namespace kamstrup::sim
