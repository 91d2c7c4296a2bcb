// Readings without a KMP register (id -1: peak_power, customer_number, ...) in the read output:
// "id": null in JSON, "-" in the table, nothing in a name-only list.
#include <gtest/gtest.h>

#include "legacy/standard.hpp"
#include "meter/report.hpp"

using namespace kamstrup;

namespace {

meter::ReadResult mixed() {
  meter::ReadResult r;
  r.readings.push_back(meter::Reading{60, "heat_energy", legacy::make_value(507109, 3, "MWh"), ""});
  r.readings.push_back(meter::Reading{-1, "peak_power", legacy::make_value(93, 1, "kW"), ""});
  r.readings.push_back(meter::Reading{-1, "customer_number", std::nullopt, "Unsupported"});
  r.readings.push_back(meter::Reading{-1, "pulse_input", std::nullopt, "UnknownProgram"});
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

}  // namespace
