// `kamstrup doctor` and protocol auto-detection, end to end: the real binary against simulated
// meters of every protocol on real ptys, against a sleeping meter (silent, and behind an echoing
// head), against a fake meter that answers garbage, and against a port another process holds.
#include <fcntl.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <random>

#include "e2e.hpp"

namespace kamstrup::e2e {
namespace {

bool has(const std::string& text, const std::string& what) {
  return text.find(what) != std::string::npos;
}

// Fast failure settings: every probe gets one short attempt.
const std::vector<std::string> kQuick = {"--timeout", "0.4", "--retries", "0"};

std::vector<std::string> doctor_args(const std::string& port, std::vector<std::string> extra = {}) {
  std::vector<std::string> a = {"doctor", "--port", port};
  a.insert(a.end(), kQuick.begin(), kQuick.end());
  a.insert(a.end(), extra.begin(), extra.end());
  return a;
}

TEST(DoctorE2E, SilentPortTriesEveryProtocolAndExits3) {
  TempDir dir;
  Sim sim(dir, 41, {"--asleep"});
  ASSERT_TRUE(sim.started()) << sim.diag();
  const RunResult r = kamstrup(doctor_args(sim.port()));
  EXPECT_EQ(r.status, 3) << describe(r);
  EXPECT_TRUE(has(r.out, "✓ port opens")) << r.out;
  EXPECT_TRUE(has(r.out, "✓ line settings 1200 8N2 accepted")) << r.out;
  EXPECT_TRUE(has(r.out, "✓ line settings 300 7E2 accepted")) << r.out;
  for (const char* step : {"✗ KMP at 1200 8N2 answers", "✗ KMP at 9600 8N1 answers",
                           "✗ IEC readout /?!", "✗ MULTICAL /#1"}) {
    EXPECT_TRUE(has(r.out, step)) << step << "\n" << r.out;
  }
  EXPECT_TRUE(has(r.out, "No protocol answered (Silent)")) << r.out;
  EXPECT_TRUE(has(r.out, kSilentPhrase)) << r.out;
  EXPECT_FALSE(has(r.out, "error rate")) << r.out;
  // The simulator heard exactly the two KMP probes (the ASCII requests are not KMP frames).
  EXPECT_EQ(sim.rx().size(), 2U) << sim.diag();
}

TEST(DoctorE2E, EchoOnlyHeadIsReportedAndTheFixSaysWakeTheMeter) {
  TempDir dir;
  Sim sim(dir, 42, {"--asleep", "--echo"});
  ASSERT_TRUE(sim.started()) << sim.diag();
  const RunResult r = kamstrup(doctor_args(sim.port()));
  EXPECT_EQ(r.status, 3) << describe(r);
  EXPECT_TRUE(has(r.out, "✓ our own bytes echo back")) << r.out;
  EXPECT_TRUE(has(r.out, "No protocol answered (EchoOnly)")) << r.out;
  EXPECT_TRUE(has(r.out, "press a button on the meter")) << r.out;
}

TEST(DoctorE2E, GarblingPortPointsAtLineSettingsOrASecondReader) {
  TempDir dir;
  std::mt19937 rng(7);
  PtyPeer peer(dir / "garble", [&](std::span<const std::uint8_t>) {
    std::vector<std::uint8_t> junk(20);
    for (auto& b : junk) b = static_cast<std::uint8_t>(rng() % 0x3F + 0x41);  // never 0x40/0x0D
    return junk;
  });
  const RunResult r = kamstrup(doctor_args(peer.port()));
  EXPECT_EQ(r.status, 3) << describe(r);
  EXPECT_TRUE(has(r.out, "✗ KMP at 1200 8N2 answers: Garbage")) << r.out;
  EXPECT_TRUE(has(r.out, "No protocol answered (Garbage)")) << r.out;
  EXPECT_TRUE(has(r.out, kGarbagePhrase)) << r.out;
  EXPECT_EQ(peer.requests(), 2U);
}

TEST(DoctorE2E, AnotherProgramHoldingThePortIsNamed) {
  TempDir dir;
  Sim sim(dir, 43, {"--asleep"});
  ASSERT_TRUE(sim.started()) << sim.diag();
  const int fd = ::open(sim.port().c_str(), O_RDWR | O_NOCTTY | O_CLOEXEC);
  ASSERT_GE(fd, 0);
  const RunResult r = kamstrup(doctor_args(sim.port()));
  ::close(fd);
  EXPECT_EQ(r.status, 3) << describe(r);
  EXPECT_TRUE(has(r.out, "✗ another program has the port open")) << r.out;
  EXPECT_TRUE(has(r.out, "(pid " + std::to_string(::getpid()) + ")")) << r.out;
  EXPECT_TRUE(has(r.out, "free the port from another reader")) << r.out;
}

TEST(DoctorE2E, MissingPortExits2WithTheFix) {
  TempDir dir;
  const RunResult r = kamstrup(doctor_args(dir / "no-such-tty"));
  EXPECT_EQ(r.status, 2) << describe(r);
  EXPECT_TRUE(has(r.out, "✗ port opens")) << r.out;
  EXPECT_TRUE(has(r.out, "/dev/serial/by-id/")) << r.out;
}

TEST(DoctorE2E, KmpHeatMeterAnswersAtOnceAndTheErrorRateIsCounted) {
  TempDir dir;
  Sim sim(dir, 44, {"--profile", "multical403"});
  ASSERT_TRUE(sim.started()) << sim.diag();
  const RunResult r = kamstrup({"doctor", "--port", sim.port(), "--requests", "3"});
  EXPECT_EQ(r.status, 0) << describe(r);
  EXPECT_TRUE(has(r.out, "✓ KMP at 1200 8N2 answers")) << r.out;
  EXPECT_FALSE(has(r.out, "9600")) << "stops at the first protocol that answers\n" << r.out;
  EXPECT_TRUE(has(r.out, "✓ error rate: 3/3 valid replies, 0 checksum error(s)")) << r.out;
  EXPECT_TRUE(has(r.out, "The meter speaks KMP at 1200 8N2")) << r.out;
  // One probe (GetSerialNo) plus the three error-rate reads.
  EXPECT_EQ(sim.rx().size(), 4U) << sim.diag();
}

TEST(DoctorE2E, CorruptingHeadShowsChecksumErrorsInTheRate) {
  TempDir dir;
  Sim sim(dir, 45, {"--profile", "multical403", "--corrupt", "0.5"});
  ASSERT_TRUE(sim.started()) << sim.diag();
  const RunResult r =
      kamstrup({"doctor", "--port", sim.port(), "--requests", "8", "--retries", "3"});
  // With seed 45 the probe gets through within its retries; the rate check sees the damage.
  EXPECT_EQ(r.status, 0) << describe(r);
  EXPECT_TRUE(has(r.out, "✗ error rate")) << r.out;
  EXPECT_FALSE(has(r.out, " 0 checksum error(s)")) << r.out;
  EXPECT_TRUE(has(r.out, kCrcPhrase)) << r.out;
}

TEST(DoctorE2E, ElectricityMeterIsFoundAt9600) {
  TempDir dir;
  Sim sim(dir, 46, {"--profile", "kamstrup382"});
  ASSERT_TRUE(sim.started()) << sim.diag();
  const RunResult r = kamstrup(
      {"doctor", "--port", sim.port(), "--requests", "2", "--timeout", "0.5", "--retries", "0"});
  EXPECT_EQ(r.status, 0) << describe(r);
  EXPECT_TRUE(has(r.out, "✗ KMP at 1200 8N2 answers: Silent")) << r.out;
  EXPECT_TRUE(has(r.out, "✓ KMP at 9600 8N1 answers")) << r.out;
  EXPECT_TRUE(has(r.out, "--baud 9600 --stopbits 1")) << r.out;
}

TEST(DoctorE2E, Multical66cIsFoundByHashOne) {
  TempDir dir;
  Sim sim(dir, 47, {"--profile", "multical66c"});
  ASSERT_TRUE(sim.started()) << sim.diag();
  const RunResult r = kamstrup(
      {"doctor", "--port", sim.port(), "--requests", "1", "--timeout", "0.4", "--retries", "0"});
  EXPECT_EQ(r.status, 0) << describe(r);
  EXPECT_TRUE(has(r.out, "✗ KMP at 1200 8N2 answers: Silent")) << r.out;
  EXPECT_TRUE(has(r.out, "✓ MULTICAL /#1")) << r.out;
  EXPECT_TRUE(has(r.out, "The meter speaks MULTICAL /#n")) << r.out;
  EXPECT_TRUE(has(r.out, "--protocol legacy")) << r.out;
}

// Protocol auto-detection through `kamstrup info` (the default --protocol auto).
TEST(DetectE2E, InfoReportsTheProtocolOfEachProfile) {
  struct Case {
    const char* profile;
    const char* protocol;
  };
  for (const Case c : {Case{"multical403", "kmp"}, Case{"kamstrup382", "kmp"},
                       Case{"multical66c", "legacy"}, Case{"multical401", "legacy"}}) {
    SCOPED_TRACE(c.profile);
    TempDir dir;
    Sim sim(dir, 48, {"--profile", c.profile});
    ASSERT_TRUE(sim.started()) << sim.diag();
    const RunResult r =
        kamstrup({"info", "--port", sim.port(), "--json", "--timeout", "0.5", "--retries", "0"});
    EXPECT_EQ(r.status, 0) << describe(r);
    const Json j = parse_json(r.out);
    EXPECT_EQ(j.value("protocol", ""), c.protocol) << r.out;
  }
}

// `kamstrup read` without --protocol reads a MULTICAL 66-C through detection, with the values
// scaled by the meter's own program number.
TEST(DetectE2E, ReadWithoutProtocolFindsTheLegacyMeter) {
  TempDir dir;
  Sim sim(dir, 49, {"--profile", "multical66c"});
  ASSERT_TRUE(sim.started()) << sim.diag();
  const RunResult r =
      kamstrup({"read", "--port", sim.port(), "--json", "--timeout", "0.5", "--retries", "0"});
  EXPECT_EQ(r.status, 0) << describe(r);
  const Json j = parse_json(r.out);
  EXPECT_EQ(j.value("protocol", ""), "legacy") << r.out;
  bool energy = false;
  for (const auto& reg : j.value("registers", Json::array())) {
    if (reg.value("name", "") == "heat_energy") {
      energy = true;
      EXPECT_EQ(reg.value("unit", ""), "MWh") << r.out;
    }
  }
  EXPECT_TRUE(energy) << r.out;
}

// A sleeping meter behind an echoing head, read without --protocol: every protocol is tried,
// then the read ends with exit 3 and the echo diagnosis (not a vaguer one from a later probe).
TEST(DetectE2E, ReadOfASleepingMeterTriesEveryProtocolThenDiagnosesTheEcho) {
  TempDir dir;
  Sim sim(dir, 50, {"--asleep", "--echo"});
  ASSERT_TRUE(sim.started()) << sim.diag();
  const RunResult r =
      kamstrup({"read", "--port", sim.port(), "--json", "--timeout", "0.4", "--retries", "0"});
  EXPECT_EQ(r.status, 3) << describe(r);
  EXPECT_TRUE(has(r.err, "trying the other protocols")) << r.err;
  EXPECT_EQ(parse_json(r.out).value("failure", ""), "EchoOnly") << r.out;
  EXPECT_TRUE(has(r.err, kEchoOnlyPhrase)) << r.err;
  // KMP at 1200 8N2 (the read) and at 9600 8N1 (the probe); the ASCII requests are no frames.
  const auto rx = sim.rx();
  ASSERT_EQ(rx.size(), 2U) << sim.diag();
  EXPECT_EQ(rx[0].at("line"), "1200 8N2");
  EXPECT_EQ(rx[1].at("line"), "9600 8N1");
}

// What auto-detection found is remembered per port ($XDG_CACHE_HOME/kamstrup/protocols.json),
// so the next read of a pre-KMP meter asks its protocol first instead of waiting through the
// silent KMP probes and the IEC readout again.
struct Memory {
  explicit Memory(const TempDir& dir) : home(dir / "cache") {}
  std::string home;
  [[nodiscard]] std::vector<std::string> env() const { return {"XDG_CACHE_HOME=" + home}; }
  [[nodiscard]] std::string file() const { return home + "/kamstrup/protocols.json"; }
  [[nodiscard]] Json entries() const {
    const std::string text = test::Background::slurp(file());
    return text.empty() ? Json::object() : parse_json(text);
  }
  void write(const Json& j) const {
    std::filesystem::create_directories(home + "/kamstrup");
    std::ofstream(file()) << j.dump();
  }
};

// The requests a legacy simulator heard ("/#1", "/?!", ...), from entry `from` of its log on.
std::vector<std::string> legacy_requests(const Sim& sim, std::size_t from = 0) {
  std::vector<std::string> out;
  const auto rx = sim.rx();
  for (std::size_t i = from; i < rx.size(); ++i) out.push_back(rx[i].value("request", "?"));
  return out;
}

const std::vector<std::string> kRead = {"--json", "--timeout", "0.5", "--retries", "0"};

std::vector<std::string> read_args(const std::string& port, std::vector<std::string> extra = {}) {
  std::vector<std::string> a = {"read", "--port", port};
  a.insert(a.end(), kRead.begin(), kRead.end());
  a.insert(a.end(), extra.begin(), extra.end());
  return a;
}

TEST(DetectMemoryE2E, TheSecondReadOfALegacyMeterAsksOnlyItsOwnProtocol) {
  TempDir dir;
  const Memory mem(dir);
  Sim sim(dir, 51, {"--profile", "multical66c"});
  ASSERT_TRUE(sim.started()) << sim.diag();

  const RunResult first = kamstrup(read_args(sim.port()), "", mem.env());
  ASSERT_EQ(first.status, 0) << describe(first);
  EXPECT_EQ(parse_json(first.out).value("protocol", ""), "legacy") << first.out;
  EXPECT_TRUE(has(first.err, "trying the other protocols")) << first.err;
  const auto heard_first = legacy_requests(sim);
  EXPECT_NE(std::find(heard_first.begin(), heard_first.end(), "/?!"), heard_first.end())
      << sim.diag();
  const Json entries = mem.entries();
  ASSERT_TRUE(entries.contains(sim.port())) << entries.dump();
  EXPECT_EQ(entries[sim.port()].value("protocol", ""), "legacy") << entries.dump();

  const RunResult second = kamstrup(read_args(sim.port()), "", mem.env());
  ASSERT_EQ(second.status, 0) << describe(second);
  const Json j = parse_json(second.out);
  EXPECT_EQ(j.value("protocol", ""), "legacy") << second.out;
  EXPECT_EQ(j.value("registers", Json::array()).size(),
            parse_json(first.out).value("registers", Json::array()).size());
  EXPECT_EQ(second.err, "");
  // Only `/#n` requests this time (the program number, then the values): no KMP frame, no IEC.
  const auto heard_second = legacy_requests(sim, heard_first.size());
  ASSERT_FALSE(heard_second.empty()) << sim.diag();
  for (const auto& request : heard_second) {
    EXPECT_EQ(request.rfind("/#", 0), 0U) << request << "\n" << sim.diag();
  }
}

TEST(DetectMemoryE2E, AMemoryThatNoLongerAnswersFallsBackAndIsReplaced) {
  TempDir dir;
  const Memory mem(dir);
  Sim sim(dir, 52, {});  // a KMP MULTICAL 403 where a MULTICAL 66-C was remembered
  ASSERT_TRUE(sim.started()) << sim.diag();
  mem.write({{sim.port(), {{"protocol", "legacy"}, {"found", "2026-01-01T00:00:00Z"}}},
             {"/dev/ttyUSB7", {{"protocol", "iec"}}}});

  const RunResult r = kamstrup(read_args(sim.port()), "", mem.env());
  ASSERT_EQ(r.status, 0) << describe(r);
  EXPECT_EQ(parse_json(r.out).value("protocol", ""), "kmp") << r.out;
  EXPECT_TRUE(has(r.err, "MULTICAL /#n answered on " + sim.port() + " before but not now"))
      << r.err;
  // The `/#1` went unanswered, then the KMP probe (one frame, the read itself) got the values.
  EXPECT_EQ(sim.rx().size(), 1U) << sim.diag();
  // KMP at 1200 8N2 is what is tried first anyway: the port's entry goes, the other stays.
  const Json entries = mem.entries();
  EXPECT_FALSE(entries.contains(sim.port())) << entries.dump();
  EXPECT_TRUE(entries.contains("/dev/ttyUSB7")) << entries.dump();

  // --redetect ignores a memory altogether: the read is the KMP probe, nothing is said.
  mem.write({{sim.port(), {{"protocol", "legacy"}}}});
  const std::size_t before = sim.rx().size();
  const RunResult again = kamstrup(read_args(sim.port(), {"--redetect"}), "", mem.env());
  ASSERT_EQ(again.status, 0) << describe(again);
  EXPECT_EQ(again.err, "");
  EXPECT_EQ(sim.rx().size(), before + 1) << sim.diag();
  // ... and the out-of-date entry goes, so the next plain read does not pay for it again.
  EXPECT_FALSE(mem.entries().contains(sim.port())) << mem.entries().dump();

  // A hand-edited entry the port cannot use (no such baud rate) is no memory at all.
  mem.write({{sim.port(), {{"protocol", "kmp"}, {"baud", 1234}, {"format", "8N1"}}}});
  const std::size_t before_edit = sim.rx().size();
  const RunResult edited = kamstrup(read_args(sim.port()), "", mem.env());
  ASSERT_EQ(edited.status, 0) << describe(edited);
  EXPECT_EQ(edited.err, "");
  EXPECT_EQ(sim.rx().size(), before_edit + 1) << sim.diag();
}

TEST(DetectMemoryE2E, AnElectricityMeterIsRememberedWithItsLine) {
  TempDir dir;
  const Memory mem(dir);
  Sim sim(dir, 53, {"--profile", "kamstrup382"});
  ASSERT_TRUE(sim.started()) << sim.diag();
  const RunResult first = kamstrup(read_args(sim.port(), {"hour_counter"}), "", mem.env());
  ASSERT_EQ(first.status, 0) << describe(first);
  const Json entries = mem.entries();
  ASSERT_TRUE(entries.contains(sim.port())) << entries.dump();
  EXPECT_EQ(entries[sim.port()].value("protocol", ""), "kmp");
  EXPECT_EQ(entries[sim.port()].value("baud", 0), 9600) << entries.dump();
  EXPECT_EQ(entries[sim.port()].value("format", ""), "8N1") << entries.dump();

  const std::size_t before = sim.rx().size();
  const RunResult second = kamstrup(read_args(sim.port(), {"hour_counter"}), "", mem.env());
  ASSERT_EQ(second.status, 0) << describe(second);
  EXPECT_EQ(second.err, "");
  // One frame, straight at 9600 8N1.
  const auto rx = sim.rx();
  ASSERT_EQ(rx.size(), before + 1) << sim.diag();
  EXPECT_EQ(rx.back().at("line"), "9600 8N1");
}

TEST(DetectMemoryE2E, DoctorRemembersWhatItFoundForTheNextRead) {
  TempDir dir;
  const Memory mem(dir);
  Sim sim(dir, 54, {"--profile", "multical401"});
  ASSERT_TRUE(sim.started()) << sim.diag();
  const RunResult doc = kamstrup(doctor_args(sim.port(), {"--requests", "1"}), "", mem.env());
  ASSERT_EQ(doc.status, 0) << describe(doc);
  EXPECT_TRUE(has(doc.out, "Remembered for this port")) << doc.out;
  const std::size_t before = legacy_requests(sim).size();
  const RunResult info =
      kamstrup({"info", "--port", sim.port(), "--json", "--timeout", "0.5", "--retries", "0"}, "",
               mem.env());
  ASSERT_EQ(info.status, 0) << describe(info);
  EXPECT_EQ(parse_json(info.out).value("protocol", ""), "legacy") << info.out;
  for (const auto& request : legacy_requests(sim, before)) {
    EXPECT_EQ(request.rfind("/#", 0), 0U) << request << "\n" << sim.diag();
  }
}

}  // namespace
}  // namespace kamstrup::e2e
