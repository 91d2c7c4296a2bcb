#include "kmp/frame.hpp"

#include "kmp/crc.hpp"

namespace kamstrup::kmp {

bool is_reserved(std::uint8_t b) {
  return b == 0x80 || b == 0x40 || b == 0x0D || b == 0x06 || b == 0x1B;
}

namespace {
void put_stuffed(std::vector<std::uint8_t>& out, std::uint8_t b) {
  if (is_reserved(b)) {
    out.push_back(kEscape);
    out.push_back(static_cast<std::uint8_t>(~b));
  } else {
    out.push_back(b);
  }
}
}  // namespace

std::vector<std::uint8_t> encode_frame(const Frame& frame) {
  if (frame.is_ack) return {kAck};
  std::vector<std::uint8_t> body;
  body.reserve(frame.data.size() + 4);
  body.push_back(frame.dst);
  body.push_back(frame.cid);
  body.insert(body.end(), frame.data.begin(), frame.data.end());
  std::uint16_t crc = crc16_xmodem(body);
  body.push_back(static_cast<std::uint8_t>(crc >> 8U));
  body.push_back(static_cast<std::uint8_t>(crc & 0xFFU));

  return wrap_frame(frame.direction, body);
}

std::vector<std::uint8_t> wrap_frame(Direction direction, std::span<const std::uint8_t> body) {
  std::vector<std::uint8_t> out;
  out.reserve(body.size() * 2 + 2);
  out.push_back(direction == Direction::ToMeter ? kStartToMeter : kStartFromMeter);
  for (std::uint8_t b : body) put_stuffed(out, b);
  out.push_back(kStop);
  return out;
}

std::string to_hex(std::span<const std::uint8_t> bytes) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string s;
  s.reserve(bytes.size() * 2);
  for (std::uint8_t b : bytes) {
    s.push_back(kHex[b >> 4U]);
    s.push_back(kHex[b & 0xFU]);
  }
  return s;
}

Result<Frame> decode_frame(std::span<const std::uint8_t> wire) {
  if (wire.empty()) return Error::Truncated;
  if (wire.size() > kMaxFrameBytes) return Error::Overlong;
  Frame f;
  if (wire[0] == kAck) {
    if (wire.size() != 1) return Error::TrailingBytes;
    f.is_ack = true;
    f.direction = Direction::FromMeter;
    return f;
  }
  if (wire[0] == kStartToMeter) {
    f.direction = Direction::ToMeter;
  } else if (wire[0] == kStartFromMeter) {
    f.direction = Direction::FromMeter;
  } else {
    return Error::BadStart;
  }

  std::vector<std::uint8_t> body;
  body.reserve(wire.size());
  std::size_t i = 1;
  bool stopped = false;
  for (; i < wire.size(); ++i) {
    std::uint8_t b = wire[i];
    if (b == kStop) {
      stopped = true;
      ++i;
      break;
    }
    if (b == kEscape) {
      if (i + 1 >= wire.size()) return Error::Truncated;
      auto next = static_cast<std::uint8_t>(~wire[i + 1]);
      // 1B 0D would be an escape cut off by the stop byte; it is no valid escape either way.
      if (!is_reserved(next)) return Error::BadEscape;
      body.push_back(next);
      ++i;
      continue;
    }
    if (is_reserved(b)) return Error::StrayByte;
    body.push_back(b);
  }
  if (!stopped) return Error::Truncated;
  if (i != wire.size()) return Error::TrailingBytes;
  if (body.size() < 4) return Error::Truncated;  // DST, CID, CRC_hi, CRC_lo
  if (crc16_xmodem(body) != 0) return Error::CrcMismatch;

  f.dst = body[0];
  f.cid = body[1];
  f.data.assign(body.begin() + 2, body.end() - 2);
  return f;
}

void FrameReceiver::reset() {
  buf_.clear();
  in_frame_ = false;
  completed_ = false;
  noise_ = 0;
  zeros_ = 0;
}

FrameReceiver::Event FrameReceiver::feed(std::uint8_t byte) {
  if (completed_) {
    buf_.clear();
    completed_ = false;
  }
  if (byte == kStartFromMeter || byte == kStartToMeter) {
    if (in_frame_) noise_ += buf_.size();
    buf_.clear();
    buf_.push_back(byte);
    in_frame_ = true;
    return Event::None;
  }
  if (!in_frame_) {
    if (byte == kAck) return Event::Ack;
    if (byte == 0x00) {
      ++zeros_;
    } else {
      ++noise_;
    }
    return Event::None;
  }
  buf_.push_back(byte);
  if (byte == kStop) {
    in_frame_ = false;
    completed_ = true;
    return Event::Frame;
  }
  if (buf_.size() >= kMaxFrameBytes) {
    noise_ += buf_.size();
    buf_.clear();
    in_frame_ = false;
    return Event::Overlong;
  }
  return Event::None;
}

}  // namespace kamstrup::kmp
