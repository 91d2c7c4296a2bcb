// Which optical protocol a meter speaks. Kamstrup meters with an optical eye answer one (or two)
// of: KMP at 1200 8N2 (heat meters) or 9600 8N1 (electricity meters), the IEC 62056-21 mode A
// readout `/?!`, and the MULTICAL 66/III/401 `/#n` requests. detect_protocol() tries them in
// that order and stops at the first that answers, except that a meter answering the IEC
// readout is also asked `/#1`: where both work, `/#n` wins because it carries temperatures,
// power and flow, which the readout does not.
#pragma once

#include <asio/awaitable.hpp>

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "meter/legacy_session.hpp"
#include "meter/session.hpp"
#include "transport/port.hpp"

namespace kamstrup::meter {

enum class Protocol : std::uint8_t { Kmp, Legacy, Iec };

// "kmp", "legacy", "iec".
std::string_view protocol_name(Protocol p);
// For people: "KMP", "MULTICAL /#n", "IEC 62056-21 readout".
std::string_view protocol_title(Protocol p);
// Accepts the names above; nullopt otherwise ("auto" is the caller's business).
std::optional<Protocol> parse_protocol(std::string_view text);

// One attempt of the detection, in the order made.
struct ProbeStep {
  Protocol protocol = Protocol::Kmp;
  transport::LineSettings line;  // what the request went out with
  std::string label;             // "KMP at 1200 8N2", "IEC readout /?! at 300 7E1", ...
  Failure failure = Failure::None;
  SessionStats stats;  // that attempt's wire traffic (echoes, CRC errors, ...)
  // The readings an answering KMP/IEC/legacy probe got (a legacy meter whose program number is
  // not in the scale table answers too: its readings are UnknownProgram, see unknown_program).
  std::optional<ReadResult> result;
  [[nodiscard]] bool answered() const { return failure == Failure::None; }
};

struct Detection {
  std::optional<Protocol> protocol;
  transport::LineSettings line;  // the KMP line that answered (KMP only)
  std::vector<ProbeStep> steps;
  // The most telling failure over all steps (CrcErrors > Garbage > EchoOnly > Silent), for the
  // diagnosis when nothing answered.
  [[nodiscard]] Failure worst_failure() const;
};

std::vector<transport::LineSettings> default_kmp_lines();

struct DetectOptions {
  SessionOptions kmp;    // timeouts/retries for the KMP probes
  LegacyOptions legacy;  // the same for `/?!` and `/#n`
  // The KMP lines to try, in order: heat meters 1200 8N2, electricity meters (382, 162, ...)
  // 9600 8N1. A line the user configured goes first.
  std::vector<transport::LineSettings> kmp_lines = default_kmp_lines();
  // KMP registers the first probe reads; an answering meter's readings come back in
  // ProbeStep::result, so a read through detection costs no extra frame. Empty: GetSerialNo.
  std::vector<std::uint16_t> kmp_registers;
  // A protocol that answered on this port before (remembered by the caller): asked first, and
  // when it answers nothing else is tried, so a pre-KMP meter is not kept waiting through the
  // silent KMP probes again. When it does not answer, the usual order follows (asking it again
  // in its place). For KMP, put the remembered line first in kmp_lines.
  std::optional<Protocol> first;
  // KMP at this line was asked by the caller just before (its own read) and got nothing: it is
  // the one asked again at the end (see detect_protocol) instead of kmp_lines' first.
  std::optional<transport::LineSettings> asked_kmp_line;
  std::function<void(const ProbeStep&)> on_step;  // progress (doctor prints each step)
};

// Tries KMP 1200 8N2, KMP 9600 8N1, IEC readout, `/#1` (`first` before them). A probe that gets
// nothing from the meter (silence, or only our own echo, whole or partial) is not retried before
// the next protocol is tried, so a dead or sleeping meter is diagnosed in seconds; a probe that
// gets bytes (garbage, CRC errors) is retried as the options say. When nothing answered at all
// and kmp.retries allows, the first KMP line (or asked_kmp_line) is asked once more at the end: a
// KMP meter may ignore a single request, and by then its recovery time has long passed (not
// after a remembered `/#n` or IEC meter, which the chain asks twice already). Leaves the port at
// the line of the protocol that answered (the legacy session switches lines itself). Port errors
// propagate.
asio::awaitable<Detection> detect_protocol(transport::Port& port, const DetectOptions& options);

}  // namespace kamstrup::meter
