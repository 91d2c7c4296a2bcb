// Fault injection on reply frames and on the optical echo (pure; the caller owns the random
// generator).
#pragma once

#include <cstdint>
#include <optional>
#include <random>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace kamstrup::sim {

// A copy of `reply` (a valid frame) that CRC-16 is guaranteed to reject: in the unstuffed
// DST..CRC_lo bytes, 1–16 bits are flipped inside one 16-bit window (CRC-16 detects every burst
// of up to 16 bits), then the bytes are re-stuffed and framed with the now wrong CRC. Flipping
// wire bytes instead could change the stuffing and the length, which the CRC does not always
// catch. Returns `reply` unchanged when it does not decode.
std::vector<std::uint8_t> corrupt_reply(std::span<const std::uint8_t> reply, std::mt19937_64& rng);

// 1–8 line-noise bytes to send before a reply's start byte: zeros (which meters really send)
// and random bytes, never 0x40 or 0x80 (frame starts) nor 0x06 (ACK), so a receiver that
// waits for 0x40 is not misled.
std::vector<std::uint8_t> noise_bytes(std::mt19937_64& rng);

// A 7E line's corruption as the reader's serial driver delivers it with parity checking on: one
// digit in text[from, to) replaced by NUL (a single flipped bit fails the character's parity).
// Returns false, changing nothing, when that range holds no digit.
bool parity_error(std::string& text, std::size_t from, std::size_t to, std::mt19937_64& rng);

// How an optical head reflects the reader's requests. Real heads do not all reflect every byte:
// some lose the ASCII requests' CR LF, the first character of a request, or everything after
// the first few characters. The reader must still recognise what comes back as its own echo.
enum class EchoMode : std::uint8_t {
  Full,       // every byte, at once
  NoCrLf,     // ASCII requests (`/?!` CR LF, `/#n`, ACK 000 CR LF) without CR and LF; KMP whole
  NoFirst,    // every request without its first byte (0x80, '/', ACK)
  Truncated,  // only the first two bytes of every request
};
// "full", "no-crlf", "no-first", "truncated"; nullopt for anything else.
std::optional<EchoMode> parse_echo_mode(std::string_view text);

// Byte by byte, what the head reflects of the bytes the reader sends: requests are told apart
// by their first byte (KMP 0x80 up to its 0x0D stop byte; ASCII '/' or ACK 0x06), so the
// reflection does not depend on how the reader's writes are split.
class EchoFilter {
 public:
  explicit EchoFilter(EchoMode mode) : mode_(mode) {}
  std::vector<std::uint8_t> reflect(std::span<const std::uint8_t> bytes);

 private:
  EchoMode mode_;
  bool in_kmp_ = false;       // inside a KMP request frame (0x80 ... 0x0D)
  std::size_t position_ = 0;  // bytes of the current request so far
};

}  // namespace kamstrup::sim
