// Transport layer: one Port interface over every way of reaching a meter's optical head.
//
// Contract shared by all implementations:
//  - All operations are asio coroutines running on the caller's executor; none blocks the thread.
//  - Failures to open, configure or use a port throw PortError with a one-line message that
//    names the port (e.g. "/dev/ttyUSB9: no such device").
//  - read() never waits past its deadline: it returns the bytes that arrived (possibly none).
//  - A stream port (socket://, rfc2217://) whose connection drops reopens it on the next
//    write(); the caller only sees a PortError for the exchange that was lost. A read() that
//    sees the connection close returns at once with what had arrived (possibly nothing); reads
//    until the next write() then just wait out their deadline.
//  - One operation at a time per port: the caller does not overlap read() with write() etc.
//  - Linux ptys force CS8 and clear PARENB whatever is set, so on a pty only the baud rate and
//    CSTOPB of line() are visible from the master side.
#pragma once

#include <asio/any_io_executor.hpp>
#include <asio/awaitable.hpp>

#include <array>
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <vector>

namespace kamstrup::transport {

enum class Parity { None, Even, Odd };

struct LineSettings {
  unsigned baud = 1200;
  unsigned data_bits = 8;
  Parity parity = Parity::None;
  unsigned stop_bits = 2;

  // Time one character occupies on the wire: start + data + parity + stop bits.
  [[nodiscard]] unsigned bits_per_char() const {
    return 1 + data_bits + (parity == Parity::None ? 0U : 1U) + stop_bits;
  }
  [[nodiscard]] std::chrono::microseconds char_time() const {
    return std::chrono::microseconds(1'000'000ULL * bits_per_char() / baud);
  }
  [[nodiscard]] std::string to_string() const;  // "1200 8N2"
  bool operator==(const LineSettings&) const = default;
};

// The baud rates a port can be set to (serial ports, and RFC 2217 through the same list).
inline constexpr std::array<unsigned, 10> kBaudRates = {300,  600,   1200,  2400,  4800,
                                                        9600, 19200, 38400, 57600, 115200};

// Parses "8N2"-style frame formats ("7E2", "8N1", ...). Returns nullopt when malformed.
std::optional<LineSettings> parse_frame_format(unsigned baud, const std::string& format);

class PortError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

using Clock = std::chrono::steady_clock;

class Port {
 public:
  virtual ~Port() = default;

  // Opens the port and applies the line settings. Throws PortError.
  virtual asio::awaitable<void> open() = 0;
  // Changes the line settings of an open port (local termios, or RFC 2217 negotiation, which
  // returns once the server has confirmed every value). On a closed port, only remembers them
  // for open(). socket:// cannot reach the device: it only remembers them.
  virtual asio::awaitable<void> set_line(const LineSettings& settings) = 0;
  // Writes all bytes in one burst (KMP allows at most 27 ms between request bytes).
  virtual asio::awaitable<void> write(std::span<const std::uint8_t> bytes) = 0;
  // Reads whatever arrives, up to buf.size() bytes, returning as soon as at least one byte is
  // there or the deadline passes (then 0).
  virtual asio::awaitable<std::size_t> read(std::span<std::uint8_t> buf,
                                            Clock::time_point deadline) = 0;
  // Drops bytes already received but not yet read (stale echo, noise from before a request).
  // rfc2217:// also has the server purge its receive buffer (PURGE-DATA).
  virtual asio::awaitable<void> discard_input() = 0;
  virtual void close() = 0;

  [[nodiscard]] virtual const std::string& name() const = 0;
  [[nodiscard]] virtual const LineSettings& line() const = 0;
};

// Port specs understood by make_port():
//   /dev/ttyUSB0, /dev/pts/3, any path      local tty (termios)
//   socket://host:port                       raw TCP, as ser2net serves it
//   rfc2217://host:port                      telnet with RFC 2217 COM-port control
//   usb:VID:PID[:SERIAL]                     the tty of a USB serial adapter (via sysfs)
// Throws PortError for a malformed spec (naming it). Does not open the port.
std::unique_ptr<Port> make_port(asio::any_io_executor ex, const std::string& spec,
                                const LineSettings& settings);

// Resolves usb:VID:PID[:SERIAL] to a /dev path by walking sysfs_root (normally "/sys").
// Throws PortError when no device or more than one matches (listing the candidates).
std::string resolve_usb_spec(const std::string& spec, const std::string& sysfs_root = "/sys",
                             const std::string& dev_root = "/dev");

}  // namespace kamstrup::transport
