#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "../kmp/test_util.hpp"
#include "meter/report.hpp"

using namespace kamstrup;

namespace {

meter::Reading reading(std::uint16_t id, const std::string& name, std::uint8_t unit,
                       std::uint8_t siex, const std::string& hex) {
  meter::Reading r;
  r.id = id;
  r.name = name;
  r.value = kmp::decode_value(unit, siex, kamstrup::test::from_hex(hex)).value();
  return r;
}

TEST(Report, JsonNumbersAreExactTokens) {
  meter::ReadResult rr;
  rr.readings.push_back(reading(86, "temp1", 37, 0x42, "14F5"));
  rr.readings.push_back(reading(80, "power", 22, 0xC2, "00003039"));
  rr.readings.push_back(reading(1003, "date", 48, 0, "00035BD0"));
  rr.readings.push_back(reading(1126, "meter_type_number", 54, 0, "4B414D"));
  rr.readings.push_back(
      meter::Reading{291, "register_291", std::nullopt, meter::Outcome::Unsupported});
  rr.readings.push_back(
      meter::Reading{60, "heat_energy", std::nullopt, meter::Outcome::UnknownUnit});
  std::string text = meter::read_result_json("/dev/ttyUSB0", "2026-11-23T14:25:00Z", rr);
  EXPECT_NE(text.find("\"value\": 53.65,"), std::string::npos) << text;
  EXPECT_NE(text.find("\"value\": -123.45,"), std::string::npos) << text;
  auto j = nlohmann::json::parse(text);
  EXPECT_EQ(j["port"], "/dev/ttyUSB0");
  ASSERT_EQ(j["registers"].size(), 4U);
  EXPECT_EQ(j["registers"][0]["unit"], "°C");
  EXPECT_EQ(j["registers"][2]["text"], "2022-01-12");
  EXPECT_TRUE(j["registers"][3]["value"].is_null());
  EXPECT_EQ(j["registers"][3]["text"], "KAM");
  EXPECT_EQ(j["unsupported"], nlohmann::json::array({291}));
  EXPECT_EQ(j["failed"][0]["id"], 60);
  EXPECT_EQ(j["failed"][0]["error"], "UnknownUnit");
}

TEST(Report, TableAlignsByDisplayWidth) {
  meter::ReadResult rr;
  rr.readings.push_back(reading(86, "temp1", 37, 0x42, "14F5"));
  rr.readings.push_back(reading(68, "volume", 40, 0x42, "0002DCA4"));
  std::string t = meter::read_result_table(rr);
  EXPECT_NE(t.find("temp1     86    53.65  °C\n"), std::string::npos) << t;
  EXPECT_NE(t.find("volume    68  1875.56  m³\n"), std::string::npos) << t;
}

// Every outcome keeps the text scripts saw when the outcome was a string.
TEST(Report, OutcomeNamesAreTheOldStrings) {
  using O = meter::Outcome;
  const std::vector<std::pair<O, const char*>> names = {{O::Value, ""},
                                                        {O::Unsupported, "Unsupported"},
                                                        {O::UnknownUnit, "UnknownUnit"},
                                                        {O::BadLength, "BadLength"},
                                                        {O::Malformed, "Malformed"},
                                                        {O::Silent, "Silent"},
                                                        {O::EchoOnly, "EchoOnly"},
                                                        {O::Garbage, "Garbage"},
                                                        {O::CrcErrors, "CrcErrors"},
                                                        {O::UnknownProgram, "UnknownProgram"}};
  for (const auto& [o, name] : names) EXPECT_EQ(meter::outcome_name(o), name);
  // Failures and codec errors map to the outcome of the same name.
  for (auto f : {meter::Failure::Silent, meter::Failure::EchoOnly, meter::Failure::Garbage,
                 meter::Failure::CrcErrors}) {
    EXPECT_EQ(meter::outcome_name(meter::outcome_of(f)), meter::failure_name(f));
  }
  EXPECT_EQ(meter::outcome_of(meter::Failure::None), O::Value);
  for (auto e : {kmp::Error::UnknownUnit, kmp::Error::BadLength, kmp::Error::Malformed,
                 kmp::Error::Unsupported}) {
    EXPECT_EQ(meter::outcome_name(meter::outcome_of(e)), kmp::to_string(e));
  }
  EXPECT_EQ(meter::outcome_of(kmp::Error::Truncated), O::Malformed);
}

// The info code's register object has its flags; the table has them on a line under the value.
TEST(Report, InfoCodeFlagsInJsonAndTable) {
  meter::ReadResult rr;
  rr.readings.push_back(reading(60, "heat_energy", 3, 0x43, "0000D6DE"));
  rr.readings.push_back(reading(99, "info", 51, 0, "00002108"));  // 8456 = 8 + 256 + 8192
  rr.info_codes = kmp::InfoCodes::Multical403;
  const std::string json = meter::read_result_json("/dev/x", "2026-11-23T00:00:00Z", rr);
  auto j = nlohmann::json::parse(json);
  EXPECT_FALSE(j["registers"][0].contains("flags")) << json;
  EXPECT_EQ(j["registers"][1]["flags"],
            nlohmann::json::array({"t1_above_range", "v1_air", "input_b_leak"}))
      << json;
  EXPECT_EQ(meter::read_result_table(rr),
            "register     id   value  unit\n"
            "heat_energy  60  55.006  MWh\n"
            "info         99    8456  \n"
            "  flags: t1_above_range, v1_air, input_b_leak (MULTICAL 403 info codes)\n");
  // Model unknown: bits; a zero code: an empty list and "none".
  rr.info_codes = kmp::InfoCodes::Unknown;
  j = nlohmann::json::parse(meter::read_result_json("/dev/x", "t", rr));
  EXPECT_EQ(j["registers"][1]["flags"], nlohmann::json::array({"bit_3", "bit_8", "bit_13"}));
  rr.readings[1] = reading(99, "info", 51, 0, "00000000");
  j = nlohmann::json::parse(meter::read_result_json("/dev/x", "t", rr));
  EXPECT_EQ(j["registers"][1]["flags"], nlohmann::json::array());
  EXPECT_NE(meter::read_result_table(rr).find("  flags: none (bits only"), std::string::npos);
}

TEST(Report, QuotesControlCharacters) {
  EXPECT_EQ(text::json_quote("a\"b\\\n\x01"), "\"a\\\"b\\\\\\n\\u0001\"");
}

}  // namespace
