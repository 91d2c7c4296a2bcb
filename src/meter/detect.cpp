#include "meter/detect.hpp"

#include <algorithm>

namespace kamstrup::meter {

std::string_view protocol_name(Protocol p) {
  switch (p) {
    case Protocol::Kmp:
      return "kmp";
    case Protocol::Legacy:
      return "legacy";
    case Protocol::Iec:
      return "iec";
  }
  return "?";
}

std::string_view protocol_title(Protocol p) {
  switch (p) {
    case Protocol::Kmp:
      return "KMP";
    case Protocol::Legacy:
      return "MULTICAL /#n";
    case Protocol::Iec:
      return "IEC 62056-21 readout";
  }
  return "?";
}

std::optional<Protocol> parse_protocol(std::string_view text) {
  if (text == "kmp") return Protocol::Kmp;
  if (text == "legacy") return Protocol::Legacy;
  if (text == "iec") return Protocol::Iec;
  return std::nullopt;
}

Failure Detection::worst_failure() const {
  Failure worst = Failure::None;
  for (const auto& s : steps) {
    if (s.failure != Failure::None &&
        (worst == Failure::None || static_cast<int>(s.failure) > static_cast<int>(worst))) {
      worst = s.failure;
    }
  }
  return worst == Failure::None ? Failure::Silent : worst;
}

namespace {

transport::LineSettings kmp_line(unsigned baud, unsigned stop_bits) {
  transport::LineSettings l;
  l.baud = baud;
  l.data_bits = 8;
  l.parity = transport::Parity::None;
  l.stop_bits = stop_bits;
  return l;
}

asio::awaitable<ProbeStep> probe_kmp(transport::Port& port, const DetectOptions& o,
                                     const transport::LineSettings& line, bool again = false) {
  ProbeStep step;
  step.protocol = Protocol::Kmp;
  step.line = line;
  step.label = "KMP at " + line.to_string() + (again ? " (asked again)" : "");
  co_await port.set_line(line);
  co_await port.discard_input();
  SessionOptions so = o.kmp;
  so.retry_silence = false;  // a meter that ignores this line is asked the next protocol
  MeterSession session(port, so);
  if (o.kmp_registers.empty()) {
    auto serial = co_await session.get_serial();
    step.failure = serial.failure;
  } else {
    auto r = co_await session.read_registers(o.kmp_registers);
    step.failure = r.failure;
    if (r.answered()) step.result = std::move(r);
  }
  step.stats = session.stats();
  co_return step;
}

template <typename Read>
asio::awaitable<ProbeStep> probe_legacy(transport::Port& port, const DetectOptions& o,
                                        Protocol protocol, std::string label, Read read) {
  ProbeStep step;
  step.protocol = protocol;
  step.label = std::move(label);
  LegacyOptions lo = o.legacy;
  lo.retry_silence = false;
  LegacySession session(port, lo);
  auto r = co_await read(session);
  step.failure = r.failure;
  step.line = port.line();
  if (r.answered()) step.result = std::move(r);
  step.stats = session.stats();
  co_return step;
}

asio::awaitable<ProbeStep> probe_iec(transport::Port& port, const DetectOptions& o) {
  return probe_legacy(
      port, o, Protocol::Iec, "IEC readout /?! at 300 7E1",
      [](LegacySession& s) -> asio::awaitable<ReadResult> { co_return co_await s.read_iec(); });
}

asio::awaitable<ProbeStep> probe_hash(transport::Port& port, const DetectOptions& o) {
  return probe_legacy(port, o, Protocol::Legacy, "MULTICAL /#1 at 300/1200 7E2",
                      [](LegacySession& s) -> asio::awaitable<ReadResult> {
                        co_return co_await s.read_standard();
                      });
}

}  // namespace

std::vector<transport::LineSettings> default_kmp_lines() {
  return {kmp_line(1200, 2), kmp_line(9600, 1)};
}

asio::awaitable<Detection> detect_protocol(transport::Port& port, const DetectOptions& options) {
  Detection d;
  auto record = [&](ProbeStep step) -> const ProbeStep& {
    if (options.on_step) options.on_step(step);
    d.steps.push_back(std::move(step));
    return d.steps.back();
  };

  // A remembered protocol that misses once is asked again in its usual place: a single missed
  // `/#1` must not hand a meter that speaks both to the poorer IEC readout for good.
  if (options.first == Protocol::Legacy) {
    if (record(co_await probe_hash(port, options)).answered()) {
      d.protocol = Protocol::Legacy;
      co_return d;
    }
  } else if (options.first == Protocol::Iec) {
    if (record(co_await probe_iec(port, options)).answered()) {
      d.protocol = Protocol::Iec;
      co_return d;
    }
  }

  // The KMP line asked again when nothing answers: the caller's, else the first one here if it
  // got nothing from the meter.
  std::optional<transport::LineSettings> again = options.asked_kmp_line;
  for (const auto& line : options.kmp_lines) {
    const auto& step = record(co_await probe_kmp(port, options, line));
    if (step.answered()) {
      d.protocol = Protocol::Kmp;
      d.line = line;
      co_return d;
    }
    // Frames that fail their CRC come from a KMP meter at this very line: the other protocols
    // cannot help, the head's alignment can.
    if (step.failure == Failure::CrcErrors) co_return d;
    if (!again && d.steps.size() == 1 && nothing_from_meter(step.failure)) again = line;
  }

  const bool iec_answered = record(co_await probe_iec(port, options)).answered();
  const bool hash_answered = record(co_await probe_hash(port, options)).answered();
  if (hash_answered) {
    d.protocol = Protocol::Legacy;
  } else if (iec_answered) {
    d.protocol = Protocol::Iec;
  }
  const bool ascii_remembered = options.first == Protocol::Legacy || options.first == Protocol::Iec;
  if (!d.protocol && again && options.kmp.retries > 0 && !ascii_remembered) {
    if (record(co_await probe_kmp(port, options, *again, true)).answered()) {
      d.protocol = Protocol::Kmp;
      d.line = *again;
    }
  }
  co_return d;
}

}  // namespace kamstrup::meter
