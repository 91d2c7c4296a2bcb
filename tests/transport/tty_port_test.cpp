// Local tty ports, exercised on real pseudo-terminals: the test holds the master and plays the
// meter; the port opens the slave exactly as it would open /dev/ttyUSB0.
#include "support.hpp"
#include "transport/port.hpp"
#include "transport/ports.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <fstream>

#include <sys/stat.h>
#include <sys/wait.h>

namespace kamstrup::transport {
namespace {

using namespace test;
using ::testing::HasSubstr;

std::string open_error(const std::string& spec) {
  asio::io_context io;
  auto port = make_port(io.get_executor(), spec, {});
  try {
    run(io, port->open());
  } catch (const PortError& e) {
    return e.what();
  }
  return "no error";
}

struct TtyTest : ::testing::Test {
  asio::io_context io;
  Pty pty;

  std::unique_ptr<Port> open_slave(const LineSettings& line) {
    auto port = make_port(io.get_executor(), pty.slave_path(), line);
    run(io, port->open());
    return port;
  }
};

TEST_F(TtyTest, BytesFlowBothWaysUnaltered) {
  auto port = open_slave({});
  // Raw mode matters: CR, LF, XON/XOFF, ^C and 0xFF must all pass untouched.
  const Bytes request = {0x80, 0x3F, 0x10, 0x0D, 0x0A, 0x11, 0x13, 0x03, 0xFF, 0x00, 0x0D};
  run(io, port->write(request));
  EXPECT_EQ(pty.read(request.size()), request);

  const Bytes reply = {0x40, 0x3F, 0x10, 0x0A, 0x0D, 0x11, 0x13, 0x1B, 0x7F, 0xFF, 0x0D};
  pty.write(reply);
  EXPECT_EQ(read_n(io, *port, reply.size()), reply);
}

TEST_F(TtyTest, ReadReturnsWhatIsThereWithoutWaitingForMore) {
  auto port = open_slave({});
  pty.write({1, 2, 3});
  Bytes buf(64);
  // The deadline is far away: a read that waited to fill the buffer would hang the test.
  const auto deadline = Clock::now() + 30s;
  std::size_t n = 0;
  while (n < 3) n += run(io, port->read(std::span(buf).subspan(n), deadline));
  EXPECT_EQ(n, 3U);
  EXPECT_EQ(Bytes(buf.begin(), buf.begin() + 3), (Bytes{1, 2, 3}));
}

TEST_F(TtyTest, ReadReturnsZeroAtTheDeadline) {
  auto port = open_slave({});
  Bytes buf(16);
  const auto start = Clock::now();
  EXPECT_EQ(run(io, port->read(buf, start + 100ms)), 0U);
  EXPECT_GE(Clock::now() - start, 100ms);
  // A deadline already past still returns (with nothing).
  EXPECT_EQ(run(io, port->read(buf, Clock::now() - 1s)), 0U);
  // And the port still works afterwards: the cancelled read did not eat the next bytes.
  pty.write({0x42});
  EXPECT_EQ(read_n(io, *port, 1), (Bytes{0x42}));
}

TEST_F(TtyTest, OpenAppliesLineSettingsVisibleOnTheMaster) {
  auto port = open_slave({1200, 8, Parity::None, 2});
  auto t = pty.attrs();
  EXPECT_EQ(cfgetospeed(&t), static_cast<speed_t>(B1200));
  EXPECT_EQ(cfgetispeed(&t), static_cast<speed_t>(B1200));
  EXPECT_EQ(t.c_cflag & CSIZE, static_cast<tcflag_t>(CS8));
  EXPECT_TRUE(t.c_cflag & CSTOPB);
  EXPECT_FALSE(t.c_cflag & PARENB);
  EXPECT_TRUE(t.c_cflag & CLOCAL);
  EXPECT_TRUE(t.c_cflag & CREAD);
  EXPECT_FALSE(t.c_cflag & CRTSCTS);
  EXPECT_FALSE(t.c_iflag & (IXON | IXOFF));
  EXPECT_FALSE(t.c_lflag & (ICANON | ECHO | ISIG));
  EXPECT_FALSE(t.c_oflag & OPOST);
}

TEST_F(TtyTest, SetLineChangesSettingsVisibleOnTheMaster) {
  auto port = open_slave({1200, 8, Parity::None, 2});
  run(io, port->set_line({9600, 8, Parity::None, 1}));
  auto t = pty.attrs();
  EXPECT_EQ(cfgetospeed(&t), static_cast<speed_t>(B9600));
  EXPECT_FALSE(t.c_cflag & CSTOPB);
  EXPECT_EQ(t.c_cflag & CSIZE, static_cast<tcflag_t>(CS8));
  EXPECT_EQ(port->line(), (LineSettings{9600, 8, Parity::None, 1}));

  // Linux ptys force CS8 and clear PARENB on every tcsetattr, so a 7E2 frame cannot be seen
  // from the master; baud and stop bits can (ConfigureTermios covers the frame bits).
  run(io, port->set_line({300, 7, Parity::Even, 2}));
  t = pty.attrs();
  EXPECT_EQ(cfgetospeed(&t), static_cast<speed_t>(B300));
  EXPECT_TRUE(t.c_cflag & CSTOPB);
  EXPECT_EQ(port->line(), (LineSettings{300, 7, Parity::Even, 2}));
}

TEST(ConfigureTermios, FrameBits) {
  termios t{};
  detail::configure_termios(t, "x", {300, 7, Parity::Even, 2});
  EXPECT_EQ(cfgetospeed(&t), static_cast<speed_t>(B300));
  EXPECT_EQ(t.c_cflag & CSIZE, static_cast<tcflag_t>(CS7));
  EXPECT_TRUE(t.c_cflag & PARENB);
  EXPECT_FALSE(t.c_cflag & PARODD);
  EXPECT_TRUE(t.c_cflag & CSTOPB);
  // Parity is checked, and a failed character arrives as NUL (not dropped, not marked).
  EXPECT_TRUE(t.c_iflag & INPCK);
  EXPECT_FALSE(t.c_iflag & (IGNPAR | PARMRK | ISTRIP));

  detail::configure_termios(t, "x", {2400, 7, Parity::Odd, 1});
  EXPECT_EQ(cfgetispeed(&t), static_cast<speed_t>(B2400));
  EXPECT_TRUE(t.c_cflag & PARENB);
  EXPECT_TRUE(t.c_cflag & PARODD);
  EXPECT_FALSE(t.c_cflag & CSTOPB);

  // Reconfiguring clears what the previous settings set.
  detail::configure_termios(t, "x", {1200, 8, Parity::None, 2});
  EXPECT_EQ(t.c_cflag & CSIZE, static_cast<tcflag_t>(CS8));
  EXPECT_FALSE(t.c_cflag & (PARENB | PARODD));
  EXPECT_FALSE(t.c_iflag & INPCK);
  EXPECT_TRUE(t.c_cflag & CSTOPB);
  EXPECT_TRUE(t.c_cflag & (CLOCAL | CREAD));
  EXPECT_FALSE(t.c_cflag & CRTSCTS);
  EXPECT_EQ(t.c_cc[VMIN], 1);
  EXPECT_EQ(t.c_cc[VTIME], 0);

  EXPECT_THROW(detail::configure_termios(t, "x", {1234, 8, Parity::None, 2}), PortError);
}

TEST_F(TtyTest, EveryMeterBaudRateIsAccepted) {
  auto port = open_slave({});
  for (unsigned baud : {300U, 600U, 1200U, 2400U, 4800U, 9600U, 19200U, 38400U, 57600U, 115200U}) {
    EXPECT_NO_THROW(run(io, port->set_line({baud, 8, Parity::None, 2}))) << baud;
  }
}

TEST_F(TtyTest, UnsupportedBaudRateIsAPortError) {
  auto port = open_slave({});
  try {
    run(io, port->set_line({1234, 8, Parity::None, 2}));
    FAIL() << "no error";
  } catch (const PortError& e) {
    EXPECT_THAT(e.what(), HasSubstr(pty.slave_path() + ": unsupported baud rate 1234"));
  }
  // The previous settings stay in force.
  EXPECT_EQ(port->line(), LineSettings{});
}

TEST_F(TtyTest, DiscardInputDropsUnreadBytes) {
  auto port = open_slave({});
  // e.g. the echo of our own request; a master write lands in the slave's input queue before
  // write() returns, so the flush below sees it.
  pty.write({0x40, 0x01, 0x02});
  run(io, port->discard_input());
  pty.write({0x99});
  EXPECT_EQ(read_n(io, *port, 1), (Bytes{0x99}));
}

TEST_F(TtyTest, CloseAndReopen) {
  auto port = open_slave({});
  port->close();
  port->close();  // idempotent
  Bytes buf(4);
  EXPECT_THROW(run(io, port->read(buf, Clock::now() + 10ms)), PortError);
  EXPECT_THROW(run(io, port->write(Bytes{1})), PortError);
  run(io, port->open());
  run(io, port->write(Bytes{7}));
  EXPECT_EQ(pty.read(1), (Bytes{7}));
}

TEST_F(TtyTest, MasterHangupIsAPortErrorOnRead) {
  auto port = open_slave({});
  auto other = std::make_unique<Pty>();
  // Swap in a pty whose master we can close while the port has its slave open.
  auto hung = make_port(io.get_executor(), other->slave_path(), {});
  run(io, hung->open());
  other.reset();
  Bytes buf(4);
  EXPECT_THROW(run(io, hung->read(buf, Clock::now() + 2s)), PortError);
}

TEST(TtyErrors, NonexistentPath) {
  EXPECT_EQ(open_error("/dev/ttyUSB9-does-not-exist"),
            "/dev/ttyUSB9-does-not-exist: no such device");
}

TEST(TtyErrors, RegularFileIsNotASerialDevice) {
  TempDir dir;
  const auto file = (dir.path() / "not-a-tty").string();
  std::ofstream(file) << "hello";
  EXPECT_EQ(open_error(file), file + ": not a serial device (not a tty)");
  EXPECT_EQ(open_error("/dev/null"), "/dev/null: not a serial device (not a tty)");
}

TEST(TtyErrors, PermissionDeniedMentionsDialout) {
  TempDir dir;
  const auto file = (dir.path() / "locked").string();
  std::ofstream(file) << "x";
  ::chmod(file.c_str(), 0);
  std::string message;
  if (::geteuid() != 0) {
    message = open_error(file);
  } else {
    // Root opens anything: try it as an unprivileged user in a child process.
    int fds[2];
    ASSERT_EQ(::pipe(fds), 0);
    const pid_t child = ::fork();
    ASSERT_GE(child, 0);
    if (child == 0) {
      ::close(fds[0]);
      if (::setgid(65534) != 0 || ::setuid(65534) != 0) ::_exit(1);
      const std::string m = open_error(file);
      write_all(fds[1], Bytes(m.begin(), m.end()));
      ::_exit(0);
    }
    ::close(fds[1]);
    const Bytes got = read_fd(fds[0], 4096, 5000ms);
    ::close(fds[0]);
    int status = 0;
    ::waitpid(child, &status, 0);
    ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "could not drop privileges";
    message.assign(got.begin(), got.end());
  }
  EXPECT_THAT(message, HasSubstr(file + ": permission denied"));
  EXPECT_THAT(message, HasSubstr("dialout"));
}

TEST(TtyErrors, UsbSpecWithNoSuchDevice) {
  // VID ffff is reserved: no real adapter has it.
  EXPECT_THAT(open_error("usb:ffff:fffe"),
              HasSubstr("usb:ffff:fffe: no USB serial device with that vendor/product id"));
}

}  // namespace
}  // namespace kamstrup::transport
