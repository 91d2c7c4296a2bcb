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

// What the meter's answer says beyond its values: which configured registers it has (once it
// answered), its raw info code and a 0/1 per flag its table documents.
TEST(Prometheus, SupportedRegistersAndInfoFlags) {
  web::MeterStatus m =
      meter("heat", {{60, "heat_energy", "55.006", "", "MWh"}, {99, "info", "10", "", ""}});
  m.polls_ok = 3;
  m.unsupported = {"volume2"};
  m.info_codes = kmp::InfoCodes::Multical403;
  m.info_flags =
      kmp::decode_info_code(kmp::InfoCodes::Multical403, std::uint64_t{10});  // bit 1 + bit 3
  web::MeterStatus quiet = meter("cold", {});
  quiet.up = false;  // never answered: nothing known about its registers or info code
  const std::string t = web::prometheus_metrics({m, quiet}, {});
  EXPECT_THAT(t, HasSubstr("# TYPE kamstrup_register_supported gauge\n"));
  EXPECT_THAT(
      t, HasSubstr("kamstrup_register_supported{meter=\"heat\",register=\"heat_energy\"} 1\n"));
  EXPECT_THAT(t, HasSubstr("kamstrup_register_supported{meter=\"heat\",register=\"info\"} 1\n"));
  EXPECT_THAT(t, HasSubstr("kamstrup_register_supported{meter=\"heat\",register=\"volume2\"} 0\n"));
  EXPECT_THAT(t, Not(HasSubstr("kamstrup_register_supported{meter=\"cold\"")));
  // Raw: the undocumented bit 1 (value 2) stays visible.
  EXPECT_THAT(t, HasSubstr("# TYPE kamstrup_info_code gauge\n"));
  EXPECT_THAT(t, HasSubstr("kamstrup_info_code{meter=\"heat\"} 10\n"));
  EXPECT_THAT(t, HasSubstr("kamstrup_info_flag{meter=\"heat\",flag=\"t1_above_range\"} 1\n"));
  EXPECT_THAT(t, HasSubstr("kamstrup_info_flag{meter=\"heat\",flag=\"no_supply\"} 0\n"));
  EXPECT_THAT(t, Not(HasSubstr("flag=\"bit_1\"")));  // only documented flags get a 0/1
  std::size_t flags = 0;
  for (auto at = t.find("kamstrup_info_flag{"); at != std::string::npos;
       at = t.find("kamstrup_info_flag{", at + 1)) {
    ++flags;
  }
  EXPECT_EQ(flags, kmp::info_flag_table(kmp::InfoCodes::Multical403).size());
  EXPECT_THAT(t, Not(HasSubstr("kamstrup_info_code{meter=\"cold\"")));
  auto check = test::run({"/usr/bin/promtool", "check", "metrics"}, t);
  EXPECT_EQ(check.status, 0) << check.out << check.err << t;
}

// No info code in the answer: no flags, no raw code. Bits-only table: the raw code, no flags.
TEST(Prometheus, InfoFlagsNeedAnInfoCodeAndATable) {
  web::MeterStatus m = meter("heat", {{60, "heat_energy", "55.006", "", "MWh"}});
  m.polls_ok = 1;
  m.info_codes = kmp::InfoCodes::Multical403;
  EXPECT_THAT(web::prometheus_metrics({m}, {}), Not(HasSubstr("kamstrup_info_")));
  m.info_codes = kmp::InfoCodes::Unknown;
  m.info_flags = kmp::decode_info_code(kmp::InfoCodes::Unknown, std::uint64_t{0});
  const std::string t = web::prometheus_metrics({m}, {});
  EXPECT_THAT(t, HasSubstr("kamstrup_info_code{meter=\"heat\"} 0\n"));
  EXPECT_THAT(t, Not(HasSubstr("kamstrup_info_flag{")));
}

TEST(Prometheus, StoreHealth) {
  EXPECT_THAT(render(), Not(HasSubstr("kamstrup_store_")));  // no store given: no families
  web::StoreHealth s;
  s.ok = false;
  s.state = "cannot write: database or disk is full";
  s.errors = 4;
  s.held = 2;
  s.queue = 2;
  s.dropped = 3;
  const std::string t = web::prometheus_metrics({}, {}, s);
  for (const char* line :
       {"# TYPE kamstrup_store_up gauge\nkamstrup_store_up 0\n",
        "# TYPE kamstrup_store_errors_total counter\nkamstrup_store_errors_total 4\n",
        "# TYPE kamstrup_store_held_polls gauge\nkamstrup_store_held_polls 2\n",
        "# TYPE kamstrup_store_queue_size gauge\nkamstrup_store_queue_size 2\n",
        "# TYPE kamstrup_store_dropped_polls_total counter\nkamstrup_store_dropped_polls_total "
        "3\n"}) {
    EXPECT_THAT(t, HasSubstr(line));
  }
  s.ok = true;
  EXPECT_THAT(web::prometheus_metrics({}, {}, s), HasSubstr("kamstrup_store_up 1\n"));
  auto check = test::run({"/usr/bin/promtool", "check", "metrics"}, t);
  EXPECT_EQ(check.status, 0) << check.out << check.err << t;
}

}  // namespace
