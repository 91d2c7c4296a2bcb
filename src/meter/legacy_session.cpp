#include "meter/legacy_session.hpp"

#include <asio/steady_timer.hpp>
#include <asio/this_coro.hpp>
#include <asio/use_awaitable.hpp>

#include <array>
#include <exception>
#include <stdexcept>

#include "kmp/catalogue.hpp"
#include "legacy/iec.hpp"
#include "meter/echo.hpp"

namespace kamstrup::meter {

namespace {

constexpr std::array<std::string_view, 10> kStandardNames{
    "heat_energy", "volume", "hour_counter", "temp1",      "temp2",
    "temp_diff",   "power",  "flow",         "peak_power", "info"};

bool digits_and_spaces(std::string_view line) {
  for (char c : line) {
    if ((c < '0' || c > '9') && c != ' ') return false;
  }
  return !line.empty();
}

// Lines a request's reply has; 0 = until the meter falls silent (the loggers).
std::size_t reply_lines(char code) {
  switch (code) {
    case '5':
    case '6':
    case '7':
    case '8':
    case '9':
    case 'J':
      return 0;
    default:
      return 1;
  }
}

void fail_all(ReadResult& r, Failure f, Outcome outcome) {
  for (auto name : kStandardNames) {
    const kmp::RegisterDef* def = kmp::find_register(name);
    r.readings.push_back(
        Reading{def != nullptr ? def->id : -1, std::string(name), std::nullopt, outcome});
  }
  r.failure = f;
}

Reading reading_of(legacy::Value&& v) {
  return Reading{v.id, std::move(v.name), std::move(v.value), Outcome::Value};
}

}  // namespace

std::vector<std::string> legacy_standard_names() {
  return {kStandardNames.begin(), kStandardNames.end()};
}

std::string unknown_program_text(const legacy::ProgramNumber& p) {
  return "the meter's program number " + p.text + " (A=" + std::to_string(p.a) +
         " B=" + std::to_string(p.b) + " CCC=" + std::to_string(p.ccc) +
         ") is not in the scale table, so its values cannot be scaled safely - set the "
         "scale in the configuration, e.g. scale: \"energy=MWh:3,volume=m3:2,power=kW:1,"
         "flow=l/h:0\" (--scale on the command line), from the meter's data sheet.";
}

std::string unknown_program_text(const ReadResult& r) {
  return r.unknown_program ? unknown_program_text(*r.unknown_program) : std::string();
}

ReadResult select_readings(ReadResult result, const std::vector<std::string>& names) {
  if (names.empty()) return result;
  std::vector<Reading> picked;
  for (const auto& name : names) {
    bool found = false;
    for (const auto& rd : result.readings) {
      if (rd.name == name && !found) {
        picked.push_back(rd);
        found = true;
      }
    }
    if (!found) {
      const kmp::RegisterDef* def = kmp::find_register(std::string_view(name));
      picked.push_back(
          Reading{def != nullptr ? def->id : -1, name, std::nullopt, Outcome::Unsupported});
    }
  }
  result.readings = std::move(picked);
  return result;
}

LegacySession::LegacySession(transport::Port& port, LegacyOptions options)
    : port_(port), options_(std::move(options)), scale_(options_.scale) {}

asio::awaitable<void> LegacySession::wait_until(Clock::time_point t) {
  if (Clock::now() >= t) co_return;
  asio::steady_timer timer(co_await asio::this_coro::executor);
  timer.expires_at(t);
  co_await timer.async_wait(asio::use_awaitable);
}

// Only real changes go to the port: re-applying a 7-bit setting a pty already shows as 8N (Linux
// ptys drop parity and data bits) fails with EINVAL in glibc's tcsetattr.
asio::awaitable<void> LegacySession::set_line(const transport::LineSettings& settings) {
  if (port_.line() == settings) co_return;
  co_await port_.set_line(settings);
}

asio::awaitable<void> LegacySession::pace_before_request() {
  if (had_failure_) co_await wait_until(last_request_ + options_.retry_interval);
}

asio::awaitable<LegacyReply> LegacySession::exchange_once(const std::string& request,
                                                          std::size_t max_lines) {
  co_await pace_before_request();
  const transport::LineSettings original = port_.line();
  co_await set_line(options_.request_line);
  co_await port_.discard_input();
  const std::vector<std::uint8_t> bytes(request.begin(), request.end());
  last_request_ = Clock::now();
  co_await port_.write(bytes);
  ++stats_.frames_sent;
  stats_.bytes_sent += bytes.size();

  LegacyReply reply;
  bool echo = false;
  bool other_bytes = false;
  // Everything that came back (bit 7 stripped), up to one character more than the request: a
  // reply made only of the request's characters is the head's reflection, whole or partial.
  std::string heard;
  auto hear = [&](char c) {
    if (heard.size() <= request.size()) heard.push_back(static_cast<char>(c & 0x7F));
  };
  std::exception_ptr error;
  try {
    // The write returns once the bytes are queued: switching the line before they have left
    // would garble the request's tail.
    co_await wait_until(last_request_ +
                        options_.request_line.char_time() * static_cast<long>(bytes.size() + 1));
    legacy::LineReceiver rx;
    bool done = false;
    auto consume = [&](std::uint8_t byte) {
      const auto event = rx.feed(byte);
      if (event == legacy::LineReceiver::Event::Overlong) {
        ++stats_.bad_frames;
        ++reply.bad_lines;
        return;
      }
      if (event != legacy::LineReceiver::Event::Line) return;
      std::string line(rx.line());
      // Our own request, echoed by the head, runs into the reply (it has no terminator).
      if (line.starts_with(request)) {
        echo = true;
        ++stats_.echoes;
        line.erase(0, request.size());
      }
      if (line.empty()) return;
      if (!digits_and_spaces(line)) {
        ++stats_.bad_frames;
        ++reply.bad_lines;
        return;
      }
      reply.lines.push_back(std::move(line));
      done = max_lines != 0 && reply.lines.size() >= max_lines;
    };
    // What came back while the request went out (20 ms at most): our own request if the head
    // echoes (a sign the head is there even when the meter sleeps), dropped; anything after it
    // is the start of a reply from a fast peer (a TCP link), kept.
    std::string early;
    std::array<std::uint8_t, 64> ebuf{};
    const auto early_end = Clock::now() + std::chrono::milliseconds(20);
    for (std::size_t n; early.size() < 256 && (n = co_await port_.read(ebuf, early_end)) > 0;) {
      stats_.bytes_received += n;
      early.append(reinterpret_cast<const char*>(ebuf.data()), n);
    }
    for (char c : early) hear(c);
    std::string_view rest = early;
    std::string stripped = early;
    for (char& c : stripped) c = static_cast<char>(static_cast<unsigned char>(c) & 0x7FU);
    if (const auto at = stripped.find(request); at != std::string::npos) {
      echo = true;
      ++stats_.echoes;
      rest = std::string_view(early).substr(at + request.size());
    } else if (only_own_echo(stripped, request)) {
      // Part of our request (a character lost, or cut short), and no reply yet.
      echo = true;
      ++stats_.echoes;
      rest = {};
    }
    co_await set_line(options_.reply_line);
    // Bytes received at the request's line setting are garbage at the reply's; a reply that has
    // already begun to arrive is not thrown away, though.
    if (rest.empty()) co_await port_.discard_input();
    for (char c : rest) consume(static_cast<std::uint8_t>(c));
    auto deadline = Clock::now() + options_.reply_timeout;
    std::array<std::uint8_t, 256> buf{};
    while (!done) {
      const std::size_t n = co_await port_.read(buf, deadline);
      if (n == 0) break;
      stats_.bytes_received += n;
      for (std::size_t i = 0; i < n && !done; ++i) {
        hear(static_cast<char>(buf[i]));
        consume(buf[i]);
      }
      if (rx.in_line() || !reply.lines.empty()) {
        deadline = std::max(deadline, Clock::now() + options_.inter_byte_timeout);
      }
    }
    if (!done && rx.in_line()) {
      if (only_own_echo(rx.partial(), request)) {
        if (!echo) ++stats_.echoes;
        echo = true;
      } else {
        other_bytes = true;
        stats_.noise_bytes += rx.partial().size();
      }
    }
  } catch (...) {
    error = std::current_exception();
  }
  co_await set_line(original);
  if (error) std::rethrow_exception(error);

  if (reply.lines.empty()) {
    if (reply.bad_lines == 0 && !other_bytes && only_own_echo(heard, request)) {
      if (!echo) ++stats_.echoes;
      reply.failure = Failure::EchoOnly;
    } else if (reply.bad_lines > 0 || other_bytes) {
      reply.failure = Failure::Garbage;
    } else if (echo) {
      reply.failure = Failure::EchoOnly;
    } else {
      reply.failure = Failure::Silent;
    }
  }
  co_return reply;
}

template <typename Accept>
asio::awaitable<LegacyReply> LegacySession::exchange(const std::string& request,
                                                     std::size_t max_lines, Accept accept) {
  Failure worst = Failure::None;
  for (unsigned attempt = 0; attempt <= options_.retries; ++attempt) {
    if (attempt > 0) ++stats_.retries;
    LegacyReply reply = co_await exchange_once(request, max_lines);
    if (reply.answered() && accept(reply)) {
      ++stats_.replies;
      had_failure_ = false;
      co_return reply;
    }
    if (reply.answered()) {
      if (reply.bad_lines == 0) ++stats_.bad_frames;  // the lines were counted as they came
      reply.failure = Failure::Garbage;
    }
    ++stats_.timeouts;
    had_failure_ = true;
    worst = std::max(worst, reply.failure);
    if (!options_.retry_silence && nothing_from_meter(reply.failure)) break;
  }
  LegacyReply failed;
  failed.failure = worst;
  co_return failed;
}

asio::awaitable<LegacyReply> LegacySession::request(std::string_view code) {
  auto bytes = legacy::request_bytes(code);
  if (!bytes) throw std::invalid_argument("not a legacy request code: " + std::string(code));
  const std::string request = bytes.value();
  // A multi-line reply (a logger) with a line that failed is asked for again whole: a record
  // must not go missing silently.
  co_return co_await exchange(request, reply_lines(request.back()),
                              [](const LegacyReply& r) { return r.bad_lines == 0; });
}

asio::awaitable<ReadResult> LegacySession::read_standard() {
  ReadResult result;
  // The /#n meters' info codes are read with the MULTICAL 66-C table: the /#1 layout, like the
  // scale table every /#n meter is scaled by, comes from that meter's description ([MC66TD]).
  result.info_codes = kmp::InfoCodes::Multical66C;
  if (!scale_) {
    const auto reply = co_await exchange("/#2", 1, [](const LegacyReply& r) {
      return legacy::decode_standard2(r.lines.front()).ok();
    });
    if (!reply.answered()) {
      fail_all(result, reply.failure, outcome_of(reply.failure));
      co_return result;
    }
    auto s2 = legacy::decode_standard2(reply.lines.front());
    program_ = s2->program;
    auto scale = legacy::scale_for(s2->program);
    if (!scale) {
      result.unknown_program = s2->program;
      fail_all(result, Failure::None, Outcome::UnknownProgram);
      co_return result;
    }
    scale_ = scale.value();
  }
  const legacy::Scale scale = *scale_;
  const auto reply = co_await exchange("/#1", 1, [&scale](const LegacyReply& r) {
    return legacy::decode_standard1(r.lines.front(), scale).ok();
  });
  if (!reply.answered()) {
    fail_all(result, reply.failure, outcome_of(reply.failure));
    co_return result;
  }
  auto values = legacy::decode_standard1(reply.lines.front(), scale);
  for (auto& v : values.value()) result.readings.push_back(reading_of(std::move(v)));
  co_return result;
}

// One `/?!` exchange: the readout, or why there is none.
asio::awaitable<LegacySession::IecAttempt> LegacySession::iec_once() {
  co_await pace_before_request();
  const transport::LineSettings original = port_.line();
  co_await set_line(options_.iec_line);
  co_await port_.discard_input();
  const std::vector<std::uint8_t> request(legacy::kIecRequest.begin(), legacy::kIecRequest.end());
  last_request_ = Clock::now();
  co_await port_.write(request);
  ++stats_.frames_sent;
  stats_.bytes_sent += request.size();

  const auto char_time = options_.iec_line.char_time();
  auto deadline =
      last_request_ + char_time * static_cast<long>(request.size()) + options_.reply_timeout;
  legacy::IecReceiver rx;
  IecAttempt out;
  bool noise = false;
  bool finished = false;
  std::string heard;  // bit 7 stripped, up to one character more than the request
  std::exception_ptr error;
  try {
    std::array<std::uint8_t, 256> buf{};
    while (!finished) {
      const std::size_t n = co_await port_.read(buf, deadline);
      if (n == 0) break;
      stats_.bytes_received += n;
      for (std::size_t i = 0; i < n && !finished; ++i) {
        if (heard.size() <= request.size()) heard.push_back(static_cast<char>(buf[i] & 0x7FU));
        if (!rx.started() && (buf[i] & 0x7FU) != '/') noise = true;
        const auto event = rx.feed(buf[i]);
        if (event == legacy::IecReceiver::Event::Identification && options_.iec_ack) {
          const std::vector<std::uint8_t> ack(legacy::kIecAck.begin(), legacy::kIecAck.end());
          co_await port_.write(ack);
          stats_.bytes_sent += ack.size();
          deadline =
              Clock::now() + char_time * static_cast<long>(ack.size()) + options_.reply_timeout;
        } else if (event == legacy::IecReceiver::Event::Overlong) {
          ++stats_.bad_frames;
          out.failure = Failure::Garbage;
          finished = true;
        } else if (event == legacy::IecReceiver::Event::Complete) {
          finished = true;
          out.failure = decoded_failure(rx.bytes(), out.readout);
        }
      }
      if (rx.started()) deadline = std::max(deadline, Clock::now() + options_.inter_byte_timeout);
    }
  } catch (...) {
    error = std::current_exception();
  }
  co_await set_line(original);
  if (error) std::rethrow_exception(error);
  // Only our request came back, whole or partly (some heads drop its CR LF or a character).
  const bool own_echo = !finished && only_own_echo(heard, legacy::kIecRequest);
  if (rx.saw_echo() || own_echo) ++stats_.echoes;
  if (!finished) {
    if (own_echo || (rx.saw_echo() && !rx.started() && !noise)) {
      out.failure = Failure::EchoOnly;
    } else if (rx.started() || noise) {
      out.failure = Failure::Garbage;
    }
  }
  co_return out;
}

Failure LegacySession::decoded_failure(std::string_view bytes,
                                       std::optional<legacy::IecReadout>& readout) {
  auto decoded = legacy::decode_iec_readout(bytes);
  if (decoded) {
    readout = std::move(decoded).value();
    return Failure::None;
  }
  if (decoded.error() == legacy::Error::BadBcc) {
    ++stats_.crc_errors;
    return Failure::CrcErrors;
  }
  ++stats_.bad_frames;
  return Failure::Garbage;
}

asio::awaitable<ReadResult> LegacySession::read_iec() {
  ReadResult result;
  Failure worst = Failure::None;
  for (unsigned attempt = 0; attempt <= options_.retries; ++attempt) {
    if (attempt > 0) ++stats_.retries;
    IecAttempt a = co_await iec_once();
    if (a.readout) {
      ++stats_.replies;
      had_failure_ = false;
      identification_ = a.readout->identification;
      for (auto& v : legacy::iec_values(*a.readout))
        result.readings.push_back(reading_of(std::move(v)));
      co_return result;
    }
    ++stats_.timeouts;
    had_failure_ = true;
    worst = std::max(worst, a.failure);
    if (!options_.retry_silence && nothing_from_meter(a.failure)) break;
  }
  result.failure = worst == Failure::None ? Failure::Silent : worst;
  co_return result;
}

}  // namespace kamstrup::meter
