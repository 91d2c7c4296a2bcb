// socket:// and rfc2217:// against a real ser2net (Debian package ser2net, 4.x), serving a pty
// whose master the test holds as the "meter".
#include "support.hpp"
#include "transport/port.hpp"

#include <gtest/gtest.h>

#include <csignal>
#include <fstream>
#include <sstream>

#include <spawn.h>
#include <sys/wait.h>

extern char** environ;

namespace kamstrup::transport {
namespace {

using namespace test;

std::string find_ser2net() {
  for (const char* dir : {"/usr/sbin", "/usr/bin", "/usr/local/sbin", "/usr/local/bin"}) {
    const std::string path = std::string(dir) + "/ser2net";
    if (::access(path.c_str(), X_OK) == 0) return path;
  }
  return {};
}

// A ser2net process serving one connection; killed (and reaped) on destruction.
class Ser2net {
 public:
  Ser2net(const std::string& binary, const std::string& accepter, const std::string& device) {
    config_ = dir_.path() / "ser2net.yaml";
    log_ = dir_.path() / "ser2net.log";
    std::ofstream(config_) << "connection: &meter\n"
                           << "  accepter: " << accepter << "\n"
                           << "  connector: serialdev," << device << ",1200n82,local\n";
    const std::string pidfile = (dir_.path() / "ser2net.pid").string();
    const std::string config = config_.string();
    // -n: stay in the foreground; -d: debug to stdout (kept for failure messages); -u: no
    // UUCP lock files (a pty has no place in /var/lock).
    std::vector<std::string> args = {binary, "-n", "-d", "-u", "-P", pidfile, "-c", config};
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, 1, log_.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    posix_spawn_file_actions_adddup2(&actions, 1, 2);
    posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
    const int rc = ::posix_spawn(&pid_, binary.c_str(), &actions, nullptr, argv.data(), environ);
    posix_spawn_file_actions_destroy(&actions);
    if (rc != 0) throw std::runtime_error("cannot start ser2net");
  }
  ~Ser2net() {
    ::kill(pid_, SIGTERM);
    if (!eventually([&] { return ::waitpid(pid_, nullptr, WNOHANG) == pid_; }, 3000ms)) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
    }
  }
  Ser2net(const Ser2net&) = delete;
  Ser2net& operator=(const Ser2net&) = delete;

  [[nodiscard]] std::string log() const {
    std::ifstream in(log_);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
  }

 private:
  TempDir dir_;
  std::filesystem::path config_;
  std::filesystem::path log_;
  pid_t pid_ = -1;
};

struct Ser2netTest : ::testing::Test {
  void SetUp() override {
    binary = find_ser2net();
    ASSERT_FALSE(binary.empty())
        << "ser2net is not installed (Debian package ser2net; scripts/install-deps installs it)";
    // ser2net opens the slave only when a client connects; holding it open in raw mode keeps
    // the master free of EIO and echo until then.
    pty.hold_slave_raw();
  }

  // Opens the port, retrying while ser2net is still starting up.
  void open_when_listening(Port& port, const Ser2net& server) {
    const auto give_up = Clock::now() + 10s;
    while (true) {
      try {
        run(io, port.open());
        return;
      } catch (const PortError& e) {
        if (Clock::now() > give_up) {
          FAIL() << e.what() << "\nser2net log:\n" << server.log();
        }
        std::this_thread::sleep_for(20ms);
      }
    }
  }

  [[nodiscard]] bool master_shows(speed_t speed, bool two_stop_bits) const {
    return eventually([&] {
      const auto t = pty.attrs();
      return cfgetospeed(&t) == speed && ((t.c_cflag & CSTOPB) != 0) == two_stop_bits;
    });
  }

  std::string binary;
  asio::io_context io;
  Pty pty;
};

TEST_F(Ser2netTest, Rfc2217ControlsTheSerialPortAndPassesBytes) {
  const auto tcp_port = std::to_string(free_tcp_port());
  Ser2net server(binary, "telnet(rfc2217),tcp,127.0.0.1," + tcp_port, pty.slave_path());
  auto port =
      make_port(io.get_executor(), "rfc2217://127.0.0.1:" + tcp_port, {2400, 8, Parity::None, 1});
  open_when_listening(*port, server);
  if (HasFatalFailure()) return;
  // ser2net's own config says 1200n82; the settings sent over RFC 2217 win.
  EXPECT_TRUE(master_shows(B2400, false)) << server.log();

  run(io, port->set_line({1200, 8, Parity::None, 2}));
  EXPECT_TRUE(master_shows(B1200, true));

  // 0xFF must be escaped for telnet and 0x0D must not grow a NUL.
  const Bytes request = {0x80, 0x3F, 0x10, 0xFF, 0x0D, 0x00, 0xFF, 0xFF, 0x0D};
  run(io, port->write(request));
  EXPECT_EQ(pty.read(request.size()), request) << server.log();

  const Bytes reply = {0x40, 0x3F, 0xFF, 0x0D, 0x0A, 0x00, 0xFF, 0xFF, 0xFB, 0x0D};
  pty.write(reply);
  EXPECT_EQ(read_n(io, *port, reply.size()), reply);

  run(io, port->set_line({9600, 8, Parity::None, 1}));
  EXPECT_TRUE(master_shows(B9600, false));
  EXPECT_EQ(port->line(), (LineSettings{9600, 8, Parity::None, 1}));

  // Stale bytes from the "meter" are gone after discard_input(); fresh ones come through.
  pty.write({0x11, 0x22, 0x33});
  EXPECT_EQ(read_n(io, *port, 1), (Bytes{0x11}));
  run(io, port->discard_input());
  pty.write({0x44});
  EXPECT_EQ(read_n(io, *port, 1), (Bytes{0x44}));
}

TEST_F(Ser2netTest, Rfc2217PortSurvivesASer2netRestart) {
  const auto tcp_port = std::to_string(free_tcp_port());
  const std::string accepter = "telnet(rfc2217),tcp,127.0.0.1," + tcp_port;
  auto server = std::make_unique<Ser2net>(binary, accepter, pty.slave_path());
  auto port =
      make_port(io.get_executor(), "rfc2217://127.0.0.1:" + tcp_port, {2400, 8, Parity::None, 2});
  open_when_listening(*port, *server);
  if (HasFatalFailure()) return;
  run(io, port->write(Bytes{0x01}));
  EXPECT_EQ(pty.read(1), (Bytes{0x01}));

  server.reset();
  server = std::make_unique<Ser2net>(binary, accepter, pty.slave_path());
  // The restarted ser2net opens the device with its configured 1200n82 again...
  const Bytes request = {0x80, 0xFF, 0x0D};
  const auto give_up = Clock::now() + 10s;
  while (true) {
    try {
      run(io, port->write(request));
      break;
    } catch (const PortError& e) {
      // Only "not listening yet" is expected while ser2net starts.
      ASSERT_NE(std::string(e.what()).find("connection refused"), std::string::npos) << e.what();
      ASSERT_LT(Clock::now(), give_up) << server->log();
      std::this_thread::sleep_for(20ms);
    }
  }
  EXPECT_EQ(pty.read(request.size()), request) << server->log();
  // ...and the reconnect re-sent the port's own settings.
  EXPECT_TRUE(master_shows(B2400, true));
}

TEST_F(Ser2netTest, RawTcpPassesBytes) {
  const auto tcp_port = std::to_string(free_tcp_port());
  Ser2net server(binary, "tcp,127.0.0.1," + tcp_port, pty.slave_path());
  auto port = make_port(io.get_executor(), "socket://127.0.0.1:" + tcp_port, {});
  open_when_listening(*port, server);
  if (HasFatalFailure()) return;

  // Client to meter first: once these bytes arrive, ser2net has the device open and set up.
  const Bytes request = {0x80, 0x3F, 0x10, 0xFF, 0x0D, 0x00, 0xFF, 0x0D};
  run(io, port->write(request));
  EXPECT_EQ(pty.read(request.size()), request) << server.log();
  EXPECT_TRUE(master_shows(B1200, true));  // from ser2net's config, 1200n82

  const Bytes reply = {0x40, 0x3F, 0xFF, 0x0D, 0x0A, 0x00, 0xFF, 0xFB, 0x0D};
  pty.write(reply);
  EXPECT_EQ(read_n(io, *port, reply.size()), reply);

  // set_line cannot reach the device over raw TCP; it is accepted and changes nothing there.
  run(io, port->set_line({9600, 8, Parity::None, 1}));
  EXPECT_TRUE(master_shows(B1200, true));
}

}  // namespace
}  // namespace kamstrup::transport
