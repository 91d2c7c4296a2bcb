// Typed outcomes of the pure protocol core. Never thrown: returned in Result<T>.
#pragma once

#include <cstdint>
#include <string_view>
#include <utility>
#include <variant>

namespace kamstrup::kmp {

enum class Error : std::uint8_t {
  Truncated,         // frame or register block ends early (no stop byte, block overruns frame)
  Overlong,          // more than kMaxFrameBytes without a stop byte
  BadStart,          // first byte is not 0x40/0x80 (or a lone 0x06 ACK)
  BadEscape,         // 0x1B followed by a byte whose complement is not a reserved value
  StrayByte,         // an unescaped reserved byte (0x40, 0x80, 0x06, 0x1B) inside a frame
  TrailingBytes,     // bytes after the stop byte in what should be one frame
  CrcMismatch,       // CRC-16/XMODEM over DST..CRC_lo is not zero
  WrongDestination,  // reply from an address we did not ask
  WrongCid,          // reply CID differs from the request CID
  WrongDirection,    // a request where a response was expected, or the reverse
  Malformed,         // CRC valid but the message body does not fit its CID's layout
  UnknownUnit,       // register unit code outside the unit table (that register only)
  BadLength,         // register NoB that cannot hold a number (0, or > 16 for numeric units)
  Unsupported,       // register omitted from the meter's reply
};

constexpr std::string_view to_string(Error e) {
  switch (e) {
    case Error::Truncated:
      return "Truncated";
    case Error::Overlong:
      return "Overlong";
    case Error::BadStart:
      return "BadStart";
    case Error::BadEscape:
      return "BadEscape";
    case Error::StrayByte:
      return "StrayByte";
    case Error::TrailingBytes:
      return "TrailingBytes";
    case Error::CrcMismatch:
      return "CrcMismatch";
    case Error::WrongDestination:
      return "WrongDestination";
    case Error::WrongCid:
      return "WrongCid";
    case Error::WrongDirection:
      return "WrongDirection";
    case Error::Malformed:
      return "Malformed";
    case Error::UnknownUnit:
      return "UnknownUnit";
    case Error::BadLength:
      return "BadLength";
    case Error::Unsupported:
      return "Unsupported";
  }
  return "?";
}

// A value or an Error. Deliberately tiny: the core has no exceptions across its API. The legacy
// core uses it with its own error set (legacy::Result).
template <typename T, typename E = Error>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::move(value)) {}  // NOLINT(google-explicit-constructor)
  Result(E e) : v_(e) {}                     // NOLINT(google-explicit-constructor)

  [[nodiscard]] bool ok() const { return v_.index() == 0; }
  explicit operator bool() const { return ok(); }
  [[nodiscard]] const T& value() const& { return std::get<0>(v_); }
  [[nodiscard]] T& value() & { return std::get<0>(v_); }
  [[nodiscard]] T&& value() && { return std::get<0>(std::move(v_)); }
  [[nodiscard]] E error() const { return std::get<1>(v_); }
  const T* operator->() const { return &std::get<0>(v_); }
  const T& operator*() const { return std::get<0>(v_); }

 private:
  std::variant<T, E> v_;
};

}  // namespace kamstrup::kmp
