// The helpers every output writes with: JSON/CSV quoting, the decimal test, the reading shape,
// the UTC time text.
#include "text/text.hpp"

#include <gtest/gtest.h>

#include <cstdint>
#include <nlohmann/json.hpp>
#include <random>

#include "text/time.hpp"

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

// One instant has one spelling in every output, API and export (a JSONL line and a history CSV row
// join on the text): always three fraction digits, ".000" included.
TEST(TimeText, EveryOutputSpellsAnInstantTheSameWay) {
  EXPECT_EQ(utc_text(1'795'442'405'000), "2026-11-23T14:00:05.000Z");
  EXPECT_EQ(utc_text(1'795'442'405'123), "2026-11-23T14:00:05.123Z");
  EXPECT_EQ(utc_text(0), "1970-01-01T00:00:00.000Z");
  EXPECT_EQ(utc_text(-1), "1969-12-31T23:59:59.999Z");
  // The table form cuts the milliseconds (never rounds a reading into the next second).
  EXPECT_EQ(utc_text(1'795'442'405'999, TimeDigits::seconds), "2026-11-23T14:00:05Z");
}

TEST(TimeText, TheTextReadsBackAndSortsAsTheTime) {
  std::mt19937_64 rng(20261206);
  std::uniform_int_distribution<std::int64_t> any(-2'000'000'000'000, 32'000'000'000'000);
  std::string before;
  std::int64_t before_ms = 0;
  for (int i = 0; i < 20000; ++i) {
    const std::int64_t ms = i % 2 ? any(rng) : any(rng) / 1000 * 1000;
    const std::string t = utc_text(ms);
    ASSERT_EQ(t.size(), 24u) << t;
    ASSERT_EQ(rfc3339_ms(t), ms) << t;
    if (i > 0 && ms >= 0 && before_ms >= 0) {
      EXPECT_EQ(t < before, ms < before_ms) << t << " " << before;
    }
    before = t;
    before_ms = ms;
  }
}

}  // namespace
