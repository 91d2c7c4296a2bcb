// rfc2217:// against a small telnet server in the test that records everything it receives.
#include "support.hpp"
#include "transport/port.hpp"
#include "transport/telnet.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <utility>

namespace kamstrup::transport {
namespace {

using namespace test;
using namespace telnet;
using ::testing::HasSubstr;

constexpr std::uint8_t kNop = 241;
constexpr std::uint8_t kTerminalType = 24;

// One connection at a time; a new one replaces the old. Runs on its own thread with blocking
// calls so the port under test sees a genuinely independent peer.
class FakeRfc2217Server {
 public:
  enum class Mode { Normal, RefuseComPort };

  struct Record {
    int connections = 0;
    Bytes wire;  // every byte received, as sent
    Bytes data;  // payload after telnet decoding
    std::vector<std::pair<std::uint8_t, std::uint8_t>> negotiation;  // (command, option)
    std::vector<std::pair<std::uint8_t, Bytes>> com;                 // COM-PORT (code, value)
  };

  explicit FakeRfc2217Server(Mode mode = Mode::Normal) : mode_(mode), thread_([this] { loop(); }) {}
  ~FakeRfc2217Server() {
    stop_ = true;
    thread_.join();
    if (conn_ >= 0) ::close(conn_);
  }
  FakeRfc2217Server(const FakeRfc2217Server&) = delete;
  FakeRfc2217Server& operator=(const FakeRfc2217Server&) = delete;

  [[nodiscard]] std::string spec() const {
    return "rfc2217://127.0.0.1:" + std::to_string(listener_.port());
  }

  [[nodiscard]] Record record() const {
    std::lock_guard lock(mutex_);
    return record_;
  }

  bool wait_for(const std::function<bool(const Record&)>& pred) const {
    return eventually([&] { return pred(record()); });
  }

  void send(const Bytes& wire) {
    std::lock_guard lock(mutex_);
    if (conn_ >= 0) write_all(conn_, wire);
  }

  void drop_connection() {
    std::lock_guard lock(mutex_);
    if (conn_ >= 0) ::close(conn_);
    conn_ = -1;
  }

  // Bytes to send just before confirming the next PURGE-DATA: data "in flight" from the meter.
  void stale_before_purge(Bytes bytes) {
    std::lock_guard lock(mutex_);
    stale_ = std::move(bytes);
  }

 private:
  enum class State { Data, Iac, Command, SbOption, SbData, SbIac };

  void loop() {
    while (!stop_) {
      pollfd fds[2] = {{listener_.fd(), POLLIN, 0}, {-1, POLLIN, 0}};
      {
        std::lock_guard lock(mutex_);
        fds[1].fd = conn_;
      }
      if (::poll(fds, 2, 20) <= 0) continue;
      if (fds[0].revents & POLLIN) accept_one();
      if (fds[1].fd >= 0 && (fds[1].revents & (POLLIN | POLLHUP))) {
        std::uint8_t buf[512];
        const auto n = ::read(fds[1].fd, buf, sizeof buf);
        std::lock_guard lock(mutex_);
        if (n <= 0) {
          if (conn_ == fds[1].fd) {
            ::close(conn_);
            conn_ = -1;
          }
          continue;
        }
        for (auto b : std::span(buf, static_cast<std::size_t>(n))) parse(b);
      }
    }
  }

  void accept_one() {
    const int fd = listener_.accept(0ms);
    if (fd < 0) return;
    std::lock_guard lock(mutex_);
    if (conn_ >= 0) ::close(conn_);
    conn_ = fd;
    ++record_.connections;
    state_ = State::Data;
    sent_.clear();
    // What ser2net opens with, plus an option the client must refuse.
    reply({kIac, kWill, kOptEcho, kIac, kDo, kTerminalType, kIac, kWill, kOptBinary, kIac, kDo,
           kOptBinary});
    sent_ = {{kWill, kOptBinary}, {kDo, kOptBinary}};
  }

  void reply(const Bytes& wire) { write_all(conn_, wire); }

  void parse(std::uint8_t b) {
    record_.wire.push_back(b);
    switch (state_) {
      case State::Data:
        if (b == kIac) {
          state_ = State::Iac;
        } else {
          record_.data.push_back(b);
        }
        break;
      case State::Iac:
        if (b == kIac) {
          record_.data.push_back(b);
          state_ = State::Data;
        } else if (b == kSb) {
          state_ = State::SbOption;
        } else if (b >= kWill) {
          command_ = b;
          state_ = State::Command;
        } else {
          state_ = State::Data;
        }
        break;
      case State::Command:
        record_.negotiation.emplace_back(command_, b);
        negotiate(command_, b);
        state_ = State::Data;
        break;
      case State::SbOption:
        sb_option_ = b;
        sb_.clear();
        state_ = State::SbData;
        break;
      case State::SbData:
        if (b == kIac) {
          state_ = State::SbIac;
        } else {
          sb_.push_back(b);
        }
        break;
      case State::SbIac:
        if (b == kIac) {
          sb_.push_back(b);
          state_ = State::SbData;
        } else {
          state_ = State::Data;
          if (sb_option_ == kOptComPort && !sb_.empty())
            com_port(sb_[0], Bytes(sb_.begin() + 1, sb_.end()));
        }
        break;
    }
  }

  void negotiate(std::uint8_t command, std::uint8_t option) {
    // Answer each request once; answers to our own requests are not requests.
    const bool answer_to_us =
        (command == kWill && std::count(sent_.begin(), sent_.end(), std::pair{kDo, option})) ||
        (command == kDo && std::count(sent_.begin(), sent_.end(), std::pair{kWill, option}));
    if (answer_to_us) return;
    if (command == kWill && option == kOptComPort) {
      reply({kIac, mode_ == Mode::Normal ? kDo : kDont, kOptComPort});
    } else if (command == kWill) {
      const bool ok = option == kOptBinary || option == kOptSga;
      reply({kIac, ok ? kDo : kDont, option});
      sent_.emplace_back(ok ? kDo : kDont, option);
    } else if (command == kDo) {
      const bool ok = option == kOptBinary || option == kOptSga;
      reply({kIac, ok ? kWill : kWont, option});
      sent_.emplace_back(ok ? kWill : kWont, option);
    }
  }

  void com_port(std::uint8_t code, const Bytes& value) {
    record_.com.emplace_back(code, value);
    if (code == com::kPurgeData && !stale_.empty()) {
      reply(stale_);
      stale_.clear();
    }
    Bytes wire = {kIac, kSb, kOptComPort, static_cast<std::uint8_t>(code + com::kServerOffset)};
    escape(value, wire);
    wire.insert(wire.end(), {kIac, kSe});
    reply(wire);
  }

  Mode mode_;
  Listener listener_;
  mutable std::mutex mutex_;
  int conn_ = -1;
  Record record_;
  State state_ = State::Data;
  std::uint8_t command_ = 0;
  std::uint8_t sb_option_ = 0;
  Bytes sb_;
  Bytes stale_;
  std::vector<std::pair<std::uint8_t, std::uint8_t>> sent_;
  std::atomic<bool> stop_ = false;
  std::thread thread_;  // last: starts after everything above exists
};

using Com = std::pair<std::uint8_t, Bytes>;

// The COM-PORT commands a line configuration must produce, in order.
std::vector<Com> line_commands(const Bytes& baud, std::uint8_t datasize, std::uint8_t parity,
                               std::uint8_t stopsize) {
  return {{com::kSetBaudrate, baud},
          {com::kSetDatasize, {datasize}},
          {com::kSetParity, {parity}},
          {com::kSetStopsize, {stopsize}},
          {com::kSetControl, {com::kControlNoFlow}}};
}

bool contains(const Bytes& haystack, const Bytes& needle) {
  return std::search(haystack.begin(), haystack.end(), needle.begin(), needle.end()) !=
         haystack.end();
}

struct Rfc2217Test : ::testing::Test {
  asio::io_context io;
  FakeRfc2217Server server;
  std::unique_ptr<Port> port =
      make_port(io.get_executor(), server.spec(), {1200, 8, Parity::None, 2});
};

TEST_F(Rfc2217Test, OpenNegotiatesAndSendsTheLineSettings) {
  run(io, port->open());
  ASSERT_TRUE(server.wait_for([](const auto& r) { return r.com.size() >= 5; }));
  const auto r = server.record();
  EXPECT_EQ(r.com, line_commands({0x00, 0x00, 0x04, 0xB0}, 8, com::kParityNone, 2));
  using N = std::pair<std::uint8_t, std::uint8_t>;
  EXPECT_THAT(r.negotiation, ::testing::IsSupersetOf({N{kWill, kOptComPort}, N{kWill, kOptBinary},
                                                      N{kDo, kOptBinary}, N{kDont, kOptEcho},
                                                      N{kWont, kTerminalType}}));
  EXPECT_TRUE(r.data.empty());
}

TEST_F(Rfc2217Test, SetLineSendsTheNewSettings) {
  run(io, port->open());
  run(io, port->set_line({9600, 8, Parity::None, 1}));
  EXPECT_EQ(port->line(), (LineSettings{9600, 8, Parity::None, 1}));
  run(io, port->set_line({300, 7, Parity::Even, 2}));
  run(io, port->set_line({2400, 7, Parity::Odd, 1}));
  ASSERT_TRUE(server.wait_for([](const auto& r) { return r.com.size() >= 20; }));
  const auto com = server.record().com;
  auto expect_at = [&](std::size_t at, const std::vector<Com>& cmds) {
    EXPECT_EQ(std::vector<Com>(com.begin() + static_cast<std::ptrdiff_t>(at),
                               com.begin() + static_cast<std::ptrdiff_t>(at + 5)),
              cmds);
  };
  expect_at(5, line_commands({0x00, 0x00, 0x25, 0x80}, 8, com::kParityNone, 1));
  expect_at(10, line_commands({0x00, 0x00, 0x01, 0x2C}, 7, com::kParityEven, 2));
  expect_at(15, line_commands({0x00, 0x00, 0x09, 0x60}, 7, com::kParityOdd, 1));
}

TEST_F(Rfc2217Test, DataIsEscapedOnTheWire) {
  run(io, port->open());
  const Bytes request = {0x80, 0x10, 0xFF, 0x0D, 0x20, 0xFF, 0xFF, 0x0D};
  run(io, port->write(request));
  ASSERT_TRUE(server.wait_for([&](const auto& r) { return r.data.size() >= request.size(); }));
  const auto r = server.record();
  EXPECT_EQ(r.data, request);
  // 0xFF doubled; CR followed by the next byte, not by an inserted NUL.
  EXPECT_TRUE(contains(r.wire, {0x80, 0x10, 0xFF, 0xFF, 0x0D, 0x20, 0xFF, 0xFF, 0xFF, 0xFF, 0x0D}));
}

TEST_F(Rfc2217Test, ServerDataIsUnescapedAndCommandsStripped) {
  run(io, port->open());
  server.send({0x40, kIac, kIac, 0x0D, kIac, kNop, 0x41, kIac,          kSb,  kOptComPort,
               107,  0x30, kIac, kSe,  0x42, kIac, kDo,  kTerminalType, 0x0D, 0x00});
  EXPECT_EQ(read_n(io, *port, 7), (Bytes{0x40, 0xFF, 0x0D, 0x41, 0x42, 0x0D, 0x00}));
}

TEST_F(Rfc2217Test, IacSplitAcrossSegments) {
  run(io, port->open());
  server.send({0x50, kIac});
  Bytes buf(8);
  // The lone IAC is not data yet: only 0x50 comes back, and the IAC is remembered.
  EXPECT_EQ(run(io, port->read(buf, Clock::now() + 5s)), 1U);
  EXPECT_EQ(buf[0], 0x50);
  server.send({kIac, 0x51});
  EXPECT_EQ(read_n(io, *port, 2), (Bytes{0xFF, 0x51}));
}

TEST_F(Rfc2217Test, ReadWaitsPastCommandsForData) {
  run(io, port->open());
  // Only telnet traffic: the read must not return early with nothing.
  server.send({kIac, kNop, kIac, kSb, kOptComPort, 107, 0x10, kIac, kSe});
  Bytes buf(8);
  const auto start = Clock::now();
  EXPECT_EQ(run(io, port->read(buf, start + 100ms)), 0U);
  EXPECT_GE(Clock::now() - start, 100ms);
}

TEST_F(Rfc2217Test, DiscardInputPurgesTheServerAndDropsStaleData) {
  run(io, port->open());
  server.send({0x01, 0x02});
  EXPECT_EQ(read_n(io, *port, 1), (Bytes{0x01}));
  server.stale_before_purge({0x03, 0x04});
  run(io, port->discard_input());
  EXPECT_TRUE(server.wait_for([](const auto& r) {
    return std::count(r.com.begin(), r.com.end(), Com{com::kPurgeData, {com::kPurgeReceive}}) == 1;
  }));
  server.send({0x09});
  EXPECT_EQ(read_n(io, *port, 1), (Bytes{0x09}));
}

TEST_F(Rfc2217Test, WriteAfterDropReconnectsAndRenegotiates) {
  run(io, port->open());
  run(io, port->set_line({2400, 8, Parity::None, 1}));
  server.drop_connection();
  Bytes buf(4);
  EXPECT_EQ(run(io, port->read(buf, Clock::now() + 30s)), 0U);  // sees the close at once
  run(io, port->write(Bytes{0x80, 0xFF, 0x0D}));
  ASSERT_TRUE(server.wait_for([](const auto& r) { return r.data.size() >= 3; }));
  const auto r = server.record();
  EXPECT_EQ(r.connections, 2);
  EXPECT_EQ(r.data, (Bytes{0x80, 0xFF, 0x0D}));
  // The new connection got the current settings before the data.
  ASSERT_GE(r.com.size(), 15U);
  EXPECT_EQ(std::vector<Com>(r.com.begin() + 10, r.com.begin() + 15),
            line_commands({0x00, 0x00, 0x09, 0x60}, 8, com::kParityNone, 1));
}

TEST(Rfc2217Errors, ServerRefusingComPort) {
  asio::io_context io;
  FakeRfc2217Server server(FakeRfc2217Server::Mode::RefuseComPort);
  auto port = make_port(io.get_executor(), server.spec(), {});
  try {
    run(io, port->open());
    FAIL() << "no error";
  } catch (const PortError& e) {
    EXPECT_EQ(std::string(e.what()),
              server.spec() + ": the server refused RFC 2217 COM-PORT control");
  }
}

TEST(Rfc2217Errors, PlainTcpServerIsNotMistakenForRfc2217) {
  asio::io_context io;
  Listener silent;  // accepts (from the backlog) but never says a word
  const std::string spec = "rfc2217://127.0.0.1:" + std::to_string(silent.port());
  auto port = make_port(io.get_executor(), spec, {});
  try {
    run(io, port->open());
    FAIL() << "no error";
  } catch (const PortError& e) {
    EXPECT_THAT(e.what(), HasSubstr(spec + ": no RFC 2217 negotiation from the server"));
  }
}

TEST(Rfc2217Errors, ConnectionRefused) {
  asio::io_context io;
  const std::string spec = "rfc2217://127.0.0.1:" + std::to_string(free_tcp_port());
  auto port = make_port(io.get_executor(), spec, {});
  try {
    run(io, port->open());
    FAIL() << "no error";
  } catch (const PortError& e) {
    EXPECT_EQ(std::string(e.what()), spec + ": connection refused");
  }
}

}  // namespace
}  // namespace kamstrup::transport
