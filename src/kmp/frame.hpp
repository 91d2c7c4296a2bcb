// KMP physical and data-link layers (docs/protocol.md §2, official doc 5512-447 §3).
//
//   to meter:    80 | DST | CID | data ... | CRC_hi CRC_lo | 0D
//   from meter:  40 | DST | CID | data ... | CRC_hi CRC_lo | 0D
//   ACK:         06              (a lone byte: no address, CID, CRC or stop)
//
// * DST: 0x3F the meter, 0x7F logger top module, 0xBF logger base module. Replies echo it.
// * CRC: CRC-16/XMODEM over the unstuffed DST..data, sent most significant byte first; over
//   DST..CRC_lo it comes out 0.
// * Stuffing: between start and stop, each of 80 40 0D 06 1B (CRC bytes included) is sent as
//   1B followed by its complement (80→1B 7F, 40→1B BF, 0D→1B F2, 06→1B F9, 1B→1B E4).
//   So 0x40/0x80 only ever start a frame and 0x0D only ever ends one.
// * The meter may send a stray 0x00 between frames; some optical heads echo our request.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "kmp/error.hpp"

namespace kamstrup::kmp {

inline constexpr std::uint8_t kStartToMeter = 0x80;
inline constexpr std::uint8_t kStartFromMeter = 0x40;
inline constexpr std::uint8_t kStop = 0x0D;
inline constexpr std::uint8_t kAck = 0x06;
inline constexpr std::uint8_t kEscape = 0x1B;

inline constexpr std::uint8_t kDstMeter = 0x3F;
inline constexpr std::uint8_t kDstLoggerTop = 0x7F;
inline constexpr std::uint8_t kDstLoggerBase = 0xBF;

// Nothing longer is a frame: the longest legal reply (8 blocks of 16-byte mantissas, all bytes
// stuffed) is under 400 bytes, so 1 KiB without a stop byte is noise.
inline constexpr std::size_t kMaxFrameBytes = 1024;

enum class Direction : std::uint8_t { ToMeter, FromMeter };

struct Frame {
  Direction direction = Direction::ToMeter;
  bool is_ack = false;  // a lone 0x06: dst/cid/data unused
  std::uint8_t dst = kDstMeter;
  std::uint8_t cid = 0;
  std::vector<std::uint8_t> data;  // application data after the CID, unstuffed, without CRC

  bool operator==(const Frame&) const = default;
};

[[nodiscard]] bool is_reserved(std::uint8_t b);

// Builds the wire bytes: start, stuffed DST+CID+data+CRC, stop. An ACK frame encodes as 06.
std::vector<std::uint8_t> encode_frame(const Frame& frame);

// Start byte, stuffed `body` (DST..CRC_lo, taken as it is: no CRC is computed), stop byte.
// encode_frame's last step; also lets a simulator send a frame whose CRC is deliberately wrong.
std::vector<std::uint8_t> wrap_frame(Direction direction, std::span<const std::uint8_t> body);

// Upper-case hex without separators ("403F10"), for logs and messages.
std::string to_hex(std::span<const std::uint8_t> bytes);

// Decodes exactly one frame (start byte through stop byte, nothing after).
Result<Frame> decode_frame(std::span<const std::uint8_t> wire);

// Collects frames from a byte stream, one byte at a time (bounded memory, no allocation past
// kMaxFrameBytes). Bytes before a start byte are counted as noise (0x00 separately, since the
// meter may send those); a start byte inside a frame restarts collection, counting the partial
// frame as noise.
class FrameReceiver {
 public:
  enum class Event : std::uint8_t {
    None,      // byte consumed, nothing complete yet
    Frame,     // a frame (start..stop) is complete: see frame_bytes()
    Ack,       // a lone 0x06 outside a frame
    Overlong,  // kMaxFrameBytes without a stop byte: the partial frame was dropped
  };

  Event feed(std::uint8_t byte);
  // The wire bytes of the frame just completed (valid until the next feed()).
  [[nodiscard]] std::span<const std::uint8_t> frame_bytes() const { return buf_; }
  [[nodiscard]] bool in_frame() const { return in_frame_; }
  [[nodiscard]] std::size_t noise_bytes() const { return noise_; }
  [[nodiscard]] std::size_t zero_bytes() const { return zeros_; }
  void reset();

 private:
  std::vector<std::uint8_t> buf_;
  bool in_frame_ = false;
  bool completed_ = false;
  std::size_t noise_ = 0;
  std::size_t zeros_ = 0;
};

}  // namespace kamstrup::kmp
