// `kamstrup simulate` as a process (through the simulator's test driver): help text, start line,
// clean exit on SIGTERM, usage errors, and no busy loop while no reader has the pty open.
#include <signal.h>
#include <sys/wait.h>

#include <gtest/gtest.h>

#include <cstring>
#include <regex>

#include "sim_test_util.hpp"

namespace kamstrup::sim::test {
namespace {

class Child {
 public:
  explicit Child(std::vector<std::string> args) {
    args.insert(args.begin(), {KAMSTRUP_SIM_DRIVER, "simulate"});
    int out[2];
    int err[2];
    EXPECT_EQ(::pipe(out), 0);
    EXPECT_EQ(::pipe(err), 0);
    pid_ = ::fork();
    if (pid_ == 0) {
      ::dup2(out[1], 1);
      ::dup2(err[1], 2);
      ::close(out[0]);
      ::close(err[0]);
      std::vector<char*> argv;
      for (auto& a : args) argv.push_back(a.data());
      argv.push_back(nullptr);
      ::execv(argv[0], argv.data());
      ::_exit(127);
    }
    ::close(out[1]);
    ::close(err[1]);
    out_ = out[0];
    err_ = err[0];
  }
  ~Child() {
    if (pid_ > 0 && !waited_) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
    }
    ::close(out_);
    ::close(err_);
  }
  Child(const Child&) = delete;
  Child& operator=(const Child&) = delete;

  // One line of stdout, or "" after `timeout`.
  std::string line(std::chrono::milliseconds timeout = 5s) {
    auto deadline = Steady::now() + timeout;
    std::string s;
    while (Steady::now() < deadline) {
      pollfd p{out_, POLLIN, 0};
      if (::poll(&p, 1, 50) <= 0) continue;
      char c;
      if (::read(out_, &c, 1) != 1) break;
      if (c == '\n') return s;
      s.push_back(c);
    }
    return s;
  }

  static std::string drain(int fd) {
    std::string s;
    char buf[4096];
    ssize_t n;
    while ((n = ::read(fd, buf, sizeof buf)) > 0) s.append(buf, static_cast<std::size_t>(n));
    return s;
  }
  std::string all_stdout() { return drain(out_); }
  std::string all_stderr() { return drain(err_); }

  // Exit status (or 128 + signal).
  int wait() {
    int status = 0;
    ::waitpid(pid_, &status, 0);
    waited_ = true;
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  }
  void signal(int sig) { ::kill(pid_, sig); }

  // User + system CPU time in clock ticks.
  long cpu_ticks() const {
    std::ifstream in("/proc/" + std::to_string(pid_) + "/stat");
    std::string stat((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    std::istringstream fields(stat.substr(stat.rfind(')') + 2));
    std::string f;
    long utime = 0;
    long stime = 0;
    for (int i = 3; i <= 15 && fields >> f; ++i) {
      if (i == 14) utime = std::stol(f);
      if (i == 15) stime = std::stol(f);
    }
    return utime + stime;
  }

 private:
  pid_t pid_ = -1;
  int out_ = -1;
  int err_ = -1;
  bool waited_ = false;
};

TEST(SimulateCli, HelpExplainsEveryOption) {
  Child c({"--help"});
  std::string help = c.all_stdout();
  EXPECT_EQ(c.wait(), 0);
  for (const char* opt :
       {"--profile",   "--profile-file", "--pty",      "--tcp",          "--count",
        "--no-pacing", "--turnaround",   "--echo",     "--partial-echo", "--asleep",
        "--drop",      "--corrupt",      "--noise",    "--seed",         "--log",
        "--baud",      "--parity",       "--databits", "--stopbits",     "--accept-1-stop-bit"}) {
    EXPECT_NE(help.find(std::string(opt) + " "), std::string::npos) << opt;
  }
  EXPECT_NE(help.find("kamstrup simulate: <profile> on <port> serial <serial>"), std::string::npos);
  for (const char* mode : {"no-crlf", "no-first", "truncated"}) {
    EXPECT_NE(help.find(mode), std::string::npos) << mode;
  }
}

TEST(SimulateCli, PrintsThePortAndExitsCleanlyOnSigterm) {
  const std::string link = temp_path("cli-link");
  Child c({"--pty", link, "--seed", "5", "--profile", "kamstrup382"});
  std::string line = c.line();
  std::smatch m;
  ASSERT_TRUE(
      std::regex_match(line, m, std::regex(R"(^kamstrup simulate: (\S+) on (\S+) serial (\d+)$)")))
      << line;
  EXPECT_EQ(m[1], "kamstrup382");
  EXPECT_EQ(m[3], "38212345");
  EXPECT_EQ(std::filesystem::read_symlink(link).string(), m[2].str());

  // A 382 answers at 9600 8N1.
  Reader r;
  r.open_pty(link, B9600, 1);
  r.write(from_hex("803F0235E90D"));
  auto reply = kmp::decode_frame(Reader::joined(r.read_reply(2s)));
  EXPECT_TRUE(reply.ok());
  r.close();

  c.signal(SIGTERM);
  EXPECT_EQ(c.wait(), 0);
  EXPECT_FALSE(std::filesystem::is_symlink(link));
}

TEST(SimulateCli, NoBusyLoopWhileNoReaderHasThePtyOpen) {
  Child c({"--seed", "5"});
  std::string line = c.line();
  std::string port = line.substr(line.find(" on ") + 4);
  port = port.substr(0, port.find(' '));
  {
    Reader r;  // open and close once: from now on the master reads EIO
    r.open_pty(port, B1200, 2);
  }
  const long before = c.cpu_ticks();
  std::this_thread::sleep_for(1s);
  EXPECT_LT(c.cpu_ticks() - before, 15);  // clock ticks (1/100 s): well under 15 % of a CPU
  c.signal(SIGINT);
  EXPECT_EQ(c.wait(), 0);
}

TEST(SimulateCli, UsageErrorsExitWith2) {
  const std::string bad = temp_path("bad-profile.yaml");
  { std::ofstream(bad) << "registers:\n  temp1: {colour: red}\n"; }
  Child c({"--profile-file", bad});
  EXPECT_EQ(c.wait(), 2);
  std::string err = c.all_stderr();
  EXPECT_NE(err.find("registers.temp1.colour: unknown key"), std::string::npos) << err;

  Child busy({"--tcp", "256.1.1.1:5000"});
  EXPECT_EQ(busy.wait(), 2);
  EXPECT_NE(busy.all_stderr().find("kamstrup: simulate: --tcp 256.1.1.1:5000"), std::string::npos);

  Child both({"--tcp", "127.0.0.1:0", "--pty", "/tmp/x"});
  EXPECT_NE(both.wait(), 0);
}

}  // namespace
}  // namespace kamstrup::sim::test
