// The daemon as the systemd unit runs it, with real processes and a real notify socket:
// READY=1 once the configuration is valid and the store open (never when the store cannot
// open), WATCHDOG=1 from the event loop at half of $WATCHDOG_USEC, RELOADING=1 + READY=1 around
// SIGHUP and STOPPING=1 on SIGTERM; log lines with journal priorities and no timestamp when
// stderr is the journal; and a run under the unit's sandbox: its system call filter and address
// families (sandbox_exec), a read-only file system but the state directory, a private /tmp and
// /dev, no capabilities, an unprivileged user (bwrap, setpriv). systemd itself does not run here.
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include <fstream>
#include <regex>
#include <set>
#include <sstream>
#include <thread>

#include "../e2e/process.hpp"
#include "daemon/log_setup.hpp"

using namespace kamstrup::test;
using namespace std::chrono_literals;

namespace {

const std::string kBin = KAMSTRUP_BINARY;
const std::string kSource = KAMSTRUP_SOURCE_DIR;

// A bound AF_UNIX datagram socket standing in for systemd's notify socket; records the sender's
// PID (SO_PASSCRED) so a test can signal a daemon started through wrappers.
class NotifySocket {
 public:
  explicit NotifySocket(const std::string& path) : path_(path) {
    fd_ = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    sockaddr_un a{};
    a.sun_family = AF_UNIX;
    std::snprintf(a.sun_path, sizeof a.sun_path, "%s", path.c_str());
    if (::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0)
      throw std::runtime_error("bind " + path);
    int on = 1;
    ::setsockopt(fd_, SOL_SOCKET, SO_PASSCRED, &on, sizeof on);
  }
  ~NotifySocket() { ::close(fd_); }
  NotifySocket(const NotifySocket&) = delete;
  NotifySocket& operator=(const NotifySocket&) = delete;

  // The next message, or "" after `limit`.
  std::string next(std::chrono::milliseconds limit = 10s) {
    pollfd p{fd_, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(limit.count())) <= 0) return "";
    char buf[4096];
    char control[CMSG_SPACE(sizeof(ucred))];
    iovec iov{buf, sizeof buf};
    msghdr msg{};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control;
    msg.msg_controllen = sizeof control;
    const ssize_t n = ::recvmsg(fd_, &msg, 0);
    if (n <= 0) return "";
    for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c != nullptr; c = CMSG_NXTHDR(&msg, c)) {
      if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_CREDENTIALS) {
        ucred cred{};
        std::memcpy(&cred, CMSG_DATA(c), sizeof cred);
        sender_ = cred.pid;
      }
    }
    return std::string(buf, static_cast<std::size_t>(n));
  }
  // Messages until one contains `needle` (returned), skipping WATCHDOG=1 keep-alives.
  std::string wait_for(const std::string& needle, std::chrono::milliseconds limit = 20s) {
    const auto deadline = std::chrono::steady_clock::now() + limit;
    while (std::chrono::steady_clock::now() < deadline) {
      std::string m = next(std::chrono::duration_cast<std::chrono::milliseconds>(
          deadline - std::chrono::steady_clock::now()));
      if (m.find(needle) != std::string::npos) return m;
    }
    return "";
  }
  [[nodiscard]] pid_t sender() const { return sender_; }
  [[nodiscard]] const std::string& path() const { return path_; }

 private:
  std::string path_;
  int fd_ = -1;
  pid_t sender_ = 0;
};

// Sets environment variables for the processes a test starts; restores them after.
class ScopedEnv {
 public:
  ScopedEnv(std::initializer_list<std::pair<std::string, std::string>> vars) {
    for (const auto& [k, v] : vars) {
      names_.push_back(k);
      ::setenv(k.c_str(), v.c_str(), 1);
    }
  }
  ~ScopedEnv() {
    for (const auto& k : names_) ::unsetenv(k.c_str());
  }
  ScopedEnv(const ScopedEnv&) = delete;
  ScopedEnv& operator=(const ScopedEnv&) = delete;

 private:
  std::vector<std::string> names_;
};

std::string sim_config(const TempDir& dir, const std::string& store) {
  const std::string path = dir / "k.yaml";
  std::ofstream(path) << "meters:\n  - name: heat\n    port: sim:multical403\n    interval: 1s\n"
                      << "store:\n  path: " << store << "\nconsole:\n  format: text\n";
  return path;
}

TEST(Service, NotifiesReadyWatchdogReloadAndStop) {
  TempDir dir;
  NotifySocket notify(dir / "notify");
  const std::string config = sim_config(dir, dir / "k.db");
  // 400 ms watchdog: a keep-alive every 200 ms.
  ScopedEnv env{{"NOTIFY_SOCKET", notify.path()}, {"WATCHDOG_USEC", "400000"}};
  Background daemon({kBin, "run", "--config", config}, dir / "run");

  const std::string ready = notify.wait_for("READY=1");
  ASSERT_NE(ready, "") << daemon.err();
  EXPECT_NE(ready.find("STATUS=1 meter(s), history in " + (dir / "k.db")), std::string::npos)
      << ready;
  // The store was open before READY=1.
  EXPECT_TRUE(std::filesystem::exists(dir / "k.db"));

  int keepalives = 0;
  const auto until = std::chrono::steady_clock::now() + 5s;
  while (keepalives < 5 && std::chrono::steady_clock::now() < until) {
    if (notify.next(1s) == "WATCHDOG=1") ++keepalives;
  }
  EXPECT_EQ(keepalives, 5);  // loose: 5 keep-alives take ~1 s of the 5 s allowed

  daemon.signal(SIGHUP);
  const std::string reloading = notify.wait_for("RELOADING=1");
  EXPECT_NE(reloading.find("MONOTONIC_USEC="), std::string::npos) << reloading;
  EXPECT_NE(notify.wait_for("READY=1"), "");
  EXPECT_NE(notify.wait_for("WATCHDOG=1"), "");  // the reloaded loop feeds the watchdog too

  daemon.signal(SIGTERM);
  EXPECT_NE(notify.wait_for("STOPPING=1"), "");
  EXPECT_EQ(daemon.terminate_and_wait(), 0);
}

TEST(Service, NoReadyWhenTheStoreCannotOpen) {
  TempDir dir;
  NotifySocket notify(dir / "notify");
  std::ofstream(dir / "k.db") << "this is not an SQLite database, and it is long enough to tell\n";
  const std::string config = sim_config(dir, dir / "k.db");
  ScopedEnv env{{"NOTIFY_SOCKET", notify.path()}};
  auto r = run({kBin, "run", "--config", config}, "", 60s);
  EXPECT_EQ(r.status, 1) << r.err;
  EXPECT_EQ(notify.next(100ms), "");
}

TEST(Service, NoNotificationsWithoutSystemd) {
  // No $NOTIFY_SOCKET, no $WATCHDOG_USEC: the daemon runs as from a shell.
  EXPECT_EQ(std::getenv("NOTIFY_SOCKET"), nullptr);
  TempDir dir;
  const std::string config = sim_config(dir, dir / "k.db");
  Background daemon({kBin, "run", "--config", config}, dir / "run");
  ASSERT_TRUE(daemon.wait_for_output("heat_energy=", 20s)) << daemon.err();
  EXPECT_EQ(daemon.terminate_and_wait(), 0);
}

// Runs the daemon with stderr into `log` and $JOURNAL_STREAM set to `journal_stream`, until it
// printed one poll.
void run_logging_to(const std::string& log, const std::string& journal_stream, const TempDir& dir) {
  const std::string config = sim_config(dir, dir / "k.db");
  ScopedEnv env{{"JOURNAL_STREAM", journal_stream}};
  Background daemon(
      {"/bin/sh", "-c", "exec \"$0\" run --config \"$1\" 2>>\"$2\"", kBin, config, log},
      dir / "sh");
  ASSERT_TRUE(daemon.wait_for_output("heat_energy=", 20s)) << Background::slurp(log);
  EXPECT_EQ(daemon.terminate_and_wait(), 0);
}

std::string journal_stream_of(const std::string& path) {
  struct stat st {};
  EXPECT_EQ(::stat(path.c_str(), &st), 0);
  return std::to_string(st.st_dev) + ":" + std::to_string(st.st_ino);
}

TEST(Service, LogLinesCarryJournalPrioritiesWhenStderrIsTheJournal) {
  TempDir dir;
  const std::string log = dir / "journal.log";
  std::ofstream(log).close();
  run_logging_to(log, journal_stream_of(log), dir);
  const std::string text = Background::slurp(log);
  std::istringstream in(text);
  int lines = 0;
  for (std::string line; std::getline(in, line); ++lines) {
    EXPECT_TRUE(std::regex_match(line, std::regex("<[2-7]>[^<\\[].*"))) << line;
  }
  EXPECT_GE(lines, 3) << text;
  EXPECT_NE(text.find("<6>kamstrup run: 1 meter(s)"), std::string::npos) << text;
  EXPECT_NE(text.find("<6>stopping after in-flight polls"), std::string::npos) << text;
}

TEST(Service, LogLinesKeepTimestampsWhenStderrIsNotTheJournal) {
  TempDir dir;
  const std::string log = dir / "file.log";
  const std::string other = dir / "other";
  std::ofstream(log).close();
  std::ofstream(other).close();
  // $JOURNAL_STREAM names another file, as for a child whose stderr was redirected.
  run_logging_to(log, journal_stream_of(other), dir);
  const std::string text = Background::slurp(log);
  EXPECT_TRUE(std::regex_search(
      text,
      std::regex(
          R"(^\[\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3}\] \[kamstrup\] \[info\] kamstrup run: 1 meter)")))
      << text;
  EXPECT_EQ(text.find("<6>"), std::string::npos);
}

TEST(Service, JournalStreamMatchesOnlyTheSameFile) {
  TempDir dir;
  std::ofstream(dir / "a").close();
  std::ofstream(dir / "b").close();
  const int fd = ::open((dir / "a").c_str(), O_RDONLY | O_CLOEXEC);
  ASSERT_GE(fd, 0);
  EXPECT_TRUE(kamstrup::daemon::is_journal_stream(journal_stream_of(dir / "a"), fd));
  EXPECT_FALSE(kamstrup::daemon::is_journal_stream(journal_stream_of(dir / "b"), fd));
  for (const char* bad : {"", ":", "12", "12:", ":34", "x:1", "1:2:3", "-1:5"})
    EXPECT_FALSE(kamstrup::daemon::is_journal_stream(bad, fd)) << bad;
  ::close(fd);
}

// --- the unit's sandbox ---

std::string unit_text() {
  std::ifstream in(kSource + "/packaging/kamstrup.service.in");
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// The names in a `systemd-analyze syscall-filter` group, groups expanded.
void expand(const std::string& name, std::set<std::string>& out) {
  if (name[0] != '@') {
    out.insert(name);
    return;
  }
  auto r = run({"/usr/bin/systemd-analyze", "syscall-filter", name});
  ASSERT_EQ(r.status, 0) << r.err;
  std::istringstream in(r.out);
  std::string line;
  std::getline(in, line);  // the group's own name
  while (std::getline(in, line)) {
    const auto b = line.find_first_not_of(' ');
    if (b == std::string::npos || line[b] == '#') continue;
    expand(line.substr(b), out);
  }
}

// The system calls the unit's SystemCallFilter= lines allow: each allow line adds, each ~ line
// removes, in order, as systemd applies them.
std::set<std::string> unit_syscalls(const std::string& unit) {
  std::set<std::string> allowed;
  std::istringstream in(unit);
  for (std::string line; std::getline(in, line);) {
    if (line.rfind("SystemCallFilter=", 0) != 0) continue;
    std::string list = line.substr(std::strlen("SystemCallFilter="));
    const bool deny = !list.empty() && list[0] == '~';
    std::istringstream names(deny ? list.substr(1) : list);
    std::set<std::string> set;
    for (std::string n; names >> n;) expand(n, set);
    for (const auto& n : set) deny ? (void)allowed.erase(n) : (void)allowed.insert(n);
  }
  return allowed;
}

std::string unit_families(const std::string& unit) {
  std::smatch m;
  EXPECT_TRUE(std::regex_search(unit, m, std::regex("\nRestrictAddressFamilies=([^\n]*)")));
  std::string numbers;
  std::istringstream in(m[1].str());
  for (std::string f; in >> f;) {
    const int af = f == "AF_UNIX"      ? AF_UNIX
                   : f == "AF_INET"    ? AF_INET
                   : f == "AF_INET6"   ? AF_INET6
                   : f == "AF_NETLINK" ? AF_NETLINK
                                       : -1;
    EXPECT_NE(af, -1) << "unknown family in the unit: " << f;
    numbers += (numbers.empty() ? "" : ",") + std::to_string(af);
  }
  return numbers;
}

TEST(Service, RunsUnderTheUnitsSandbox) {
  const std::string unit = unit_text();
  const auto syscalls = unit_syscalls(unit);
  ASSERT_GT(syscalls.size(), 200U);
  EXPECT_EQ(syscalls.count("read"), 1U);
  EXPECT_EQ(syscalls.count("mount"), 0U);      // @privileged (via @mount) is denied
  EXPECT_EQ(syscalls.count("setrlimit"), 0U);  // @resources is denied
  EXPECT_EQ(syscalls.count("sched_setattr"), 0U);

  TempDir dir;
  const std::string state = dir / "state";  // StateDirectory=
  std::filesystem::create_directory(state);
  {
    std::ofstream list(dir / "syscalls");
    for (const auto& s : syscalls) list << s << "\n";
  }
  // The filter bites: chroot(2) (in the denied @privileged) dies of SIGSYS; a shell that does
  // nothing the set lacks runs.
  const std::string families = unit_families(unit);
  auto denied = run({KAMSTRUP_SANDBOX_EXEC, dir / "syscalls", families, "--", "/usr/sbin/chroot",
                     "/", "/bin/true"});
  EXPECT_EQ(denied.status, 128 + SIGSYS) << denied.err;
  auto allowed =
      run({KAMSTRUP_SANDBOX_EXEC, dir / "syscalls", families, "--", "/bin/sh", "-c", "echo ok"});
  EXPECT_EQ(allowed.status, 0) << allowed.err;
  EXPECT_EQ(allowed.out, "ok\n");

  const std::string config = dir / "k.yaml";
  std::ofstream(config) << "meters:\n  - name: heat\n    port: sim:multical403\n    interval: 1s\n"
                        << "store:\n  path: kamstrup.db\nconsole:\n  format: text\n"
                        << "http:\n  listen: 127.0.0.1:" << free_tcp_port() << "\n";
  NotifySocket notify(state + "/notify");
  // As DynamicUser= would: not root, and (when started as root) nobody.
  std::vector<std::string> args;
  if (::geteuid() == 0) {
    ASSERT_EQ(::chown(state.c_str(), 65534, 65534), 0);
    ASSERT_EQ(::chmod(dir.path().c_str(), 0755), 0);
    ::chown((state + "/notify").c_str(), 65534, 65534);
    args = {
        "/usr/bin/setpriv", "--reuid", "65534",      "--regid", "65534",          "--clear-groups",
        "--bounding-set",   "-all",    "--inh-caps", "-all",    "--no-new-privs", "--"};
  }
  // ProtectSystem=strict, ProtectHome=, PrivateTmp=, DevicePolicy=closed (/dev: null, zero,
  // random, tty, ptmx, a private pts), ProtectProc=/ProcSubset= (a /proc of its own PID
  // namespace), CapabilityBoundingSet= (none), then SystemCallFilter= and
  // RestrictAddressFamilies=.
  std::vector<std::string> sandbox = {"/usr/bin/bwrap",
                                      "--unshare-user",
                                      "--unshare-pid",
                                      "--unshare-ipc",
                                      "--unshare-uts",
                                      "--die-with-parent",
                                      "--ro-bind",
                                      "/",
                                      "/",
                                      "--tmpfs",
                                      "/home",
                                      "--tmpfs",
                                      "/root",
                                      "--tmpfs",
                                      "/tmp",
                                      "--dev",
                                      "/dev",
                                      "--proc",
                                      "/proc"};
  // The programs' folders again (kamstrup starts kamstrup-daemon beside it): a build tree
  // under /tmp, /home or /root is hidden by those tmpfs.
  for (const std::string& program : {std::string(KAMSTRUP_SANDBOX_EXEC), kBin}) {
    const std::string folder = std::filesystem::path(program).parent_path();
    sandbox.insert(sandbox.end(), {"--ro-bind", folder, folder});
  }
  const std::string syscalls_file = dir / "syscalls";
  sandbox.insert(sandbox.end(),
                 {"--bind",      state,        state,         "--ro-bind",   config,
                  config,        "--ro-bind",  syscalls_file, syscalls_file, "--chdir",
                  state,         "--cap-drop", "ALL",         "--",          KAMSTRUP_SANDBOX_EXEC,
                  syscalls_file, families,     "--",          kBin,          "run",
                  "--config",    config});
  args.insert(args.end(), sandbox.begin(), sandbox.end());
  // Under the sanitizer build, ASan's own start-up and LeakSanitizer's exit check call
  // setrlimit and ptrace, which the unit's filter (rightly) refuses; they are not the daemon's.
  ScopedEnv env{{"NOTIFY_SOCKET", notify.path()},
                {"ASAN_OPTIONS", "detect_leaks=0:disable_coredump=0"}};
  Background daemon(args, dir / "sandboxed");

  ASSERT_NE(notify.wait_for("READY=1", 30s), "") << daemon.err();
  const pid_t pid = notify.sender();
  ASSERT_GT(pid, 0);
  ASSERT_TRUE(daemon.wait_for_output("heat_energy=", 20s)) << daemon.err();
  // Two polls: the store took the first one and the loop goes on.
  for (int i = 0; i < 200; ++i) {
    const auto out = daemon.out();
    std::size_t count = 0;
    for (auto p = out.find("heat_energy="); p != std::string::npos;
         p = out.find("heat_energy=", p + 1))
      ++count;
    if (count >= 2) break;
    std::this_thread::sleep_for(50ms);
  }
  ::kill(pid, SIGTERM);
  EXPECT_NE(notify.wait_for("STOPPING=1"), "");
  // The daemon's exit status comes back through bwrap and setpriv; SIGSYS (159) would mean a
  // system call outside the filter.
  int status = -1;
  for (int i = 0; i < 500 && daemon.running(); ++i) std::this_thread::sleep_for(20ms);
  status = daemon.stop();
  EXPECT_EQ(status, 0) << daemon.err();
  EXPECT_TRUE(std::filesystem::exists(state + "/kamstrup.db"));
  auto history =
      run({kBin, "history", "--db", state + "/kamstrup.db", "--register", "heat_energy"});
  EXPECT_EQ(history.status, 0) << history.err;
  EXPECT_NE(history.out.find("heat_energy"), std::string::npos) << history.out;
}

}  // namespace
