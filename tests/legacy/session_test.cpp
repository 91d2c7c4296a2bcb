// LegacySession over a real pty against the simulator in this process (multical66c and
// multical401): exact request counts, the cached scale, raw requests, IEC with ACK, silence with
// retry spacing, and an unknown program number.
#include <gtest/gtest.h>

#include <asio/co_spawn.hpp>
#include <asio/io_context.hpp>

#include <stdexcept>

#include "../sim/sim_test_util.hpp"
#include "meter/legacy_session.hpp"
#include "transport/port.hpp"

using namespace kamstrup;
using kamstrup::sim::test::log_lines;
using kamstrup::sim::test::RunningSim;
using kamstrup::sim::test::temp_path;

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

void run(asio::io_context& io, asio::awaitable<void> task) {
  std::exception_ptr error;
  io.restart();
  asio::co_spawn(io, std::move(task), [&](std::exception_ptr e) { error = e; });
  io.run();
  if (error) std::rethrow_exception(error);
}

sim::SimOptions options(const std::string& profile, const std::string& log) {
  sim::SimOptions o;
  o.profile = *sim::builtin_profile(profile);
  o.seed = 11;
  o.log_path = temp_path(log);
  return o;
}

struct Reader {
  explicit Reader(const std::string& port) {
    p = transport::make_port(io.get_executor(), port,
                             transport::LineSettings{300, 7, transport::Parity::Even, 2});
    run(io, p->open());
  }
  asio::io_context io;
  std::unique_ptr<transport::Port> p;
};

const meter::Reading* find(const meter::ReadResult& r, const std::string& name) {
  for (const auto& rd : r.readings) {
    if (rd.name == name) return &rd;
  }
  return nullptr;
}

TEST(LegacySession, StandardReadsTheScaleOnceThenOnlySlashHash1) {
  RunningSim sim(options("multical66c", "legacy-standard.log"));
  Reader reader(sim.sim().port(0));
  meter::LegacySession session(*reader.p, meter::LegacyOptions{});
  const meter::ReadResult first = run(reader.io, session.read_standard());
  ASSERT_TRUE(first.answered());
  ASSERT_EQ(first.readings.size(), 10U);
  EXPECT_EQ(session.stats().frames_sent, 2U);
  EXPECT_EQ(session.stats().replies, 2U);
  EXPECT_EQ(session.stats().retries, 0U);
  EXPECT_EQ(session.stats().bytes_sent, 6U);
  ASSERT_TRUE(session.program());
  EXPECT_EQ(session.program()->text, "0044119");
  ASSERT_TRUE(session.scale());
  EXPECT_EQ(session.scale()->energy.unit, "MWh");
  EXPECT_EQ(find(first, "heat_energy")->value->number->to_string(), "507.109");
  EXPECT_EQ(find(first, "peak_power")->id, -1);
  // The line is back where it was.
  EXPECT_EQ(reader.p->line().baud, 300U);

  const meter::ReadResult second = run(reader.io, session.read_standard());
  ASSERT_TRUE(second.answered());
  EXPECT_EQ(session.stats().frames_sent, 3U);
  const auto rx = log_lines(temp_path("legacy-standard.log"), "rx");
  const auto tx = log_lines(temp_path("legacy-standard.log"), "tx");
  ASSERT_EQ(rx.size(), 3U);
  EXPECT_EQ(rx[0].at("request"), "/#2");
  EXPECT_EQ(rx[1].at("request"), "/#1");
  EXPECT_EQ(rx[2].at("request"), "/#1");
  ASSERT_EQ(tx.size(), 3U);
  for (const auto& rd : second.readings) {
    EXPECT_EQ(tx[2].at("values").at(rd.name), rd.value->number->to_string()) << rd.name;
  }
}

TEST(LegacySession, RawRequestsReturnTheirLines) {
  RunningSim sim(options("multical66c", "legacy-raw.log"));
  Reader reader(sim.sim().port(0));
  meter::LegacyOptions lo;
  lo.inter_byte_timeout = std::chrono::milliseconds(300);
  meter::LegacySession session(*reader.p, lo);
  const meter::LegacyReply c = run(reader.io, session.request("C"));
  ASSERT_TRUE(c.answered());
  ASSERT_EQ(c.lines.size(), 1U);
  EXPECT_TRUE(legacy::split_fields(c.lines[0], 8).ok()) << c.lines[0];
  const meter::LegacyReply daily = run(reader.io, session.request("/#6"));
  ASSERT_TRUE(daily.answered());
  EXPECT_EQ(daily.lines.size(), 3U);
  auto table = legacy::decode_log('6', daily.lines);
  ASSERT_TRUE(table.ok()) << legacy::to_string(table.error());
  EXPECT_EQ(table->rows.size(), 3U);
  EXPECT_THROW((void)run(reader.io, session.request("X")), std::invalid_argument);
  EXPECT_EQ(session.stats().frames_sent, 2U);
}

TEST(LegacySession, IecReadoutWithAck) {
  RunningSim sim(options("multical401", "legacy-iec.log"));
  Reader reader(sim.sim().port(0));
  meter::LegacySession session(*reader.p, meter::LegacyOptions{});
  const meter::ReadResult r = run(reader.io, session.read_iec());
  ASSERT_TRUE(r.answered());
  ASSERT_EQ(r.readings.size(), 4U);
  EXPECT_EQ(session.identification(), "/KAM0MCC");
  EXPECT_EQ(session.stats().frames_sent, 1U);
  EXPECT_EQ(session.stats().bytes_sent, 5U + 6U);  // "/?!\r\n" and the ACK
  EXPECT_EQ(find(r, "heat_energy")->value->unit, "GJ");
  const auto tx = log_lines(temp_path("legacy-iec.log"), "tx");
  ASSERT_EQ(tx.size(), 2U);
  EXPECT_EQ(tx[1].at("values").at("heat_energy"),
            find(r, "heat_energy")->value->number->to_string());
}

TEST(LegacySession, SilenceIsRetriedAfterTheRetryInterval) {
  RunningSim sim(options("multical66c", "legacy-silent.log"));
  Reader reader(sim.sim().port(0));
  meter::LegacyOptions lo;
  lo.reply_line.baud = 2400;  // the meter waits for 1200: silence
  lo.retries = 1;
  lo.retry_interval = std::chrono::milliseconds(1500);
  lo.reply_timeout = std::chrono::milliseconds(1200);
  meter::LegacySession session(*reader.p, lo);
  const meter::ReadResult r = run(reader.io, session.read_standard());
  EXPECT_EQ(r.failure, meter::Failure::Silent);
  ASSERT_EQ(r.readings.size(), 10U);
  for (const auto& rd : r.readings) {
    EXPECT_FALSE(rd.value) << rd.name;
    EXPECT_EQ(rd.outcome, meter::Outcome::Silent);
  }
  EXPECT_EQ(session.stats().frames_sent, 2U);
  EXPECT_EQ(session.stats().retries, 1U);
  EXPECT_EQ(session.stats().timeouts, 2U);
  EXPECT_EQ(session.stats().replies, 0U);
  const auto rx = log_lines(temp_path("legacy-silent.log"), "rx");
  ASSERT_EQ(rx.size(), 2U);
  // The simulator stamps a request when it reads it: allow 10 ms of scheduling jitter.
  EXPECT_GE(rx[1].at("mono").get<double>() - rx[0].at("mono").get<double>(), 1.49);
  for (const auto& tx : log_lines(temp_path("legacy-silent.log"), "tx")) {
    EXPECT_EQ(tx.at("fault"), "line");
  }
}

TEST(LegacySession, UnknownProgramNumberGivesNoValueButAnExplanation) {
  sim::SimOptions o = options("multical66c", "legacy-unknown.log");
  o.profile = sim::parse_profile_yaml(
      "base: multical66c\nprogram_number: \"0044999\"\n"
      "scale: \"energy=MWh:3,volume=m3:2,power=kW:1,flow=l/h:0\"\n",
      "t.yaml");
  RunningSim sim(std::move(o));
  Reader reader(sim.sim().port(0));
  meter::LegacySession session(*reader.p, meter::LegacyOptions{});
  const meter::ReadResult r = run(reader.io, session.read_standard());
  EXPECT_TRUE(r.answered());
  ASSERT_EQ(r.readings.size(), 10U);
  for (const auto& rd : r.readings) {
    EXPECT_FALSE(rd.value) << rd.name;
    EXPECT_EQ(rd.outcome, meter::Outcome::UnknownProgram);
    EXPECT_EQ(rd.error(), "UnknownProgram");
  }
  ASSERT_TRUE(r.unknown_program);
  EXPECT_EQ(r.unknown_program->ccc, 999U);
  const std::string text = meter::unknown_program_text(r);
  EXPECT_NE(text.find("CCC=999"), std::string::npos) << text;
  EXPECT_EQ(session.stats().frames_sent, 1U);
  EXPECT_FALSE(session.scale());
}

// `/#n` replies carry no checksum: the parity bit of each 7E character is all there is. With
// parity checking on, the reader's driver delivers a failed character as NUL, which the
// simulator's --corrupt reproduces (ptys carry no parity). Such a reply never becomes a value:
// every read either fails (exactly when its reply was corrupted) or equals what the meter sent.
// The MULTICAL 401 profile sends 8-digit fields: a NUL dropped by the receiver would leave a
// legal 7-digit field with a wrong value, so this also guards the receiver keeping NULs.
TEST(LegacySession, ParityErrorsNeverBecomeValues) {
  sim::SimOptions o = options("multical401", "legacy-parity.log");
  o.corrupt = 0.5;
  RunningSim sim(std::move(o));
  Reader reader(sim.sim().port(0));
  meter::LegacyOptions lo;
  lo.retries = 0;  // one /#1 per read (the scale is given), so reads and replies pair up
  lo.reply_timeout = std::chrono::milliseconds(1500);
  lo.inter_byte_timeout = std::chrono::milliseconds(300);
  lo.retry_interval = std::chrono::milliseconds(300);
  lo.scale = legacy::scale_for(legacy::parse_program_number("0042119").value()).value();
  meter::LegacySession session(*reader.p, lo);
  std::vector<meter::ReadResult> results;
  for (int i = 0; i < 10; ++i) results.push_back(run(reader.io, session.read_standard()));
  const auto tx = log_lines(temp_path("legacy-parity.log"), "tx");
  ASSERT_EQ(tx.size(), results.size());
  std::size_t corrupted = 0;
  for (std::size_t i = 0; i < results.size(); ++i) {
    SCOPED_TRACE(i);
    const bool bad = tx[i].at("fault") == "corrupt";
    if (bad) {
      ++corrupted;
      EXPECT_NE(tx[i].at("text").get<std::string>().find('\0'), std::string::npos);
      EXPECT_EQ(results[i].failure, meter::Failure::Garbage);
      for (const auto& rd : results[i].readings) EXPECT_FALSE(rd.value) << rd.name;
    } else {
      ASSERT_TRUE(results[i].answered());
      for (const auto& rd : results[i].readings) {
        EXPECT_EQ(tx[i].at("values").at(rd.name), rd.value->number->to_string()) << rd.name;
      }
    }
  }
  // Seed 11 corrupts some replies and not others (else this test would prove little).
  EXPECT_GT(corrupted, 0U);
  EXPECT_LT(corrupted, results.size());
  EXPECT_EQ(session.stats().bad_frames, corrupted);
  EXPECT_EQ(session.stats().frames_sent, results.size());
}

// The IEC readout has its BCC: a character lost to a parity error fails it.
TEST(LegacySession, ParityErrorsInTheIecReadoutFailItsBcc) {
  sim::SimOptions o = options("multical401", "legacy-iec-parity.log");
  o.corrupt = 1.0;
  RunningSim sim(std::move(o));
  Reader reader(sim.sim().port(0));
  meter::LegacyOptions lo;
  lo.retries = 0;
  meter::LegacySession session(*reader.p, lo);
  const meter::ReadResult r = run(reader.io, session.read_iec());
  EXPECT_EQ(r.failure, meter::Failure::CrcErrors);
  for (const auto& rd : r.readings) EXPECT_FALSE(rd.value) << rd.name;
  EXPECT_EQ(session.stats().crc_errors, 1U);
}

// A logger reply is many lines; one that fails is not dropped quietly from an otherwise good
// reply: the whole request is asked again, and with every reply damaged, nothing comes back.
TEST(LegacySession, ALoggerReplyWithADamagedLineIsAskedAgainWhole) {
  sim::SimOptions o = options("multical66c", "legacy-log-parity.log");
  o.corrupt = 1.0;
  RunningSim sim(std::move(o));
  Reader reader(sim.sim().port(0));
  meter::LegacyOptions lo;
  lo.retries = 1;
  lo.retry_interval = std::chrono::milliseconds(500);
  lo.inter_byte_timeout = std::chrono::milliseconds(300);
  meter::LegacySession session(*reader.p, lo);
  const meter::LegacyReply reply = run(reader.io, session.request("8"));
  EXPECT_FALSE(reply.answered());
  EXPECT_EQ(reply.failure, meter::Failure::Garbage);
  EXPECT_TRUE(reply.lines.empty());
  EXPECT_EQ(session.stats().frames_sent, 2U);
  EXPECT_EQ(session.stats().bad_frames, 2U);  // one damaged line per reply, counted once
  const auto tx = log_lines(temp_path("legacy-log-parity.log"), "tx");
  ASSERT_EQ(tx.size(), 2U);
  for (const auto& t : tx) EXPECT_EQ(t.at("fault"), "corrupt");
}

}  // namespace
