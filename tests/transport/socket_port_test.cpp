// socket:// against a plain TCP listener in the test: raw bytes, drops and reconnects.
#include "support.hpp"
#include "transport/port.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace kamstrup::transport {
namespace {

using namespace test;
using ::testing::HasSubstr;

struct Fd {
  int fd = -1;
  explicit Fd(int f) : fd(f) {}
  ~Fd() { reset(); }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  void reset() {
    if (fd >= 0) ::close(fd);
    fd = -1;
  }
};

struct SocketTest : ::testing::Test {
  asio::io_context io;
  Listener server;
  std::string spec = "socket://127.0.0.1:" + std::to_string(server.port());
  std::unique_ptr<Port> port = make_port(io.get_executor(), spec, {});
};

TEST_F(SocketTest, BytesFlowBothWaysUnaltered) {
  run(io, port->open());
  Fd conn(server.accept());
  ASSERT_GE(conn.fd, 0);

  const Bytes request = {0x80, 0x3F, 0xFF, 0xFF, 0x0D, 0x00, 0x0A, 0x0D};
  run(io, port->write(request));
  EXPECT_EQ(read_fd(conn.fd, request.size()), request);

  const Bytes reply = {0x40, 0xFF, 0x0D, 0x00, 0xFF, 0xFB, 0x2C, 0x0D};
  write_all(conn.fd, reply);
  EXPECT_EQ(read_n(io, *port, reply.size()), reply);
}

TEST_F(SocketTest, ReadReturnsZeroAtTheDeadline) {
  run(io, port->open());
  Fd conn(server.accept());
  Bytes buf(8);
  const auto start = Clock::now();
  EXPECT_EQ(run(io, port->read(buf, start + 100ms)), 0U);
  EXPECT_GE(Clock::now() - start, 100ms);
}

TEST_F(SocketTest, DiscardInputDropsBytesAlreadyReceived) {
  run(io, port->open());
  Fd conn(server.accept());
  write_all(conn.fd, {1, 2, 3});
  // Read one byte so the rest is known to have arrived; then throw the rest away.
  EXPECT_EQ(read_n(io, *port, 1), (Bytes{1}));
  run(io, port->discard_input());
  write_all(conn.fd, {9});
  EXPECT_EQ(read_n(io, *port, 1), (Bytes{9}));
}

TEST_F(SocketTest, ReadSeesServerCloseAndNextWriteReconnects) {
  run(io, port->open());
  Fd first(server.accept());
  write_all(first.fd, {0x40, 0x41});
  first.reset();

  // The bytes sent before the close still arrive; then the read reports the close at once
  // (returning nothing) rather than sitting out its deadline.
  EXPECT_EQ(read_n(io, *port, 2), (Bytes{0x40, 0x41}));
  Bytes buf(8);
  EXPECT_EQ(run(io, port->read(buf, Clock::now() + 30s)), 0U);
  // While disconnected a read just waits for its deadline.
  EXPECT_EQ(run(io, port->read(buf, Clock::now() + 50ms)), 0U);

  run(io, port->write(Bytes{0x80, 0x0D}));
  Fd second(server.accept());
  ASSERT_GE(second.fd, 0) << "no reconnect";
  EXPECT_EQ(read_fd(second.fd, 2), (Bytes{0x80, 0x0D}));
  write_all(second.fd, {0x06});
  EXPECT_EQ(read_n(io, *port, 1), (Bytes{0x06}));
}

TEST_F(SocketTest, WriteAfterUnnoticedServerCloseReconnects) {
  run(io, port->open());
  { Fd first(server.accept()); }  // closed without the port reading anything
  run(io, port->write(Bytes{1, 2, 3}));
  Fd second(server.accept());
  ASSERT_GE(second.fd, 0) << "no reconnect";
  EXPECT_EQ(read_fd(second.fd, 3), (Bytes{1, 2, 3}));
}

TEST_F(SocketTest, ReconnectFailureNamesTheEndpoint) {
  run(io, port->open());
  { Fd first(server.accept()); }
  server.close();
  try {
    run(io, port->write(Bytes{1}));
    FAIL() << "no error";
  } catch (const PortError& e) {
    EXPECT_EQ(std::string(e.what()), spec + ": connection refused");
  }
}

TEST(SocketErrors, ConnectionRefused) {
  const auto free_port = free_tcp_port();
  const std::string spec = "socket://127.0.0.1:" + std::to_string(free_port);
  asio::io_context io;
  auto port = make_port(io.get_executor(), spec, {});
  try {
    run(io, port->open());
    FAIL() << "no error";
  } catch (const PortError& e) {
    EXPECT_EQ(std::string(e.what()), spec + ": connection refused");
  }
  Bytes buf(1);
  EXPECT_THROW(run(io, port->read(buf, Clock::now())), PortError);
}

TEST(SocketErrors, UnknownHost) {
  asio::io_context io;
  auto port = make_port(io.get_executor(), "socket://no-such-host.invalid:7000", {});
  try {
    run(io, port->open());
    FAIL() << "no error";
  } catch (const PortError& e) {
    EXPECT_THAT(e.what(), HasSubstr("socket://no-such-host.invalid:7000: cannot resolve"));
  }
}

TEST(SocketErrors, SetLineIsAcceptedAndRemembered) {
  asio::io_context io;
  Listener server;
  auto port =
      make_port(io.get_executor(), "socket://127.0.0.1:" + std::to_string(server.port()), {});
  run(io, port->open());
  run(io, port->set_line({9600, 8, Parity::None, 1}));
  EXPECT_EQ(port->line(), (LineSettings{9600, 8, Parity::None, 1}));
}

}  // namespace
}  // namespace kamstrup::transport
