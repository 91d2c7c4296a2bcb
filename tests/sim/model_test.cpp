// MeterModel: replies encoded exactly, unsupported registers omitted, silence where KMP has no
// answer, and values that evolve plausibly with the injected clock.
#include <gtest/gtest.h>

#include <ctime>
#include <random>

#include "kmp/messages.hpp"
#include "sim/meter_model.hpp"
#include "sim_test_util.hpp"

namespace kamstrup::sim::test {
namespace {

// A fixed local wall time mid-month, so month and year extremes do not roll over in a test.
WallClock::time_point local(int year, int month, int day, int hour, int minute, int second) {
  std::tm tm{};
  tm.tm_year = year - 1900;
  tm.tm_mon = month - 1;
  tm.tm_mday = day;
  tm.tm_hour = hour;
  tm.tm_min = minute;
  tm.tm_sec = second;
  tm.tm_isdst = -1;
  return WallClock::from_time_t(std::mktime(&tm));
}

const WallClock::time_point kT0 = local(2024, 3, 15, 12, 0, 0);

Bytes get_register(std::vector<std::uint16_t> ids) {
  auto r = kmp::encode_request(kmp::GetRegisterRequest{std::move(ids)});
  return r.value();
}

Profile base() {
  return *builtin_profile("multical403");
}

kmp::RegisterResponse decode_registers(const Bytes& wire) {
  auto frame = kmp::decode_frame(wire);
  EXPECT_TRUE(frame.ok());
  auto resp = kmp::decode_register_response(frame.value());
  EXPECT_TRUE(resp.ok());
  return resp.value();
}

TEST(MeterModel, GetRegisterKeepsRequestOrderAndOmitsUnsupported) {
  MeterModel m(base(), 1, kT0);
  const auto t = kT0 + 5s;
  Answer a = m.handle(get_register({86, 0x0123, 60, 68, 1004, 0x0999, 89}), t);
  ASSERT_TRUE(a.reply);
  auto resp = decode_registers(*a.reply);
  std::vector<std::uint16_t> ids;
  for (const auto& b : resp.blocks) ids.push_back(b.id);
  EXPECT_EQ(ids, (std::vector<std::uint16_t>{86, 60, 68, 1004, 89}));
  ASSERT_EQ(a.values.size(), resp.blocks.size());
  for (std::size_t i = 0; i < resp.blocks.size(); ++i) {
    const auto& block = resp.blocks[i];
    ASSERT_TRUE(block.value.ok());
    ASSERT_TRUE(block.value->number);
    auto sent = m.sent_value(block.id, t);
    ASSERT_TRUE(sent) << block.id;
    // Same mantissa and exponent, not just the same number: the encoding is exact.
    EXPECT_EQ(block.value->number->to_string(), sent->to_string()) << block.id;
    EXPECT_EQ(a.values[i].id, block.id);
    EXPECT_EQ(a.values[i].value.to_string(), sent->to_string());
  }
  ASSERT_EQ(m.history().size(), 1U);
  EXPECT_EQ(m.history()[0].t, t);
}

TEST(MeterModel, ReproducesCapturedMultical403Frames) {
  Profile p = base();
  auto fix = [&](std::uint16_t id, const char* value) {
    RegisterSpec* r = p.find(id);
    ASSERT_NE(r, nullptr);
    r->value = *kmp::Decimal::parse(value);
    r->fixed = true;
  };
  fix(60, "55.006");
  fix(80, "0.0");
  fix(86, "53.65");
  fix(87, "45.79");
  fix(89, "7.86");
  fix(74, "0");
  fix(68, "1875.56");
  fix(1002, "200243");
  MeterModel m(p, 1, kT0);
  const std::pair<std::uint16_t, const char*> vectors[] = {
      {60, "403F10003C0304430000D6DE03220D"}, {80, "403F10005016024100002F5C0D"},
      {86, "403F10005625024214F569DC0D"},     {87, "403F10005725024211E3A17E0D"},
      {89, "403F100059260242031255200D"},     {74, "403F10004A2902000000F0500D"},
      {68, "403F1000442804420002DCA47C0A0D"}, {1002, "403F1003EA2F040000030E33B2320D"},
  };
  for (const auto& [id, hex] : vectors) {
    Answer a = m.handle(get_register({id}), kT0 + 1h);
    ASSERT_TRUE(a.reply);
    EXPECT_EQ(to_hex(*a.reply), hex) << id;
  }
}

TEST(MeterModel, ZeroBlocksIsAValidReply) {
  MeterModel m(base(), 1, kT0);
  Answer a = m.handle(get_register({0x0123}), kT0);
  ASSERT_TRUE(a.reply);
  EXPECT_EQ(to_hex(*a.reply), "403F10079A0D");  // vector E0
  EXPECT_TRUE(decode_registers(*a.reply).blocks.empty());
}

TEST(MeterModel, AnswersGetTypeAndGetSerialNo) {
  MeterModel m(base(), 1, kT0);
  Answer type = m.handle(from_hex("803F01058A0D"), kT0);
  ASSERT_TRUE(type.reply);
  auto t = kmp::decode_type_response(kmp::decode_frame(*type.reply).value());
  ASSERT_TRUE(t.ok());
  EXPECT_EQ(t->meter_type, 0x0403);
  EXPECT_EQ(t->sw_revision, "A2");

  Answer serial = m.handle(from_hex("803F0235E90D"), kT0);
  ASSERT_TRUE(serial.reply);
  auto s = kmp::decode_serial_response(kmp::decode_frame(*serial.reply).value());
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(s->serial, 76543210U);
  EXPECT_EQ(m.value(1001, kT0)->to_string(), "76543210");
}

TEST(MeterModel, SilenceWhereKmpHasNoAnswer) {
  MeterModel m(base(), 1, kT0);
  kmp::Frame nine;
  nine.cid = kmp::kCidGetRegister;
  nine.data = {9, 0, 60, 0, 60, 0, 60, 0, 60, 0, 60, 0, 60, 0, 60, 0, 60, 0, 60};
  const std::pair<std::string, Bytes> cases[] = {
      {"bad CRC", from_hex("803F1001003CB25E0D")},
      {"logger address", kmp::encode_request(kmp::GetRegisterRequest{{60}}, 0x7F).value()},
      {"SetClock", from_hex("803F090001144A00027715774E0D")},
      {"nine registers", kmp::encode_frame(nine)},
      {"a reply", from_hex("403F10003C0304430000D6DE03220D")},
      {"bad escape", from_hex("803F101B0001003CB25F0D")},
      {"truncated", from_hex("803F0D")},
  };
  for (const auto& [what, wire] : cases) {
    Answer a = m.handle(wire, kT0);
    EXPECT_FALSE(a.reply) << what;
    EXPECT_FALSE(a.reason.empty()) << what;
  }
  EXPECT_TRUE(m.history().empty());
  EXPECT_EQ(describe_request(from_hex("803F1001003CB25E0D")).reason, "bad frame: CrcMismatch");
  EXPECT_EQ(describe_request(from_hex("803F090001144A00027715774E0D")).reason,
            "CID 0x09 not supported");
}

struct Sample {
  kmp::Decimal energy, hires, volume, hours, t1, t2, diff, flow, power, t1m3;
};

Sample sample(MeterModel& m, WallClock::time_point t) {
  Answer a = m.handle(get_register({60, 266, 68, 1004, 86, 87, 89, 74}), t);
  Answer b = m.handle(get_register({80, 97}), t);
  Sample s{};
  auto get = [&](const Answer& ans, std::uint16_t id) {
    for (const auto& v : ans.values) {
      if (v.id == id) return v.value;
    }
    ADD_FAILURE() << "missing " << id;
    return kmp::Decimal{};
  };
  s.energy = get(a, 60);
  s.hires = get(a, 266);
  s.volume = get(a, 68);
  s.hours = get(a, 1004);
  s.t1 = get(a, 86);
  s.t2 = get(a, 87);
  s.diff = get(a, 89);
  s.flow = get(a, 74);
  s.power = get(b, 80);
  s.t1m3 = get(b, 97);
  return s;
}

TEST(MeterModel, ValuesEvolvePlausibly) {
  MeterModel m(base(), 42, kT0);
  Sample first = sample(m, kT0);
  Sample prev = first;
  bool t1_moved = false;
  for (int i = 1; i <= 720; ++i) {  // two hours, every 10 s
    Sample s = sample(m, kT0 + std::chrono::seconds(10 * i));
    EXPECT_GE(s.energy.mantissa, prev.energy.mantissa);
    EXPECT_GE(s.hires.mantissa, prev.hires.mantissa);
    EXPECT_GE(s.volume.mantissa, prev.volume.mantissa);
    EXPECT_GE(s.hours.mantissa, prev.hours.mantissa);
    EXPECT_GE(s.t1m3.mantissa, prev.t1m3.mantissa);
    // temp_diff is exactly T1 − T2 as sent (all at exponent -2).
    ASSERT_EQ(s.t1.exponent, -2);
    ASSERT_EQ(s.diff.exponent, -2);
    EXPECT_FALSE(s.diff.negative);
    EXPECT_EQ(s.diff.mantissa, s.t1.mantissa - s.t2.mantissa);
    EXPECT_GE(s.t1.to_double(), 60.0);
    EXPECT_LE(s.t1.to_double(), 80.0);
    EXPECT_GE(s.t2.to_double(), 30.0);
    EXPECT_LE(s.t2.to_double(), 45.0);
    // power ≈ flow × ΔT × 1.16 W (each sent value is truncated at its own resolution).
    double expected_kw = s.flow.to_double() * s.diff.to_double() * 1.16 / 1000.0;
    EXPECT_NEAR(s.power.to_double(), expected_kw, 0.5);
    EXPECT_GT(s.power.to_double(), 0.0);
    if (s.t1.mantissa != first.t1.mantissa) t1_moved = true;
    prev = s;
  }
  EXPECT_TRUE(t1_moved);
  EXPECT_EQ(prev.hours.mantissa - first.hours.mantissa, 2U);
  // About 8 kW for two hours: 5..30 kWh more, and the high-resolution register agrees.
  auto kwh = static_cast<double>(prev.energy.mantissa - first.energy.mantissa);
  EXPECT_GT(kwh, 5.0);
  EXPECT_LT(kwh, 30.0);
  auto wh = static_cast<double>(prev.hires.mantissa - first.hires.mantissa);
  EXPECT_NEAR(wh / 1000.0, kwh, 1.0);
  // 80–400 l/h for two hours: 0.16–0.8 m³ (exponent -2: 16..80 counts).
  auto vol = prev.volume.mantissa - first.volume.mantissa;
  EXPECT_GE(vol, 15U);
  EXPECT_LE(vol, 81U);
}

TEST(MeterModel, ClockAndDateFollowTheInjectedWallClock) {
  MeterModel m(base(), 1, kT0);
  const auto t = local(2024, 3, 15, 20, 2, 43);
  EXPECT_EQ(m.value(1002, t)->to_string(), "200243");
  EXPECT_EQ(m.value(1003, t)->to_string(), "240315");
  const auto t2 = local(2024, 3, 16, 0, 0, 7);
  EXPECT_EQ(m.value(1002, t2)->to_string(), "7");
  EXPECT_EQ(m.value(1003, t2)->to_string(), "240316");
}

TEST(MeterModel, MonthExtremesTrackTheSentFlowAndDate) {
  MeterModel m(base(), 7, kT0);
  std::uint64_t max_seen = 410;  // the profile's initial max flow this month
  for (int i = 0; i < 600; ++i) {
    auto t = kT0 + std::chrono::seconds(30 * i);
    max_seen =
        std::max<std::uint64_t>(max_seen, static_cast<std::uint64_t>(m.value(74, t)->mantissa));
  }
  const auto end = kT0 + std::chrono::seconds(30 * 599);
  EXPECT_EQ(static_cast<std::uint64_t>(m.value(139, end)->mantissa), max_seen);
  // The date register starts at the first of the month and moves to the day of a new maximum.
  auto date = m.value(138, end)->to_string();
  EXPECT_TRUE(date == "240301" || date == "240315") << date;
  EXPECT_EQ(m.value(123, kT0)->to_string().substr(0, 2), "24");
}

TEST(MeterModel, SameSeedSameReplies) {
  MeterModel a(base(), 99, kT0);
  MeterModel b(base(), 99, kT0);
  MeterModel c(base(), 100, kT0);
  bool differs = false;
  for (int i = 1; i <= 50; ++i) {
    auto t = kT0 + std::chrono::seconds(37 * i);
    auto ra = a.handle(get_register({86, 87, 74, 80, 60}), t).reply;
    auto rb = b.handle(get_register({86, 87, 74, 80, 60}), t).reply;
    auto rc = c.handle(get_register({86, 87, 74, 80, 60}), t).reply;
    EXPECT_EQ(ra, rb);
    differs = differs || ra != rc;
  }
  EXPECT_TRUE(differs);
}

// A month without requests integrates exactly. (How long that takes is not asserted here: wall
// time is a benchmark's business, and it varies under ASan.)
TEST(MeterModel, LongSilenceIsExact) {
  MeterModel m(base(), 3, kT0);
  auto before = *m.value(1004, kT0);
  auto energy_before = *m.value(60, kT0);
  auto after = *m.value(1004, kT0 + std::chrono::hours(24 * 30));
  EXPECT_EQ(after.mantissa - before.mantissa, 720U);
  EXPECT_GT(m.value(60, kT0 + std::chrono::hours(24 * 30))->mantissa, energy_before.mantissa);
}

TEST(MeterModel, FixedZeroPowerStopsTheEnergyCounter) {
  Profile p = base();
  p.find(80)->value = *kmp::Decimal::parse("0.0");
  p.find(80)->fixed = true;
  MeterModel m(p, 1, kT0);
  auto e0 = *m.value(266, kT0);
  auto v0 = *m.value(68, kT0);
  auto e1 = *m.value(266, kT0 + 3h);
  EXPECT_EQ(e0.to_string(), e1.to_string());
  EXPECT_GT(m.value(68, kT0 + 3h)->mantissa, v0.mantissa);  // the flow goes on
}

TEST(MeterModel, Kamstrup382Electricity) {
  MeterModel m(*builtin_profile("kamstrup382"), 5, kT0);
  EXPECT_EQ(m.profile().line.to_string(), "9600 8N1");
  auto e0 = *m.value(1, kT0);
  Answer a = m.handle(get_register({1, 2, 1023, 1054, 1055, 1056, 1076, 1078}), kT0 + 2h);
  ASSERT_TRUE(a.reply);
  auto resp = decode_registers(*a.reply);
  ASSERT_EQ(resp.blocks.size(), 8U);
  EXPECT_EQ(resp.find(1)->value->unit, "kWh");
  EXPECT_GT(resp.find(1)->value->number->mantissa, e0.mantissa);
  double p_kw = resp.find(1023)->value->number->to_double();
  EXPECT_GT(p_kw, 0.1);
  for (std::uint16_t id : {std::uint16_t{1054}, std::uint16_t{1055}, std::uint16_t{1056}}) {
    EXPECT_EQ(resp.find(id)->value->unit, "V");
    EXPECT_NEAR(resp.find(id)->value->number->to_double(), 232.0, 10.0);
  }
  double i1 = resp.find(1076)->value->number->to_double();
  EXPECT_EQ(resp.find(1076)->value->number->exponent, -2);
  EXPECT_NEAR(i1, p_kw * 1000.0 / 3.0 / 231.0, 0.5);
}

TEST(MeterModel, Multical602SendsGigajoulesWithFourByteValues) {
  MeterModel m(*builtin_profile("multical602"), 5, kT0);
  Answer a = m.handle(get_register({60, 86}), kT0);
  auto resp = decode_registers(*a.reply);
  EXPECT_EQ(resp.find(60)->value->unit, "GJ");
  EXPECT_EQ(resp.find(60)->value->number->to_string(), "198.02");
  EXPECT_EQ(resp.find(86)->value->raw.size(), 4U);
}

}  // namespace
}  // namespace kamstrup::sim::test

namespace kamstrup::sim::test {
namespace {

TEST(MeterModel, AnyRequestGetsAValidReplyOrSilence) {
  MeterModel m(base(), 8, kT0);
  std::mt19937_64 rng(8);
  std::uniform_int_distribution<int> byte(0, 255);
  std::uniform_int_distribution<int> len(0, 20);
  const std::uint8_t cids[] = {0x01, 0x02, 0x09, 0x10, 0x11, 0x3F, 0xA0};
  for (int i = 0; i < 20'000; ++i) {
    kmp::Frame f;
    f.dst = i % 5 == 0 ? static_cast<std::uint8_t>(byte(rng)) : kmp::kDstMeter;
    f.cid = cids[static_cast<std::size_t>(i) % std::size(cids)];
    f.data.resize(static_cast<std::size_t>(len(rng)));
    for (auto& b : f.data)
      b = static_cast<std::uint8_t>(byte(rng) % 4 == 0 ? byte(rng) : byte(rng) % 3);
    if (f.cid == 0x10 && !f.data.empty())
      f.data[0] = static_cast<std::uint8_t>((f.data.size() - 1) / 2);
    Bytes wire = kmp::encode_frame(f);
    if (i % 7 == 0) wire[static_cast<std::size_t>(byte(rng)) % wire.size()] ^= 0x01;
    Answer a = m.handle(wire, kT0 + std::chrono::seconds(i));
    if (!a.reply) continue;
    auto reply = kmp::decode_frame(*a.reply);
    ASSERT_TRUE(reply.ok()) << to_hex(wire);
    ASSERT_EQ(reply->cid, f.cid);
  }
}

}  // namespace
}  // namespace kamstrup::sim::test
