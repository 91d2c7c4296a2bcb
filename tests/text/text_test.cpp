// The helpers every output writes with: JSON/CSV quoting, the decimal test, the reading shape.
#include "text/text.hpp"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

using namespace kamstrup::text;

namespace {

TEST(Text, DecimalsAreExactlyWhatDecimalPrintsAndValidJson) {
  for (const char* ok : {"0", "-0", "55.006", "0.100", "1959120400000000000000000", "-12.5"}) {
    EXPECT_TRUE(is_decimal(ok)) << ok;
    EXPECT_TRUE(nlohmann::json::accept(ok)) << ok;
  }
  for (const char* bad : {"", "-", "01", "007.5", ".5", "5.", "+1", "1e5", "0x10", "NaN", "1 ",
                          "12a", "1.2.3", "--1"}) {
    EXPECT_FALSE(is_decimal(bad)) << bad;
  }
}

TEST(Text, JsonQuoteEscapesControlCharactersAndKeepsUtf8) {
  EXPECT_EQ(json_quote("m³ \"x\"\\\n\t\x01"), "\"m³ \\\"x\\\"\\\\\\n\\t\\u0001\"");
  const std::string s = json_quote(std::string("a\0b", 3));
  EXPECT_EQ(nlohmann::json::parse(s).get<std::string>(), std::string("a\0b", 3));
}

TEST(Text, CsvFieldQuotesOnlyWhenNeeded) {
  EXPECT_EQ(csv_field("55.006"), "55.006");
  EXPECT_EQ(csv_field("a,b"), "\"a,b\"");
  EXPECT_EQ(csv_field("say \"hi\""), "\"say \"\"hi\"\"\"");
  EXPECT_EQ(csv_field("two\nlines"), "\"two\nlines\"");
}

TEST(Text, ReadingJsonHasTheDocumentedShape) {
  EXPECT_EQ(reading_json({60, "heat_energy", "55.006", "MWh", "", nullptr}),
            R"({"id": 60, "name": "heat_energy", "value": 55.006, "unit": "MWh"})");
  EXPECT_EQ(
      reading_json({-1, "customer_number", "", "", "12345", nullptr}),
      R"({"id": null, "name": "customer_number", "value": null, "unit": "", "text": "12345"})");
  const std::vector<std::string> flags = {"t1_above_range", "bit_2"};
  EXPECT_EQ(
      reading_json({99, "info", "10", "", "", &flags}),
      R"({"id": 99, "name": "info", "value": 10, "unit": "", "flags": ["t1_above_range", "bit_2"]})");
  // Not a decimal (never from the meter layer): still valid JSON, as a string.
  EXPECT_EQ(nlohmann::json::parse(reading_json({1, "x", "1e5", "", "", nullptr}))["value"], "1e5");
}

}  // namespace
