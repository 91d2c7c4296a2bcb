// The Prometheus rendering: base-unit families from the meter's own units (converted in one
// place, kmp/units.hpp), the exact raw gauge kept, build info; `promtool check metrics` (Debian
// package prometheus) passes on the result.
#include "web/metrics.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "../e2e/process.hpp"
#include "version/version.hpp"

using namespace kamstrup;
using ::testing::HasSubstr;
using ::testing::Not;

namespace {

web::MeterStatus meter(const std::string& name, std::vector<store::Value> values) {
  web::MeterStatus m;
  m.name = name;
  m.up = true;
  m.last_success_ms = 1795443900123;
  m.last_poll.meter = name;
  m.last_poll.values = std::move(values);
  return m;
}

std::string render() {
  std::vector<web::MeterStatus> meters;
  meters.push_back(meter("heat", {{60, "heat_energy", "55.006", "", "MWh"},
                                  {68, "volume", "1875.56", "", "m³"},
                                  {86, "temp1", "70.00", "", "°C"},
                                  {87, "temp2", "40.02", "", "°C"},
                                  {89, "temp_diff", "29.98", "", "K"},
                                  {74, "flow", "252", "", "l/h"},
                                  {80, "power", "8.7", "", "kW"},
                                  {1004, "hour_counter", "7126", "", "h"},
                                  {64, "tariff2", "12.5", "", "m³"},
                                  {1003, "date", "261205", "2026-12-05", "yy:mm:dd"}}));
  meters.push_back(meter("gj", {{60, "heat_energy", "123.456", "", "GJ"},
                                {80, "power", "1.2", "", "MW"},
                                {-1, "peak_power", "10.2", "", "kW"},
                                {60, "heat_energy_weird", "5", "", "GJ×10"}}));
  return web::prometheus_metrics(meters, {});
}

TEST(Prometheus, CountersPerRegisterAndGaugesPerQuantityInBaseUnits) {
  const std::string m = render();
  // 55.006 MWh = 198 021 600 000 J exactly; 123.456 GJ = 123 456 000 000 J.
  EXPECT_THAT(m, HasSubstr("# TYPE kamstrup_heat_energy_joules_total counter\n"));
  EXPECT_THAT(m, HasSubstr("kamstrup_heat_energy_joules_total{meter=\"heat\"} 198021600000\n"));
  EXPECT_THAT(m, HasSubstr("kamstrup_heat_energy_joules_total{meter=\"gj\"} 123456000000\n"));
  EXPECT_THAT(m, HasSubstr("kamstrup_volume_cubic_meters_total{meter=\"heat\"} 1875.56\n"));
  EXPECT_THAT(m, HasSubstr("kamstrup_operating_time_seconds_total{meter=\"heat\"} 25653600\n"));
  EXPECT_THAT(m, HasSubstr("# TYPE kamstrup_temperature_celsius gauge\n"));
  EXPECT_THAT(m, HasSubstr("kamstrup_temperature_celsius{meter=\"heat\",register=\"temp1\"} 70\n"));
  EXPECT_THAT(m,
              HasSubstr("kamstrup_temperature_celsius{meter=\"heat\",register=\"temp2\"} 40.02\n"));
  EXPECT_THAT(m, HasSubstr("kamstrup_temperature_difference_kelvin{meter=\"heat\",register="
                           "\"temp_diff\"} 29.98\n"));
  // 252 l/h = 0.252 m³ / 3600 s.
  EXPECT_THAT(m, HasSubstr("kamstrup_flow_cubic_meters_per_second{meter=\"heat\",register="
                           "\"flow\"} 7e-05\n"));
  EXPECT_THAT(m, HasSubstr("kamstrup_power_watts{meter=\"heat\",register=\"power\"} 8700\n"));
  EXPECT_THAT(m, HasSubstr("kamstrup_power_watts{meter=\"gj\",register=\"power\"} 1200000\n"));
  EXPECT_THAT(m, HasSubstr("kamstrup_power_watts{meter=\"gj\",register=\"peak_power\"} 10200\n"));
  // A tariff register counting m³ is not energy: only its raw gauge.
  EXPECT_THAT(m, Not(HasSubstr("kamstrup_tariff2_")));
  EXPECT_THAT(m, HasSubstr("kamstrup_register_value{meter=\"heat\",register=\"tariff2\",id=\"64\","
                           "unit=\"m³\"} 12.5\n"));
  // The exact raw gauge stays, in the meter's unit.
  EXPECT_THAT(m, HasSubstr("kamstrup_register_value{meter=\"heat\",register=\"heat_energy\","
                           "id=\"60\",unit=\"MWh\"} 55.006\n"));
  EXPECT_THAT(m, HasSubstr("kamstrup_build_info{version=\"" + std::string(version()) + "\""));
}

TEST(Prometheus, PassesPromtool) {
  const std::string m = render();
  auto check = test::run({"/usr/bin/promtool", "check", "metrics"}, m);
  EXPECT_EQ(check.status, 0) << check.out << check.err << m;
}

}  // namespace
