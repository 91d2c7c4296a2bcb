// MeterSession against a scripted peer on a real pseudo-terminal. The peer is not the simulator:
// it replays exact byte sequences (captured replies, echoes, noise, corrupted frames) so each
// receive path and each diagnosis is exercised deliberately, and it records every request with
// its arrival time so tests assert frame counts and retry spacing.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <termios.h>
#include <unistd.h>

#include <asio/co_spawn.hpp>
#include <asio/io_context.hpp>
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <functional>
#include <mutex>
#include <thread>

#include "../kmp/test_util.hpp"
#include "kmp/frame.hpp"
#include "meter/echo.hpp"
#include "meter/session.hpp"

using namespace kamstrup;
using kamstrup::test::from_hex;
using std::chrono::milliseconds;

namespace {

using Bytes = std::vector<std::uint8_t>;

// What the peer does with the n-th request (0-based): returns the bytes to send back.
using Script = std::function<Bytes(std::size_t n, const Bytes& request)>;

class ScriptedMeter {
 public:
  explicit ScriptedMeter(Script script) : script_(std::move(script)) {
    master_ = posix_openpt(O_RDWR | O_NOCTTY);
    EXPECT_GE(master_, 0);
    grantpt(master_);
    unlockpt(master_);
    slave_ = ptsname(master_);
    // Keep a slave fd open so the master never sees EIO between the reader's open/close.
    keep_ = open(slave_.c_str(), O_RDWR | O_NOCTTY);
    termios t{};
    tcgetattr(keep_, &t);
    cfmakeraw(&t);
    tcsetattr(keep_, TCSANOW, &t);
    thread_ = std::thread([this] { run(); });
  }
  ~ScriptedMeter() {
    stop_ = true;
    thread_.join();
    close(keep_);
    close(master_);
  }
  const std::string& path() const { return slave_; }
  struct Request {
    Bytes bytes;
    std::chrono::steady_clock::time_point at;
  };
  std::vector<Request> requests() {
    std::lock_guard lock(mu_);
    return requests_;
  }

 private:
  void run() {
    kmp::FrameReceiver rx;
    std::uint8_t buf[256];
    while (!stop_) {
      pollfd p{master_, POLLIN, 0};
      if (poll(&p, 1, 20) <= 0) continue;
      ssize_t n = read(master_, buf, sizeof buf);
      if (n <= 0) continue;
      for (ssize_t i = 0; i < n; ++i) {
        if (rx.feed(buf[i]) != kmp::FrameReceiver::Event::Frame) continue;
        Bytes req(rx.frame_bytes().begin(), rx.frame_bytes().end());
        std::size_t index;
        {
          std::lock_guard lock(mu_);
          requests_.push_back({req, std::chrono::steady_clock::now()});
          index = requests_.size() - 1;
        }
        Bytes out = script_(index, req);
        if (!out.empty()) {
          std::this_thread::sleep_for(milliseconds(5));
          ASSERT_EQ(write(master_, out.data(), out.size()), static_cast<ssize_t>(out.size()));
        }
      }
    }
  }

  Script script_;
  int master_ = -1;
  int keep_ = -1;
  std::string slave_;
  std::thread thread_;
  std::atomic<bool> stop_{false};
  std::mutex mu_;
  std::vector<Request> requests_;
};

meter::SessionOptions fast_options() {
  meter::SessionOptions o;
  o.reply_timeout = milliseconds(300);
  o.inter_byte_timeout = milliseconds(200);
  o.recovery = milliseconds(100);
  o.retries = 2;
  return o;
}

template <typename T>
T run(asio::io_context& io, asio::awaitable<T> task) {
  std::optional<T> out;
  std::exception_ptr err;
  io.restart();
  asio::co_spawn(io, std::move(task), [&](std::exception_ptr e, T v) {
    err = e;
    if (!e) out = std::move(v);
  });
  io.run();
  if (err) std::rethrow_exception(err);
  return std::move(*out);
}

struct Harness {
  asio::io_context io;
  std::unique_ptr<transport::Port> port;
  std::unique_ptr<meter::MeterSession> session;
  Harness(const std::string& path, meter::SessionOptions o = fast_options()) {
    port = transport::make_port(io.get_executor(), path, transport::LineSettings{});
    run(io, [](transport::Port& p) -> asio::awaitable<bool> {
      co_await p.open();
      co_return true;
    }(*port));
    session = std::make_unique<meter::MeterSession>(*port, o);
  }
  meter::ReadResult read(std::vector<std::uint16_t> ids) {
    return run(io, session->read_registers(ids));
  }
};

const Bytes kT1 = from_hex("403F10003C0304430000D6DE03220D");  // heat_energy 55.006 MWh
const Bytes kX6 = from_hex("403F10003C0304430000D6DE005625024214F55EF40D");

TEST(Session, ReadsOneRegisterWithoutEcho) {
  ScriptedMeter m([](std::size_t, const Bytes&) { return kT1; });
  Harness h(m.path());
  auto r = h.read({60});
  ASSERT_TRUE(r.answered());
  ASSERT_EQ(r.readings.size(), 1U);
  ASSERT_TRUE(r.readings[0].value.has_value());
  EXPECT_EQ(r.readings[0].value->number->to_string(), "55.006");
  EXPECT_EQ(r.readings[0].value->unit, "MWh");
  EXPECT_EQ(h.session->stats().frames_sent, 1U);
  EXPECT_EQ(m.requests().size(), 1U);
  EXPECT_EQ(m.requests()[0].bytes, from_hex("803F1001003CB25F0D"));
}

TEST(Session, SkipsEchoNoiseAndZeroBytes) {
  ScriptedMeter m([](std::size_t, const Bytes& req) {
    Bytes out = req;  // optical echo
    out.push_back(0x00);
    out.push_back(0x7E);
    out.push_back(0xFF);
    out.insert(out.end(), kT1.begin(), kT1.end());
    return out;
  });
  Harness h(m.path());
  auto r = h.read({60});
  ASSERT_TRUE(r.answered());
  EXPECT_EQ(r.readings[0].value->number->to_string(), "55.006");
  EXPECT_EQ(h.session->stats().echoes, 1U);
  EXPECT_EQ(h.session->stats().frames_sent, 1U);
}

TEST(Session, MatchesRepliesByIdAndMarksOmittedUnsupported) {
  ScriptedMeter m([](std::size_t, const Bytes&) { return kX6; });
  Harness h(m.path());
  auto r = h.read({60, 0x0123, 86});
  ASSERT_TRUE(r.answered());
  ASSERT_EQ(r.readings.size(), 3U);
  EXPECT_EQ(r.readings[0].value->number->to_string(), "55.006");
  EXPECT_TRUE(r.readings[1].unsupported());
  EXPECT_EQ(r.readings[2].name, "temp1");
  EXPECT_EQ(r.readings[2].value->number->to_string(), "53.65");
  EXPECT_EQ(m.requests()[0].bytes, from_hex("803F1003003C012300569DB40D"));
}

TEST(Session, BatchesSeventeenRegistersIntoThreeFrames) {
  ScriptedMeter m([](std::size_t, const Bytes&) { return from_hex("403F10079A0D"); });
  Harness h(m.path());
  std::vector<std::uint16_t> ids;
  for (std::uint16_t i = 1; i <= 17; ++i) ids.push_back(i);
  ids.push_back(3);  // duplicate: read once
  auto r = h.read(ids);
  ASSERT_TRUE(r.answered());
  EXPECT_EQ(r.readings.size(), 17U);
  auto reqs = m.requests();
  ASSERT_EQ(reqs.size(), 3U);
  EXPECT_EQ(reqs[0].bytes[3], 8);  // register count of each request
  EXPECT_EQ(reqs[1].bytes[3], 8);
  EXPECT_EQ(reqs[2].bytes[3], 1);
}

TEST(Session, CrcFailureIsRetriedAndNeverBecomesAValue) {
  Bytes bad = kT1;
  bad[9] ^= 0x01;  // one mantissa bit: 55.007 if the CRC were ignored
  ScriptedMeter m([&](std::size_t n, const Bytes&) { return n == 0 ? bad : kT1; });
  Harness h(m.path());
  auto r = h.read({60});
  ASSERT_TRUE(r.answered());
  EXPECT_EQ(r.readings[0].value->number->to_string(), "55.006");
  EXPECT_EQ(h.session->stats().crc_errors, 1U);
  EXPECT_EQ(h.session->stats().retries, 1U);
  EXPECT_EQ(m.requests().size(), 2U);
}

TEST(Session, RetrySpacingHonoursTheMetersRecoveryTime) {
  // Real timing: the meter discards requests for 1.6 s after a failed exchange.
  ScriptedMeter m([](std::size_t, const Bytes&) { return Bytes{}; });
  meter::SessionOptions o = fast_options();
  o.recovery = milliseconds(1600);
  o.reply_timeout = milliseconds(200);
  o.retries = 1;
  Harness h(m.path(), o);
  auto r = h.read({60});
  EXPECT_FALSE(r.answered());
  auto reqs = m.requests();
  ASSERT_EQ(reqs.size(), 2U);
  EXPECT_GE(reqs[1].at - reqs[0].at, milliseconds(1600 + 200));
}

TEST(Session, DiagnosesSilence) {
  ScriptedMeter m([](std::size_t, const Bytes&) { return Bytes{}; });
  Harness h(m.path());
  auto r = h.read({60, 68});
  EXPECT_EQ(r.failure, meter::Failure::Silent);
  EXPECT_EQ(m.requests().size(), 3U);  // 1 + 2 retries
  ASSERT_EQ(r.readings.size(), 2U);
  EXPECT_EQ(r.readings[0].outcome, meter::Outcome::Silent);
  EXPECT_EQ(r.readings[0].error(), "Silent");
  EXPECT_NE(meter::diagnosis_text(r.failure).find("no bytes at all"), std::string_view::npos);
}

TEST(Session, DiagnosesEchoOnly) {
  ScriptedMeter m([](std::size_t, const Bytes& req) { return req; });
  Harness h(m.path());
  auto r = h.read({60});
  EXPECT_EQ(r.failure, meter::Failure::EchoOnly);
  EXPECT_EQ(h.session->stats().echoes, 3U);
  EXPECT_NE(meter::diagnosis_text(r.failure).find("asleep"), std::string_view::npos);
}

// Heads that reflect only part of a request: without its first byte, cut short, a byte lost in
// the middle. That is still our own echo (a sleeping meter), never garbage.
TEST(Session, DiagnosesAPartialEchoAsEchoOnly) {
  const std::vector<std::pair<const char*, std::function<Bytes(const Bytes&)>>> heads = {
      {"no first byte", [](const Bytes& r) { return Bytes(r.begin() + 1, r.end()); }},
      {"first two bytes", [](const Bytes& r) { return Bytes(r.begin(), r.begin() + 2); }},
      {"middle byte lost",
       [](const Bytes& r) {
         Bytes out = r;
         out.erase(out.begin() + 4);
         return out;
       }},
      {"no stop byte", [](const Bytes& r) { return Bytes(r.begin(), r.end() - 1); }},
  };
  for (const auto& [what, head] : heads) {
    SCOPED_TRACE(what);
    ScriptedMeter m([&head](std::size_t, const Bytes& req) { return head(req); });
    Harness h(m.path());
    auto r = h.read({60});
    EXPECT_EQ(r.failure, meter::Failure::EchoOnly);
    EXPECT_EQ(h.session->stats().echoes, 3U);
    EXPECT_EQ(h.session->stats().noise_bytes, 0U);
  }
}

TEST(Session, APartialEchoBeforeTheReplyIsSkipped) {
  ScriptedMeter m([](std::size_t, const Bytes& req) {
    Bytes out(req.begin() + 1, req.end());
    out.insert(out.end(), kT1.begin(), kT1.end());
    return out;
  });
  Harness h(m.path());
  auto r = h.read({60});
  ASSERT_TRUE(r.answered());
  EXPECT_EQ(r.readings[0].value->number->to_string(), "55.006");
  EXPECT_EQ(m.requests().size(), 1U);
}

// Bytes that are not all ours, even if most are, are not an echo.
TEST(Session, AnEchoWithAForeignByteIsGarbage) {
  ScriptedMeter m([](std::size_t, const Bytes& req) {
    Bytes out(req.begin() + 1, req.end());
    out.push_back(0x55);
    return out;
  });
  Harness h(m.path());
  EXPECT_EQ(h.read({60}).failure, meter::Failure::Garbage);
}

TEST(Session, WithoutRetrySilenceNothingBackIsAskedOnceButGarbageIsRetried) {
  meter::SessionOptions o = fast_options();
  o.retry_silence = false;
  {
    ScriptedMeter m([](std::size_t, const Bytes&) { return Bytes{}; });
    Harness h(m.path(), o);
    EXPECT_EQ(h.read({60}).failure, meter::Failure::Silent);
    EXPECT_EQ(m.requests().size(), 1U);
  }
  {
    ScriptedMeter m(
        [](std::size_t, const Bytes& req) { return Bytes(req.begin(), req.end() - 2); });
    Harness h(m.path(), o);
    EXPECT_EQ(h.read({60}).failure, meter::Failure::EchoOnly);
    EXPECT_EQ(m.requests().size(), 1U);
  }
  {
    ScriptedMeter m([](std::size_t, const Bytes&) { return from_hex("12345678ABCDEF"); });
    Harness h(m.path(), o);
    EXPECT_EQ(h.read({60}).failure, meter::Failure::Garbage);
    EXPECT_EQ(m.requests().size(), 3U);  // bytes came back: 1 + 2 retries
  }
}

TEST(Session, OnlyOwnEcho) {
  const Bytes req = from_hex("803F1001003CB25F0D");
  auto echo = [&req](const std::string& hex) { return meter::only_own_echo(from_hex(hex), req); };
  EXPECT_TRUE(echo("803F1001003CB25F0D"));
  EXPECT_TRUE(echo("3F1001003CB25F0D"));
  EXPECT_TRUE(echo("803F"));
  EXPECT_TRUE(echo("80100D"));
  EXPECT_FALSE(echo(""));
  EXPECT_FALSE(echo("3F80"));                  // out of order
  EXPECT_FALSE(echo("803F1001003CB25F0D0D"));  // one byte more than we sent
  EXPECT_FALSE(echo("403F10"));
  EXPECT_TRUE(meter::only_own_echo("/?!", "/?!\r\n"));
  EXPECT_TRUE(meter::only_own_echo("?!\r\n", "/?!\r\n"));
  EXPECT_TRUE(meter::only_own_echo(std::string("\xAF#1"), "/#1"));  // parity bit set on '/'
  EXPECT_FALSE(meter::only_own_echo("/#1 ", "/#1"));
}

TEST(Session, DiagnosesGarbage) {
  ScriptedMeter m([](std::size_t, const Bytes&) { return from_hex("12345678ABCDEF"); });
  Harness h(m.path());
  auto r = h.read({60});
  EXPECT_EQ(r.failure, meter::Failure::Garbage);
  EXPECT_NE(meter::diagnosis_text(r.failure).find("line settings"), std::string_view::npos);
}

TEST(Session, DiagnosesCrcErrors) {
  Bytes bad = kT1;
  bad[9] ^= 0x01;
  ScriptedMeter m([&](std::size_t, const Bytes&) { return bad; });
  Harness h(m.path());
  auto r = h.read({60});
  EXPECT_EQ(r.failure, meter::Failure::CrcErrors);
  EXPECT_EQ(h.session->stats().crc_errors, 3U);
  EXPECT_NE(meter::diagnosis_text(r.failure).find("CRC"), std::string_view::npos);
}

TEST(Session, RejectsARegisterWeDidNotAskFor) {
  // A valid frame answering id 68 to a request for 60 (a stale reply): never a value for 60.
  const Bytes other = from_hex("403F1000442804420002DCA47C0A0D");
  ScriptedMeter m([&](std::size_t n, const Bytes&) { return n == 0 ? other : kT1; });
  Harness h(m.path());
  auto r = h.read({60});
  ASSERT_TRUE(r.answered());
  EXPECT_EQ(r.readings[0].value->number->to_string(), "55.006");
  EXPECT_EQ(m.requests().size(), 2U);
}

TEST(Session, StopsAfterTheFirstBatchWhenTheMeterNeverAnswers) {
  ScriptedMeter m([](std::size_t, const Bytes&) { return Bytes{}; });
  Harness h(m.path());
  std::vector<std::uint16_t> ids;
  for (std::uint16_t i = 1; i <= 20; ++i) ids.push_back(i);
  auto r = h.read(ids);
  EXPECT_FALSE(r.answered());
  EXPECT_EQ(r.readings.size(), 20U);
  EXPECT_EQ(m.requests().size(), 3U);  // only the first batch, with its retries
}

TEST(Session, GetTypeAndSerial) {
  ScriptedMeter m([](std::size_t, const Bytes& req) {
    return req[2] == 0x01 ? from_hex("403F0100041BF90126990D") : from_hex("403F0201234567E9560D");
  });
  Harness h(m.path());
  auto t = run(h.io, h.session->get_type());
  ASSERT_TRUE(t.type.has_value());
  EXPECT_EQ(t.type->meter_type, 4);
  EXPECT_EQ(t.type->sw_revision, "F1");
  auto s = run(h.io, h.session->get_serial());
  ASSERT_TRUE(s.serial.has_value());
  EXPECT_EQ(*s.serial, 19088743U);
}

TEST(Session, PlanBatches) {
  std::vector<std::uint16_t> ids{1, 2, 2, 3};
  auto b = meter::plan_batches(ids);
  ASSERT_EQ(b.size(), 1U);
  EXPECT_EQ(b[0], (std::vector<std::uint16_t>{1, 2, 3}));
  EXPECT_TRUE(meter::plan_batches({}).empty());
}

}  // namespace
