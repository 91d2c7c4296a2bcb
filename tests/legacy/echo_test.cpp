// Protocol detection (what `kamstrup read`, `doctor` and the daemon use) against a sleeping meter
// on a real pty, the simulator in this process: behind an optical head that reflects our
// requests whole or only partly (ASCII requests without CR LF, requests without their first
// byte, truncated requests) every protocol must come out EchoOnly, the asleep/misaligned
// diagnosis, never Garbage. And a protocol that got nothing back from the meter is not asked
// again before the next is tried (only the first KMP line once more at the end, as a KMP meter
// may ignore one request): exact request counts from the simulator's log.
#include <gtest/gtest.h>

#include <asio/co_spawn.hpp>
#include <asio/io_context.hpp>

#include "../sim/sim_test_util.hpp"
#include "meter/detect.hpp"
#include "transport/port.hpp"

using namespace kamstrup;
using kamstrup::sim::test::log_lines;
using kamstrup::sim::test::RunningSim;
using kamstrup::sim::test::temp_path;
using std::chrono::milliseconds;

namespace {

template <typename T>
T run(asio::io_context& io, asio::awaitable<T> task) {
  std::optional<T> result;
  std::exception_ptr error;
  io.restart();
  asio::co_spawn(io, std::move(task), [&](std::exception_ptr e, T v) {
    error = e;
    if (!e) result = std::move(v);
  });
  io.run();
  if (error) std::rethrow_exception(error);
  return std::move(*result);
}

sim::SimOptions asleep(const std::string& profile, const std::string& log, bool echo,
                       sim::EchoMode mode = sim::EchoMode::Full) {
  sim::SimOptions o;
  o.profile = *sim::builtin_profile(profile);
  o.seed = 5;
  o.asleep = true;
  o.echo = echo;
  o.echo_mode = mode;
  o.log_path = temp_path(log);
  return o;
}

// Short timeouts, but the default retry counts: whether they are spent is what is tested.
meter::DetectOptions quick() {
  meter::DetectOptions d;
  d.kmp.reply_timeout = milliseconds(300);
  d.kmp.inter_byte_timeout = milliseconds(200);
  d.kmp.recovery = milliseconds(100);
  d.kmp.retries = 2;
  d.legacy.reply_timeout = milliseconds(400);
  d.legacy.inter_byte_timeout = milliseconds(200);
  d.legacy.retry_interval = milliseconds(600);
  d.legacy.retries = 2;
  return d;
}

meter::Detection detect(RunningSim& sim, const meter::DetectOptions& d) {
  asio::io_context io;
  auto port = transport::make_port(io.get_executor(), sim.sim().port(0), {});
  run(io, [&]() -> asio::awaitable<int> {
    co_await port->open();
    co_return 0;
  }());
  return run(io, meter::detect_protocol(*port, d));
}

std::string steps_text(const meter::Detection& det) {
  std::string s;
  for (const auto& step : det.steps) {
    s += step.label + ": " + std::string(meter::failure_name(step.failure)) + ", " +
         std::to_string(step.stats.bytes_received) + " byte(s), " +
         std::to_string(step.stats.echoes) + " echo(es)\n";
  }
  return s;
}

struct EchoCase {
  const char* name;
  sim::EchoMode mode;
};

class DetectEcho : public testing::TestWithParam<EchoCase> {};

TEST_P(DetectEcho, EveryProtocolSeesOnlyItsOwnEchoAndTheDiagnosisIsEchoOnly) {
  const std::string log = std::string("detect-echo-") + GetParam().name + ".log";
  RunningSim sim(asleep("multical403", log, true, GetParam().mode));
  const meter::Detection det = detect(sim, quick());
  EXPECT_FALSE(det.protocol);
  ASSERT_EQ(det.steps.size(), 5U) << steps_text(det);
  for (const auto& step : det.steps) {
    SCOPED_TRACE(step.label);
    EXPECT_EQ(step.failure, meter::Failure::EchoOnly) << steps_text(det);
    EXPECT_GE(step.stats.echoes, 1U) << steps_text(det);
    EXPECT_GT(step.stats.bytes_received, 0U);
  }
  EXPECT_EQ(det.worst_failure(), meter::Failure::EchoOnly) << steps_text(det);
}

INSTANTIATE_TEST_SUITE_P(Heads, DetectEcho,
                         testing::Values(EchoCase{"full", sim::EchoMode::Full},
                                         EchoCase{"no_crlf", sim::EchoMode::NoCrLf},
                                         EchoCase{"no_first", sim::EchoMode::NoFirst},
                                         EchoCase{"truncated", sim::EchoMode::Truncated}),
                         [](const auto& p) { return std::string(p.param.name); });

// Nothing back (no echo): each KMP line is asked once, not 1 + 2 retries, and the first line once
// more after every other protocol.
TEST(DetectSilence, ASilentKmpProbeIsNotRetriedBeforeTheNextProtocol) {
  RunningSim sim(asleep("multical403", "detect-silent-kmp.log", false));
  const meter::Detection det = detect(sim, quick());
  EXPECT_FALSE(det.protocol);
  ASSERT_EQ(det.steps.size(), 5U) << steps_text(det);
  for (const auto& step : det.steps) {
    EXPECT_EQ(step.failure, meter::Failure::Silent) << step.label;
    EXPECT_EQ(step.stats.frames_sent, 1U) << step.label;
    EXPECT_EQ(step.stats.retries, 0U) << step.label;
  }
  EXPECT_EQ(det.steps[4].label, "KMP at 1200 8N2 (asked again)");
  EXPECT_EQ(det.worst_failure(), meter::Failure::Silent);
  const auto rx = log_lines(temp_path("detect-silent-kmp.log"), "rx");
  ASSERT_EQ(rx.size(), 3U) << steps_text(det);
  EXPECT_EQ(rx[0].at("line"), "1200 8N2");
  EXPECT_EQ(rx[1].at("line"), "9600 8N1");
  EXPECT_EQ(rx[2].at("line"), "1200 8N2");
}

// With no retries allowed, the first KMP line is not asked again either.
TEST(DetectSilence, NoRetriesMeansEachProtocolExactlyOnce) {
  RunningSim sim(asleep("multical403", "detect-silent-noretry.log", false));
  meter::DetectOptions d = quick();
  d.kmp.retries = 0;
  d.legacy.retries = 0;
  const meter::Detection det = detect(sim, d);
  EXPECT_EQ(det.steps.size(), 4U) << steps_text(det);
  EXPECT_EQ(log_lines(temp_path("detect-silent-noretry.log"), "rx").size(), 2U);
}

// A KMP meter that ignored the first request is found by the last probe, with its readings.
TEST(DetectSilence, AKmpMeterThatIgnoredOneRequestIsFoundWhenAskedAgain) {
  sim::SimOptions o = asleep("multical403", "detect-drop-once.log", false);
  o.asleep = false;
  o.drop = 0.5;
  // Seed 1 drops the first request and answers the second; the 9600 probe is refused by the
  // line check before any draw.
  o.seed = 1;
  RunningSim sim(std::move(o));
  meter::DetectOptions d = quick();
  d.kmp_registers = {60, 68};
  const meter::Detection det = detect(sim, d);
  ASSERT_EQ(det.protocol, meter::Protocol::Kmp) << steps_text(det);
  EXPECT_EQ(det.line.to_string(), "1200 8N2");
  ASSERT_FALSE(det.steps.empty());
  const auto& last = det.steps.back();
  EXPECT_EQ(last.label, "KMP at 1200 8N2 (asked again)");
  ASSERT_TRUE(last.result) << steps_text(det);
  ASSERT_EQ(last.result->readings.size(), 2U);
  EXPECT_TRUE(last.result->readings[0].value);
  const auto tx = log_lines(temp_path("detect-drop-once.log"), "tx");
  ASSERT_EQ(tx.size(), 3U) << steps_text(det);
  EXPECT_EQ(tx[0].at("fault"), "drop");
  EXPECT_EQ(tx[1].at("fault"), "line");
  EXPECT_EQ(tx[2].at("sent"), true);
}

// The same for the ASCII protocols, with and without an echoing head (our own echo is not an
// answer from the meter): `/?!` once, `/#2` once.
void expect_ascii_asked_once(bool echo) {
  const std::string log = echo ? "detect-silent-legacy-echo.log" : "detect-silent-legacy.log";
  RunningSim sim(asleep("multical66c", log, echo));
  const meter::Detection det = detect(sim, quick());
  EXPECT_FALSE(det.protocol);
  EXPECT_EQ(det.worst_failure(), echo ? meter::Failure::EchoOnly : meter::Failure::Silent)
      << steps_text(det);
  std::vector<std::string> heard;
  for (const auto& l : log_lines(temp_path(log), "rx")) heard.push_back(l.at("request"));
  EXPECT_EQ(heard, (std::vector<std::string>{"/?!", "/#2"})) << steps_text(det);
}

TEST(DetectSilence, SilentAsciiProbesAreAskedOnce) {
  expect_ascii_asked_once(false);
}
TEST(DetectSilence, EchoOnlyAsciiProbesAreAskedOnce) {
  expect_ascii_asked_once(true);
}

}  // namespace
