// Fault injection: a corrupted reply always fails its CRC (never a valid frame with other
// content), noise never contains a frame start, and the line check.
#include <gtest/gtest.h>

#include <algorithm>
#include <random>

#include "kmp/messages.hpp"
#include "sim/faults.hpp"
#include "sim/meter_model.hpp"
#include "sim/simulator.hpp"
#include "sim_test_util.hpp"

namespace kamstrup::sim::test {
namespace {

// The receiver's view of a frame: DST..CRC_lo unstuffed (the test's own minimal unstuffing).
Bytes unstuff(const Bytes& wire) {
  Bytes body;
  for (std::size_t i = 1; i + 1 < wire.size(); ++i) {
    if (wire[i] == kmp::kEscape) {
      body.push_back(static_cast<std::uint8_t>(~wire[++i]));
    } else {
      body.push_back(wire[i]);
    }
  }
  return body;
}

std::vector<Bytes> sample_replies() {
  std::vector<Bytes> out = {
      from_hex("403F10003C0304430000D6DE03220D"),        // T1
      from_hex("403F10079A0D"),                          // E0: the shortest reply
      from_hex("403F1000442804421BBF1BF20027CF1BF90D"),  // X5: stuffed value and CRC bytes
      from_hex("403F10003C0304430000000200442804420000001803EC2E040000001BE4D6005625044200004E"
               "200057250442000021CE005926044200002C52004A29040000000000005016044100000000C3E8"
               "0D"),  // M2: eight blocks
  };
  MeterModel m(*builtin_profile("multical403"), 11, WallClock::from_time_t(1'700'000'000));
  for (int i = 0; i < 20; ++i) {
    auto t = WallClock::from_time_t(1'700'000'000 + 97 * i);
    auto req = kmp::encode_request(kmp::GetRegisterRequest{
        {60, 68, 1004, 86, 87, 89, 74, static_cast<std::uint16_t>(80 + i % 3)}});
    out.push_back(*m.handle(req.value(), t).reply);
    out.push_back(*m.handle(from_hex("803F0235E90D"), t).reply);
  }
  return out;
}

TEST(Faults, CorruptionAlwaysFailsTheCrc) {
  const auto replies = sample_replies();
  for (const auto& r : replies) ASSERT_TRUE(kmp::decode_frame(r).ok()) << to_hex(r);
  std::mt19937_64 rng(2024);
  for (int trial = 0; trial < 20'000; ++trial) {
    const Bytes& good = replies[static_cast<std::size_t>(trial) % replies.size()];
    Bytes bad = corrupt_reply(good, rng);
    auto decoded = kmp::decode_frame(bad);
    ASSERT_FALSE(decoded.ok()) << to_hex(good) << " -> " << to_hex(bad);
    ASSERT_EQ(decoded.error(), kmp::Error::CrcMismatch) << to_hex(bad);

    // Still one well-formed frame on the wire: start, stuffing, stop where a receiver expects.
    kmp::FrameReceiver rx;
    for (std::size_t i = 0; i < bad.size(); ++i) {
      auto ev = rx.feed(bad[i]);
      ASSERT_EQ(ev == kmp::FrameReceiver::Event::Frame, i + 1 == bad.size()) << to_hex(bad);
    }
    // 1–16 flipped bits, all inside one 16-bit window of the unstuffed bytes.
    Bytes a = unstuff(good);
    Bytes b = unstuff(bad);
    ASSERT_EQ(a.size(), b.size());
    std::size_t first = SIZE_MAX;
    std::size_t last = 0;
    for (std::size_t bit = 0; bit < a.size() * 8; ++bit) {
      unsigned mask = 0x80U >> (bit % 8);
      if (((a[bit / 8] ^ b[bit / 8]) & mask) != 0) {
        first = std::min(first, bit);
        last = bit;
      }
    }
    ASSERT_NE(first, SIZE_MAX);
    ASSERT_LT(last - first, 16U);
  }
}

TEST(Faults, NoiseNeverLooksLikeAFrameStart) {
  std::mt19937_64 rng(7);
  std::size_t zeros = 0;
  std::size_t others = 0;
  for (int i = 0; i < 10'000; ++i) {
    Bytes n = noise_bytes(rng);
    ASSERT_GE(n.size(), 1U);
    ASSERT_LE(n.size(), 8U);
    for (auto b : n) {
      ASSERT_NE(b, 0x40);
      ASSERT_NE(b, 0x80);
      ASSERT_NE(b, 0x06);
      (b == 0 ? zeros : others)++;
    }
  }
  EXPECT_GT(zeros, 1000U);
  EXPECT_GT(others, 1000U);
}

TEST(Faults, LineCheck) {
  const LineSpec meter{1200, 8, 'N', 2};
  EXPECT_TRUE(line_accepted({1200, 8, 'N', 2}, meter, false));
  EXPECT_FALSE(line_accepted({2400, 8, 'N', 2}, meter, false));
  EXPECT_FALSE(line_accepted({1200, 8, 'N', 1}, meter, false));
  EXPECT_TRUE(line_accepted({1200, 8, 'N', 1}, meter, true));
  EXPECT_FALSE(line_accepted({1200, 7, 'E', 2}, meter, false));
  EXPECT_TRUE(line_accepted({1200, 7, 'E', 2}, meter, false, false));
  const LineSpec el{9600, 8, 'N', 1};
  EXPECT_FALSE(line_accepted({9600, 8, 'N', 2}, el, true));  // only 2 → 1 is tolerated
}

// What a head reflects of the reader's requests, whatever way the writes are split.
Bytes reflect_bytewise(EchoMode mode, const std::string& sent) {
  EchoFilter f(mode);
  Bytes out;
  for (char c : sent) {
    const std::uint8_t b = static_cast<std::uint8_t>(c);
    auto r = f.reflect(std::span(&b, 1));
    out.insert(out.end(), r.begin(), r.end());
  }
  EchoFilter whole(mode);
  const Bytes at_once = whole.reflect(Bytes(sent.begin(), sent.end()));
  EXPECT_EQ(at_once, out) << "the reflection must not depend on how the writes are split";
  return out;
}

std::string text(const Bytes& b) {
  return {b.begin(), b.end()};
}

TEST(Faults, PartialEchoModes) {
  // A KMP GetRegister request (for register 0x2F: its body holds a '/'), then the ASCII ones.
  const Bytes kmp_req = kmp::encode_request(kmp::GetRegisterRequest{{0x2F}}).value();
  ASSERT_NE(std::find(kmp_req.begin(), kmp_req.end(), '/'), kmp_req.end());
  const std::string kmp(kmp_req.begin(), kmp_req.end());
  const std::string iec = "/?!\r\n";
  const std::string hash = "/#1";
  const std::string ack =
      "\x06"
      "000\r\n";
  const std::string all = kmp + iec + hash + ack;

  EXPECT_EQ(text(reflect_bytewise(EchoMode::Full, all)), all);
  EXPECT_EQ(text(reflect_bytewise(EchoMode::NoCrLf, all)), kmp + "/?!" + "/#1" +
                                                               "\x06"
                                                               "000");
  EXPECT_EQ(text(reflect_bytewise(EchoMode::NoFirst, all)),
            kmp.substr(1) + "?!\r\n" + "#1" + "000\r\n");
  EXPECT_EQ(text(reflect_bytewise(EchoMode::Truncated, all)), kmp.substr(0, 2) + "/?" + "/#" +
                                                                  "\x06"
                                                                  "0");
}

TEST(Faults, ParseEchoMode) {
  EXPECT_EQ(parse_echo_mode("full"), EchoMode::Full);
  EXPECT_EQ(parse_echo_mode("no-crlf"), EchoMode::NoCrLf);
  EXPECT_EQ(parse_echo_mode("no-first"), EchoMode::NoFirst);
  EXPECT_EQ(parse_echo_mode("truncated"), EchoMode::Truncated);
  EXPECT_FALSE(parse_echo_mode("partial"));
  EXPECT_FALSE(parse_echo_mode(""));
}

}  // namespace
}  // namespace kamstrup::sim::test
