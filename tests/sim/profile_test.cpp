// Profiles: built-ins, YAML overrides and the errors that name the offending key.
#include <gtest/gtest.h>

#include "kmp/messages.hpp"
#include "sim/meter_model.hpp"
#include "sim/profile.hpp"
#include "sim_test_util.hpp"

namespace kamstrup::sim::test {
namespace {

const WallClock::time_point kT0 = WallClock::from_time_t(1'710'500'000);

kmp::RegisterResponse ask(MeterModel& m, std::vector<std::uint16_t> ids, WallClock::time_point t) {
  Answer a = m.handle(kmp::encode_request(kmp::GetRegisterRequest{std::move(ids)}).value(), t);
  EXPECT_TRUE(a.reply);
  return kmp::decode_register_response(kmp::decode_frame(*a.reply).value()).value();
}

TEST(Profile, BuiltinsAreValid) {
  ASSERT_EQ(profile_names().size(), 6U);  // + multical66c, multical401 (legacy)
  for (auto name : profile_names()) {
    auto p = builtin_profile(name);
    ASSERT_TRUE(p) << name;
    EXPECT_EQ(p->name, name);
    EXPECT_NO_THROW(validate_profile(*p)) << name;
  }
  EXPECT_FALSE(builtin_profile("multical999"));
  EXPECT_EQ(builtin_profile("multical403")->line.to_string(), "1200 8N2");
  EXPECT_EQ(builtin_profile("kamstrup382")->line.to_string(), "9600 8N1");
  EXPECT_EQ(builtin_profile("multical21")->line.to_string(), "1200 8N2");
}

// The water meter: its registers with their units, none of a heat meter's, a volume that follows
// the flow, and no data logger.
TEST(Profile, WaterMeter) {
  const Profile p = *builtin_profile("multical21");
  MeterModel m(p, 7, kT0);
  auto r = ask(m, {68, 243, 74, 292, 299, 99, 1004, 582}, kT0);
  ASSERT_EQ(r.blocks.size(), 8U);
  const std::pair<std::uint16_t, const char*> units[] = {{68, "m³"},  {243, "m³"},  {74, "l/h"},
                                                         {292, "°C"}, {299, "°C"},  {99, ""},
                                                         {1004, "h"}, {582, "days"}};
  for (const auto& [id, unit] : units) {
    ASSERT_NE(r.find(id), nullptr) << id;
    ASSERT_TRUE(r.find(id)->value) << id;
    EXPECT_EQ(r.find(id)->value->unit, unit) << id;
  }
  EXPECT_EQ(r.find(68)->value->number->to_string(), "312.456");
  EXPECT_EQ(r.find(74)->value->number->to_string(), "180");
  EXPECT_EQ(r.find(99)->value->number->to_string(), "0");
  EXPECT_EQ(r.find(582)->value->number->to_string(), "3650");

  // A heat meter's registers are not there: the reply omits them.
  auto heat = ask(m, {60, 80, 86, 87, 89, 97, 1002}, kT0);
  ASSERT_EQ(heat.blocks.size(), 1U);
  EXPECT_EQ(heat.blocks[0].id, 1002);

  Answer type = m.handle(from_hex("803F01058A0D"), kT0);
  ASSERT_TRUE(type.reply);
  EXPECT_EQ(kmp::decode_type_response(kmp::decode_frame(*type.reply).value())->meter_type,
            p.meter_type);

  // An hour at 80–400 l/h (the simulated flow's band) adds 0.080–0.400 m³, in whole litres.
  auto later = ask(m, {68, 1004}, kT0 + 1h);
  const auto volume = later.find(68)->value->number;
  EXPECT_EQ(volume->exponent, -3);
  const auto litres = static_cast<std::int64_t>(volume->mantissa) - 312'456;
  EXPECT_GE(litres, 80) << volume->to_string();
  EXPECT_LE(litres, 400) << volume->to_string();
  EXPECT_EQ(later.find(1004)->value->number->to_string(), "15313");

  EXPECT_FALSE(p.logger.enabled);
  EXPECT_FALSE(m.handle(kmp::encode_get_event_status(), kT0).reply.has_value());

  // YAML profiles can start from it.
  Profile y = parse_profile_yaml("base: multical21\nregisters:\n  info: \"16\"\n", "w.yaml");
  EXPECT_EQ(y.name, "multical21");
  MeterModel my(y, 7, kT0);
  EXPECT_EQ(ask(my, {99}, kT0).find(99)->value->number->to_string(), "16");
}

TEST(Profile, YamlOverrides) {
  Profile p = parse_profile_yaml(R"(
base: multical602
serial: 123
meter_type: 0x1101
registers:
  heat_energy: {value: "55.006", unit: MWh, nob: 4, fixed: true}
  0x0123: unsupported
  volume: unsupported
  temp1: {value: "53.65"}
  temp2: "41.5"
  0x0200: {value: "7", unit: 51}
  hour_counter: {value: "100", unit: 46}
  flow: {unit: m3/h, value: "0.250"}
)",
                                 "test.yaml");
  EXPECT_EQ(p.name, "multical602");
  MeterModel m(p, 1, kT0);
  auto r = ask(m, {60, 68, 86, 87, 89, 0x0200, 1004, 1001}, kT0);
  std::vector<std::uint16_t> ids;
  for (const auto& b : r.blocks) ids.push_back(b.id);
  EXPECT_EQ(ids, (std::vector<std::uint16_t>{60, 86, 87, 89, 0x0200, 1004, 1001}));
  auto flow = ask(m, {0x0123, 74}, kT0);
  ASSERT_EQ(flow.blocks.size(), 1U);
  EXPECT_EQ(r.find(60)->value->unit, "MWh");
  EXPECT_EQ(r.find(60)->value->number->to_string(), "55.006");
  EXPECT_EQ(r.find(86)->value->number->to_string(), "53.65");
  EXPECT_EQ(r.find(87)->value->number->to_string(), "41.5");
  EXPECT_EQ(r.find(89)->value->number->to_string(), "12.15");  // 53.65 − 41.5 at exponent -2
  EXPECT_EQ(r.find(0x0200)->value->number->to_string(), "7");
  EXPECT_EQ(r.find(0x0200)->value->unit_code, 51);
  EXPECT_EQ(r.find(1004)->value->number->to_string(), "100");
  EXPECT_EQ(r.find(1001)->value->number->to_string(), "123");
  EXPECT_EQ(flow.find(74)->value->unit, "m³/h");
  EXPECT_EQ(flow.find(74)->value->number->to_string(), "0.250");

  Answer type = m.handle(from_hex("803F01058A0D"), kT0);
  EXPECT_EQ(kmp::decode_type_response(kmp::decode_frame(*type.reply).value())->meter_type, 0x1101);

  // Fixed stays, the rest moves on.
  auto later = ask(m, {60, 1004, 86}, kT0 + 2h);
  EXPECT_EQ(later.find(60)->value->number->to_string(), "55.006");
  EXPECT_EQ(later.find(1004)->value->number->to_string(), "102");
}

TEST(Profile, EmptyFileIsTheDefaultProfile) {
  Profile p = parse_profile_yaml("", "empty.yaml");
  EXPECT_EQ(p.name, "multical403");
  EXPECT_EQ(p.serial, builtin_profile("multical403")->serial);
}

std::string error_of(const std::string& yaml) {
  try {
    parse_profile_yaml(yaml, "bad.yaml");
  } catch (const ProfileError& e) {
    return e.what();
  }
  return "(no error)";
}

TEST(Profile, ErrorsNameTheKey) {
  const std::pair<const char*, const char*> cases[] = {
      {"colour: red", "bad.yaml: colour: unknown key"},
      {"base: multical999", "bad.yaml: base: unknown profile"},
      {"serial: -5", "bad.yaml: serial: expected a non-negative integer"},
      {"line: fast", "bad.yaml: line: expected"},
      {"registers: {tempx: {value: 1}}", "bad.yaml: registers.tempx: unknown register"},
      {"registers: {temp1: {value: 1, colour: 2}}",
       "bad.yaml: registers.temp1.colour: unknown key"},
      {"registers: {temp1: {unit: furlong}}", "bad.yaml: registers.temp1.unit: unknown unit"},
      {"registers: {temp1: {nob: 0}}", "bad.yaml: registers.temp1.nob: expected 1..16"},
      {"registers: {temp1: {fixed: maybe}}", "bad.yaml: registers.temp1.fixed: expected true"},
      {"registers: {temp1: {value: 1e3}}", "bad.yaml: registers.temp1.value: '1e3' is not a plain"},
      {"registers: {temp1: [1, 2]}", "bad.yaml: registers.temp1: expected a value"},
      {"registers: {0x0200: {value: 1}}", "bad.yaml: registers.0x0200: a register the base"},
      {"registers: {clock: {value: 120000}}", "bad.yaml: registers.clock: a clock register"},
      {"registers: {serial_number: {value: 5}}", "bad.yaml: registers.serial_number: set the"},
      {"registers: {heat_energy: {value: \"55.006\", nob: 1}}",
       "bad.yaml: registers.heat_energy: value 55.006 does not fit 1 bytes"},
      {"registers: {temp1: {unit: kWh}}", "bad.yaml: registers.temp1: unit 'kWh'"},
      {"registers: {hour_counter: {value: \"1.0000000001\", nob: 8}}",
       "bad.yaml: registers.hour_counter: exponent -10 is too fine"},
      {"registers: {flow: {value: \"1.0000001\", unit: l/h, nob: 8}}",
       "bad.yaml: registers.flow: exponent must be -6..6"},
      {"registers: {power: {value: \"99999999999\", unit: GW, nob: 8, fixed: true}}",
       "bad.yaml: registers.power: value too large"},
      {"registers: [", "bad.yaml: line 1:"},
      // Not text (yaml-cpp would guess UTF-32LE from 08 00 00 00, UTF-16 from FE FF).
      {"\x08\x01\x02"
       "base: x",
       "bad.yaml: a control character: line 1, column 1 (byte 0x08)"},
      {"serial: 5\nbase: \xfe\xff", "bad.yaml: not UTF-8 text: line 2, column 7 (byte 0xFE)"},
  };
  for (const auto& [yaml, want] : cases) {
    std::string got = error_of(yaml);
    EXPECT_EQ(got.rfind(want, 0), 0U) << yaml << "\n  got: " << got;
  }
  EXPECT_NE(error_of("registers: {tempx: 1}").find("did you mean"), std::string::npos);
  // A unit that does not suit the behaviour is fine on a fixed register.
  EXPECT_EQ(error_of("registers: {temp1: {unit: kWh, fixed: true}}"), "(no error)");
}

// A list or a map where a key belongs is a ProfileError naming where it is, like every other
// mistake; it used to escape as yaml-cpp's own "bad conversion" (found by fuzz/profile_fuzz.cpp).
TEST(Profile, KeysThatAreNotTextNameTheirPlace) {
  const std::pair<const char*, const char*> cases[] = {
      {"[a]: 1", "bad.yaml: expected a plain key, got a list"},
      {"registers: {{value: 1}: 2}", "bad.yaml: registers: expected a plain key, got a map"},
      {"registers: {temp1: {[value]: 1}}",
       "bad.yaml: registers.temp1: expected a plain key, got a list"},
      {"logger: {{a: b}: true}", "bad.yaml: logger: expected a plain key, got a map"},
      {"logger: {lids: {[hourly]: 4}}", "bad.yaml: logger.lids: expected a plain key, got a list"},
  };
  for (const auto& [yaml, want] : cases) {
    EXPECT_EQ(error_of(yaml), want) << yaml;
  }
}

TEST(Profile, MissingFileIsAnError) {
  try {
    load_profile_file("/nonexistent/profile.yaml");
    FAIL();
  } catch (const ProfileError& e) {
    EXPECT_EQ(std::string(e.what()), "/nonexistent/profile.yaml: cannot open");
  }
}

TEST(Profile, ParseUnit) {
  EXPECT_EQ(parse_unit("MWh"), 3);
  EXPECT_EQ(parse_unit("GJ"), 8);
  EXPECT_EQ(parse_unit("m3"), 40);
  EXPECT_EQ(parse_unit("m³"), 40);
  EXPECT_EQ(parse_unit("°C"), 37);
  EXPECT_EQ(parse_unit("C"), 37);
  EXPECT_EQ(parse_unit("K"), 38);
  EXPECT_EQ(parse_unit("22"), 22);
  EXPECT_EQ(parse_unit("0"), 0);
  EXPECT_FALSE(parse_unit("999"));
  EXPECT_FALSE(parse_unit("200"));
  EXPECT_FALSE(parse_unit("furlong"));
  EXPECT_FALSE(parse_unit(""));
}

TEST(Profile, LineSpec) {
  auto l = LineSpec::parse("1200 8N2");
  ASSERT_TRUE(l);
  EXPECT_EQ(l->bits_per_char(), 11U);
  EXPECT_EQ(l->char_time().count(), 9'166'666);
  EXPECT_EQ(LineSpec::parse("9600 8N1")->bits_per_char(), 10U);
  EXPECT_EQ(LineSpec::parse("300 7E2")->to_string(), "300 7E2");
  EXPECT_FALSE(LineSpec::parse("1200"));
  EXPECT_FALSE(LineSpec::parse("1200 8X2"));
  EXPECT_FALSE(LineSpec::parse("0 8N2"));
  EXPECT_FALSE(LineSpec::parse("1200 8N3"));
}

}  // namespace
}  // namespace kamstrup::sim::test
