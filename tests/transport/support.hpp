// Test fixtures for the transport layer: real ptys, real sockets, real child processes.
#pragma once

#include "transport/port.hpp"

#include <asio/co_spawn.hpp>
#include <asio/io_context.hpp>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <exception>
#include <filesystem>
#include <functional>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <type_traits>
#include <vector>

#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <termios.h>
#include <unistd.h>

namespace kamstrup::transport::test {

using namespace std::chrono_literals;
using Bytes = std::vector<std::uint8_t>;

// Runs one coroutine to completion on `io` (with whatever else is queued there) and returns its
// result, rethrowing its exception. The limit only guards against a hung test. (Not use_future:
// that completes through asio's global thread pool, which a forked child cannot use.)
template <typename T>
T run(asio::io_context& io, asio::awaitable<T> aw, std::chrono::seconds limit = 20s) {
  bool done = false;
  std::exception_ptr error;
  std::optional<std::conditional_t<std::is_void_v<T>, bool, T>> result;
  if constexpr (std::is_void_v<T>) {
    asio::co_spawn(io, std::move(aw), [&](std::exception_ptr e) {
      error = e;
      done = true;
    });
  } else {
    asio::co_spawn(io, std::move(aw), [&](std::exception_ptr e, T value) {
      error = e;
      if (!e) result = std::move(value);
      done = true;
    });
  }
  io.restart();
  const auto give_up = std::chrono::steady_clock::now() + limit;
  while (!done) {
    io.run_one_for(50ms);
    if (std::chrono::steady_clock::now() > give_up) throw std::runtime_error("test coroutine hung");
  }
  if (error) std::rethrow_exception(error);
  if constexpr (!std::is_void_v<T>) return std::move(*result);
}

// Reads until `n` bytes arrived or the deadline passed; returns what arrived.
inline Bytes read_n(asio::io_context& io, Port& port, std::size_t n,
                    std::chrono::milliseconds within = 5000ms) {
  const auto deadline = Clock::now() + within;
  Bytes got;
  while (got.size() < n && Clock::now() < deadline) {
    Bytes buf(n - got.size());
    const std::size_t k = run(io, port.read(buf, deadline));
    got.insert(got.end(), buf.begin(), buf.begin() + static_cast<std::ptrdiff_t>(k));
  }
  return got;
}

// Sockets are written with MSG_NOSIGNAL: a fake server writing to a client that already hung up
// must get EPIPE, not a SIGPIPE that kills the whole test binary (seen once, in
// Rfc2217Errors.ServerRefusingComPort). Ptys and pipes fall back to write().
inline void write_all(int fd, const Bytes& bytes) {
  std::size_t done = 0;
  while (done < bytes.size()) {
    auto n = ::send(fd, bytes.data() + done, bytes.size() - done, MSG_NOSIGNAL);
    if (n < 0 && errno == ENOTSOCK) n = ::write(fd, bytes.data() + done, bytes.size() - done);
    if (n < 0) {
      if (errno == EINTR || errno == EAGAIN) continue;
      throw std::runtime_error("write failed");
    }
    done += static_cast<std::size_t>(n);
  }
}

// Reads exactly n bytes from fd, or fewer if `within` passes or the fd reaches end of file. EIO
// (a pty whose slave is not open yet) counts as "nothing yet".
inline Bytes read_fd(int fd, std::size_t n, std::chrono::milliseconds within = 5000ms) {
  const auto deadline = std::chrono::steady_clock::now() + within;
  Bytes got;
  while (got.size() < n) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) break;
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(std::min<long>(left.count(), 50))) <= 0) continue;
    std::uint8_t buf[256];
    const auto k = ::read(fd, buf, std::min(sizeof buf, n - got.size()));
    if (k > 0) {
      got.insert(got.end(), buf, buf + k);
    } else if (k == 0) {
      break;  // end of file (pipes, sockets)
    } else if (errno == EIO) {
      std::this_thread::sleep_for(10ms);
    }
  }
  return got;
}

// A pseudo-terminal: the test plays the meter on the master side.
class Pty {
 public:
  Pty() {
    master_ = ::posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
    if (master_ < 0 || ::grantpt(master_) != 0 || ::unlockpt(master_) != 0) {
      throw std::runtime_error("cannot allocate a pty");
    }
    char name[128];
    if (::ptsname_r(master_, name, sizeof name) != 0) throw std::runtime_error("ptsname");
    slave_path_ = name;
  }
  ~Pty() {
    if (held_slave_ >= 0) ::close(held_slave_);
    ::close(master_);
  }
  Pty(const Pty&) = delete;
  Pty& operator=(const Pty&) = delete;

  [[nodiscard]] int master() const { return master_; }
  [[nodiscard]] const std::string& slave_path() const { return slave_path_; }

  // Keeps the slave open in raw mode, so the master never sees EIO/echo while the program
  // under test (ser2net) has not opened it yet.
  void hold_slave_raw() {
    held_slave_ = ::open(slave_path_.c_str(), O_RDWR | O_NOCTTY | O_CLOEXEC);
    if (held_slave_ < 0) throw std::runtime_error("cannot open pty slave");
    termios t{};
    ::tcgetattr(held_slave_, &t);
    ::cfmakeraw(&t);
    ::tcsetattr(held_slave_, TCSANOW, &t);
  }

  [[nodiscard]] termios attrs() const {
    termios t{};
    if (::tcgetattr(master_, &t) != 0) throw std::runtime_error("tcgetattr on master");
    return t;
  }

  void write(const Bytes& bytes) const { write_all(master_, bytes); }
  [[nodiscard]] Bytes read(std::size_t n, std::chrono::milliseconds within = 5000ms) const {
    return read_fd(master_, n, within);
  }

 private:
  int master_ = -1;
  int held_slave_ = -1;
  std::string slave_path_;
};

// Polls `pred` until it holds or `within` passes; for state another process changes.
inline bool eventually(const std::function<bool()>& pred,
                       std::chrono::milliseconds within = 5000ms) {
  const auto deadline = std::chrono::steady_clock::now() + within;
  while (!pred()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(10ms);
  }
  return true;
}

class TempDir {
 public:
  TempDir() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "kamstrup-transport-XXXXXX");
    if (::mkdtemp(tmpl.data()) == nullptr) throw std::runtime_error("mkdtemp");
    path_ = tmpl;
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  [[nodiscard]] const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

// A listening TCP socket on 127.0.0.1 with an ephemeral port, driven with plain blocking calls
// from the test thread (connect() completes from the backlog before accept()).
class Listener {
 public:
  Listener() {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = 0;
    if (fd_ < 0 || ::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 ||
        ::listen(fd_, 8) != 0) {
      throw std::runtime_error("cannot listen on 127.0.0.1");
    }
    socklen_t len = sizeof a;
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len);
    port_ = ntohs(a.sin_port);
  }
  ~Listener() { close(); }
  Listener(const Listener&) = delete;
  Listener& operator=(const Listener&) = delete;

  [[nodiscard]] unsigned short port() const { return port_; }
  [[nodiscard]] int fd() const { return fd_; }
  void close() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }

  // Returns the accepted fd, or -1 if nobody connected within the limit.
  [[nodiscard]] int accept(std::chrono::milliseconds within = 5000ms) const {
    pollfd p{fd_, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(within.count())) <= 0) return -1;
    return ::accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC);
  }

 private:
  int fd_ = -1;
  unsigned short port_ = 0;
};

// A TCP port number that was free a moment ago, for programs that must bind it themselves.
inline unsigned short free_tcp_port() {
  Listener l;
  return l.port();
}

}  // namespace kamstrup::transport::test
