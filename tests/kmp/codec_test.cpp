// Negative corpus (tests/data/kmp-negative.json: bad bytes → the exact typed outcome) and the
// codec's edge cases: stuffing, CRC, exact decimal text, units, dates, the streaming receiver.
#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>

#include "kmp/crc.hpp"
#include "kmp/frame.hpp"
#include "kmp/messages.hpp"
#include "kmp/units.hpp"
#include "test_util.hpp"

using namespace kamstrup::kmp;
using kamstrup::test::from_hex;
using nlohmann::json;

namespace {

json negative() {
  std::ifstream in(std::string(KAMSTRUP_TEST_DATA) + "/kmp-negative.json");
  return json::parse(in);
}

TEST(NegativeCorpus, FramesFailWithTheirTypedError) {
  const json corpus = negative();
  ASSERT_GE(corpus.at("frame").size(), 18U);
  for (const auto& c : corpus.at("frame")) {
    auto r = decode_frame(from_hex(c.at("hex")));
    ASSERT_FALSE(r.ok()) << c.at("name") << " decoded";
    EXPECT_EQ(to_string(r.error()), c.at("error").get<std::string>()) << c.at("name");
  }
}

TEST(NegativeCorpus, MessagesFailWithTheirTypedError) {
  const json corpus = negative();  // range-for over negative().at(...) would dangle
  ASSERT_GE(corpus.at("message").size(), 10U);
  for (const auto& c : corpus.at("message")) {
    auto f = decode_frame(from_hex(c.at("hex")));
    ASSERT_TRUE(f.ok()) << c.at("name") << ": the frame itself must be valid";
    const std::string as = c.at("as");
    Error e{};
    bool failed = false;
    if (as == "register") {
      auto r = decode_register_response(*f);
      failed = !r.ok();
      if (failed) e = r.error();
    } else if (as == "type") {
      auto r = decode_type_response(*f);
      failed = !r.ok();
      if (failed) e = r.error();
    } else if (as == "serial") {
      auto r = decode_serial_response(*f);
      failed = !r.ok();
      if (failed) e = r.error();
    } else {
      auto r = decode_request(*f);
      failed = !r.ok();
      if (failed) e = r.error();
    }
    ASSERT_TRUE(failed) << c.at("name") << " decoded";
    EXPECT_EQ(to_string(e), c.at("error").get<std::string>()) << c.at("name");
  }
}

TEST(NegativeCorpus, BadBlocksFailAloneOthersStillDecode) {
  const json corpus = negative();
  ASSERT_GE(corpus.at("blocks").size(), 4U);
  for (const auto& c : corpus.at("blocks")) {
    auto f = decode_frame(from_hex(c.at("hex")));
    ASSERT_TRUE(f.ok()) << c.at("name");
    auto r = decode_register_response(*f);
    ASSERT_TRUE(r.ok()) << c.at("name") << ": " << to_string(r.error());
    ASSERT_EQ(r->blocks.size(), c.at("expect").size()) << c.at("name");
    for (const auto& [id, want] : c.at("expect").items()) {
      const RegisterBlock* b = r->find(static_cast<std::uint16_t>(std::stoi(id)));
      ASSERT_NE(b, nullptr) << c.at("name") << " register " << id;
      std::string w = want;
      if (b->value.ok()) {
        ASSERT_TRUE(b->value->number.has_value());
        EXPECT_EQ(b->value->number->to_string(), w) << c.at("name");
      } else {
        EXPECT_EQ(to_string(b->value.error()), w) << c.at("name");
      }
    }
  }
}

TEST(Crc, MatchesXmodemCheckValueAndTheDocExample) {
  const std::string check = "123456789";
  std::vector<std::uint8_t> bytes(check.begin(), check.end());
  EXPECT_EQ(crc16_xmodem(bytes), 0x31C3);
  EXPECT_EQ(crc16_xmodem(from_hex("3F1001003C")), 0xB25F);
  EXPECT_EQ(crc16_xmodem(from_hex("3F1001003CB25F")), 0);
}

TEST(Frame, StuffsEveryReservedByteIncludingCrc) {
  Frame f;
  f.direction = Direction::FromMeter;
  f.cid = 0x10;
  f.data = {0x80, 0x40, 0x0D, 0x06, 0x1B};
  auto wire = encode_frame(f);
  std::string hex = to_hex(wire);
  EXPECT_EQ(hex.substr(0, 26), "403F101B7F1BBF1BF21BF91BE4");
  auto back = decode_frame(wire);
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(*back, f);
}

TEST(Frame, AckIsALoneByte) {
  auto r = decode_frame(from_hex("06"));
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(r->is_ack);
  Frame ack;
  ack.is_ack = true;
  EXPECT_EQ(encode_frame(ack), from_hex("06"));
}

TEST(Decimal, PrintsExactly) {
  auto text = [](std::uint64_t m, int e, bool neg = false) {
    return Decimal{m, e, neg}.to_string();
  };
  EXPECT_EQ(text(5365, -2), "53.65");
  EXPECT_EQ(text(0, -1), "0.0");
  EXPECT_EQ(text(12345, -2, true), "-123.45");
  EXPECT_EQ(text(19591204, 17), "1959120400000000000000000");
  EXPECT_EQ(text(5, -3), "0.005");
  EXPECT_EQ(text(0, 3), "0");
  EXPECT_EQ(text(0, -2, true), "0.00");  // no "-0.00"
  EXPECT_EQ(text(255, 3), "255000");
  EXPECT_EQ(Decimal({~uint128{0}, 0, false}).to_string(),
            "340282366920938463463374607431768211455");
}

TEST(Decimal, ParsesAndComparesNumerically) {
  auto a = Decimal::parse("200.00");
  auto b = Decimal::parse("200");
  ASSERT_TRUE(a && b);
  EXPECT_TRUE(a->equals(*b));
  EXPECT_EQ(a->to_string(), "200.00");
  EXPECT_FALSE(Decimal::parse("1e5").has_value());
  EXPECT_FALSE(Decimal::parse("").has_value());
  EXPECT_FALSE(Decimal::parse("-").has_value());
  EXPECT_FALSE(Decimal::parse("1.2.3").has_value());
  auto n = Decimal::parse("-0.5");
  ASSERT_TRUE(n);
  EXPECT_TRUE(n->negative);
  EXPECT_EQ(n->mantissa_at(-3), uint128{500});
  EXPECT_FALSE(Decimal::parse("53.65")->mantissa_at(-1).has_value());  // would lose a digit
}

// Exact arithmetic for rollups: never through double.
TEST(Decimal, AddsAndSubtractsExactlyAtTheFinerExponent) {
  auto d = [](const char* t) { return *Decimal::parse(t); };
  auto text = [](std::optional<Decimal> v) { return v ? v->to_string() : "overflow"; };
  EXPECT_EQ(text(d("55.210").minus(d("55.006"))), "0.204");
  EXPECT_EQ(text(d("55.006").minus(d("55.210"))), "-0.204");
  EXPECT_EQ(text(d("1.5").plus(d("2"))), "3.5");
  EXPECT_EQ(text(d("0.1").plus(d("0.2"))), "0.3");      // 0.30000000000000004 in double
  EXPECT_EQ(text(d("-1.25").plus(d("1.25"))), "0.00");  // zero is never negative
  EXPECT_FALSE(d("-1.25").plus(d("1.25"))->negative);
  EXPECT_EQ(text(d("-1.5").minus(d("2.25"))), "-3.75");
  EXPECT_EQ(text(d("-1.5").minus(d("-2.25"))), "0.75");
  EXPECT_EQ(text(d("340282366920938463463374607431768211455").plus(d("1"))), "overflow");
  EXPECT_EQ(text(d("1").plus(d("0.000000000000000000000000000000000000001"))), "overflow");
  // 38 digits at the finer exponent still fit 128 bits; 40 do not.
  EXPECT_EQ(text(d("9999999999999999999").minus(d("0.0000000000000000001"))),
            "9999999999999999998.9999999999999999999");
  EXPECT_EQ(text(d("99999999999999999999").minus(d("0.00000000000000000001"))), "overflow");
}

TEST(Decimal, ComparesAcrossExponentsAndSigns) {
  auto d = [](const char* t) { return *Decimal::parse(t); };
  EXPECT_EQ(d("200.00").compare(d("200")), 0);
  EXPECT_EQ(d("0.0").compare(d("-0.00")), 0);
  EXPECT_EQ(d("1.01").compare(d("1.1")), -1);
  EXPECT_EQ(d("-1.01").compare(d("-1.1")), 1);
  EXPECT_EQ(d("-5").compare(d("3")), -1);
  // The larger exponent's value overflows when scaled: it is the larger magnitude.
  EXPECT_EQ(Decimal({1, 60, false}).compare(d("0.00000000000000000001")), 1);
  EXPECT_EQ(Decimal({1, 60, true}).compare(Decimal({5, -20, true})), -1);
}

TEST(Decimal, DividesRoundingHalfEven) {
  auto d = [](const char* t) { return *Decimal::parse(t); };
  auto div = [&](const char* t, std::uint64_t n, int decimals) {
    auto v = d(t).divided(n, decimals);
    return v ? v->to_string() : "none";
  };
  EXPECT_EQ(div("139.90", 2, 5), "69.95000");
  EXPECT_EQ(div("1", 3, 3), "0.333");
  EXPECT_EQ(div("2", 3, 3), "0.667");
  EXPECT_EQ(div("0.0025", 1, 3), "0.002");  // half to even: down
  EXPECT_EQ(div("0.0035", 1, 3), "0.004");  // half to even: up
  EXPECT_EQ(div("-0.0035", 1, 3), "-0.004");
  EXPECT_EQ(div("-0.0001", 1, 3), "0.000");  // no negative zero
  EXPECT_EQ(div("5", 2, 0), "2");
  EXPECT_EQ(div("7", 2, 0), "4");
  EXPECT_EQ(div("1", 0, 3), "none");
}

TEST(Value, SignAndExponentBitsFromTheOfficialExamples) {
  auto v = decode_value(22, 0xC2, from_hex("00003039"));
  ASSERT_TRUE(v.ok());
  EXPECT_EQ(v->number->to_string(), "-123.45");
  v = decode_value(0, 0x03, from_hex("05397FB1"));
  ASSERT_TRUE(v.ok());
  EXPECT_EQ(v->number->to_string(), "87654321000");
  v = decode_value(0, 0x03, from_hex("FF"));
  EXPECT_EQ(v->number->to_string(), "255000");
}

TEST(Value, DatesAndTimesGetReadableText) {
  auto clock = decode_value(47, 0x00, from_hex("00030E33"));
  ASSERT_TRUE(clock.ok());
  EXPECT_EQ(clock->text, "20:02:43");
  EXPECT_EQ(clock->number->to_string(), "200243");
  auto date = decode_value(48, 0x00, from_hex("00035BD0"));
  EXPECT_EQ(date->text, "2022-01-12");
  auto md = decode_value(50, 0x00, from_hex("00000338"));
  EXPECT_EQ(md->text, "08-24");
  // 0 means "never" on the min/max date registers: no date text, the number stays.
  auto never = decode_value(48, 0x00, from_hex("00000000"));
  EXPECT_EQ(never->text, "");
  EXPECT_EQ(never->number->to_string(), "0");
  auto bad_month = decode_value(48, 0x00, from_hex("00035FB8"));  // 221112 → ok; 221312 not
  EXPECT_EQ(bad_month->text, "2022-11-12");
  EXPECT_EQ(decode_value(48, 0, from_hex("00036050"))->text, "");  // 221264: month 12 day 64
}

TEST(Value, AsciiAndRtcCarryTextAndNoNumber) {
  auto ascii = decode_value(54, 0, from_hex("36383433384243343530"));
  ASSERT_TRUE(ascii.ok());
  EXPECT_FALSE(ascii->number.has_value());
  EXPECT_EQ(ascii->text, "68438BC450");
  auto rtc = decode_value(53, 0, from_hex("0102030405060708"));
  ASSERT_TRUE(rtc.ok());
  EXPECT_FALSE(rtc->number.has_value());
  EXPECT_EQ(rtc->text, "0102030405060708");
}

TEST(Units, TableSpellingsAndBounds) {
  EXPECT_EQ(unit_info(0)->symbol, "");
  EXPECT_EQ(unit_info(2)->symbol, "kWh");
  EXPECT_EQ(unit_info(21)->symbol, "W");
  EXPECT_EQ(unit_info(22)->symbol, "kW");
  EXPECT_EQ(unit_info(37)->symbol, "°C");
  EXPECT_EQ(unit_info(40)->symbol, "m³");
  EXPECT_EQ(unit_info(41)->symbol, "l/h");
  EXPECT_EQ(unit_info(46)->symbol, "h");
  EXPECT_EQ(unit_info(48)->symbol, "yy:mm:dd");
  EXPECT_FALSE(unit_info(64)->uncertain);
  EXPECT_TRUE(unit_info(65)->uncertain);
  EXPECT_TRUE(unit_info(74)->uncertain);
  for (unsigned code = 75; code < 256; ++code) {
    EXPECT_FALSE(unit_info(static_cast<std::uint8_t>(code)).has_value()) << code;
  }
}

TEST(Units, ExactConversionWhereTheRatioAllows) {
  auto mwh = Decimal::parse("55.006");
  auto kwh = convert_exact(*mwh, "MWh", "kWh");
  ASSERT_TRUE(kwh);
  EXPECT_EQ(kwh->to_string(), "55006");
  EXPECT_EQ(convert_exact(*mwh, "MWh", "Wh")->to_string(), "55006000");
  EXPECT_EQ(convert_exact(*Decimal::parse("1.5"), "m³/h", "l/h")->to_string(), "1500");
  EXPECT_EQ(convert_exact(*Decimal::parse("1875.56"), "m³", "l")->to_string(), "1875560");
  EXPECT_EQ(convert_exact(*Decimal::parse("8.7"), "kW", "W")->to_string(), "8700");
  // 1 Gcal = 4.1868 GJ = 1 163 000 Wh exactly.
  EXPECT_EQ(convert_exact(*Decimal::parse("2.5"), "Gcal", "Wh")->to_string(), "2907500");
  // 1 GJ = 277 777.7... Wh: no finite decimal.
  EXPECT_FALSE(convert_exact(*mwh, "GJ", "kWh").has_value());
  EXPECT_FALSE(convert_exact(*mwh, "GJ", "Wh").has_value());
  // ... unless the value happens to make it one: 3.6 GJ = 1000 kWh.
  EXPECT_EQ(convert_exact(*Decimal::parse("3.6"), "GJ", "kWh")->to_string(), "1000");
  EXPECT_EQ(convert_exact(*Decimal::parse("7200"), "l/h", "l/min")->to_string(), "120");
  EXPECT_FALSE(convert_exact(*mwh, "MWh", "m³").has_value());
  EXPECT_FALSE(convert_exact(*mwh, "MWh", "furlong").has_value());
  EXPECT_FALSE(convert_exact(*Decimal::parse("20"), "°C", "K").has_value());  // a difference
}

TEST(Units, RoundedHalfEvenToTheResolution) {
  auto d = [](const char* t) { return *Decimal::parse(t); };
  // 1 GJ = 277777.777... Wh
  EXPECT_EQ(convert_rounded(d("1"), "GJ", "Wh", 0)->to_string(), "277778");
  EXPECT_EQ(convert_rounded(d("123.456"), "GJ", "Wh", 0)->to_string(), "34293333");
  // 252 l/h = 4.2 l/min; 250 l/h = 4.1666.. l/min
  EXPECT_EQ(convert_rounded(d("252"), "l/h", "l/min", 1)->to_string(), "4.2");
  EXPECT_EQ(convert_rounded(d("250"), "l/h", "l/min", 2)->to_string(), "4.17");
  // Ties go to the even neighbour: 2.5 → 2, 3.5 → 4, 0.125 → 0.12.
  EXPECT_EQ(convert_rounded(d("2.5"), "kWh", "kWh", 0)->to_string(), "2");
  EXPECT_EQ(convert_rounded(d("3.5"), "kWh", "kWh", 0)->to_string(), "4");
  EXPECT_EQ(convert_rounded(d("0.125"), "kWh", "kWh", 2)->to_string(), "0.12");
  EXPECT_EQ(convert_rounded(d("1.2345"), "kWh", "Wh", 0)->to_string(), "1234");
  EXPECT_EQ(convert_rounded(d("1.2355"), "kWh", "Wh", 0)->to_string(), "1236");
  // Exact whenever the resolution allows.
  EXPECT_EQ(convert_rounded(d("55.006"), "MWh", "Wh", 0)->to_string(), "55006000");
  EXPECT_EQ(convert_rounded(d("-1.5"), "kW", "kW", 0)->to_string(), "-2");
  EXPECT_FALSE(convert_rounded(d("1"), "GJ", "m³", 0).has_value());
}

TEST(Units, QuantitiesAndBaseUnits) {
  EXPECT_EQ(unit_quantity("GJ"), Quantity::Energy);
  EXPECT_EQ(unit_quantity("l/h"), Quantity::Flow);
  EXPECT_EQ(unit_quantity("K"), Quantity::TemperatureDifference);
  EXPECT_FALSE(unit_quantity("yy:mm:dd").has_value());
  EXPECT_EQ(base_unit(Quantity::Energy), "J");
  EXPECT_EQ(base_unit(Quantity::Flow), "m³/s");
  auto b = to_base(*Decimal::parse("55.006"), "MWh");
  ASSERT_TRUE(b);
  EXPECT_DOUBLE_EQ(b->value, 55.006 * 3.6e9);
  EXPECT_EQ(b->unit, "J");
  EXPECT_DOUBLE_EQ(to_base(*Decimal::parse("252"), "l/h")->value, 0.252 / 3600);
  // Every unit code of the meter's table that is a plain quantity converts to its base.
  for (std::uint8_t code = 0; code < 75; ++code) {
    auto u = unit_info(code);
    if (!u || u->kind != UnitKind::Number || u->symbol.empty()) continue;
    if (auto q = unit_quantity(u->symbol)) {
      EXPECT_FALSE(base_unit(*q).empty()) << u->symbol;
    }
  }
}

TEST(Receiver, SkipsEchoNoiseAndZerosThenYieldsTheReply) {
  FrameReceiver rx;
  auto echo = from_hex("803F1001003CB25F0D");
  auto reply = from_hex("403F10003C0304430000D6DE03220D");
  std::vector<std::uint8_t> stream = {0x00, 0x12};
  stream.insert(stream.end(), echo.begin(), echo.end());
  stream.push_back(0x00);
  stream.insert(stream.end(), reply.begin(), reply.end());
  std::vector<std::vector<std::uint8_t>> frames;
  for (auto b : stream) {
    if (rx.feed(b) == FrameReceiver::Event::Frame) {
      frames.emplace_back(rx.frame_bytes().begin(), rx.frame_bytes().end());
    }
  }
  ASSERT_EQ(frames.size(), 2U);
  EXPECT_EQ(frames[0], echo);
  EXPECT_EQ(frames[1], reply);
  EXPECT_EQ(rx.zero_bytes(), 2U);
  EXPECT_EQ(rx.noise_bytes(), 1U);
}

TEST(Receiver, BoundsAFrameWithoutStop) {
  FrameReceiver rx;
  rx.feed(0x40);
  FrameReceiver::Event last = FrameReceiver::Event::None;
  std::size_t fed = 1;
  while (last != FrameReceiver::Event::Overlong && fed < 5000) {
    last = rx.feed(0x11);
    ++fed;
  }
  EXPECT_EQ(last, FrameReceiver::Event::Overlong);
  EXPECT_EQ(fed, kMaxFrameBytes);
  EXPECT_FALSE(rx.in_frame());
}

TEST(Receiver, RestartsOnANewStartByte) {
  FrameReceiver rx;
  for (auto b : from_hex("403F10")) rx.feed(b);
  FrameReceiver::Event e{};
  for (auto b : from_hex("403F10079A0D")) e = rx.feed(b);
  EXPECT_EQ(e, FrameReceiver::Event::Frame);
  EXPECT_EQ(to_hex(rx.frame_bytes()), "403F10079A0D");
  EXPECT_EQ(rx.noise_bytes(), 3U);
}

}  // namespace
