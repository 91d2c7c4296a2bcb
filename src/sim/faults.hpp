// Fault injection on reply frames (pure; the caller owns the random generator).
#pragma once

#include <cstdint>
#include <random>
#include <span>
#include <string>
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

}  // namespace kamstrup::sim
