// Runs real processes for end-to-end tests: the `kamstrup` binary, ser2net. No shell involved.
#pragma once

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

extern char** environ;  // NOLINT: POSIX

namespace kamstrup::test {

struct RunResult {
  int status = -1;  // exit code, or 128 + signal
  std::string out;
  std::string err;
};

inline std::vector<char*> argv_of(std::vector<std::string>& args) {
  std::vector<char*> v;
  for (auto& a : args) v.push_back(a.data());
  v.push_back(nullptr);
  return v;
}

// The environment for a child: ours, with each "NAME=value" of `overrides` replacing or adding
// that variable.
inline std::vector<std::string> environment_with(const std::vector<std::string>& overrides) {
  std::vector<std::string> env;
  for (char** e = environ; e != nullptr && *e != nullptr; ++e) {
    std::string entry = *e;
    const std::string name = entry.substr(0, entry.find('='));
    bool replaced = false;
    for (const auto& o : overrides) replaced = replaced || o.substr(0, o.find('=')) == name;
    if (!replaced) env.push_back(entry);
  }
  env.insert(env.end(), overrides.begin(), overrides.end());
  return env;
}

// Writes to a pipe whose reader has gone must fail with EPIPE, not kill the test.
inline void ignore_sigpipe() {
  static const bool done = [] {
    signal(SIGPIPE, SIG_IGN);
    return true;
  }();
  (void)done;
}

// Exit code, or 128 + signal.
inline int exit_status_of(int status) {
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

// Runs to completion (killed after `limit`), capturing stdout and stderr; `input` goes to stdin.
// `env` entries ("NAME=value") are added to the child's environment.
inline RunResult run(std::vector<std::string> args, const std::string& input = "",
                     std::chrono::seconds limit = std::chrono::seconds(120),
                     const std::vector<std::string>& env = {}) {
  ignore_sigpipe();
  int in[2], out[2], err[2];
  if (pipe2(in, O_CLOEXEC) != 0 || pipe2(out, O_CLOEXEC) != 0 || pipe2(err, O_CLOEXEC) != 0) {
    throw std::runtime_error("pipe");
  }
  // Everything the child needs is built before fork(): the test process has threads (fake
  // meters), so the child must not allocate.
  auto argv = argv_of(args);
  std::vector<std::string> env_strings = environment_with(env);
  auto envp = argv_of(env_strings);
  pid_t pid = fork();
  if (pid == 0) {
    dup2(in[0], 0);
    dup2(out[1], 1);
    dup2(err[1], 2);
    execve(argv[0], argv.data(), envp.data());
    _exit(127);
  }
  close(in[0]);
  close(out[1]);
  close(err[1]);
  std::size_t written = 0;
  RunResult r;
  auto deadline = std::chrono::steady_clock::now() + limit;
  // stdin is fed from the same loop as the output is drained, so a child that writes a lot
  // before reading all its input cannot deadlock us.
  int in_fd = in[1];
  if (input.empty()) {
    close(in_fd);
    in_fd = -1;
  } else {
    fcntl(in_fd, F_SETFL, fcntl(in_fd, F_GETFL) | O_NONBLOCK);
  }
  pollfd fds[3] = {{out[0], POLLIN, 0}, {err[0], POLLIN, 0}, {in_fd, POLLOUT, 0}};
  int open_fds = 2;
  char buf[4096];
  while (open_fds > 0) {
    if (std::chrono::steady_clock::now() > deadline) {
      kill(pid, SIGKILL);
      break;
    }
    fds[2].fd = in_fd;
    if (poll(fds, 3, 100) <= 0) continue;
    if (in_fd >= 0 && (fds[2].revents & (POLLOUT | POLLERR | POLLHUP)) != 0) {
      ssize_t w = write(in_fd, input.data() + written, input.size() - written);
      if (w > 0) written += static_cast<std::size_t>(w);
      if (w < 0 || written == input.size()) {
        close(in_fd);
        in_fd = -1;
      }
    }
    for (int i = 0; i < 2; ++i) {
      auto& p = fds[i];
      if (p.fd < 0 || (p.revents & (POLLIN | POLLHUP | POLLERR)) == 0) continue;
      ssize_t n = read(p.fd, buf, sizeof buf);
      if (n <= 0) {
        close(p.fd);
        p.fd = -1;
        --open_fds;
        continue;
      }
      (i == 0 ? r.out : r.err).append(buf, static_cast<std::size_t>(n));
    }
  }
  if (in_fd >= 0) close(in_fd);
  for (int i = 0; i < 2; ++i) {
    if (fds[i].fd >= 0) close(fds[i].fd);
  }
  int status = 0;
  waitpid(pid, &status, 0);
  r.status = exit_status_of(status);
  return r;
}

// A background process (simulator, ser2net) stopped with SIGTERM (then SIGKILL) on destruction.
// Its stdout/stderr go to files so a test can wait for a line.
class Background {
 public:
  explicit Background(std::vector<std::string> args, const std::string& log_prefix) {
    ignore_sigpipe();
    out_path_ = log_prefix + ".out";
    err_path_ = log_prefix + ".err";
    // Opened before fork() (and close-on-exec apart from the dup2 copies): the child must not
    // allocate, and must not inherit the test's other descriptors.
    int o = open(out_path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    int e = open(err_path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    int n = open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (o < 0 || e < 0 || n < 0) throw std::runtime_error("cannot open " + log_prefix + ".*");
    auto argv = argv_of(args);
    pid_ = fork();
    if (pid_ == 0) {
      dup2(n, 0);
      dup2(o, 1);
      dup2(e, 2);
      setpgid(0, 0);
      execv(argv[0], argv.data());
      _exit(127);
    }
    close(o);
    close(e);
    close(n);
  }
  Background(const Background&) = delete;
  Background& operator=(const Background&) = delete;
  ~Background() { stop(); }

  // SIGTERM, then SIGKILL after a second; returns the exit status (exit code or 128 + signal),
  // also when the process had already ended.
  int stop() {
    if (pid_ <= 0) return status_;
    kill(pid_, SIGTERM);
    for (int i = 0; i < 100; ++i) {
      if (reap(WNOHANG)) return status_;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    kill(pid_, SIGKILL);
    reap(0);
    return status_;
  }
  // Sends a signal (e.g. SIGHUP) without waiting.
  void signal(int sig) const {
    if (pid_ > 0) ::kill(pid_, sig);
  }
  // SIGTERM, then the exit status (128 + signal if it died of one); SIGKILL after 10 s.
  int terminate_and_wait() {
    if (pid_ <= 0) return -1;
    kill(pid_, SIGTERM);
    int status = 0;
    for (int i = 0; i < 500; ++i) {
      if (waitpid(pid_, &status, WNOHANG) == pid_) {
        pid_ = -1;
        return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    kill_hard();
    return -1;
  }
  void kill_hard() {
    if (pid_ <= 0) return;
    kill(pid_, SIGKILL);
    reap(0);
  }
  [[nodiscard]] bool running() { return pid_ > 0 && !reap(WNOHANG); }
  // The process id while it runs (-1 once reaped).
  [[nodiscard]] pid_t pid() const { return pid_; }
  [[nodiscard]] std::string out() const { return slurp(out_path_); }
  [[nodiscard]] std::string err() const { return slurp(err_path_); }

  // Waits until stdout contains `needle`; returns false after `limit` or when the process ends.
  bool wait_for_output(const std::string& needle,
                       std::chrono::milliseconds limit = std::chrono::milliseconds(10000)) {
    auto deadline = std::chrono::steady_clock::now() + limit;
    while (std::chrono::steady_clock::now() < deadline) {
      if (out().find(needle) != std::string::npos) return true;
      if (!running()) return out().find(needle) != std::string::npos;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return false;
  }

  static std::string slurp(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
  }

 private:
  // True once the child has been reaped (its status kept in status_).
  bool reap(int flags) {
    int status = 0;
    pid_t r = waitpid(pid_, &status, flags);
    if (r == pid_) {
      status_ = exit_status_of(status);
      pid_ = -1;
      return true;
    }
    return false;
  }

  pid_t pid_ = -1;
  int status_ = -1;
  std::string out_path_, err_path_;
};

// A fresh temporary directory, removed on destruction.
class TempDir {
 public:
  TempDir() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "kamstrup-e2e-XXXXXX").string();
    if (mkdtemp(tmpl.data()) == nullptr) throw std::runtime_error("mkdtemp");
    path_ = tmpl;
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  [[nodiscard]] std::string operator/(const std::string& name) const { return path_ + "/" + name; }
  [[nodiscard]] const std::string& path() const { return path_; }

 private:
  std::string path_;
};

// A TCP port on 127.0.0.1 that was free a moment ago (and for `count` consecutive ports).
inline int free_tcp_port(int count = 1) {
  for (int attempt = 0; attempt < 50; ++attempt) {
    int s = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = 0;
    socklen_t len = sizeof a;
    bind(s, reinterpret_cast<sockaddr*>(&a), sizeof a);
    getsockname(s, reinterpret_cast<sockaddr*>(&a), &len);
    int port = ntohs(a.sin_port);
    close(s);
    bool all_free = port + count < 65000;
    for (int i = 1; i < count && all_free; ++i) {
      int t = socket(AF_INET, SOCK_STREAM, 0);
      sockaddr_in b = a;
      b.sin_port = htons(static_cast<std::uint16_t>(port + i));
      all_free = bind(t, reinterpret_cast<sockaddr*>(&b), sizeof b) == 0;
      close(t);
    }
    if (all_free) return port;
  }
  throw std::runtime_error("no free TCP port");
}

}  // namespace kamstrup::test
