// The packed values of a poll (schema v3): every text comes back byte for byte.
#include <gtest/gtest.h>

#include "store/codec.hpp"
#include "store_test_util.hpp"

namespace kamstrup::store::test {
namespace {

TEST(Codec, EveryValueComesBackExactly) {
  std::vector<Value> vs = eight_values(42);
  vs.push_back({-1, "customer_number", "00012.50", "", ""});       // leading zeros: kept as text
  vs.push_back({1002, "clock", "141500", "14:15:00", ""});         // a text twin
  vs.push_back({0x4242, "register_16962", "-0.0", "", "?"});       // uncatalogued id, -0.0
  vs.push_back({60, "not_the_catalogue_name", "1e5", "", "MWh"});  // a name of its own
  vs.push_back({-1, "empty", "", "", ""});
  vs.push_back({99, "info", "340282366920938463463374607431768211455", "", ""});  // 2^128 - 1
  vs.push_back({86, "temp1", "-12.000000000000000000000000000000000000000000000000000000000000001",
                "", "°C"});
  const std::string blob = encode_values(vs);
  auto back = decode_values(blob);
  ASSERT_TRUE(back.has_value());
  EXPECT_EQ(*back, vs);
}

TEST(Codec, EightRegistersTakeFewBytes) {
  // The size behind the store-size-per-year figure in docs/performance.md.
  EXPECT_LE(encode_values(eight_values(12345)).size(), 110U);
}

TEST(Codec, ADamagedBlobIsRefusedNotMisread) {
  std::string blob = encode_values(eight_values(7));
  EXPECT_FALSE(decode_values(blob.substr(0, blob.size() - 2)).has_value());
  std::string bad = blob;
  bad[2] = '\x09';  // an unknown value tag
  EXPECT_FALSE(decode_values(bad).has_value());
  EXPECT_TRUE(decode_values("")->empty());
}

}  // namespace
}  // namespace kamstrup::store::test
