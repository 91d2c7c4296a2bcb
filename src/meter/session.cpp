#include "meter/session.hpp"

#include <asio/steady_timer.hpp>
#include <asio/this_coro.hpp>
#include <asio/use_awaitable.hpp>

#include <algorithm>
#include <array>

#include "kmp/catalogue.hpp"
#include "kmp/frame.hpp"
#include "meter/echo.hpp"

namespace kamstrup::meter {

std::string_view failure_name(Failure f) {
  switch (f) {
    case Failure::None:
      return "None";
    case Failure::Silent:
      return "Silent";
    case Failure::EchoOnly:
      return "EchoOnly";
    case Failure::Garbage:
      return "Garbage";
    case Failure::CrcErrors:
      return "CrcErrors";
  }
  return "?";
}

std::string_view diagnosis_text(Failure f) {
  switch (f) {
    case Failure::None:
      return "";
    case Failure::Silent:
      return "no bytes at all came back: the meter is asleep (many heads do not echo, so a "
             "sleeping meter gives silence too), or the port is wrong, no optical head is "
             "connected or the head is not powered - press a button on the meter to wake its "
             "optical port, check the magnet, the port name and the head's cable.";
    case Failure::EchoOnly:
      return "only our own request came back (optical echo): the meter is asleep or the head is "
             "misaligned - press a button on the meter to wake its optical port, and check the "
             "magnet and the head's position over the meter's optical eye.";
    case Failure::Garbage:
      return "bytes came back but no valid frame: wrong line settings (KMP heat meters use 1200 "
             "8N2, electricity meters 9600 8N1) or a second reader is talking to the same meter.";
    case Failure::CrcErrors:
      return "replies arrived with CRC errors: the head is slightly misaligned or ambient light "
             "reaches the meter's optical eye - reseat the head and shield it from light.";
  }
  return "";
}

std::string_view outcome_name(Outcome o) {
  switch (o) {
    case Outcome::Value:
      return "";
    case Outcome::Unsupported:
      return "Unsupported";
    case Outcome::UnknownUnit:
      return "UnknownUnit";
    case Outcome::BadLength:
      return "BadLength";
    case Outcome::Malformed:
      return "Malformed";
    case Outcome::Silent:
      return "Silent";
    case Outcome::EchoOnly:
      return "EchoOnly";
    case Outcome::Garbage:
      return "Garbage";
    case Outcome::CrcErrors:
      return "CrcErrors";
    case Outcome::UnknownProgram:
      return "UnknownProgram";
  }
  return "?";
}

Outcome outcome_of(Failure f) {
  switch (f) {
    case Failure::None:
      return Outcome::Value;
    case Failure::Silent:
      return Outcome::Silent;
    case Failure::EchoOnly:
      return Outcome::EchoOnly;
    case Failure::Garbage:
      return Outcome::Garbage;
    case Failure::CrcErrors:
      return Outcome::CrcErrors;
  }
  return Outcome::Garbage;
}

Outcome outcome_of(kmp::Error e) {
  switch (e) {
    case kmp::Error::UnknownUnit:
      return Outcome::UnknownUnit;
    case kmp::Error::BadLength:
      return Outcome::BadLength;
    case kmp::Error::Unsupported:
      return Outcome::Unsupported;
    default:
      return Outcome::Malformed;
  }
}

std::vector<const Reading*> ReadResult::unsupported() const {
  std::vector<const Reading*> out;
  for (const auto& r : readings) {
    if (r.unsupported()) out.push_back(&r);
  }
  return out;
}

bool nothing_from_meter(Failure f) {
  return f == Failure::Silent || f == Failure::EchoOnly;
}

std::vector<std::vector<std::uint16_t>> plan_batches(std::span<const std::uint16_t> ids) {
  std::vector<std::uint16_t> unique;
  for (std::uint16_t id : ids) {
    if (std::find(unique.begin(), unique.end(), id) == unique.end()) unique.push_back(id);
  }
  std::vector<std::vector<std::uint16_t>> batches;
  for (std::size_t i = 0; i < unique.size(); i += kmp::kMaxRegistersPerRequest) {
    auto end = std::min(unique.size(), i + kmp::kMaxRegistersPerRequest);
    batches.emplace_back(unique.begin() + static_cast<std::ptrdiff_t>(i),
                         unique.begin() + static_cast<std::ptrdiff_t>(end));
  }
  return batches;
}

MeterSession::MeterSession(transport::Port& port, SessionOptions options)
    : port_(port), options_(options) {}

asio::awaitable<void> MeterSession::wait_until(Clock::time_point t) {
  if (Clock::now() >= t) co_return;
  asio::steady_timer timer(co_await asio::this_coro::executor);
  timer.expires_at(t);
  co_await timer.async_wait(asio::use_awaitable);
}

asio::awaitable<MeterSession::Attempt> MeterSession::exchange_once(
    const std::vector<std::uint8_t>& request, std::uint8_t cid, std::uint8_t dst) {
  if (had_failure_) co_await wait_until(last_failure_ + options_.recovery);

  co_await port_.discard_input();
  co_await port_.write(request);
  ++stats_.frames_sent;
  stats_.bytes_sent += request.size();

  // The write returns when the bytes are queued; they need request.size() characters of line
  // time before the meter has heard the whole request.
  auto on_wire = port_.line().char_time() * static_cast<long>(request.size());
  auto deadline = Clock::now() + on_wire + options_.reply_timeout;

  kmp::FrameReceiver rx;
  bool echo = false;
  bool crc_error = false;
  bool bad_frame = false;
  std::array<std::uint8_t, 256> buf{};
  Attempt result;
  // What came back, up to one byte more than the request (then it cannot be only our echo).
  std::vector<std::uint8_t> heard;

  auto finish = [&](Failure failure) {
    // A partial echo's bytes are not line noise.
    if (failure != Failure::EchoOnly) stats_.noise_bytes += rx.noise_bytes() + rx.zero_bytes();
    result.failure = failure;
    if (failure != Failure::None) {
      had_failure_ = true;
      last_failure_ = Clock::now();
    }
  };

  for (;;) {
    std::size_t n = co_await port_.read(buf, deadline);
    if (n == 0) break;
    stats_.bytes_received += n;
    for (std::size_t i = 0; i < n; ++i) {
      if (heard.size() <= request.size()) heard.push_back(buf[i]);
      auto event = rx.feed(buf[i]);
      if (event == kmp::FrameReceiver::Event::Overlong) {
        bad_frame = true;
        continue;
      }
      if (event != kmp::FrameReceiver::Event::Frame) continue;
      auto bytes = rx.frame_bytes();
      if (bytes[0] == kmp::kStartToMeter) {
        // The optical echo of our own request (or another master's request).
        if (std::equal(bytes.begin(), bytes.end(), request.begin(), request.end())) {
          echo = true;
          ++stats_.echoes;
        } else {
          bad_frame = true;
        }
        continue;
      }
      auto frame = kmp::decode_frame(bytes);
      if (!frame.ok()) {
        if (frame.error() == kmp::Error::CrcMismatch) {
          crc_error = true;
          ++stats_.crc_errors;
        } else {
          bad_frame = true;
          ++stats_.bad_frames;
        }
        // The meter has finished talking; wait out its recovery and try again.
        finish(crc_error ? Failure::CrcErrors : Failure::Garbage);
        co_return result;
      }
      if (frame->dst != dst || frame->cid != cid) {
        ++stats_.bad_frames;
        finish(Failure::Garbage);
        co_return result;
      }
      result.reply = std::move(frame).value();
      finish(Failure::None);
      co_return result;
    }
    // Let a reply that has started finish even if it runs past the first-byte deadline.
    if (rx.in_frame()) deadline = std::max(deadline, Clock::now() + options_.inter_byte_timeout);
  }

  ++stats_.timeouts;
  Failure f = Failure::Silent;
  if (crc_error) {
    f = Failure::CrcErrors;
  } else if (only_own_echo(heard, request) &&
             std::any_of(heard.begin(), heard.end(), [](std::uint8_t b) { return b != 0; })) {
    // Whole, or partly reflected (a byte lost, cut short): a sleeping meter behind a head. (Zero
    // bytes alone are what a meter may send, not a reflection.)
    f = Failure::EchoOnly;
    if (!echo) ++stats_.echoes;
  } else if (bad_frame || rx.noise_bytes() > 0 || rx.in_frame()) {
    f = Failure::Garbage;
  } else if (echo) {
    f = Failure::EchoOnly;
  }
  finish(f);
  co_return result;
}

template <typename Accept>
asio::awaitable<MeterSession::Attempt> MeterSession::transact(
    const std::vector<std::uint8_t>& request, Accept accept, std::optional<std::uint8_t> dst,
    std::optional<unsigned> retries) {
  Failure worst = Failure::None;
  std::uint8_t cid = request.size() > 2 ? request[2] : 0;
  // CID is never a reserved byte for the commands we send, so request[2] is the unstuffed CID.
  for (unsigned attempt = 0; attempt <= retries.value_or(options_.retries); ++attempt) {
    if (attempt > 0) ++stats_.retries;
    Attempt a = co_await exchange_once(request, cid, dst.value_or(options_.dst));
    if (a.reply && accept(*a.reply)) {
      ++stats_.replies;
      // At least one character time between the end of a reply and the next request (doc §2.1).
      co_await wait_until(Clock::now() + port_.line().char_time());
      co_return a;
    }
    if (a.reply) {
      // Valid frame, wrong content (e.g. a register we did not ask for): treat as garbage.
      ++stats_.bad_frames;
      a.failure = Failure::Garbage;
      a.reply.reset();
      had_failure_ = true;
      last_failure_ = Clock::now();
    }
    worst = std::max(worst, a.failure);
    if (!options_.retry_silence && nothing_from_meter(a.failure)) break;
  }
  co_return Attempt{std::nullopt, worst};
}

asio::awaitable<ReadResult> MeterSession::read_registers(std::span<const std::uint16_t> ids) {
  ReadResult result;
  bool any_answer = false;
  Failure worst = Failure::None;
  auto fail_all = [&result](const std::vector<std::uint16_t>& batch, Failure f) {
    for (std::uint16_t id : batch) {
      result.readings.push_back(Reading{id, kmp::register_name(id), std::nullopt, outcome_of(f)});
    }
  };
  auto batches = plan_batches(ids);
  for (std::size_t bi = 0; bi < batches.size(); ++bi) {
    const auto& batch = batches[bi];
    auto request = kmp::encode_request(kmp::GetRegisterRequest{batch}, options_.dst);
    auto accept = [&batch](const kmp::Frame& f) {
      auto r = kmp::decode_register_response(f);
      if (!r.ok()) return false;
      std::vector<std::uint16_t> seen;
      for (const auto& b : r->blocks) {
        if (std::find(batch.begin(), batch.end(), b.id) == batch.end()) return false;
        if (std::find(seen.begin(), seen.end(), b.id) != seen.end()) return false;
        seen.push_back(b.id);
      }
      return true;
    };
    Attempt a = co_await transact(request.value(), accept);
    if (!a.reply) {
      worst = std::max(worst, a.failure);
      fail_all(batch, a.failure);
      if (!any_answer) {
        // A meter that never answered is asleep or absent: don't spend minutes on more batches.
        for (std::size_t rest = bi + 1; rest < batches.size(); ++rest)
          fail_all(batches[rest], a.failure);
        break;
      }
      continue;
    }
    any_answer = true;
    auto resp = kmp::decode_register_response(*a.reply);
    for (std::uint16_t id : batch) {
      Reading r{id, kmp::register_name(id), std::nullopt, Outcome::Unsupported};
      if (const kmp::RegisterBlock* b = resp->find(id)) {
        if (b->value.ok()) {
          r.value = b->value.value();
          r.outcome = Outcome::Value;
        } else {
          r.outcome = outcome_of(b->value.error());
        }
      }
      result.readings.push_back(std::move(r));
    }
  }
  if (!any_answer && !batches.empty())
    result.failure = worst == Failure::None ? Failure::Silent : worst;
  co_return result;
}

asio::awaitable<MeterSession::Exchange> MeterSession::exchange(
    const std::vector<std::uint8_t>& request, std::uint8_t dst,
    std::function<bool(const kmp::Frame&)> accept, std::optional<unsigned> retries) {
  Attempt a = co_await transact(request, accept, dst, retries);
  co_return Exchange{std::move(a.reply), a.failure};
}

asio::awaitable<MeterSession::TypeResult> MeterSession::get_type() {
  auto request = kmp::encode_request(kmp::GetTypeRequest{}, options_.dst);
  Attempt a = co_await transact(
      request.value(), [](const kmp::Frame& f) { return kmp::decode_type_response(f).ok(); });
  TypeResult r;
  if (a.reply) {
    r.type = kmp::decode_type_response(*a.reply).value();
  } else {
    r.failure = a.failure;
  }
  co_return r;
}

asio::awaitable<MeterSession::SerialResult> MeterSession::get_serial() {
  auto request = kmp::encode_request(kmp::GetSerialNoRequest{}, options_.dst);
  Attempt a = co_await transact(
      request.value(), [](const kmp::Frame& f) { return kmp::decode_serial_response(f).ok(); });
  SerialResult r;
  if (a.reply) {
    r.serial = kmp::decode_serial_response(*a.reply)->serial;
  } else {
    r.failure = a.failure;
  }
  co_return r;
}

}  // namespace kamstrup::meter
