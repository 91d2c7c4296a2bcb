// The pty and TCP front ends on real file descriptors: line check, echo, pacing, faults, client
// replacement, fleet mode and the JSON log.
#include <gtest/gtest.h>

#include <random>
#include <set>

#include "kmp/messages.hpp"
#include "sim/simulator.hpp"
#include "sim_test_util.hpp"

namespace kamstrup::sim::test {
namespace {

const Bytes kGetEnergy = from_hex("803F1001003CB25F0D");  // A1

Bytes get_register(std::vector<std::uint16_t> ids) {
  return kmp::encode_request(kmp::GetRegisterRequest{std::move(ids)}).value();
}

SimOptions options(const std::string& log_name) {
  SimOptions o;
  o.profile = *builtin_profile("multical403");
  o.seed = 1;
  o.log_path = temp_path(log_name);
  return o;
}

kmp::RegisterResponse decode_registers(const Bytes& frame) {
  auto f = kmp::decode_frame(frame);
  EXPECT_TRUE(f.ok()) << to_hex(frame);
  if (!f.ok()) return {};
  auto r = kmp::decode_register_response(f.value());
  EXPECT_TRUE(r.ok());
  return r.ok() ? r.value() : kmp::RegisterResponse{};
}

TEST(PtyFrontEnd, AnswersAReaderAt1200_8N2) {
  SimOptions o = options("pty-answer.log");
  o.pacing = false;
  RunningSim run(o);
  const std::string port = run.sim().port(0);
  EXPECT_EQ(run.start_lines, "kamstrup simulate: multical403 on " + port + " serial 76543210\n");
  ASSERT_EQ(port.rfind("/dev/pts/", 0), 0U) << port;

  Reader r;
  r.open_pty(port, B1200, 2);
  const Bytes request = get_register({60, 68, 86, 87, 89, 0x0123});
  r.write(request);
  Bytes reply = Reader::joined(r.read_reply(2s));
  auto resp = decode_registers(reply);
  ASSERT_EQ(resp.blocks.size(), 5U);

  auto history = run.sim().model(0).history();
  ASSERT_EQ(history.size(), 1U);
  for (const auto& b : resp.blocks) {
    auto sent = run.sim().model(0).sent_value(b.id, history[0].t);
    ASSERT_TRUE(sent);
    EXPECT_EQ(b.value->number->to_string(), sent->to_string());
  }

  auto rx = wait_log(o.log_path, "rx", 1);
  auto tx = wait_log(o.log_path, "tx", 1);
  ASSERT_EQ(rx.size(), 1U);
  ASSERT_EQ(tx.size(), 1U);
  EXPECT_EQ(rx[0]["ids"], nlohmann::json({60, 68, 86, 87, 89, 0x0123}));
  EXPECT_EQ(rx[0]["cid"], 16);
  EXPECT_EQ(rx[0]["valid"], true);
  EXPECT_EQ(rx[0]["line"], "1200 8N2");
  EXPECT_EQ(rx[0]["bytes"], request.size());
  EXPECT_EQ(rx[0]["hex"], to_hex(request));
  EXPECT_EQ(tx[0]["sent"], true);
  EXPECT_TRUE(tx[0]["fault"].is_null());
  EXPECT_EQ(tx[0]["hex"], to_hex(reply));
  EXPECT_EQ(tx[0]["values"]["60"], resp.find(60)->value->number->to_string());
  EXPECT_GE(tx[0]["mono"].get<double>() - rx[0]["mono"].get<double>(), 0.049);
  // The tx line's t is the moment the model's values are for.
  const double t = std::chrono::duration<double>(history[0].t.time_since_epoch()).count();
  EXPECT_NEAR(tx[0]["t"].get<double>(), t, 2e-6);
}

TEST(PtyFrontEnd, WrongLineSettingsGetSilenceAndALoggedReason) {
  SimOptions o = options("pty-line.log");
  RunningSim run(o);
  Reader r;
  r.open_pty(run.sim().port(0), B2400, 1);
  r.write(kGetEnergy);
  EXPECT_TRUE(r.read_reply(400ms).empty());
  auto tx = wait_log(o.log_path, "tx", 1);
  ASSERT_EQ(tx.size(), 1U);
  EXPECT_EQ(tx[0]["fault"], "line");
  EXPECT_EQ(tx[0]["sent"], false);
  EXPECT_EQ(tx[0]["reason"], "reader line 2400 8N1, the meter expects 1200 8N2");

  // Right baud, one stop bit: still silent by default.
  r.open_pty(run.sim().port(0), B1200, 1);
  r.write(kGetEnergy);
  EXPECT_TRUE(r.read_reply(300ms).empty());
  EXPECT_EQ(wait_log(o.log_path, "tx", 2).back()["fault"], "line");
}

TEST(PtyFrontEnd, OneStopBitAcceptedOnRequest) {
  SimOptions o = options("pty-1stop.log");
  o.accept_1_stop_bit = true;
  o.pacing = false;
  RunningSim run(o);
  Reader r;
  r.open_pty(run.sim().port(0), B1200, 1);
  r.write(kGetEnergy);
  EXPECT_EQ(decode_registers(Reader::joined(r.read_reply(2s))).blocks.size(), 1U);
}

TEST(PtyFrontEnd, EchoComesBeforeTheReply) {
  SimOptions o = options("pty-echo.log");
  o.echo = true;
  o.pacing = false;
  RunningSim run(o);
  Reader r;
  r.open_pty(run.sim().port(0), B1200, 2);
  r.write(kGetEnergy);
  Bytes all = Reader::joined(r.read_reply(2s));
  ASSERT_GT(all.size(), kGetEnergy.size());
  EXPECT_EQ(Bytes(all.begin(), all.begin() + static_cast<long>(kGetEnergy.size())), kGetEnergy);
  EXPECT_TRUE(kmp::decode_frame(Reader::reply_frame(all)).ok());
}

TEST(PtyFrontEnd, AsleepWithEchoReturnsOnlyTheEcho) {
  SimOptions o = options("pty-asleep.log");
  o.echo = true;
  o.asleep = true;
  RunningSim run(o);
  Reader r;
  r.open_pty(run.sim().port(0), B1200, 2);
  r.write(kGetEnergy);
  EXPECT_EQ(Reader::joined(r.read_reply(400ms)), kGetEnergy);
  EXPECT_EQ(wait_log(o.log_path, "tx", 1).at(0)["fault"], "asleep");
}

TEST(PtyFrontEnd, RepliesLeaveAtTheLineRate) {
  SimOptions o = options("pty-pacing.log");
  RunningSim run(o);
  Reader r;
  r.open_pty(run.sim().port(0), B1200, 2);
  const auto sent_at = Steady::now();
  r.write(get_register({60, 68, 1004, 86, 87, 89, 74, 80}));
  auto reads = r.read_reply(3s);
  Bytes all = Reader::joined(reads);
  ASSERT_TRUE(kmp::decode_frame(all).ok()) << to_hex(all);
  const std::size_t n = all.size();
  ASSERT_GT(n, 40U);
  const auto ct = std::chrono::nanoseconds(9'166'666);  // 11 bits at 1200 baud
  // Lower bounds only (timers never fire early): turnaround, then one char time per byte.
  EXPECT_GE(reads.back().at - sent_at, 50ms + ct * static_cast<long>(n - 1));
  // No read ever holds more bytes than could have crossed the line by then.
  std::size_t got = 0;
  for (const auto& rd : reads) {
    got += rd.bytes.size();
    auto since = rd.at - sent_at - 50ms;
    EXPECT_LE(static_cast<long>(got), since / ct + 1) << "after " << got << " bytes";
  }
  EXPECT_GT(reads.size(), 4U);
  auto tx = wait_log(o.log_path, "tx", 1);
  EXPECT_NEAR(tx.at(0)["end_mono"].get<double>() - tx.at(0)["mono"].get<double>(),
              static_cast<double>(n) * 0.0091667, 0.002);
}

TEST(PtyFrontEnd, ReaderMayCloseAndReopenTheSlave) {
  SimOptions o = options("pty-reopen.log");
  o.pacing = false;
  o.pty_link = temp_path("meter-link");
  RunningSim run(o);
  for (int round = 0; round < 3; ++round) {
    Reader r;
    r.open_pty(o.pty_link, B1200, 2);
    r.write(kGetEnergy);
    EXPECT_EQ(decode_registers(Reader::joined(r.read_reply(2s))).blocks.size(), 1U) << round;
    r.close();
    std::this_thread::sleep_for(250ms);  // the master reads EIO meanwhile
  }
  EXPECT_EQ(log_lines(o.log_path, "rx").size(), 3U);
}

TEST(PtyFrontEnd, SymlinkReplacedAndRemoved) {
  const std::string link = temp_path("link-replace");
  std::filesystem::remove(link);
  std::filesystem::create_symlink("/nonexistent", link);
  {
    SimOptions o = options("pty-link.log");
    o.pty_link = link;
    RunningSim run(o);
    EXPECT_EQ(std::filesystem::read_symlink(link).string(), run.sim().port(0));
  }
  EXPECT_FALSE(std::filesystem::is_symlink(link));

  // A regular file is never clobbered.
  { std::ofstream(link) << "precious"; }
  SimOptions o = options("pty-link2.log");
  o.pty_link = link;
  Simulator sim(o);
  std::ostringstream out;
  EXPECT_THROW(sim.start(out), SimError);
  std::filesystem::remove(link);
}

TEST(TcpFrontEnd, AnswersWithoutLineCheckAndNewClientReplacesOld) {
  SimOptions o = options("tcp.log");
  o.tcp = "127.0.0.1:0";
  o.pacing = false;
  o.turnaround = std::chrono::milliseconds(5);
  RunningSim run(o);
  ASSERT_EQ(run.sim().port(0).rfind("socket://127.0.0.1:", 0), 0U) << run.sim().port(0);
  Reader a;
  a.connect_tcp(run.tcp_port(0));
  a.write(kGetEnergy);
  EXPECT_EQ(decode_registers(Reader::joined(a.read_reply(2s))).blocks.size(), 1U);

  Reader b;
  b.connect_tcp(run.tcp_port(0));
  bool eof = false;
  a.read_reply(1s, &eof);
  EXPECT_TRUE(eof);  // the old client was dropped
  b.write(from_hex("803F0235E90D"));
  auto serial =
      kmp::decode_serial_response(kmp::decode_frame(Reader::joined(b.read_reply(2s))).value());
  ASSERT_TRUE(serial.ok());
  EXPECT_EQ(serial->serial, 76543210U);
  // A request split over several writes is reassembled.
  b.write(Bytes(kGetEnergy.begin(), kGetEnergy.begin() + 4));
  std::this_thread::sleep_for(20ms);
  b.write(Bytes(kGetEnergy.begin() + 4, kGetEnergy.end()));
  EXPECT_EQ(decode_registers(Reader::joined(b.read_reply(2s))).blocks.size(), 1U);
  auto rx = log_lines(o.log_path, "rx");
  ASSERT_EQ(rx.size(), 3U);
  EXPECT_TRUE(rx[0]["line"].is_null());
}

TEST(TcpFrontEnd, FaultsAndNoise) {
  SimOptions o = options("faults.log");
  o.tcp = "127.0.0.1:0";
  o.pacing = false;
  o.turnaround = std::chrono::milliseconds(1);
  o.noise = true;
  o.corrupt = 1.0;
  RunningSim run(o);
  Reader r;
  r.connect_tcp(run.tcp_port(0));
  for (int i = 0; i < 20; ++i) {
    r.write(kGetEnergy);
    Bytes all = Reader::joined(r.read_reply(2s));
    Bytes frame = Reader::reply_frame(all);
    ASSERT_FALSE(frame.empty());
    ASSERT_GE(all.size() - frame.size(), 1U);  // noise first
    ASSERT_LE(all.size() - frame.size(), 8U);
    for (std::size_t k = 0; k + frame.size() < all.size(); ++k) {
      EXPECT_NE(all[k], 0x80);
      EXPECT_NE(all[k], 0x06);
    }
    EXPECT_EQ(kmp::decode_frame(frame).error(), kmp::Error::CrcMismatch);
  }
  auto tx = wait_log(o.log_path, "tx", 20);
  ASSERT_EQ(tx.size(), 20U);
  for (const auto& t : tx) {
    EXPECT_EQ(t["fault"], "corrupt");
    EXPECT_GE(t["noise"].get<int>(), 1);
  }
}

TEST(TcpFrontEnd, DropEverythingAndLogInvalidFrames) {
  SimOptions o = options("drop.log");
  o.tcp = "127.0.0.1:0";
  o.drop = 1.0;
  RunningSim run(o);
  Reader r;
  r.connect_tcp(run.tcp_port(0));
  r.write(kGetEnergy);
  r.write(from_hex("803F1001003CB25E0D"));  // bad CRC
  r.write(from_hex("00FF"));                // noise, no frame
  EXPECT_TRUE(r.read_reply(300ms).empty());
  auto rx = wait_log(o.log_path, "rx", 2);
  auto tx = wait_log(o.log_path, "tx", 2);
  ASSERT_EQ(rx.size(), 2U);
  ASSERT_EQ(tx.size(), 2U);
  EXPECT_EQ(tx[0]["fault"], "drop");
  EXPECT_EQ(rx[1]["valid"], false);
  EXPECT_EQ(rx[1]["error"], "bad frame: CrcMismatch");
  EXPECT_TRUE(rx[1]["cid"].is_null());
  EXPECT_TRUE(tx[1]["fault"].is_null());
  EXPECT_EQ(tx[1]["reason"], "bad frame: CrcMismatch");
}

TEST(TcpFrontEnd, FleetOnConsecutivePortsWithDistinctSerials) {
  // Find three free consecutive ports; another process may race us, so retry.
  std::mt19937 rng(static_cast<unsigned>(::getpid()));
  std::uniform_int_distribution<int> pick(20000, 60000);
  for (int attempt = 0; attempt < 20; ++attempt) {
    const int base = pick(rng);
    SimOptions o = options("fleet.log");
    o.tcp = "127.0.0.1:" + std::to_string(base);
    o.count = 3;
    o.pacing = false;
    o.turnaround = std::chrono::milliseconds(1);
    std::unique_ptr<RunningSim> run;
    try {
      run = std::make_unique<RunningSim>(o);
    } catch (const SimError&) {
      continue;
    }
    std::set<std::uint32_t> serials;
    for (std::size_t i = 0; i < 3; ++i) {
      EXPECT_EQ(run->tcp_port(i), base + static_cast<int>(i));
      Reader r;
      r.connect_tcp(run->tcp_port(i));
      r.write(from_hex("803F0235E90D"));
      auto s =
          kmp::decode_serial_response(kmp::decode_frame(Reader::joined(r.read_reply(2s))).value());
      ASSERT_TRUE(s.ok());
      serials.insert(s->serial);
    }
    EXPECT_EQ(serials, (std::set<std::uint32_t>{76543210, 76543211, 76543212}));
    auto rx = log_lines(o.log_path, "rx");
    ASSERT_EQ(rx.size(), 3U);
    EXPECT_EQ(rx[2]["meter"], 2);
    return;
  }
  FAIL() << "no three free consecutive ports found";
}

TEST(TcpFrontEnd, TwoHundredMetersInOneProcess) {
  SimOptions o = options("fleet200.log");
  o.tcp = "127.0.0.1:0";
  o.count = 200;
  o.pacing = false;
  o.turnaround = std::chrono::milliseconds(1);
  const auto started = Steady::now();
  RunningSim run(o);
  EXPECT_LT(Steady::now() - started, 2s);
  EXPECT_EQ(run.sim().size(), 200U);
  for (std::size_t i : {0U, 99U, 199U}) {
    Reader r;
    r.connect_tcp(run.tcp_port(i));
    r.write(get_register({60, 86}));
    EXPECT_EQ(decode_registers(Reader::joined(r.read_reply(2s))).blocks.size(), 2U);
    EXPECT_EQ(run.sim().model(i).profile().serial, 76543210U + i);
  }
}

}  // namespace
}  // namespace kamstrup::sim::test
