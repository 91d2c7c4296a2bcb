#include "sim/faults.hpp"

#include <algorithm>

#include "kmp/crc.hpp"
#include "kmp/frame.hpp"

namespace kamstrup::sim {

std::vector<std::uint8_t> corrupt_reply(std::span<const std::uint8_t> reply, std::mt19937_64& rng) {
  auto frame = kmp::decode_frame(reply);
  if (!frame || frame->is_ack) return {reply.begin(), reply.end()};

  // Unstuffed DST..CRC_lo, as the receiver's CRC check sees it.
  std::vector<std::uint8_t> body{frame->dst, frame->cid};
  body.insert(body.end(), frame->data.begin(), frame->data.end());
  std::uint16_t crc = kmp::crc16_xmodem(body);
  body.push_back(static_cast<std::uint8_t>(crc >> 8U));
  body.push_back(static_cast<std::uint8_t>(crc & 0xFFU));

  const std::size_t bits = body.size() * 8;  // >= 32
  std::uniform_int_distribution<std::size_t> start_dist(0, bits - 16);
  std::uniform_int_distribution<unsigned> mask_dist(1, 0xFFFF);
  const std::size_t start = start_dist(rng);
  const unsigned mask = mask_dist(rng);
  for (unsigned k = 0; k < 16; ++k) {
    if ((mask >> k & 1U) == 0) continue;
    std::size_t bit = start + k;
    body[bit / 8] = static_cast<std::uint8_t>(body[bit / 8] ^ (0x80U >> (bit % 8)));
  }

  // Stuff and frame the corrupted bytes as they are: the CRC stays the (now wrong) original.
  return kmp::wrap_frame(frame->direction, body);
}

std::vector<std::uint8_t> noise_bytes(std::mt19937_64& rng) {
  std::uniform_int_distribution<int> count_dist(1, 8);
  std::uniform_int_distribution<int> zero_dist(0, 2);
  std::uniform_int_distribution<int> byte_dist(0, 255);
  std::vector<std::uint8_t> out(static_cast<std::size_t>(count_dist(rng)));
  for (auto& b : out) {
    if (zero_dist(rng) == 0) {
      b = 0x00;
      continue;
    }
    do {
      b = static_cast<std::uint8_t>(byte_dist(rng));
    } while (b == kmp::kStartFromMeter || b == kmp::kStartToMeter || b == kmp::kAck);
  }
  return out;
}

bool parity_error(std::string& text, std::size_t from, std::size_t to, std::mt19937_64& rng) {
  std::vector<std::size_t> digits;
  for (std::size_t i = from; i < std::min(to, text.size()); ++i) {
    if (text[i] >= '0' && text[i] <= '9') digits.push_back(i);
  }
  if (digits.empty()) return false;
  std::uniform_int_distribution<std::size_t> pick(0, digits.size() - 1);
  text[digits[pick(rng)]] = '\0';
  return true;
}

std::optional<EchoMode> parse_echo_mode(std::string_view text) {
  if (text == "full") return EchoMode::Full;
  if (text == "no-crlf") return EchoMode::NoCrLf;
  if (text == "no-first") return EchoMode::NoFirst;
  if (text == "truncated") return EchoMode::Truncated;
  return std::nullopt;
}

std::vector<std::uint8_t> EchoFilter::reflect(std::span<const std::uint8_t> bytes) {
  std::vector<std::uint8_t> out;
  for (std::uint8_t b : bytes) {
    // 0x80 never occurs inside a stuffed KMP frame; '/' and ACK start an ASCII request only
    // outside one (a KMP frame may carry 0x2F as data).
    const bool starts = b == kmp::kStartToMeter || (!in_kmp_ && (b == '/' || b == kmp::kAck));
    if (starts) {
      position_ = 0;
      in_kmp_ = b == kmp::kStartToMeter;
    }
    const std::size_t at = position_++;
    const bool kmp_byte = in_kmp_;
    if (in_kmp_ && b == kmp::kStop) in_kmp_ = false;
    bool keep = true;
    switch (mode_) {
      case EchoMode::Full:
        break;
      case EchoMode::NoCrLf:
        keep = kmp_byte || (b != '\r' && b != '\n');
        break;
      case EchoMode::NoFirst:
        keep = !starts;
        break;
      case EchoMode::Truncated:
        keep = at < 2;
        break;
    }
    if (keep) out.push_back(b);
  }
  return out;
}

}  // namespace kamstrup::sim
