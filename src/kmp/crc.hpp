// CRC-16/XMODEM as KMP uses it: poly 0x1021, init 0, no reflection, no final XOR
// (docs/protocol.md §2.5). Note the PyKamstrup-family "crc_1021" is the augmented form and only
// agrees when two zero bytes are appended; this is the plain table-free form.
#pragma once

#include <cstdint>
#include <span>

namespace kamstrup::kmp {

constexpr std::uint16_t crc16_xmodem(std::span<const std::uint8_t> bytes, std::uint16_t crc = 0) {
  // Work in unsigned int so no step goes through a signed promotion.
  unsigned c = crc;
  for (std::uint8_t b : bytes) {
    c ^= static_cast<unsigned>(b) << 8U;
    for (int i = 0; i < 8; ++i) {
      c = (c & 0x8000U) != 0U ? ((c << 1U) ^ 0x1021U) : (c << 1U);
      c &= 0xFFFFU;
    }
  }
  return static_cast<std::uint16_t>(c);
}

}  // namespace kamstrup::kmp
