// `kamstrup read` end to end: the real binary against a simulated meter in its own process, over
// a real pty or a real TCP socket, with the optical echo and line noise on. Every value printed
// is compared, as raw text, with what the simulator logged as sent.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <atomic>
#include <iostream>
#include <random>
#include <variant>

#include "e2e.hpp"

namespace kamstrup::e2e {
namespace {

std::vector<std::uint16_t> default_ids() {
  std::vector<std::uint16_t> ids;
  for (const auto& r : default_registers()) ids.push_back(r.id);
  return ids;
}

// One default `read --json` against `sim`, checked in full: exit 0, one request frame of exactly
// the GetRegister size, one fault-free reply, every value token equal to the logged text, and
// "time" RFC 3339 in UTC (the reader runs in a time zone 5 hours off UTC, so local time would
// show).
void expect_default_read(Sim& sim, bool pty) {
  const std::int64_t before = unix_now();
  const RunResult r = kamstrup({"read", "--port", sim.port(), "--json"}, "", {"TZ=XYZ-5"});
  const std::int64_t after = unix_now();
  ASSERT_EQ(r.status, 0) << describe(r) << sim.diag();

  const auto rx = sim.rx();
  const auto tx = sim.tx();
  ASSERT_EQ(rx.size(), 1U) << sim.diag();
  ASSERT_EQ(tx.size(), 1U) << sim.diag();
  const auto request = get_register_request(default_ids());
  EXPECT_EQ(rx[0].at("bytes"), request.size());
  EXPECT_EQ(rx[0].at("hex"), hex(request));
  EXPECT_EQ(rx[0].at("ids"), Json(default_ids()));
  EXPECT_EQ(rx[0].at("valid"), true);
  if (pty) {
    EXPECT_EQ(rx[0].at("line"), "1200 8N2");
  } else {
    EXPECT_TRUE(rx[0].at("line").is_null());
  }
  EXPECT_EQ(tx[0].at("sent"), true);
  EXPECT_TRUE(tx[0].at("fault").is_null());
  EXPECT_GE(tx[0].at("noise").get<int>(), 1) << "--noise was on";
  expect_registers_match(r.out, default_registers(), tx[0].at("values"));

  const Json j = parse_json(r.out);
  EXPECT_EQ(j.at("port"), sim.port());
  const std::int64_t t = parse_rfc3339_utc(j.at("time").get<std::string>());
  ASSERT_NE(t, -1) << "not RFC 3339 UTC: " << j.at("time");
  EXPECT_GE(t, before) << j.at("time");
  EXPECT_LE(t, after) << j.at("time");
}

TEST(ReadE2E, DefaultRegistersOverPtyAreTheSimulatorsExactValues) {
  TempDir dir;
  Sim sim(dir, 101, {"--echo", "--noise"});
  ASSERT_TRUE(sim.started()) << sim.diag();
  expect_default_read(sim, /*pty=*/true);
}

TEST(ReadE2E, DefaultRegistersOverTcpAreTheSimulatorsExactValues) {
  TempDir dir;
  Sim sim(dir, 102, {"--echo", "--noise"}, Sim::On::Tcp);
  ASSERT_TRUE(sim.started()) << sim.diag();
  ASSERT_EQ(sim.port().rfind("socket://127.0.0.1:", 0), 0U) << sim.port();
  expect_default_read(sim, /*pty=*/false);
}

TEST(ReadE2E, MoreThanEightRegistersGoInTwoFrames) {
  TempDir dir;
  Sim sim(dir, 103, {"--echo", "--noise"});
  ASSERT_TRUE(sim.started()) << sim.diag();
  const std::vector<Expected> want = {
      {60, "heat_energy", "MWh"},    {68, "volume", "m³"},
      {86, "temp1", "°C"},           {87, "temp2", "°C"},
      {89, "temp_diff", "K"},        {74, "flow", "l/h"},
      {80, "power", "kW"},           {1004, "hour_counter", "h"},
      {63, "cooling_energy", "MWh"}, {113, "info_event_counter", ""}};
  std::vector<std::string> args = {"read", "--port", sim.port(), "--json"};
  for (const auto& w : want) args.emplace_back(w.name);
  // A duplicate is read once.
  args.emplace_back("0x3C");
  const RunResult r = kamstrup(args);
  ASSERT_EQ(r.status, 0) << describe(r) << sim.diag();
  const auto rx = sim.rx();
  const auto tx = sim.tx();
  ASSERT_EQ(rx.size(), 2U) << sim.diag();
  ASSERT_EQ(tx.size(), 2U) << sim.diag();
  EXPECT_EQ(rx[0].at("ids"), Json::array({60, 68, 86, 87, 89, 74, 80, 1004}));
  EXPECT_EQ(rx[1].at("ids"), Json::array({63, 113}));
  EXPECT_EQ(rx[1].at("bytes"), get_register_request({63, 113}).size());
  Json values = tx[0].at("values");
  values.update(tx[1].at("values"));
  expect_registers_match(r.out, want, values);
}

// --corrupt 0.3 --drop 0.2 (seed 8: 10 reads make about 24 requests, with 6 corrupted replies,
// 9 dropped requests and one read that runs out of attempts): a read may fail (exit 3, with a
// diagnosis), but a value it prints must be one the meter sent in a fault-free reply during that
// read; and the log must show one request per attempt, a retry after every fault unless the
// attempts ran out. `--protocol kmp`: with auto, a request that got nothing back is not retried
// before the other protocols are tried (AutoChainE2E, DetectSilence).
TEST(ReadE2E, FaultInjectionNeverYieldsAWrongValue) {
  TempDir dir;
  Sim sim(dir, 8, {"--echo", "--noise", "--corrupt", "0.3", "--drop", "0.2"});
  ASSERT_TRUE(sim.started()) << sim.diag();
  constexpr int kReads = 10;
  constexpr std::size_t kAttempts = 5;  // --retries 4
  std::size_t seen = 0;
  int corrupt = 0, drop = 0, ok = 0, failed = 0;
  std::size_t total_rx = 0;
  for (int read = 0; read < kReads; ++read) {
    SCOPED_TRACE("read " + std::to_string(read));
    const RunResult r = kamstrup({"read", "--port", sim.port(), "--json", "--protocol", "kmp",
                                  "--retries", "4", "--timeout", "1"});
    // The reader has exited, so every line about its requests is in the log (a reply's tx line
    // is written before its first byte is sent; silence is logged at once).
    const auto all = sim.log();
    ASSERT_GE(all.size(), seen);
    const std::vector<Json> lines(all.begin() + static_cast<std::ptrdiff_t>(seen), all.end());
    seen = all.size();
    const auto rx = with_dir(lines, "rx");
    const auto tx = with_dir(lines, "tx");
    total_rx += rx.size();
    ASSERT_GE(rx.size(), 1U) << describe(r);
    ASSERT_LE(rx.size(), kAttempts) << describe(r);
    ASSERT_EQ(tx.size(), rx.size()) << describe(r);
    for (std::size_t i = 0; i < lines.size(); ++i) {
      EXPECT_EQ(lines[i].at("dir"), i % 2 == 0 ? "rx" : "tx") << "requests and answers alternate";
    }
    for (std::size_t i = 0; i < tx.size(); ++i) {
      EXPECT_EQ(rx[i].at("hex"), hex(get_register_request(default_ids())));
      const Json& fault = tx[i].at("fault");
      if (fault == "corrupt") ++corrupt;
      if (fault == "drop") ++drop;
      const bool last = i + 1 == tx.size();
      if (!fault.is_null() && !(last && rx.size() == kAttempts)) {
        // A failed attempt is followed by another request within this read.
        EXPECT_FALSE(last) << "no retry after a " << fault << "\n" << describe(r);
      }
    }
    if (r.status == 0) {
      ++ok;
      // The accepted reply is the last one, the only fault-free one.
      for (std::size_t i = 0; i + 1 < tx.size(); ++i) {
        EXPECT_FALSE(tx[i].at("fault").is_null()) << "retried after a good reply\n" << describe(r);
      }
      ASSERT_TRUE(tx.back().at("fault").is_null()) << describe(r);
      EXPECT_EQ(tx.back().at("sent"), true);
      expect_registers_match(r.out, default_registers(), tx.back().at("values"));
    } else {
      ASSERT_EQ(r.status, 3) << describe(r);
      ++failed;
      EXPECT_EQ(rx.size(), kAttempts) << "gave up before its 5 attempts";
      for (const auto& t : tx) EXPECT_FALSE(t.at("fault").is_null()) << "a good reply was lost";
      const Json j = parse_json(r.out);
      EXPECT_TRUE(j.contains("error")) << r.out;
      EXPECT_TRUE(j.contains("diagnosis")) << r.out;
      EXPECT_EQ(raw_value_tokens(r.out).size(), 0U) << "no values on failure";
      EXPECT_NE(r.err.find("no valid answer"), std::string::npos) << r.err;
    }
  }
  std::cout << "[ info     ] " << kReads << " reads: " << ok << " read, " << failed << " gave up; "
            << total_rx << " requests, " << corrupt << " corrupted replies, " << drop
            << " dropped requests\n";
  EXPECT_GE(corrupt, 1) << "seed 8 must corrupt at least one reply";
  EXPECT_GE(drop, 1) << "seed 8 must drop at least one request";
  EXPECT_GE(total_rx, static_cast<std::size_t>(kReads));
  EXPECT_EQ(ok + failed, kReads);
  EXPECT_GE(ok, 1);
}

// A sleeping meter (no echo): 1 + 2 retries, each request after the previous exchange's 0.5 s
// timeout plus the meter's 1.6 s recovery time.
TEST(ReadE2E, RetriesAreSpacedByTheTimeoutPlusTheMetersRecoveryTime) {
  TempDir dir;
  Sim sim(dir, 5, {"--asleep"});
  ASSERT_TRUE(sim.started()) << sim.diag();
  const RunResult r = kamstrup(
      {"read", "--port", sim.port(), "--protocol", "kmp", "--timeout", "0.5", "--retries", "2"});
  EXPECT_EQ(r.status, 3) << describe(r);
  const auto rx = sim.rx();
  ASSERT_EQ(rx.size(), 3U) << sim.diag();
  for (std::size_t i = 1; i < rx.size(); ++i) {
    const double gap = rx[i].at("mono").get<double>() - rx[i - 1].at("mono").get<double>();
    EXPECT_GE(gap, 0.5 + 1.6) << "request " << i << " came too early";
  }
  for (const auto& t : sim.tx()) EXPECT_EQ(t.at("fault"), "asleep");
  EXPECT_NE(r.err.find("3 attempts"), std::string::npos) << r.err;
}

// ---- the four diagnoses ---------------------------------------------------------------------

// `read --json` with one quick attempt that must fail with `failure` and its sentence.
void expect_diagnosis(const std::string& port, const std::string& failure, const char* phrase) {
  const RunResult r = kamstrup({"read", "--port", port, "--protocol", "kmp", "--json", "--timeout",
                                "0.5", "--retries", "0"});
  ASSERT_EQ(r.status, 3) << describe(r);
  EXPECT_NE(r.err.find(phrase), std::string::npos) << r.err;
  EXPECT_NE(r.err.find(port), std::string::npos) << "stderr names the port: " << r.err;
  const Json j = parse_json(r.out);
  ASSERT_TRUE(j.is_object()) << r.out;
  EXPECT_EQ(j.value("error", ""), "no valid answer from the meter") << r.out;
  EXPECT_NE(j.value("diagnosis", "").find(phrase), std::string::npos) << r.out;
  EXPECT_EQ(j.value("failure", ""), failure) << r.out;
  EXPECT_EQ(j.value("port", ""), port) << r.out;
  EXPECT_FALSE(j.contains("registers")) << r.out;
}

TEST(DiagnosisE2E, SilentPort) {
  TempDir dir;
  Sim sim(dir, 11, {"--asleep"});
  ASSERT_TRUE(sim.started()) << sim.diag();
  expect_diagnosis(sim.port(), "Silent", kSilentPhrase);
  ASSERT_EQ(sim.tx().size(), 1U) << sim.diag();
  EXPECT_EQ(sim.tx()[0].at("fault"), "asleep");
}

TEST(DiagnosisE2E, EchoOnly) {
  TempDir dir;
  Sim sim(dir, 12, {"--asleep", "--echo", "--noise"});
  ASSERT_TRUE(sim.started()) << sim.diag();
  expect_diagnosis(sim.port(), "EchoOnly", kEchoOnlyPhrase);
  ASSERT_EQ(sim.rx().size(), 1U) << sim.diag();
}

TEST(DiagnosisE2E, GarbageFromAPeerThatNeverSendsAFrame) {
  TempDir dir;
  std::mt19937 rng(42);
  PtyPeer peer(dir / "meter", [&rng](std::span<const std::uint8_t>) {
    // Random bytes, none of which can start a frame (0x40, 0x80), be an ACK or a NUL.
    std::vector<std::uint8_t> junk;
    while (junk.size() < 12) {
      const auto b = static_cast<std::uint8_t>(rng() & 0xFFU);
      if (b != 0x00 && b != 0x06 && b != 0x40 && b != 0x80) junk.push_back(b);
    }
    return junk;
  });
  expect_diagnosis(peer.port(), "Garbage", kGarbagePhrase);
  EXPECT_EQ(peer.requests(), 1U);
}

TEST(DiagnosisE2E, CrcErrors) {
  TempDir dir;
  Sim sim(dir, 13, {"--corrupt", "1", "--echo", "--noise"});
  ASSERT_TRUE(sim.started()) << sim.diag();
  expect_diagnosis(sim.port(), "CrcErrors", kCrcPhrase);
  ASSERT_EQ(sim.tx().size(), 1U) << sim.diag();
  EXPECT_EQ(sim.tx()[0].at("fault"), "corrupt");
  EXPECT_EQ(sim.tx()[0].at("sent"), true);
}

// The simulator runs without --echo: with it, the reflection of our own request would come back
// whatever the line settings (it is our own signal), and the diagnosis would be the echo-only
// one. Without it, a meter that cannot understand the line is simply silent.
TEST(ReadE2E, WrongLineSettingsGetSilenceAndTheLogSaysWhy) {
  TempDir dir;
  Sim sim(dir, 14, {"--noise"});
  ASSERT_TRUE(sim.started()) << sim.diag();
  const RunResult r = kamstrup({"read", "--port", sim.port(), "--baud", "2400", "--stopbits", "1",
                                "--timeout", "0.5", "--retries", "0", "--json"});
  ASSERT_EQ(r.status, 3) << describe(r);
  EXPECT_NE(r.err.find(kSilentPhrase), std::string::npos) << r.err;
  EXPECT_EQ(parse_json(r.out).value("failure", ""), "Silent") << r.out;
  const auto rx = sim.rx();
  const auto tx = sim.tx();
  ASSERT_EQ(rx.size(), 1U) << sim.diag();
  ASSERT_EQ(tx.size(), 1U) << sim.diag();
  EXPECT_EQ(rx[0].at("line"), "2400 8N1");
  EXPECT_EQ(tx[0].at("fault"), "line");
  EXPECT_EQ(tx[0].at("sent"), false);
  const auto reason = tx[0].at("reason").get<std::string>();
  EXPECT_NE(reason.find("2400 8N1"), std::string::npos) << reason;
  EXPECT_NE(reason.find("1200 8N2"), std::string::npos) << reason;
}

TEST(ReadE2E, ElectricityMeterAt9600_8N1) {
  TempDir dir;
  Sim sim(dir, 15, {"--profile", "kamstrup382", "--echo", "--noise"});
  ASSERT_TRUE(sim.started()) << sim.diag();
  EXPECT_EQ(sim.profile(), "kamstrup382");
  const RunResult r =
      kamstrup({"read", "--port", sim.port(), "--baud", "9600", "--stopbits", "1", "energy_in",
                "energy_out", "power_in", "voltage_l1", "current_l1", "--json"});
  ASSERT_EQ(r.status, 0) << describe(r) << sim.diag();
  const auto rx = sim.rx();
  const auto tx = sim.tx();
  ASSERT_EQ(rx.size(), 1U) << sim.diag();
  ASSERT_EQ(tx.size(), 1U) << sim.diag();
  EXPECT_EQ(rx[0].at("line"), "9600 8N1");
  expect_registers_match(r.out,
                         {{1, "energy_in", "kWh"},
                          {2, "energy_out", "kWh"},
                          {1023, "power_in", "kW"},
                          {1054, "voltage_l1", "V"},
                          {1076, "current_l1", "A"}},
                         tx[0].at("values"));
}

// The water-meter profile: its eight registers in one frame at 1200 8N2, and the default
// (heat) registers reported as unsupported, never as zero.
TEST(ReadE2E, WaterMeter) {
  TempDir dir;
  Sim sim(dir, 21, {"--profile", "multical21", "--echo", "--noise"});
  ASSERT_TRUE(sim.started()) << sim.diag();
  EXPECT_EQ(sim.profile(), "multical21");
  const RunResult r = kamstrup({"read", "--port", sim.port(), "volume", "volume_reverse", "flow",
                                "water_temperature", "meter_temperature", "info", "hour_counter",
                                "battery_days_left", "--json"});
  ASSERT_EQ(r.status, 0) << describe(r) << sim.diag();
  const auto rx = sim.rx();
  const auto tx = sim.tx();
  ASSERT_EQ(rx.size(), 1U) << sim.diag();
  ASSERT_EQ(tx.size(), 1U) << sim.diag();
  EXPECT_EQ(rx[0].at("line"), "1200 8N2");
  expect_registers_match(r.out,
                         {{68, "volume", "m³"},
                          {243, "volume_reverse", "m³"},
                          {74, "flow", "l/h"},
                          {292, "water_temperature", "°C"},
                          {299, "meter_temperature", "°C"},
                          {99, "info", ""},
                          {1004, "hour_counter", "h"},
                          {582, "battery_days_left", "days"}},
                         tx[0].at("values"));

  const RunResult d = kamstrup({"read", "--port", sim.port(), "--json"});
  ASSERT_EQ(d.status, 1) << describe(d) << sim.diag();
  const Json j = parse_json(d.out);
  EXPECT_EQ(j.at("unsupported"), Json::array({60, 86, 87, 89, 80})) << d.out;
  std::vector<std::string> names;
  for (const auto& reg : j.at("registers")) names.push_back(reg.at("name"));
  EXPECT_EQ(names, (std::vector<std::string>{"volume", "flow", "hour_counter"})) << d.out;
}

TEST(ReadE2E, UnsupportedRegisterGivesExit1) {
  TempDir dir;
  Sim sim(dir, 16, {"--echo", "--noise"});
  ASSERT_TRUE(sim.started()) << sim.diag();
  const RunResult r = kamstrup({"read", "--port", sim.port(), "0x0123", "heat_energy", "--json"});
  ASSERT_EQ(r.status, 1) << describe(r);
  const Json j = parse_json(r.out);
  EXPECT_EQ(j.at("unsupported"), Json::array({291})) << r.out;
  EXPECT_EQ(j.at("failed"), Json::array()) << r.out;
  ASSERT_EQ(j.at("registers").size(), 1U) << r.out;
  EXPECT_EQ(j.at("registers")[0].at("name"), "heat_energy");
  const auto tx = sim.tx();
  ASSERT_EQ(tx.size(), 1U) << sim.diag();
  EXPECT_EQ(raw_value_tokens(r.out),
            std::vector<std::string>{tx[0].at("values").at("60").get<std::string>()});
  EXPECT_EQ(sim.rx()[0].at("ids"), Json::array({291, 60}));

  // The table says so too, with the same exit status.
  const RunResult t = kamstrup({"read", "--port", sim.port(), "0x0123", "heat_energy"});
  EXPECT_EQ(t.status, 1) << describe(t);
  EXPECT_NE(t.out.find("register_291 (291): not supported"), std::string::npos) << t.out;
}

// A block the reader cannot decode (unit code 0x7F) fails that register only: exit 1 and a
// "failed" entry with the codec error, the other register still read.
TEST(ReadE2E, UndecodableRegisterIsListedAsFailed) {
  TempDir dir;
  PtyPeer peer(dir / "meter", [](std::span<const std::uint8_t>) {
    std::vector<kmp::OutgoingRegister> regs = {{60, 3, 0x43, {0x00, 0x00, 0xD6, 0xDE}},
                                               {80, 0x7F, 0x41, {0x00, 0x57}}};
    return kmp::encode_register_response(regs);
  });
  const RunResult r = kamstrup({"read", "--port", peer.port(), "heat_energy", "power", "--json"});
  ASSERT_EQ(r.status, 1) << describe(r);
  const Json j = parse_json(r.out);
  ASSERT_EQ(j.at("failed").size(), 1U) << r.out;
  EXPECT_EQ(j.at("failed")[0].at("id"), 80);
  EXPECT_EQ(j.at("failed")[0].at("error"), "UnknownUnit");
  EXPECT_EQ(raw_value_tokens(r.out), std::vector<std::string>{"55.006"});
  EXPECT_EQ(peer.requests(), 1U);
}

// The ids of a GetRegister request frame (empty for anything else).
std::vector<std::uint16_t> requested_ids(std::span<const std::uint8_t> frame) {
  auto f = kmp::decode_frame(frame);
  if (!f.ok()) return {};
  auto req = kmp::decode_request(*f);
  if (!req.ok()) return {};
  if (const auto* g = std::get_if<kmp::GetRegisterRequest>(&*req)) return g->ids;
  return {};
}

// A reply giving each requested register its own id as value (unit code 0, no exponent).
std::vector<std::uint8_t> ids_as_values(const std::vector<std::uint16_t>& ids) {
  std::vector<kmp::OutgoingRegister> regs;
  for (std::uint16_t id : ids) {
    regs.push_back({id,
                    0,
                    0x00,
                    {static_cast<std::uint8_t>(id >> 8U), static_cast<std::uint8_t>(id & 0xFFU)}});
  }
  return kmp::encode_register_response(regs);
}

// A meter that answers the first batch and then falls silent: the second batch's registers are
// "failed" with the failure's name, the first batch's values are kept, exit 1.
TEST(ReadE2E, ABatchWithoutAnswerIsListedAsFailed) {
  TempDir dir;
  std::atomic<int> seen{0};
  PtyPeer peer(dir / "meter", [&seen](std::span<const std::uint8_t> frame) {
    if (seen++ > 0) return std::vector<std::uint8_t>{};
    return ids_as_values(requested_ids(frame));
  });
  const std::vector<std::string> names = {"heat_energy",    "volume", "temp1", "temp2",
                                          "temp_diff",      "flow",   "power", "hour_counter",
                                          "cooling_energy", "info"};
  std::vector<std::string> args = {"read",      "--port", peer.port(), "--json",
                                   "--timeout", "0.5",    "--retries", "0"};
  args.insert(args.end(), names.begin(), names.end());
  const RunResult r = kamstrup(args);
  ASSERT_EQ(r.status, 1) << describe(r);
  EXPECT_EQ(peer.requests(), 2U);
  EXPECT_EQ(raw_value_tokens(r.out),
            (std::vector<std::string>{"60", "68", "86", "87", "89", "74", "80", "1004"}))
      << r.out;
  const Json j = parse_json(r.out);
  ASSERT_EQ(j.at("failed").size(), 2U) << r.out;
  EXPECT_EQ(j.at("failed")[0].at("id"), 63);
  EXPECT_EQ(j.at("failed")[0].at("error"), "Silent");
  EXPECT_EQ(j.at("failed")[1].at("id"), 99);
  EXPECT_EQ(j.at("failed")[1].at("error"), "Silent");
}

// A valid frame that carries a register we did not ask for is not an answer: no value from it,
// a retry, and in the end the garbage diagnosis.
TEST(ReadE2E, AReplyWithARegisterWeDidNotAskForIsNotAccepted) {
  TempDir dir;
  PtyPeer peer(dir / "meter", [](std::span<const std::uint8_t>) {
    // volume (68) = 1875.56 m³, whatever was asked
    return kmp::encode_register_response(
        std::vector<kmp::OutgoingRegister>{{68, 40, 0x42, {0x00, 0x02, 0xDC, 0xA4}}});
  });
  const RunResult r = kamstrup({"read", "--port", peer.port(), "heat_energy", "--json", "--timeout",
                                "0.5", "--retries", "1"});
  EXPECT_EQ(r.status, 3) << describe(r);
  EXPECT_EQ(peer.requests(), 2U);
  EXPECT_EQ(r.out.find("1875.56"), std::string::npos) << r.out;
  EXPECT_EQ(parse_json(r.out).value("failure", ""), "Garbage") << r.out;
  EXPECT_NE(r.err.find(kGarbagePhrase), std::string::npos) << r.err;
}

// Exit 3 with --json always comes with a JSON object carrying "error" and "diagnosis", also when
// the reason is a TCP link that went away mid-exchange (here: a server that accepts one
// connection, closes it and stops listening, so the reconnect is refused).
TEST(ReadE2E, LostConnectionStillPrintsTheJsonErrorObject) {
  const int listener = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  ASSERT_GE(listener, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  ASSERT_EQ(::bind(listener, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
  ASSERT_EQ(::getsockname(listener, reinterpret_cast<sockaddr*>(&a), &len), 0);
  ASSERT_EQ(::listen(listener, 1), 0);
  std::thread server([listener] {
    const int c = ::accept(listener, nullptr, nullptr);
    if (c >= 0) ::close(c);
    ::close(listener);
  });
  const std::string port = "socket://127.0.0.1:" + std::to_string(ntohs(a.sin_port));
  const RunResult r =
      kamstrup({"read", "--port", port, "--json", "--timeout", "0.5", "--retries", "1"});
  server.join();
  EXPECT_EQ(r.status, 3) << describe(r);
  EXPECT_NE(r.err.find(port), std::string::npos) << r.err;
  const Json j = Json::parse(r.out, nullptr, false);
  ASSERT_FALSE(j.is_discarded()) << "exit 3 with --json printed no JSON object\n" << describe(r);
  EXPECT_TRUE(j.contains("error")) << r.out;
  EXPECT_TRUE(j.contains("diagnosis")) << r.out;
}

// ---- output formats -------------------------------------------------------------------------

// Splits CSV text (RFC 4180: quoted fields, doubled quotes) into rows of fields.
std::vector<std::vector<std::string>> parse_csv(const std::string& text) {
  std::vector<std::vector<std::string>> rows;
  std::vector<std::string> row;
  std::string field;
  bool quoted = false;
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (quoted) {
      if (c == '"' && i + 1 < text.size() && text[i + 1] == '"') {
        field.push_back('"');
        ++i;
      } else if (c == '"') {
        quoted = false;
      } else {
        field.push_back(c);
      }
    } else if (c == '"') {
      quoted = true;
    } else if (c == ',') {
      row.push_back(field);
      field.clear();
    } else if (c == '\n') {
      row.push_back(field);
      field.clear();
      rows.push_back(row);
      row.clear();
    } else if (c != '\r') {
      field.push_back(c);
    }
  }
  if (!field.empty() || !row.empty()) {
    row.push_back(field);
    rows.push_back(row);
  }
  return rows;
}

// "151548" at hh:mm:ss → "15:15:48"; "261123" at yy:mm:dd → "2026-11-23".
std::string clock_text(const std::string& raw) {
  const std::string d = std::string(6 - std::min<std::size_t>(6, raw.size()), '0') + raw;
  return d.substr(0, 2) + ":" + d.substr(2, 2) + ":" + d.substr(4, 2);
}
std::string date_text(const std::string& raw) {
  const std::string d = std::string(6 - std::min<std::size_t>(6, raw.size()), '0') + raw;
  return "20" + d.substr(0, 2) + "-" + d.substr(2, 2) + "-" + d.substr(4, 2);
}

TEST(ReadE2E, CsvHasAHeaderAndOneRowPerRegister) {
  TempDir dir;
  Sim sim(dir, 17, {"--echo", "--noise"});
  ASSERT_TRUE(sim.started()) << sim.diag();
  const RunResult r = kamstrup(
      {"read", "--port", sim.port(), "--csv", "heat_energy", "volume", "temp1", "clock", "date"});
  ASSERT_EQ(r.status, 0) << describe(r);
  const auto tx = sim.tx();
  ASSERT_EQ(tx.size(), 1U) << sim.diag();
  const Json& values = tx[0].at("values");
  auto v = [&](const char* id) { return values.at(id).get<std::string>(); };
  const auto rows = parse_csv(r.out);
  using Row = std::vector<std::string>;
  const std::vector<Row> want = {
      {"name", "id", "value", "unit", "text"},
      {"heat_energy", "60", v("60"), "MWh", ""},
      {"volume", "68", v("68"), "m³", ""},
      {"temp1", "86", v("86"), "°C", ""},
      {"clock", "1002", v("1002"), "hh:mm:ss", clock_text(v("1002"))},
      {"date", "1003", v("1003"), "yy:mm:dd", date_text(v("1003"))},
  };
  EXPECT_EQ(rows, want) << r.out;
}

// Display columns (UTF-8 code points) where each whitespace-separated field of `line` ends.
std::vector<std::size_t> field_ends(const std::string& line) {
  std::vector<std::size_t> ends;
  std::size_t column = 0;
  bool in_field = false;
  for (char c : line) {
    if ((static_cast<unsigned char>(c) & 0xC0U) == 0x80U) continue;  // UTF-8 continuation
    const bool space = c == ' ';
    if (in_field && space) ends.push_back(column);
    in_field = !space;
    ++column;
  }
  if (in_field) ends.push_back(column);
  return ends;
}

TEST(ReadE2E, TableIsAlignedAndHasEveryRegister) {
  TempDir dir;
  Sim sim(dir, 20, {"--echo", "--noise"});
  ASSERT_TRUE(sim.started()) << sim.diag();
  const RunResult r = kamstrup({"read", "--port", sim.port()});
  ASSERT_EQ(r.status, 0) << describe(r);
  const auto tx = sim.tx();
  ASSERT_EQ(tx.size(), 1U) << sim.diag();
  std::istringstream in(r.out);
  std::vector<std::string> rows;
  for (std::string line; std::getline(in, line);) rows.push_back(line);
  ASSERT_EQ(rows.size(), default_registers().size() + 1) << r.out;
  const auto header = field_ends(rows[0]);
  ASSERT_EQ(header.size(), 4U) << rows[0];
  for (std::size_t i = 0; i < default_registers().size(); ++i) {
    const auto& want = default_registers()[i];
    const std::string& row = rows[i + 1];
    SCOPED_TRACE(row);
    std::istringstream fields(row);
    std::string name, id, value, unit;
    fields >> name >> id >> value >> unit;
    EXPECT_EQ(name, want.name);
    EXPECT_EQ(id, std::to_string(want.id));
    EXPECT_EQ(value, tx[0].at("values").at(id).get<std::string>());
    EXPECT_EQ(unit, want.unit);
    // id and value are right-aligned under their headings; the unit starts where "unit" does.
    const auto ends = field_ends(row);
    ASSERT_EQ(ends.size(), 4U);
    EXPECT_EQ(ends[1], header[1]);
    EXPECT_EQ(ends[2], header[2]);
    EXPECT_EQ(ends[3] - field_ends(unit).back(), header[3] - 4);
  }
}

// A profile with an ASCII register whose text holds a comma and a double quote, and an RTC one.
std::string write_text_profile(const TempDir& dir) {
  const std::string path = dir / "text-profile.yaml";
  // 0x412C2242 = 'A' ',' '"' 'B'
  std::ofstream(path) << "base: multical403\n"
                         "registers:\n"
                         "  meter_type_number: {value: \"1093411394\", unit: ASCII, nob: 4, "
                         "fixed: true}\n"
                         "  time_zone: {value: \"16909060\", unit: RTC, nob: 4, fixed: true}\n";
  return path;
}

TEST(ReadE2E, AsciiAndRtcRegistersHaveANullValueAndAText) {
  TempDir dir;
  Sim sim(dir, 18, {"--profile-file", write_text_profile(dir), "--echo", "--noise"});
  ASSERT_TRUE(sim.started()) << sim.diag();
  const RunResult r =
      kamstrup({"read", "--port", sim.port(), "--json", "meter_type_number", "time_zone", "clock"});
  ASSERT_EQ(r.status, 0) << describe(r);
  const Json j = parse_json(r.out);
  ASSERT_EQ(j.at("registers").size(), 3U) << r.out;
  const Json& ascii = j.at("registers")[0];
  EXPECT_TRUE(ascii.at("value").is_null()) << r.out;
  EXPECT_EQ(ascii.at("unit"), "ASCII");
  EXPECT_EQ(ascii.at("text"), "A,\"B");
  const Json& rtc = j.at("registers")[1];
  EXPECT_TRUE(rtc.at("value").is_null()) << r.out;
  EXPECT_EQ(rtc.at("text"), "01020304");
  // A clock register is a number with a readable text.
  const auto tx = sim.tx();
  ASSERT_EQ(tx.size(), 1U);
  const auto raw = tx[0].at("values").at("1002").get<std::string>();
  EXPECT_EQ(raw_value_tokens(r.out), (std::vector<std::string>{"null", "null", raw}));
  EXPECT_EQ(j.at("registers")[2].at("text"), clock_text(raw));
}

// CSV fields that contain a comma or a double quote must be quoted (RFC 4180), or the row has
// the wrong number of columns.
TEST(ReadE2E, CsvQuotesTextWithCommasAndQuotes) {
  TempDir dir;
  Sim sim(dir, 19, {"--profile-file", write_text_profile(dir), "--echo", "--noise"});
  ASSERT_TRUE(sim.started()) << sim.diag();
  const RunResult r =
      kamstrup({"read", "--port", sim.port(), "--csv", "meter_type_number", "heat_energy"});
  ASSERT_EQ(r.status, 0) << describe(r);
  const auto rows = parse_csv(r.out);
  ASSERT_EQ(rows.size(), 3U) << r.out;
  EXPECT_EQ(rows[1], (std::vector<std::string>{"meter_type_number", "1126", "", "ASCII", "A,\"B"}))
      << r.out;
  EXPECT_EQ(rows[2].size(), 5U) << r.out;
}

}  // namespace
}  // namespace kamstrup::e2e
