// Local serial port: termios for the line, asio for the waiting.
#include "transport/detail.hpp"
#include "transport/ports.hpp"

#include <asio/posix/stream_descriptor.hpp>
#include <asio/write.hpp>

#include <fcntl.h>
#include <termios.h>
#include <unistd.h>
#include <cerrno>
#include <cstring>

namespace kamstrup::transport::detail {

namespace {

std::optional<speed_t> speed_for(unsigned baud) {
  switch (baud) {
    case 300:
      return B300;
    case 600:
      return B600;
    case 1200:
      return B1200;
    case 2400:
      return B2400;
    case 4800:
      return B4800;
    case 9600:
      return B9600;
    case 19200:
      return B19200;
    case 38400:
      return B38400;
    case 57600:
      return B57600;
    case 115200:
      return B115200;
    default:
      return std::nullopt;
  }
}

// termios masks are a mix of int and unsigned macros.
template <typename Bits>
tcflag_t flag(Bits bits) {
  return static_cast<tcflag_t>(bits);
}

tcflag_t size_flag(unsigned data_bits) {
  switch (data_bits) {
    case 5:
      return flag(CS5);
    case 6:
      return flag(CS6);
    case 7:
      return flag(CS7);
    default:
      return flag(CS8);
  }
}

std::string errno_text(int err) {
  return reason(std::error_code(err, std::generic_category()));
}

std::string open_error(const std::string& label, int err) {
  switch (err) {
    case ENOENT:
    case ENODEV:
    case ENXIO:
      return label + ": no such device";
    case EACCES:
    case EPERM:
      return label +
             ": permission denied (add the user to the 'dialout' group: "
             "sudo usermod -aG dialout $USER, then log in again)";
    case EBUSY:
      return label + ": device busy (in use by another program?)";
    default:
      return label + ": cannot open: " + errno_text(err);
  }
}

}  // namespace

// Raw 8-bit line, no flow control of any kind: the optical head has no handshake lines and
// XON/XOFF bytes occur in KMP frames. On a line with parity (the 7E lines of the MULTICAL /#n
// and IEC protocols) the driver checks it and hands over a character that failed as NUL
// (INPCK without IGNPAR/PARMRK): `/#n` replies carry no checksum, so the parity bit is the only
// thing that tells a flipped bit from a digit, and a NUL makes the line fail validation.
void configure_termios(termios& t, const std::string& label, const LineSettings& s) {
  auto speed = speed_for(s.baud);
  if (!speed) {
    throw PortError(label + ": unsupported baud rate " + std::to_string(s.baud) +
                    " (use 300, 600, 1200, 2400, 4800, 9600, 19200, 38400, 57600 or 115200)");
  }
  ::cfmakeraw(&t);
  t.c_iflag &= ~flag(IXON | IXOFF | IXANY | INPCK | IGNPAR | PARMRK);
  if (s.parity != Parity::None) t.c_iflag |= flag(INPCK);
  t.c_cflag &= ~flag(CSIZE | PARENB | PARODD | CSTOPB | CRTSCTS);
  t.c_cflag |= flag(CLOCAL | CREAD) | size_flag(s.data_bits);
  if (s.parity != Parity::None) t.c_cflag |= flag(PARENB);
  if (s.parity == Parity::Odd) t.c_cflag |= flag(PARODD);
  if (s.stop_bits == 2) t.c_cflag |= flag(CSTOPB);
  t.c_cc[VMIN] = 1;
  t.c_cc[VTIME] = 0;
  ::cfsetispeed(&t, *speed);
  ::cfsetospeed(&t, *speed);
}

namespace {

void apply_line(int fd, const std::string& label, const LineSettings& s) {
  termios t{};
  if (::tcgetattr(fd, &t) != 0) {
    throw PortError(label + ": cannot read line settings: " + errno_text(errno));
  }
  configure_termios(t, label, s);
  // TCSANOW rather than TCSADRAIN: draining a pty nobody reads would block the thread forever.
  if (::tcsetattr(fd, TCSANOW, &t) != 0) {
    throw PortError(label + ": cannot set " + s.to_string() + ": " + errno_text(errno));
  }
  // tcsetattr succeeds if any part was applied; a driver that silently kept another speed
  // would make the meter look dead, so say so now. (The frame bits are not compared: Linux
  // ptys force CS8 and clear PARENB whatever is asked.)
  termios back{};
  if (::tcgetattr(fd, &back) == 0 && ::cfgetospeed(&back) != ::cfgetospeed(&t)) {
    throw PortError(label + ": the driver did not accept " + std::to_string(s.baud) + " baud");
  }
}

class TtyPort final : public Port {
 public:
  TtyPort(asio::any_io_executor ex, std::string path, std::string usb_spec,
          const LineSettings& settings)
      : desc_(std::move(ex)),
        path_(std::move(path)),
        usb_spec_(std::move(usb_spec)),
        name_(usb_spec_.empty() ? path_ : usb_spec_),
        label_(name_),
        line_(settings) {}

  ~TtyPort() override { close(); }

  asio::awaitable<void> open() override {
    close();
    if (!usb_spec_.empty()) {
      path_ = resolve_usb_spec(usb_spec_);
      label_ = usb_spec_ + " (" + path_ + ")";
    }
    const int fd = ::open(path_.c_str(), O_RDWR | O_NOCTTY | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) throw PortError(open_error(label_, errno));
    if (::isatty(fd) == 0) {
      ::close(fd);
      throw PortError(label_ + ": not a serial device (not a tty)");
    }
    try {
      apply_line(fd, label_, line_);
    } catch (...) {
      ::close(fd);
      throw;
    }
    desc_.assign(fd);
    co_return;
  }

  asio::awaitable<void> set_line(const LineSettings& settings) override {
    check_line(name_, settings);
    if (desc_.is_open()) apply_line(desc_.native_handle(), label_, settings);
    line_ = settings;
    co_return;
  }

  asio::awaitable<void> write(std::span<const std::uint8_t> bytes) override {
    require_open();
    std::error_code ec;
    co_await asio::async_write(desc_, asio::buffer(bytes.data(), bytes.size()),
                               asio::redirect_error(asio::use_awaitable, ec));
    if (ec) throw PortError(label_ + ": write failed: " + reason(ec));
  }

  asio::awaitable<std::size_t> read(std::span<std::uint8_t> buf,
                                    Clock::time_point deadline) override {
    require_open();
    if (buf.empty()) co_return 0;
    auto r = co_await read_some_until(desc_, asio::buffer(buf.data(), buf.size()), deadline);
    if (r.timed_out) co_return 0;
    // A USB adapter that is unplugged (or a pty whose master closed) reports EIO or EOF.
    if (r.ec) throw PortError(label_ + ": read failed: " + reason(r.ec));
    co_return r.bytes;
  }

  asio::awaitable<void> discard_input() override {
    require_open();
    if (::tcflush(desc_.native_handle(), TCIFLUSH) != 0) {
      throw PortError(label_ + ": cannot discard input: " + errno_text(errno));
    }
    co_return;
  }

  void close() override {
    std::error_code ignored;
    desc_.close(ignored);
  }

  [[nodiscard]] const std::string& name() const override { return name_; }
  [[nodiscard]] const LineSettings& line() const override { return line_; }

 private:
  void require_open() const {
    if (!desc_.is_open()) throw PortError(label_ + ": port is not open");
  }

  asio::posix::stream_descriptor desc_;
  std::string path_;
  std::string usb_spec_;
  std::string name_;
  std::string label_;  // name_, plus the resolved device for usb: specs
  LineSettings line_;
};

}  // namespace

std::unique_ptr<Port> make_tty_port(asio::any_io_executor ex, std::string path,
                                    std::string usb_spec, const LineSettings& settings) {
  return std::make_unique<TtyPort>(std::move(ex), std::move(path), std::move(usb_spec), settings);
}

}  // namespace kamstrup::transport::detail
