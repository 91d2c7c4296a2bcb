// Readings without a KMP register (id -1: peak_power, customer_number, ...) in the read output:
// "id": null in JSON, "-" in the table, nothing in a name-only list.
#include <gtest/gtest.h>

#include "legacy/standard.hpp"
#include "meter/legacy_session.hpp"
#include "meter/report.hpp"

using namespace kamstrup;

namespace {

meter::ReadResult mixed() {
  meter::ReadResult r;
  r.readings.push_back(meter::Reading{60, "heat_energy", legacy::make_value(507109, 3, "MWh"),
                                      meter::Outcome::Value});
  r.readings.push_back(
      meter::Reading{-1, "peak_power", legacy::make_value(93, 1, "kW"), meter::Outcome::Value});
  r.readings.push_back(
      meter::Reading{-1, "customer_number", std::nullopt, meter::Outcome::Unsupported});
  r.readings.push_back(
      meter::Reading{-1, "pulse_input", std::nullopt, meter::Outcome::UnknownProgram});
  return r;
}

TEST(ReadingId, JsonShowsNullForNoKmpRegister) {
  const std::string json = meter::read_result_json("/dev/x", "2026-11-23T00:00:00Z", mixed());
  EXPECT_EQ(json,
            "{\"port\": \"/dev/x\", \"time\": \"2026-11-23T00:00:00Z\", \"protocol\": \"kmp\", "
            "\"registers\": "
            "[{\"id\": 60, \"name\": \"heat_energy\", \"value\": 507.109, \"unit\": \"MWh\"}, "
            "{\"id\": null, \"name\": \"peak_power\", \"value\": 9.3, \"unit\": \"kW\"}], "
            "\"unsupported\": [\"customer_number\"], \"failed\": [{\"id\": null, \"name\": "
            "\"pulse_input\", \"error\": \"UnknownProgram\"}]}");
  EXPECT_EQ(meter::id_json(-1), "null");
  EXPECT_EQ(meter::id_json(1004), "1004");
}

TEST(ReadingId, TableShowsADash) {
  EXPECT_EQ(meter::read_result_table(mixed()),
            "register     id    value  unit\n"
            "heat_energy  60  507.109  MWh\n"
            "peak_power    -      9.3  kW\n"
            "customer_number (-): not supported by this meter\n"
            "pulse_input (-): failed: UnknownProgram\n");
  EXPECT_EQ(meter::id_text(-1), "-");
  EXPECT_EQ(meter::id_text(0), "0");
}

// A /#1 reply carries a fixed set of quantities: one the user (or a configuration) names that is
// not among them is listed as unsupported, never silently absent.
TEST(ReadingId, SelectedReadingsListWhatTheReplyLacksAsUnsupported) {
  meter::ReadResult all = mixed();
  all.info_codes = kmp::InfoCodes::Multical66C;
  const auto r = meter::select_readings(all, {"peak_power", "volume2", "heat_energy"});
  ASSERT_EQ(r.readings.size(), 3U);
  EXPECT_EQ(r.readings[0].name, "peak_power");
  EXPECT_TRUE(r.readings[0].value);
  EXPECT_EQ(r.readings[1].name, "volume2");
  EXPECT_EQ(r.readings[1].id, 69);
  EXPECT_EQ(r.readings[1].outcome, meter::Outcome::Unsupported);
  EXPECT_EQ(r.readings[2].name, "heat_energy");
  EXPECT_EQ(r.info_codes, kmp::InfoCodes::Multical66C);
  ASSERT_EQ(r.unsupported().size(), 1U);
  EXPECT_EQ(r.unsupported()[0]->name, "volume2");
  EXPECT_EQ(meter::select_readings(all, {}).readings.size(), all.readings.size());
}

}  // namespace
