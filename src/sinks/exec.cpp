#include "sinks/exec.hpp"

#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <map>
#include <stdexcept>
#include <system_error>

#include "sinks/format.hpp"
#include "text/time.hpp"

extern char** environ;  // NOLINT: POSIX

namespace kamstrup::sinks {

namespace {

constexpr std::size_t kMaxStderr = 64 * 1024;

std::string errno_text(int err) {
  return std::error_code(err, std::generic_category()).message();
}

std::string env_name(const std::string& reg) {
  std::string out = "KAMSTRUP_";
  for (char c : reg) {
    if (c >= 'a' && c <= 'z')
      out.push_back(static_cast<char>(c - 'a' + 'A'));
    else if ((c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))
      out.push_back(c);
    else
      out.push_back('_');
  }
  return out;
}

class Fd {
 public:
  Fd() = default;
  explicit Fd(int fd) : fd_(fd) {}
  ~Fd() { reset(); }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  [[nodiscard]] int get() const { return fd_; }
  void reset(int fd = -1) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = fd;
  }

 private:
  int fd_ = -1;
};

// A close-on-exec pipe whose ends are never 0, 1 or 2 (so the dup2 onto those in the child
// cannot clobber one end with the other, even when the daemon runs with a standard fd closed).
void make_pipe(Fd& read_end, Fd& write_end) {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0)
    throw SinkError("exec: cannot create a pipe: " + errno_text(errno));
  for (int& fd : fds) {
    if (fd < 3) {
      int moved = ::fcntl(fd, F_DUPFD_CLOEXEC, 3);
      ::close(fd);
      fd = moved;
    }
  }
  read_end.reset(fds[0]);
  write_end.reset(fds[1]);
  if (fds[0] < 0 || fds[1] < 0) throw SinkError("exec: cannot create a pipe: " + errno_text(errno));
}

// A pidfd (readable once the child exits), or -1 where the kernel has none. Raw syscall: glibc
// 2.36's <sys/pidfd.h> lacks extern "C" and does not link from C++.
int open_pidfd(pid_t pid) {
#ifdef SYS_pidfd_open
  return static_cast<int>(::syscall(SYS_pidfd_open, pid, 0U));
#else
  (void)pid;
  return -1;
#endif
}

void set_nonblocking(int fd) {
  ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_NONBLOCK);
}

// write() to a pipe whose reader may be gone, without SIGPIPE killing the daemon: block the
// signal in this thread, and swallow the one the failed write raised.
ssize_t write_no_sigpipe(int fd, const char* data, std::size_t size) {
  sigset_t pipe_set, old;
  sigemptyset(&pipe_set);
  sigaddset(&pipe_set, SIGPIPE);
  pthread_sigmask(SIG_BLOCK, &pipe_set, &old);
  sigset_t pending;
  sigpending(&pending);
  bool was_pending = sigismember(&pending, SIGPIPE) == 1;
  ssize_t n = ::write(fd, data, size);
  int err = errno;
  if (n < 0 && err == EPIPE && !was_pending) {
    timespec zero{};
    while (sigtimedwait(&pipe_set, nullptr, &zero) < 0 && errno == EINTR) {
    }
  }
  pthread_sigmask(SIG_SETMASK, &old, nullptr);
  errno = err;
  return n;
}

// Reads what is available; false at EOF or on error.
bool drain(int fd, std::string& out) {
  char buf[4096];
  for (;;) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n > 0) {
      if (out.size() < kMaxStderr)
        out.append(buf, std::min(static_cast<std::size_t>(n), kMaxStderr - out.size()));
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return true;
    return false;
  }
}

std::string first_line(const std::string& s) {
  std::size_t b = 0;
  while (b < s.size() && (s[b] == '\n' || s[b] == '\r' || s[b] == ' ')) ++b;
  std::size_t e = s.find_first_of("\r\n", b);
  std::string line = s.substr(b, e == std::string::npos ? std::string::npos : e - b);
  if (line.size() > 300) line = line.substr(0, 300) + "...";
  return line;
}

struct SpawnActions {
  posix_spawn_file_actions_t fa;
  posix_spawnattr_t attr;
  SpawnActions() {
    posix_spawn_file_actions_init(&fa);
    posix_spawnattr_init(&attr);
  }
  ~SpawnActions() {
    posix_spawn_file_actions_destroy(&fa);
    posix_spawnattr_destroy(&attr);
  }
  SpawnActions(const SpawnActions&) = delete;
  SpawnActions& operator=(const SpawnActions&) = delete;
};

}  // namespace

std::vector<std::pair<std::string, std::string>> exec_environment(const store::Poll& poll) {
  std::vector<std::pair<std::string, std::string>> out = {
      {"KAMSTRUP_METER", poll.meter},
      {"KAMSTRUP_TIME", text::utc_text(poll.time_ms)},
      {"KAMSTRUP_TIME_MS", std::to_string(poll.time_ms)},
      {"KAMSTRUP_SOURCE", poll.source},
  };
  const std::size_t fixed = out.size();
  auto taken = [&](const std::string& name) {
    for (std::size_t i = 0; i < fixed; ++i)
      if (out[i].first == name) return true;
    return false;
  };
  for (const auto& v : poll.values) {
    std::string name = env_name(v.name);
    if (!taken(name)) out.emplace_back(name, v.value.empty() ? v.text : v.value);
    if (!taken(name + "_UNIT")) out.emplace_back(name + "_UNIT", v.unit);
    if (!v.text.empty() && !taken(name + "_TEXT")) out.emplace_back(name + "_TEXT", v.text);
  }
  return out;
}

ExecSink::ExecSink(ExecConfig config) : cfg_(std::move(config)) {
  if (cfg_.command.empty() || cfg_.command.front().empty())
    throw std::invalid_argument("exec output: command is empty");
}

void ExecSink::deliver(std::span<const store::Poll> polls) {
  for (const auto& p : polls) run_one(p);
}

void ExecSink::run_one(const store::Poll& poll) {
  const std::string where = "exec: " + cfg_.command.front() + " (" + poll.meter + " " +
                            text::utc_text(poll.time_ms) + "): ";

  // Environment: the daemon's, with ours replacing any variable of the same name.
  std::map<std::string, std::string> ours;
  for (auto& [k, v] : exec_environment(poll)) ours[k] = v;
  std::vector<std::string> env_storage;
  for (char** e = environ; e != nullptr && *e != nullptr; ++e) {
    std::string_view entry(*e);
    if (ours.count(std::string(entry.substr(0, entry.find('=')))) != 0) continue;
    env_storage.emplace_back(entry);
  }
  for (const auto& [k, v] : ours) env_storage.push_back(k + "=" + v);
  std::vector<char*> envp;
  for (auto& s : env_storage) envp.push_back(s.data());
  envp.push_back(nullptr);
  std::vector<std::string> argv_storage = cfg_.command;
  std::vector<char*> argv;
  for (auto& s : argv_storage) argv.push_back(s.data());
  argv.push_back(nullptr);

  Fd in_read, in_write, err_read, err_write;
  make_pipe(in_read, in_write);
  make_pipe(err_read, err_write);

  pid_t pid = -1;
  {
    SpawnActions sa;
    posix_spawn_file_actions_adddup2(&sa.fa, in_read.get(), 0);
    posix_spawn_file_actions_addopen(&sa.fa, 1, "/dev/null", O_WRONLY, 0);
    posix_spawn_file_actions_adddup2(&sa.fa, err_write.get(), 2);
    posix_spawn_file_actions_addclosefrom_np(&sa.fa, 3);
    // Its own process group (a timeout kills the whole group, e.g. sh and its children), no
    // blocked signals, and default dispositions for those the daemon may ignore.
    posix_spawnattr_setpgroup(&sa.attr, 0);
    sigset_t none;
    sigemptyset(&none);
    posix_spawnattr_setsigmask(&sa.attr, &none);
    sigset_t defaults;
    sigemptyset(&defaults);
    for (int s : {SIGPIPE, SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2, SIGCHLD})
      sigaddset(&defaults, s);
    posix_spawnattr_setsigdefault(&sa.attr, &defaults);
    posix_spawnattr_setflags(
        &sa.attr,
        static_cast<short>(POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF));
    int rc = posix_spawnp(&pid, argv[0], &sa.fa, &sa.attr, argv.data(), envp.data());
    if (rc != 0) throw SinkError(where + "cannot run: " + errno_text(rc));
  }
  in_read.reset();
  err_write.reset();
  set_nonblocking(in_write.get());
  set_nonblocking(err_read.get());
  Fd pidfd(open_pidfd(pid));  // -1 on old kernels: then poll in 10 ms steps

  const std::string input = poll_json(poll) + "\n";
  std::size_t written = 0;
  std::string err_text;
  int status = 0;
  bool exited = false;
  bool status_known = true;
  const auto deadline = std::chrono::steady_clock::now() + cfg_.timeout;
  for (;;) {
    pid_t w = ::waitpid(pid, &status, WNOHANG);
    if (w == pid || (w < 0 && errno != EINTR)) {
      exited = true;
      status_known = w == pid;
      break;
    }
    auto now = std::chrono::steady_clock::now();
    if (now >= deadline) break;
    auto left = std::chrono::ceil<std::chrono::milliseconds>(deadline - now).count();
    int wait_ms = static_cast<int>(std::min<std::int64_t>(left, pidfd.get() >= 0 ? 1000 : 10));

    pollfd fds[3];
    nfds_t n = 0;
    int in_i = -1, err_i = -1;
    if (in_write.get() >= 0) {
      in_i = static_cast<int>(n);
      fds[n++] = {in_write.get(), POLLOUT, 0};
    }
    if (err_read.get() >= 0) {
      err_i = static_cast<int>(n);
      fds[n++] = {err_read.get(), POLLIN, 0};
    }
    if (pidfd.get() >= 0) fds[n++] = {pidfd.get(), POLLIN, 0};
    if (::poll(fds, n, wait_ms) < 0) {
      if (errno == EINTR) continue;
      break;  // cannot wait: treat like a timeout (kill) rather than spin
    }
    if (in_i >= 0 && fds[in_i].revents != 0) {
      ssize_t k = write_no_sigpipe(in_write.get(), input.data() + written, input.size() - written);
      if (k > 0) written += static_cast<std::size_t>(k);
      // Done, or the command closed its stdin (EPIPE): its exit status decides.
      if (written == input.size() || (k < 0 && errno != EAGAIN && errno != EINTR)) in_write.reset();
    }
    if (err_i >= 0 && fds[err_i].revents != 0 && !drain(err_read.get(), err_text)) err_read.reset();
  }

  if (!exited) {
    ::kill(-pid, SIGKILL);
    ::kill(pid, SIGKILL);
    while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    throw SinkError(where + "timed out after " + std::to_string(cfg_.timeout.count()) +
                    " ms (killed)");
  }
  // Whatever it wrote before exiting (a background child may keep the pipe open: don't wait).
  if (err_read.get() >= 0) drain(err_read.get(), err_text);

  if (!status_known) throw SinkError(where + "cannot get the exit status: " + errno_text(ECHILD));
  if (WIFEXITED(status) && WEXITSTATUS(status) == 0) return;
  std::string what;
  if (WIFEXITED(status)) {
    what = "exit status " + std::to_string(WEXITSTATUS(status));
  } else if (WIFSIGNALED(status)) {
    const char* abbrev = sigabbrev_np(WTERMSIG(status));
    what = "killed by signal " + std::to_string(WTERMSIG(status)) +
           (abbrev != nullptr ? std::string(" (SIG") + abbrev + ")" : std::string());
  } else {
    what = "ended abnormally";
  }
  std::string line = first_line(err_text);
  throw SinkError(where + what + (line.empty() ? std::string(" (no stderr output)") : ": " + line));
}

const config::Table<ExecConfig>& exec_keys() {
  using C = ExecConfig;
  using namespace config;
  static const Table<C> t{
      "exec",
      "Runs a command once per poll, the poll as JSON on stdin and `KAMSTRUP_METER`, "
      "`KAMSTRUP_TIME`, `KAMSTRUP_<REGISTER>` (and `_UNIT`) in its environment. A non-zero exit is "
      "a failed delivery that is retried.",
      {
          required(custom<C>(
              {"command", KeyKind::List,
               "a list of arguments (run directly), or one string run by `/bin/sh -c`",
               "[/usr/local/bin/on-reading, --verbose]", true, ""},
              [](const Node& n, const std::string& path, C& out, Context&) {
                out.command.clear();
                if (n.is_scalar() && !n.scalar.empty()) {
                  out.command = {"/bin/sh", "-c", n.scalar};
                } else if (n.is_sequence() && !n.items.empty()) {
                  for (std::size_t i = 0; i < n.items.size(); ++i)
                    out.command.push_back(scalar(n.items[i], index(path, i), "an argument"));
                  if (out.command.front().empty()) fail(index(path, 0), "the program is empty");
                } else {
                  fail(path, "expected a command line or a list of arguments");
                }
              },
              [](const C& c) {
                std::vector<Node> items;
                for (const auto& a : c.command) items.push_back(Node::text(a));
                return Node::list(std::move(items));
              })),
          duration<C>("timeout", &C::timeout,
                      {std::chrono::milliseconds(100), std::chrono::hours(1)},
                      "a command still running after this is killed (and the poll retried)", "30s"),
      },
      {}};
  return t;
}

}  // namespace kamstrup::sinks
