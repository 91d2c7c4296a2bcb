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
  rr.readings.push_back(meter::Reading{291, "register_291", std::nullopt, "Unsupported"});
  rr.readings.push_back(meter::Reading{60, "heat_energy", std::nullopt, "UnknownUnit"});
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

TEST(Report, QuotesControlCharacters) {
  EXPECT_EQ(text::json_quote("a\"b\\\n\x01"), "\"a\\\"b\\\\\\n\\u0001\"");
}

}  // namespace
