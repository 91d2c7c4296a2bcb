// Round trips: random values → reply builders → parsers → the same exact values.
#include <gtest/gtest.h>

#include <random>

#include "legacy/iec.hpp"
#include "legacy/standard.hpp"

using namespace kamstrup::legacy;
using kamstrup::kmp::Decimal;
using kamstrup::kmp::uint128;

namespace {

constexpr const char* kPrograms[] = {"0044119", "0042119", "0043116", "0045136", "0044151",
                                     "0042120", "0044158", "0042158", "0042170", "0045180"};

Decimal random_value(std::mt19937_64& rng, int decimals, unsigned width) {
  uint128 limit = 1;
  for (unsigned i = 0; i < width; ++i) limit *= 10;
  return Decimal{static_cast<uint128>(rng()) % limit, -decimals, false};
}

TEST(LegacyProperty, Standard1RoundTripsForEveryScale) {
  std::mt19937_64 rng(20261123);
  int checked = 0;
  for (int trial = 0; trial < 5000; ++trial) {
    const Scale s = *scale_for(*parse_program_number(kPrograms[rng() % std::size(kPrograms)]));
    const unsigned width = 7 + static_cast<unsigned>(rng() % 3);  // 7..9 digit fields
    Standard1 v;
    v.heat_energy = random_value(rng, s.energy.decimals, width);
    v.volume = random_value(rng, s.volume.decimals, width);
    v.hour_counter = random_value(rng, 0, width);
    v.temp1 = random_value(rng, 2, width);
    v.temp2 = random_value(rng, 2, width);
    v.temp_diff = random_value(rng, 2, width);
    v.power = random_value(rng, s.power.decimals, width);
    v.flow = random_value(rng, s.flow.decimals, width);
    v.peak_power = random_value(rng, s.power.decimals, width);
    v.info = random_value(rng, 0, width);
    const std::string line = encode_standard1(v, s, width);
    ASSERT_EQ(line.back(), '\r');
    ASSERT_EQ(line.size(), 10 * (width + 1));
    auto decoded = decode_standard1(std::string_view(line).substr(0, line.size() - 1), s);
    ASSERT_TRUE(decoded.ok()) << line;
    const Decimal* want[] = {&v.heat_energy, &v.volume, &v.temp1,      &v.temp2, &v.temp_diff,
                             &v.power,       &v.flow,   &v.peak_power, &v.info,  &v.hour_counter};
    const char* names[] = {"heat_energy", "volume", "temp1",      "temp2", "temp_diff",
                           "power",       "flow",   "peak_power", "info",  "hour_counter"};
    for (std::size_t i = 0; i < std::size(names); ++i) {
      bool found = false;
      for (const auto& d : *decoded) {
        if (d.name != names[i]) continue;
        found = true;
        EXPECT_EQ(d.value.number->mantissa, want[i]->mantissa) << names[i] << " " << line;
        EXPECT_EQ(d.value.number->exponent, want[i]->exponent) << names[i] << " " << line;
        ++checked;
      }
      EXPECT_TRUE(found) << names[i];
    }
  }
  EXPECT_EQ(checked, 5000 * 10);
}

TEST(LegacyProperty, EncodingTruncatesToTheMetersResolution) {
  const Scale s = *scale_for(*parse_program_number("0044119"));
  Standard1 v;
  v.heat_energy = *Decimal::parse("507.10999");  // finer than 3 decimals: truncated, not rounded
  v.volume = *Decimal::parse("12966.2");         // coarser: padded
  v.temp1 = *Decimal::parse("-1.5");             // negative: 0
  v.hour_counter = *Decimal::parse("12345678");  // wraps at 10^7 like the meter's counter
  const std::string line = encode_standard1(v, s);
  EXPECT_EQ(line.substr(0, 32), "0507109 1296620 2345678 0000000 ");
}

TEST(LegacyProperty, IecReadoutRoundTrips) {
  std::mt19937_64 rng(7);
  const char* codes[] = {"0.0", "6.8", "6.26", "6.31", "1.20", "1.6", "1.6*1", "9.9.9"};
  const char* units[] = {"", "GJ", "m3", "h", "kWh", "kW", "MWh"};
  for (int trial = 0; trial < 3000; ++trial) {
    std::vector<IecItem> items;
    const std::size_t n = static_cast<std::size_t>(rng() % 12);
    for (std::size_t i = 0; i < n; ++i) {
      const int decimals = static_cast<int>(rng() % 4);
      items.push_back(make_iec_item(codes[rng() % std::size(codes)], random_value(rng, decimals, 9),
                                    units[static_cast<std::size_t>(rng() % std::size(units))],
                                    static_cast<std::size_t>(7 + rng() % 5)));
    }
    const std::string ident = "/KAM" + std::to_string(rng() % 1000);
    const std::string wire = encode_iec_readout(ident, items);
    auto back = decode_iec_readout(wire);
    ASSERT_TRUE(back.ok()) << to_string(back.error()) << "\n" << wire;
    EXPECT_EQ(back->identification, ident);
    ASSERT_EQ(back->items.size(), items.size());
    for (std::size_t i = 0; i < n; ++i) {
      EXPECT_EQ(back->items[i], items[i]) << wire;
      ASSERT_TRUE(back->items[i].number.has_value());
    }
    // Any single changed data character is caught by the BCC or the item syntax.
    if (n > 0) {
      std::string bad = wire;
      const std::size_t stx = bad.find('\x02');
      const std::size_t pos = stx + 1 + static_cast<std::size_t>(rng() % (bad.size() - stx - 3));
      if (bad[pos] >= '0' && bad[pos] <= '8') {
        bad[pos] = static_cast<char>(bad[pos] + 1);
        EXPECT_FALSE(decode_iec_readout(bad).ok()) << bad;
      }
    }
  }
}

}  // namespace
