// Helpers for the simulator tests: hex, a reader on a real pty or TCP socket, a simulator on a
// background thread, and the JSON log.
#pragma once

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <termios.h>
#include <unistd.h>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "kmp/frame.hpp"
#include "sim/simulator.hpp"

namespace kamstrup::sim::test {

using Bytes = std::vector<std::uint8_t>;
using Steady = std::chrono::steady_clock;
using namespace std::chrono_literals;

inline Bytes from_hex(const std::string& hex) {
  Bytes out;
  for (std::size_t i = 0; i + 1 < hex.size(); i += 2) {
    out.push_back(static_cast<std::uint8_t>(std::stoul(hex.substr(i, 2), nullptr, 16)));
  }
  return out;
}

using kmp::to_hex;

inline std::string temp_path(const std::string& name) {
  auto dir =
      std::filesystem::temp_directory_path() / ("kamstrup-sim-test-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  return (dir / name).string();
}

// One byte-stream end held by the test: a pty slave or a TCP client socket.
class Reader {
 public:
  struct Read {
    Steady::time_point at;
    Bytes bytes;
  };

  ~Reader() { close(); }
  Reader() = default;
  Reader(const Reader&) = delete;
  Reader& operator=(const Reader&) = delete;

  // Opens a pty slave in raw mode at `baud` with `stop_bits` (8 data bits, no parity).
  void open_pty(const std::string& path, speed_t baud, unsigned stop_bits) {
    close();
    fd_ = ::open(path.c_str(), O_RDWR | O_NOCTTY | O_NONBLOCK);
    ASSERT_GE(fd_, 0) << path;
    termios t{};
    ASSERT_EQ(::tcgetattr(fd_, &t), 0);
    ::cfmakeraw(&t);
    ::cfsetispeed(&t, baud);
    ::cfsetospeed(&t, baud);
    if (stop_bits == 2) {
      t.c_cflag |= CSTOPB;
    } else {
      t.c_cflag &= ~static_cast<tcflag_t>(CSTOPB);
    }
    ASSERT_EQ(::tcsetattr(fd_, TCSANOW, &t), 0);
    ::tcflush(fd_, TCIOFLUSH);
  }

  void connect_tcp(std::uint16_t port) {
    close();
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    ASSERT_GE(fd_, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ASSERT_EQ(::connect(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a), 0) << port;
    int one = 1;
    ::setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  }

  void close() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }

  void write(const Bytes& bytes) {
    ASSERT_EQ(::write(fd_, bytes.data(), bytes.size()), static_cast<ssize_t>(bytes.size()));
  }

  // Reads until a complete frame from the meter (0x40..0x0D) has arrived or `timeout` passes.
  // Every read is kept with its time.
  std::vector<Read> read_reply(std::chrono::milliseconds timeout, bool* eof = nullptr) {
    std::vector<Read> reads;
    kmp::FrameReceiver rx;
    const auto deadline = Steady::now() + timeout;
    for (;;) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Steady::now());
      if (left.count() <= 0) return reads;
      pollfd p{fd_, POLLIN, 0};
      if (::poll(&p, 1, static_cast<int>(left.count()) + 1) <= 0) continue;
      std::uint8_t buf[256];
      ssize_t n = ::read(fd_, buf, sizeof buf);
      if (n == 0 && eof != nullptr) {
        *eof = true;
        return reads;
      }
      if (n <= 0) continue;
      reads.push_back({Steady::now(), Bytes(buf, buf + n)});
      for (ssize_t i = 0; i < n; ++i) {
        if (rx.feed(buf[i]) == kmp::FrameReceiver::Event::Frame &&
            rx.frame_bytes().front() == kmp::kStartFromMeter) {
          return reads;
        }
      }
    }
  }

  static Bytes joined(const std::vector<Read>& reads) {
    Bytes all;
    for (const auto& r : reads) all.insert(all.end(), r.bytes.begin(), r.bytes.end());
    return all;
  }

  // The meter's frame at the end of `all` (from the last 0x40).
  static Bytes reply_frame(const Bytes& all) {
    for (std::size_t i = all.size(); i-- > 0;) {
      if (all[i] == kmp::kStartFromMeter)
        return Bytes(all.begin() + static_cast<long>(i), all.end());
    }
    return {};
  }

  [[nodiscard]] int fd() const { return fd_; }

 private:
  int fd_ = -1;
};

// A Simulator serving on its own thread for the duration of a test.
class RunningSim {
 public:
  explicit RunningSim(SimOptions options) : sim_(std::move(options)) {
    std::ostringstream out;
    sim_.start(out);
    start_lines = out.str();
    thread_ = std::thread([this] { sim_.run(); });
  }
  ~RunningSim() {
    sim_.stop();
    thread_.join();
  }
  RunningSim(const RunningSim&) = delete;
  RunningSim& operator=(const RunningSim&) = delete;

  Simulator& sim() { return sim_; }
  std::uint16_t tcp_port(std::size_t i) {
    const std::string& p = sim_.port(i);
    return static_cast<std::uint16_t>(std::stoul(p.substr(p.rfind(':') + 1)));
  }

  std::string start_lines;

 private:
  Simulator sim_;
  std::thread thread_;
};

inline std::vector<nlohmann::json> read_log(const std::string& path) {
  std::vector<nlohmann::json> out;
  std::ifstream in(path);
  std::string line;
  while (std::getline(in, line)) {
    if (!line.empty()) out.push_back(nlohmann::json::parse(line));
  }
  return out;
}

inline std::vector<nlohmann::json> log_lines(const std::string& path, const std::string& dir) {
  std::vector<nlohmann::json> out;
  for (auto& j : read_log(path)) {
    if (j["dir"] == dir) out.push_back(j);
  }
  return out;
}

// Polls the log until it holds `count` lines in direction `dir` (the tx line of a silence is
// written right after its rx line, but on the simulator's thread).
inline std::vector<nlohmann::json> wait_log(const std::string& path, const std::string& dir,
                                            std::size_t count) {
  auto deadline = Steady::now() + 3s;
  for (;;) {
    auto lines = log_lines(path, dir);
    if (lines.size() >= count || Steady::now() > deadline) return lines;
    std::this_thread::sleep_for(10ms);
  }
}

}  // namespace kamstrup::sim::test
