// The meter's info code in `kamstrup read`, end to end: a simulated meter whose info register
// (99) holds a sum of flag values, read over a real pty. The JSON register object carries the
// decoded "flags" (named where Kamstrup documents them for the model, "bit_<n>" otherwise), the
// table a line under the value; the value itself stays the meter's number.
#include <fstream>

#include "e2e.hpp"

namespace kamstrup::e2e {
namespace {

std::string profile(const TempDir& dir, const std::string& base, const std::string& info) {
  const std::string path = dir / (base + "-info.yaml");
  std::ofstream(path) << "base: " << base << "\nregisters:\n  info: {value: \"" << info
                      << "\", fixed: true}\n";
  return path;
}

const Json* info_register(const Json& j) {
  for (const auto& reg : j.at("registers")) {
    if (reg.value("id", 0) == 99) return &reg;
  }
  return nullptr;
}

// 8456 = 8 (t1 above range) + 256 (air in V1) + 8192 (leak on input B).
TEST(InfoFlagsE2E, KmpMeterWithItsModelNamedGetsNamedFlags) {
  TempDir dir;
  Sim sim(dir, 70, {"--profile-file", profile(dir, "multical403", "8456"), "--echo"});
  ASSERT_TRUE(sim.started()) << sim.diag();
  const RunResult r = kamstrup(
      {"read", "--port", sim.port(), "--json", "--model", "multical403", "heat_energy", "info"});
  ASSERT_EQ(r.status, 0) << describe(r);
  const Json j = parse_json(r.out);
  const Json* info = info_register(j);
  ASSERT_NE(info, nullptr) << r.out;
  EXPECT_EQ(info->at("name"), "info");
  EXPECT_EQ(raw_value_tokens(r.out).at(1), "8456") << r.out;
  EXPECT_EQ(info->at("flags"), Json::array({"t1_above_range", "v1_air", "input_b_leak"})) << r.out;
  EXPECT_FALSE(j.at("registers")[0].contains("flags")) << r.out;
  // The value the meter sent, not a re-encoding.
  ASSERT_EQ(sim.tx().size(), 1U) << sim.diag();
  EXPECT_EQ(sim.tx()[0].at("values").at("99"), "8456");
}

// Without --model a KMP meter's flags are its set bits: its type number does not tell the model.
TEST(InfoFlagsE2E, KmpMeterOfUnknownModelShowsBitsInTheTable) {
  TempDir dir;
  Sim sim(dir, 71, {"--profile-file", profile(dir, "multical403", "8456")});
  ASSERT_TRUE(sim.started()) << sim.diag();
  const RunResult r = kamstrup({"read", "--port", sim.port(), "heat_energy", "info"});
  ASSERT_EQ(r.status, 0) << describe(r);
  EXPECT_NE(
      r.out.find("info         99    8456  \n"
                 "  flags: bit_3, bit_8, bit_13 (bits only: the meter's model is not known)\n"),
      std::string::npos)
      << r.out;
}

// A MULTICAL /#n meter: its /#1 info field with the MULTICAL 66-C codes. 522 = 2 (not documented
// for the 66-C) + 8 (T1 out of range) + 512 (burst).
TEST(InfoFlagsE2E, LegacyMeterInfoFieldGetsTheMultical66cCodes) {
  TempDir dir;
  Sim sim(dir, 72, {"--profile-file", profile(dir, "multical66c", "522")});
  ASSERT_TRUE(sim.started()) << sim.diag();
  const RunResult r =
      kamstrup({"read", "--port", sim.port(), "--protocol", "legacy", "--json", "info", "volume2"});
  EXPECT_EQ(r.status, 1) << describe(r);  // volume2: not in a /#1 reply
  const Json j = parse_json(r.out);
  const Json* info = info_register(j);
  ASSERT_NE(info, nullptr) << r.out;
  EXPECT_EQ(info->at("flags"), Json::array({"bit_1", "t1_out_of_range", "burst"})) << r.out;
  EXPECT_EQ(j.at("unsupported"), Json::array({69})) << r.out;
  const RunResult t = kamstrup({"read", "--port", sim.port(), "--protocol", "legacy", "info"});
  EXPECT_NE(t.out.find("  flags: bit_1, t1_out_of_range, burst (MULTICAL 66-C info codes)\n"),
            std::string::npos)
      << t.out;
}

TEST(InfoFlagsE2E, AnUnknownModelIsAUsageError) {
  const RunResult r = kamstrup({"read", "--port", "/dev/null", "--model", "multical601"});
  EXPECT_EQ(r.status, 2) << describe(r);
}

}  // namespace
}  // namespace kamstrup::e2e
