// The info-code decoder, bit by bit: every one of the 64 bits alone, against the tables of the
// fact sheet §3.5 written out here independently (MC403 tech. description §7.7.1, [MC66TD]
// §1.8); bits a table does not document come out as "bit_<n>", never dropped.
#include <gtest/gtest.h>

#include <map>
#include <string>

#include "kmp/info_code.hpp"

namespace kamstrup::kmp {
namespace {

// value → name, as the fact sheet gives them.
const std::map<std::uint64_t, std::string> kMc403 = {
    {1, "no_supply"},         {8, "t1_above_range"},  {16, "t2_above_range"},
    {32, "t1_below_range"},   {64, "t2_below_range"}, {128, "invalid_temp_diff"},
    {256, "v1_air"},          {8192, "input_b_leak"}, {16384, "input_a_alarm"},
    {32768, "input_b_alarm"},
};
const std::map<std::uint64_t, std::string> kMc66c = {
    {1, "no_supply"},        {4, "t2_out_of_range"},  {8, "t1_out_of_range"},
    {32, "t3_out_of_range"}, {64, "cold_water_leak"}, {256, "heating_leak"},
    {512, "burst"},
};

void expect_each_bit(InfoCodes table, const std::map<std::uint64_t, std::string>& named) {
  for (unsigned bit = 0; bit < 64; ++bit) {
    SCOPED_TRACE("bit " + std::to_string(bit));
    const std::uint64_t value = std::uint64_t{1} << bit;
    const auto flags = decode_info_code(table, value);
    ASSERT_EQ(flags.size(), 1U);
    EXPECT_EQ(flags[0].bit, bit);
    const auto it = named.find(value);
    if (it != named.end()) {
      EXPECT_EQ(flags[0].name, it->second);
      EXPECT_TRUE(flags[0].documented());
      EXPECT_FALSE(flags[0].description.empty());
    } else {
      EXPECT_EQ(flags[0].name, "bit_" + std::to_string(bit));
      EXPECT_FALSE(flags[0].documented());
    }
  }
  // The table lists exactly the documented flags.
  const auto defs = info_flag_table(table);
  ASSERT_EQ(defs.size(), named.size());
  for (const auto& d : defs) {
    EXPECT_EQ(named.at(std::uint64_t{1} << d.bit), d.name) << d.bit;
  }
}

TEST(InfoCode, Multical403EveryBit) {
  expect_each_bit(InfoCodes::Multical403, kMc403);
}
TEST(InfoCode, Multical66cEveryBit) {
  expect_each_bit(InfoCodes::Multical66C, kMc66c);
}
TEST(InfoCode, UnknownModelShowsEveryBitAsABit) {
  expect_each_bit(InfoCodes::Unknown, {});
}

std::vector<std::string> names(const std::vector<InfoFlag>& flags) {
  std::vector<std::string> out;
  for (const auto& f : flags) out.push_back(f.name);
  return out;
}

TEST(InfoCode, SumsOfCodesInBitOrder) {
  EXPECT_TRUE(decode_info_code(InfoCodes::Multical66C, std::uint64_t{0}).empty());
  // 9 = supply missing + T1 out of range; 2 is not documented for the 66-C.
  EXPECT_EQ(names(decode_info_code(InfoCodes::Multical66C, std::uint64_t{9 + 2 + 512})),
            (std::vector<std::string>{"no_supply", "bit_1", "t1_out_of_range", "burst"}));
  EXPECT_EQ(names(decode_info_code(InfoCodes::Multical403, std::uint64_t{8 + 256 + 4096})),
            (std::vector<std::string>{"t1_above_range", "v1_air", "bit_12"}));
  EXPECT_EQ(names(decode_info_code(InfoCodes::Unknown, std::uint64_t{0x8000000000000005ULL})),
            (std::vector<std::string>{"bit_0", "bit_2", "bit_63"}));
}

TEST(InfoCode, FromTheMetersDecimal) {
  auto dec = [](const char* text) { return *Decimal::parse(text); };
  auto nine = decode_info_code(InfoCodes::Multical66C, dec("9"));
  ASSERT_TRUE(nine);
  EXPECT_EQ(names(*nine), (std::vector<std::string>{"no_supply", "t1_out_of_range"}));
  auto nine_point_zero = decode_info_code(InfoCodes::Multical66C, dec("9.0"));
  ASSERT_TRUE(nine_point_zero);
  EXPECT_EQ(names(*nine_point_zero), names(*nine));
  Decimal ten{1, 1, false};  // 1 × 10^1
  ASSERT_TRUE(decode_info_code(InfoCodes::Unknown, ten));
  EXPECT_EQ(names(*decode_info_code(InfoCodes::Unknown, ten)),
            (std::vector<std::string>{"bit_1", "bit_3"}));
  EXPECT_FALSE(decode_info_code(InfoCodes::Multical403, dec("9.5")));
  EXPECT_FALSE(decode_info_code(InfoCodes::Multical403, dec("-8")));
  EXPECT_FALSE(decode_info_code(InfoCodes::Multical403, dec("18446744073709551616")));  // 2^64
  ASSERT_TRUE(decode_info_code(InfoCodes::Multical403, dec("-0")));
  EXPECT_TRUE(decode_info_code(InfoCodes::Multical403, dec("-0"))->empty());
}

TEST(InfoCode, Names) {
  for (auto t : {InfoCodes::Unknown, InfoCodes::Multical403, InfoCodes::Multical66C}) {
    EXPECT_EQ(parse_info_codes(info_codes_name(t)), t);
  }
  EXPECT_EQ(parse_info_codes("mc403"), InfoCodes::Multical403);
  EXPECT_FALSE(parse_info_codes("multical601"));
  EXPECT_EQ(info_codes_title(InfoCodes::Multical66C), "MULTICAL 66-C");
}

}  // namespace
}  // namespace kamstrup::kmp
