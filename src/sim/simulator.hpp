// Front ends that put MeterModels on a pty or on TCP ports, with line-rate pacing, echo and
// fault injection. One io_context, one thread, any number of meters.
//
// Start lines (stdout, one per meter, flushed, printed once every port is open):
//     kamstrup simulate: <profile> on <port> serial <serial>
// e.g. "kamstrup simulate: multical403 on /dev/pts/3 serial 76543210" or
//      "kamstrup simulate: kamstrup382 on socket://127.0.0.1:7001 serial 38212346".
// Parse with  ^kamstrup simulate: (\S+) on (\S+) serial (\d+)$ ; <port> is what a reader takes
// as its port argument (a tty path, or socket://HOST:PORT).
//
// Behaviour on the line (KMP profiles; the pre-KMP profiles multical66c/multical401 answer `/#n`
// and `/?!` instead, with their own line checks, pacing and log fields: see legacy_frontend.hpp):
//  - Bytes are collected with kmp::FrameReceiver; each complete frame starting 0x80 is a request.
//  - pty: the reader's termios (seen through the master) must match the profile's line (baud and
//    stop bits; Linux ptys force 8 data bits without parity whatever the reader set, so those
//    two are not observable). A mismatch gets silence, logged with fault "line".
//    accept_1_stop_bit lets a reader's 1 stop bit pass for a 2-stop-bit meter. When no reader
//    has the slave open, the master reads EIO: the front end polls every 100 ms until one does.
//  - TCP (like a ser2net raw port): one client per meter; a new client replaces the old one.
//    No line check.
//  - The reply starts `turnaround` after the request's last byte (and after any reply still
//    being sent); with pacing, byte i is written at start + (i + 1) × char time (11 bits per
//    byte at 8N2: 9.17 ms at 1200 baud), scheduled on absolute times so nothing drifts.
//    With pacing the request's last byte counts as heard when the line would have delivered it
//    (its first byte's arrival + its length × char time), since a pty or TCP link delivers a
//    request at once; the rx line's t/mono are that moment.
//  - echo: every received byte is written back at once (an optical head's reflection);
//    echo_mode reflects only part of each request instead (see EchoMode in faults.hpp).
//  - asleep: never answers. drop P: no answer with probability P. corrupt P: with probability P
//    the reply is corrupted so that its CRC fails (see faults.hpp). noise: 1–8 junk bytes before
//    each reply.
//
// Log (`log_path`, JSON lines, truncated at start, flushed after every line):
//   one "rx" line per request frame (a frame starting 0x80), then one "tx" line per rx line:
//   {"t": <unix s, µs precision>, "mono": <steady_clock s>, "meter": <fleet index>,
//    "dir": "rx", "hex": "803F1001003CB25F0D", "bytes": 9,
//    "dst": 63 | null, "cid": 16 | null, "ids": [60] (GetRegister, else []),
//    "valid": <a well-formed request this meter answers (framing, CRC, 0x3F, CID, body)>,
//    "error": null | "bad frame: CrcMismatch" | "addressed to 0x7F, ..." | "CID 0x09 not ...",
//    "line": "1200 8N2" (the reader's line on a pty) | null (TCP)}
//   {"t", "mono", "meter", "dir": "tx", "cid", "hex": <bytes written, noise included> | "",
//    "bytes": <count> | 0, "sent": true | false,
//    "fault": null | "corrupt" | "drop" | "asleep" | "line",
//    "reason": null | <why nothing was sent>, "noise": <junk bytes before the frame>,
//    "values": {"60": "55.006", ...} (GetRegister values as encoded, exact decimal text; for
//               "corrupt", what the reply said before it was corrupted),
//    "end_mono": <steady s when the last byte is due> (sent only),
//    logger replies only: "info": <INFO byte>, "records": [{"id": <record id>, "t": <unix s of
//    the period boundary>, "values": {"60": "55.006", ...}}, ...] in the order sent}
//   rx lines also carry "lid": <LID> for logger requests (0xA0–0xA3), else null; "ids" then
//   lists the requested registers. Logger requests are valid only on the profile's enabled
//   logger address (0x7F).
//   A sent reply's tx line is written when its first byte is due; its t/mono are that moment
//   (t is also the time MeterModel::history() records). So it is in the file before the reader
//   can have the whole reply. Silence is logged at once, with the request's t/mono.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <ostream>
#include <stdexcept>
#include <string>

#include "sim/faults.hpp"
#include "sim/meter_model.hpp"
#include "sim/profile.hpp"

namespace kamstrup::sim {

class SimError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct SimOptions {
  Profile profile;       // meter i gets serial profile.serial + i
  unsigned count = 1;    // meters (ptys, or consecutive TCP ports)
  std::string pty_link;  // symlink to the pty slave (count 1 only); "" for none
  std::string tcp;       // "HOST:PORT" (port 0: one ephemeral port per meter); "" for ptys
  bool accept_1_stop_bit = false;
  bool pacing = true;
  std::chrono::milliseconds turnaround{50};
  bool echo = false;
  EchoMode echo_mode = EchoMode::Full;  // with echo: what of each request is reflected
  bool asleep = false;
  bool noise = false;
  double drop = 0.0;     // 0..1
  double corrupt = 0.0;  // 0..1
  std::uint64_t seed = 0;
  std::string log_path;  // "" for no log
};

// Whether a meter expecting `meter` answers a reader set to `reader`. `format_observable`
// false compares only baud and stop bits (what a Linux pty can show).
bool line_accepted(const LineSpec& reader, const LineSpec& meter, bool accept_1_stop_bit,
                   bool format_observable = true);

class Simulator {
 public:
  explicit Simulator(SimOptions options);
  ~Simulator();  // closes everything, removes the pty symlink
  Simulator(const Simulator&) = delete;
  Simulator& operator=(const Simulator&) = delete;

  // Opens the ptys / listening sockets and the log, then writes the start lines to `out`.
  // Throws SimError (message names the port or file) or ProfileError.
  void start(std::ostream& out);
  // Makes SIGINT and SIGTERM end run().
  void stop_on_signals();
  // Serves until stop() (or a signal, see above).
  void run();
  // Thread-safe.
  void stop();

  [[nodiscard]] std::size_t size() const;
  [[nodiscard]] const std::string& port(std::size_t meter) const;
  [[nodiscard]] const MeterModel& model(std::size_t meter) const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace kamstrup::sim
