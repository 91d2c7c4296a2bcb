// The shipped files work: the systemd unit passes `systemd-analyze verify` with no complaint
// (it prints warnings but still exits 0 for many mistakes, so stderr must be empty too), and the
// annotated example configuration is valid.
#include <gtest/gtest.h>

#include <fstream>
#include <regex>
#include <sstream>

#include "../e2e/process.hpp"

using namespace kamstrup::test;

namespace {

const std::string kBin = KAMSTRUP_BINARY;
const std::string kSource = KAMSTRUP_SOURCE_DIR;

TEST(Packaging, SystemdUnitVerifiesCleanly) {
  TempDir dir;
  std::ifstream in(kSource + "/packaging/kamstrup.service");
  std::stringstream ss;
  ss << in.rdbuf();
  std::string unit = ss.str();
  ASSERT_NE(unit.find("ExecStart=/usr/local/bin/kamstrup run"), std::string::npos);
  // Point ExecStart at the built binary: verify checks that the executable exists.
  unit = std::regex_replace(unit, std::regex("/usr/local/bin/kamstrup"), kBin);
  for (const char* hardening : {"NoNewPrivileges=yes", "ProtectSystem=strict",
                                "StateDirectory=kamstrup", "SupplementaryGroups=dialout"}) {
    EXPECT_NE(unit.find(hardening), std::string::npos) << hardening;
  }
  std::ofstream(dir / "kamstrup.service") << unit;
  auto r = run({"/usr/bin/systemd-analyze", "verify", dir / "kamstrup.service"});
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(r.err, "");

  // The check itself catches a bad directive (guards against a verify that checks nothing).
  std::ofstream(dir / "bad.service")
      << std::regex_replace(unit, std::regex("ProtectSystem=strict"), "ProtectSystem=bogus");
  auto bad = run({"/usr/bin/systemd-analyze", "verify", dir / "bad.service"});
  EXPECT_NE(bad.err.find("bogus"), std::string::npos);
}

TEST(Packaging, ExampleConfigIsValid) {
  auto r = run({kBin, "config", "check", kSource + "/kamstrup.example.yaml"});
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_NE(r.out.find("name: heat"), std::string::npos);
}

}  // namespace
