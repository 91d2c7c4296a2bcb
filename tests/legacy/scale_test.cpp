// Program number ABCCC → scale (docs/protocol.md §6.4), and the scale text users put in the config.
#include <gtest/gtest.h>

#include "legacy/standard.hpp"

using namespace kamstrup::legacy;

namespace {

Scale scale_of(const char* program) {
  auto p = parse_program_number(program);
  EXPECT_TRUE(p.ok()) << program;
  auto s = scale_for(*p);
  EXPECT_TRUE(s.ok()) << program << ": " << to_string(s.error());
  return s.ok() ? *s : Scale{};
}

struct Row {
  const char* program;
  QuantityScale energy, volume, power, flow;
};

TEST(LegacyScale, ProgramNumbersGiveTheTablesUnitsAndDecimals) {
  const Row rows[] = {
      // 4-4-119: MWh 3 decimals (the MC66-1 meter)
      {"0044119", {"MWh", 3}, {"m³", 2}, {"kW", 1}, {"l/h", 0}},
      // 4-2-119: GJ 2 decimals
      {"0042119", {"GJ", 2}, {"m³", 2}, {"kW", 1}, {"l/h", 0}},
      {"0043116", {"kWh", 0}, {"m³", 2}, {"kW", 1}, {"l/h", 0}},
      {"0045198", {"Gcal", 3}, {"m³", 2}, {"kW", 1}, {"l/h", 0}},
      {"0044151", {"MWh", 2}, {"m³", 1}, {"kW", 1}, {"l/h", 0}},
      {"0042179", {"GJ", 1}, {"m³", 1}, {"kW", 1}, {"l/h", 0}},
      // 4-4-158: qp 40, flow in m³/h
      {"0044158", {"MWh", 1}, {"m³", 0}, {"kW", 0}, {"m³/h", 2}},
      {"0042158", {"GJ", 0}, {"m³", 0}, {"kW", 0}, {"m³/h", 2}},
      // 4-2-170: qp 60-150, power in MW
      {"0042170", {"GJ", 0}, {"m³", 0}, {"MW", 3}, {"m³/h", 2}},
      {"0044147", {"MWh", 1}, {"m³", 0}, {"MW", 3}, {"m³/h", 2}},
      {"44180", {"MWh", 1}, {"m³", 0}, {"MW", 3}, {"m³/h", 2}},
  };
  for (const auto& r : rows) {
    SCOPED_TRACE(r.program);
    const Scale s = scale_of(r.program);
    EXPECT_EQ(s.energy, r.energy);
    EXPECT_EQ(s.volume, r.volume);
    EXPECT_EQ(s.power, r.power);
    EXPECT_EQ(s.flow, r.flow);
  }
}

TEST(LegacyScale, SameDigitsDifferentMeters) {
  // The example: the same /#1 digits are 507.109 MWh on one meter, 5071.09 GJ on another.
  const std::string line =
      "0507109 1296626 0032673 0006811 0003366 0003445 0000031 0000079 0000093 0000000";
  auto mwh = decode_standard1(line, scale_of("0044119"));
  auto gj = decode_standard1(line, scale_of("0042119"));
  ASSERT_TRUE(mwh.ok() && gj.ok());
  EXPECT_EQ((*mwh)[0].value.number->to_string(), "507.109");
  EXPECT_EQ((*mwh)[0].value.unit, "MWh");
  EXPECT_EQ((*gj)[0].value.number->to_string(), "5071.09");
  EXPECT_EQ((*gj)[0].value.unit, "GJ");
  auto big = decode_standard1(line, scale_of("0042170"));
  ASSERT_TRUE(big.ok());
  EXPECT_EQ((*big)[0].value.number->to_string(), "507109");
  EXPECT_EQ((*big)[1].value.number->to_string(), "1296626");
  EXPECT_EQ((*big)[6].value.number->to_string(), "0.031");
  EXPECT_EQ((*big)[6].value.unit, "MW");
  EXPECT_EQ((*big)[7].value.number->to_string(), "0.79");
  EXPECT_EQ((*big)[7].value.unit, "m³/h");
}

TEST(LegacyScale, UnknownCodesAreAnErrorNotAGuess) {
  for (const char* program :
       {"0044999", "0041119", "0046119", "0040119", "0043151", "0043158", "0043170", "0044000"}) {
    auto p = parse_program_number(program);
    ASSERT_TRUE(p.ok()) << program;
    auto s = scale_for(*p);
    ASSERT_FALSE(s.ok()) << program;
    EXPECT_EQ(s.error(), Error::UnknownProgram) << program;
  }
  for (const char* bad : {"", "4411", "00x4119", "1044119", "0044119 ", "-044119"}) {
    auto p = parse_program_number(bad);
    ASSERT_FALSE(p.ok()) << bad;
    EXPECT_EQ(p.error(), Error::BadProgramNumber) << bad;
  }
  auto p = parse_program_number("0044119");
  EXPECT_EQ(p->a, 4U);
  EXPECT_EQ(p->b, 4U);
  EXPECT_EQ(p->ccc, 119U);
}

TEST(LegacyScale, ScaleTextParsesAndPrintsBack) {
  auto s = parse_scale("energy=MWh:3,volume=m3:2,power=kW:1,flow=l/h:0");
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(*s, scale_of("0044119"));
  auto t = parse_scale(" flow=m3/h:2, power=MW:3 ,volume=m³:0,energy=GJ:0");
  ASSERT_TRUE(t.ok());
  EXPECT_EQ(*t, scale_of("0042170"));
  EXPECT_EQ(scale_to_string(*t), "energy=GJ:0,volume=m3:0,power=MW:3,flow=m3/h:2");
  for (const char* program : {"0044119", "0042119", "0044158", "0042170", "0045151"}) {
    const Scale x = scale_of(program);
    auto back = parse_scale(scale_to_string(x));
    ASSERT_TRUE(back.ok()) << program;
    EXPECT_EQ(*back, x) << program;
  }
  for (const char* bad : {"", "energy=MWh:3", "energy=MWh:3,volume=m3:2,power=kW:1",
                          "energy=MWh:3,volume=m3:2,power=kW:1,flow=l/h:0,flow=l/h:0",
                          "energy=kW:3,volume=m3:2,power=kW:1,flow=l/h:0",
                          "energy=MWh:7,volume=m3:2,power=kW:1,flow=l/h:0",
                          "energy=MWh:-1,volume=m3:2,power=kW:1,flow=l/h:0",
                          "energy=MWh,volume=m3:2,power=kW:1,flow=l/h:0",
                          "energy=MWh:3,volume=m3:2,power=kW:1,flow=l/h:0,temp=C:2",
                          "energy=MWh:3;volume=m3:2;power=kW:1;flow=l/h:0"}) {
    auto r = parse_scale(bad);
    ASSERT_FALSE(r.ok()) << bad;
    EXPECT_EQ(r.error(), Error::BadScaleSpec) << bad;
  }
}

}  // namespace
