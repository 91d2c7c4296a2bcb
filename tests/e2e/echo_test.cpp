// A sleeping meter in the default path (`kamstrup read` and `doctor` without --protocol), end to
// end on a real pty: behind an optical head that reflects our requests only partly the
// diagnosis is still "asleep or misaligned" (EchoOnly), not "wrong line settings" (Garbage);
// silence names the sleeping meter too; and the whole auto-detection chain on a dead or asleep
// meter with default options stays well under the 30 s it took when every silent protocol was
// retried in full (goal 12 s, docs/performance.md; the bound here is loose on purpose).
#include <chrono>

#include "e2e.hpp"

namespace kamstrup::e2e {
namespace {

bool has(const std::string& text, const std::string& what) {
  return text.find(what) != std::string::npos;
}

const std::vector<std::string> kQuick = {"--timeout", "0.4", "--retries", "0"};

class PartialEcho : public testing::TestWithParam<const char*> {};

TEST_P(PartialEcho, ReadDiagnosesTheSleepingMeter) {
  TempDir dir;
  Sim sim(dir, 60, {"--asleep", "--partial-echo", GetParam()});
  ASSERT_TRUE(sim.started()) << sim.diag();
  std::vector<std::string> args = {"read", "--port", sim.port(), "--json"};
  args.insert(args.end(), kQuick.begin(), kQuick.end());
  const RunResult r = kamstrup(args);
  EXPECT_EQ(r.status, 3) << describe(r);
  const Json j = parse_json(r.out);
  EXPECT_EQ(j.value("failure", ""), "EchoOnly") << r.out << r.err;
  EXPECT_TRUE(has(r.err, kEchoOnlyPhrase)) << r.err;
  EXPECT_FALSE(has(r.err, kGarbagePhrase)) << r.err;
}

TEST_P(PartialEcho, DoctorSeesTheEchoAndDiagnosesTheSleepingMeter) {
  TempDir dir;
  Sim sim(dir, 61, {"--asleep", "--partial-echo", GetParam()});
  ASSERT_TRUE(sim.started()) << sim.diag();
  std::vector<std::string> args = {"doctor", "--port", sim.port()};
  args.insert(args.end(), kQuick.begin(), kQuick.end());
  const RunResult r = kamstrup(args);
  EXPECT_EQ(r.status, 3) << describe(r);
  EXPECT_TRUE(has(r.out, "✓ our own bytes echo back")) << r.out;
  EXPECT_TRUE(has(r.out, "No protocol answered (EchoOnly)")) << r.out;
  EXPECT_FALSE(has(r.out, "Garbage")) << r.out;
  EXPECT_TRUE(has(r.out, "press a button on the meter")) << r.out;
}

INSTANTIATE_TEST_SUITE_P(Heads, PartialEcho, testing::Values("no-crlf", "no-first", "truncated"),
                         [](const auto& p) {
                           std::string n = p.param;
                           for (char& c : n) {
                             if (c == '-') c = '_';
                           }
                           return n;
                         });

// Default options (2 s timeout, 2 retries): a whole `kamstrup read` process and its wall time.
struct Timed {
  RunResult result;
  double seconds = 0;
};
Timed timed_read(const std::string& port) {
  const auto t0 = std::chrono::steady_clock::now();
  Timed t{kamstrup({"read", "--port", port, "--json"}), 0};
  t.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return t;
}

// Loose: the chain measures about 11.8 s (docs/performance.md, goal 12 s); before, 30.8 s.
constexpr double kChainBound = 16.0;

TEST(AutoChainE2E, DeadMeterWithDefaultOptionsIsQuickAndNamesTheSleepingMeter) {
  TempDir dir;
  Sim sim(dir, 62, {"--asleep"});
  ASSERT_TRUE(sim.started()) << sim.diag();
  const Timed t = timed_read(sim.port());
  EXPECT_EQ(t.result.status, 3) << describe(t.result);
  const Json j = parse_json(t.result.out);
  EXPECT_EQ(j.value("failure", ""), "Silent") << t.result.out;
  EXPECT_TRUE(has(j.value("diagnosis", ""), kSilentPhrase)) << t.result.out;
  // Many heads do not echo: silence is what a sleeping meter gives behind them.
  EXPECT_TRUE(has(j.value("diagnosis", ""), "asleep")) << t.result.out;
  EXPECT_TRUE(has(t.result.err, "asleep")) << t.result.err;
  EXPECT_LT(t.seconds, kChainBound) << describe(t.result);
  // One KMP request per line (1200 8N2, 9600 8N1), a silent protocol not retried before the next
  // is tried; only 1200 8N2 once more at the very end.
  const auto rx = sim.rx();
  ASSERT_EQ(rx.size(), 3U) << sim.diag();
  EXPECT_EQ(rx[0].at("line"), "1200 8N2");
  EXPECT_EQ(rx[1].at("line"), "9600 8N1");
  EXPECT_EQ(rx[2].at("line"), "1200 8N2");
  EXPECT_TRUE(has(t.result.err, "KMP at 1200 8N2 (asked again) tried")) << t.result.err;
}

// The case of the issue: a head that echoes the ASCII requests without their CR LF.
TEST(AutoChainE2E, AsleepMeterBehindAPartlyEchoingHeadWithDefaultOptions) {
  TempDir dir;
  Sim sim(dir, 63, {"--asleep", "--partial-echo", "no-crlf"});
  ASSERT_TRUE(sim.started()) << sim.diag();
  const Timed t = timed_read(sim.port());
  EXPECT_EQ(t.result.status, 3) << describe(t.result);
  EXPECT_EQ(parse_json(t.result.out).value("failure", ""), "EchoOnly") << t.result.out;
  EXPECT_TRUE(has(t.result.err, kEchoOnlyPhrase)) << t.result.err;
  EXPECT_LT(t.seconds, kChainBound) << describe(t.result);
  EXPECT_EQ(sim.rx().size(), 3U) << sim.diag();
}

// A live KMP meter that ignores the first request (--drop 0.5, seed 1: the first request dropped,
// the next answered; the 9600 probe gets silence from the line check): the default read finds it
// when 1200 8N2 is asked again at the end of the chain, and prints what it sent.
TEST(AutoChainE2E, AKmpMeterThatIgnoredTheFirstRequestIsStillRead) {
  TempDir dir;
  Sim sim(dir, 1, {"--drop", "0.5", "--echo"});
  ASSERT_TRUE(sim.started()) << sim.diag();
  const RunResult r = kamstrup({"read", "--port", sim.port(), "--json"});
  ASSERT_EQ(r.status, 0) << describe(r) << sim.diag();
  const auto tx = sim.tx();
  ASSERT_EQ(tx.size(), 3U) << sim.diag();
  EXPECT_EQ(tx[0].at("fault"), "drop");
  EXPECT_EQ(tx[1].at("fault"), "line");
  EXPECT_EQ(tx[2].at("sent"), true);
  expect_registers_match(r.out, default_registers(), tx[2].at("values"));
  EXPECT_EQ(parse_json(r.out).value("protocol", ""), "kmp");
}

// A sleeping pre-KMP meter: `/?!` and `/#2` are each asked once.
TEST(AutoChainE2E, AsleepLegacyMeterIsAskedEachAsciiRequestOnce) {
  TempDir dir;
  Sim sim(dir, 64, {"--profile", "multical66c", "--asleep", "--echo"});
  ASSERT_TRUE(sim.started()) << sim.diag();
  const Timed t = timed_read(sim.port());
  EXPECT_EQ(t.result.status, 3) << describe(t.result);
  EXPECT_EQ(parse_json(t.result.out).value("failure", ""), "EchoOnly") << t.result.out;
  EXPECT_LT(t.seconds, kChainBound) << describe(t.result);
  std::vector<std::string> heard;
  for (const auto& l : sim.rx()) heard.push_back(l.value("request", "?"));
  EXPECT_EQ(heard, (std::vector<std::string>{"/?!", "/#2"})) << sim.diag();
}

}  // namespace
}  // namespace kamstrup::e2e
