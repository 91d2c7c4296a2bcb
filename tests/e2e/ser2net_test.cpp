// `kamstrup read` through a real ser2net (Debian package, 4.x) in front of the simulated meter's
// pty: the raw TCP accepter (socket://) and the telnet RFC 2217 accepter (rfc2217://). The
// meter's values are pinned to numbers whose mantissa bytes are 0xFF, which telnet must escape
// (IAC IAC) on the way back.
#include "e2e.hpp"

namespace kamstrup::e2e {
namespace {

std::string find_ser2net() {
  for (const char* dir : {"/usr/sbin", "/usr/bin", "/usr/local/sbin", "/usr/local/bin"}) {
    const std::string path = std::string(dir) + "/ser2net";
    if (::access(path.c_str(), X_OK) == 0) return path;
  }
  return {};
}

// ser2net serving `device` on two accepters; stopped (and reaped) on destruction.
class Ser2net {
 public:
  Ser2net(const TempDir& dir, const std::string& binary, const std::string& device, int raw_port,
          int telnet_port) {
    config_ = dir / "ser2net.yaml";
    std::ofstream(config_) << "connection: &raw\n"
                           << "  accepter: tcp,127.0.0.1," << raw_port << "\n"
                           << "  connector: serialdev," << device << ",1200n82,local\n"
                           << "connection: &telnet\n"
                           << "  accepter: telnet(rfc2217),tcp,127.0.0.1," << telnet_port << "\n"
                           << "  connector: serialdev," << device << ",1200n82,local\n";
    // -n: foreground; -d: debug output (kept for failure messages); -u: no UUCP lock files.
    proc_ = std::make_unique<test::Background>(
        std::vector<std::string>{binary, "-n", "-d", "-u", "-P", dir / "ser2net.pid", "-c",
                                 config_},
        dir / "ser2net");
  }
  [[nodiscard]] std::string diag() const {
    return "--- ser2net config:\n" + test::Background::slurp(config_) + "--- ser2net output:\n" +
           proc_->out() + proc_->err();
  }

 private:
  std::string config_;
  std::unique_ptr<test::Background> proc_;
};

// `kamstrup read` on a ser2net port, retried while ser2net cannot take the connection yet: while
// it is still starting (connection refused), or while it is still closing the shared device
// after the previous client (it then sends "Port's device already in use" and closes, which the
// RFC 2217 client sees as a reset or broken pipe during its negotiation). Both are failures to
// open (exit 2); nothing reaches the meter then, which the callers check in the simulator's log.
RunResult read_when_available(const std::vector<std::string>& args) {
  const auto give_up = std::chrono::steady_clock::now() + 20s;
  for (;;) {
    RunResult r = kamstrup(args);
    const bool transient =
        r.status == 2 && (r.err.find("connection refused") != std::string::npos ||
                          r.err.find("connection reset") != std::string::npos ||
                          r.err.find("connection lost during") != std::string::npos);
    if (!transient || std::chrono::steady_clock::now() > give_up) return r;
    std::this_thread::sleep_for(100ms);
  }
}

TEST(Ser2netE2E, ValuesWithFFBytesSurviveRawTcpAndTelnetRfc2217) {
  const std::string binary = find_ser2net();
  ASSERT_FALSE(binary.empty()) << "ser2net is not installed (Debian package ser2net)";
  TempDir dir;
  // Mantissas: 65.535 → 0000FFFF, 167772.15 → 00FFFFFF, 2.55 → 00FF, 255 → 00FF,
  // 25.5 → 00FF, 65535 → 0000FFFF.
  const std::string profile = dir / "ff-profile.yaml";
  std::ofstream(profile) << "base: multical403\n"
                            "registers:\n"
                            "  heat_energy: {value: \"65.535\", fixed: true}\n"
                            "  volume: {value: \"167772.15\", fixed: true}\n"
                            "  temp1: {value: \"2.55\", fixed: true}\n"
                            "  temp2: {value: \"2.50\", fixed: true}\n"
                            "  flow: {value: \"255\", fixed: true}\n"
                            "  power: {value: \"25.5\", fixed: true}\n"
                            "  hour_counter: {value: \"65535\", fixed: true}\n";
  Sim sim(dir, 21, {"--profile-file", profile, "--echo", "--noise"});
  ASSERT_TRUE(sim.started()) << sim.diag();
  const int raw_port = test::free_tcp_port(2);
  const int telnet_port = raw_port + 1;
  Ser2net server(dir, binary, sim.port(), raw_port, telnet_port);

  const std::vector<std::string> exact = {"65.535", "167772.15", "2.55", "2.50",
                                          "0.05",   "255",       "25.5", "65535"};
  std::size_t requests = 0;
  for (const std::string& port : {"socket://127.0.0.1:" + std::to_string(raw_port),
                                  "rfc2217://127.0.0.1:" + std::to_string(telnet_port)}) {
    SCOPED_TRACE(port);
    const RunResult r = read_when_available({"read", "--port", port, "--json"});
    ASSERT_EQ(r.status, 0) << describe(r) << server.diag() << sim.diag();
    EXPECT_EQ(raw_value_tokens(r.out), exact) << r.out;
    const auto rx = sim.rx();
    const auto tx = sim.tx();
    ASSERT_EQ(rx.size(), requests + 1) << sim.diag();
    ASSERT_EQ(tx.size(), requests + 1) << sim.diag();
    // ser2net opened the pty with its configured 1200n82, which the meter expects.
    EXPECT_EQ(rx.back().at("line"), "1200 8N2");
    EXPECT_TRUE(tx.back().at("fault").is_null());
    // The reply really carried FF bytes through the link.
    EXPECT_NE(tx.back().at("hex").get<std::string>().find("FFFF"), std::string::npos);
    expect_registers_match(r.out, default_registers(), tx.back().at("values"));
    requests = rx.size();
  }
}

}  // namespace
}  // namespace kamstrup::e2e
