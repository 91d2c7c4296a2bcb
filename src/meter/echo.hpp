// Recognising an optical head's reflection of our own request. Heads do not all reflect every
// byte: some lose the ASCII requests' CR LF, the first character, or everything after the first
// few, and some reflect only some protocols. A reply made only of bytes of our request, in
// order, is that reflection, never a sign of wrong line settings.
#pragma once

#include <cstdint>
#include <span>
#include <string_view>

namespace kamstrup::meter {

// True when `heard` is non-empty and a subsequence of `request` (each byte matched in order,
// any of the request's bytes missing). `seven_bit` compares without bit 7, as the ASCII
// protocols' 7-bit characters may arrive with their parity bit set.
inline bool only_own_echo(std::span<const std::uint8_t> heard,
                          std::span<const std::uint8_t> request, bool seven_bit = false) {
  if (heard.empty()) return false;
  const std::uint8_t mask = seven_bit ? 0x7F : 0xFF;
  std::size_t at = 0;
  for (std::uint8_t b : heard) {
    while (at < request.size() && (request[at] & mask) != (b & mask)) ++at;
    if (at == request.size()) return false;
    ++at;
  }
  return true;
}

inline bool only_own_echo(std::string_view heard, std::string_view request) {
  return only_own_echo(
      std::span(reinterpret_cast<const std::uint8_t*>(heard.data()), heard.size()),
      std::span(reinterpret_cast<const std::uint8_t*>(request.data()), request.size()), true);
}

}  // namespace kamstrup::meter
