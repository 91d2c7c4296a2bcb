// `kamstrup decode` end to end: golden files (tests/data/golden/NAME.hex → NAME.json), stdin
// mode, and malformed hex.
//
// NAME.hex holds the frame as hex; whitespace splits it into separate arguments (decode joins
// its arguments into one frame). NAME.json is the expected `decode --json` output. Expected exit
// status: 1 when its "kind" is "invalid", else 0.
//
// Bless mode: KAMSTRUP_BLESS=1 writes a missing NAME.json from the current output, and the test
// still fails so that nobody keeps it unread: review the file by hand (against
// tests/data/kmp-vectors.json), then run again.
#include <cstdlib>
#include <filesystem>

#include "e2e.hpp"

namespace kamstrup::e2e {
namespace {

namespace fs = std::filesystem;

fs::path golden_dir() {
  return fs::path(KAMSTRUP_TEST_DATA) / "golden";
}

std::vector<std::string> golden_names() {
  std::vector<std::string> names;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(golden_dir(), ec)) {
    if (entry.path().extension() == ".hex") names.push_back(entry.path().stem().string());
  }
  std::sort(names.begin(), names.end());
  return names;
}

bool blessing() {
  const char* v = std::getenv("KAMSTRUP_BLESS");
  return v != nullptr && std::string(v) == "1";
}

TEST(DecodeGoldenE2E, ThereAreGoldenFiles) {
  // Guards against an empty or missing directory silently instantiating no tests.
  EXPECT_GE(golden_names().size(), 40U) << golden_dir();
}

class DecodeGolden : public ::testing::TestWithParam<std::string> {};

TEST_P(DecodeGolden, MatchesTheExpectedJson) {
  const fs::path hex_path = golden_dir() / (GetParam() + ".hex");
  const fs::path json_path = golden_dir() / (GetParam() + ".json");
  std::vector<std::string> args = {"decode", "--json"};
  std::istringstream hex_text(test::Background::slurp(hex_path.string()));
  for (std::string word; hex_text >> word;) args.push_back(word);
  ASSERT_GT(args.size(), 2U) << hex_path << " is empty";

  const RunResult r = kamstrup(args);
  ASSERT_TRUE(r.status == 0 || r.status == 1) << describe(r);
  EXPECT_EQ(r.err, "") << describe(r);

  if (!fs::exists(json_path)) {
    if (blessing()) {
      std::ofstream(json_path) << r.out;
      FAIL() << "blessed " << json_path << " from the current output; review it by hand against "
             << "tests/data/kmp-vectors.json, then run again:\n"
             << r.out;
    }
    FAIL() << json_path << " is missing (KAMSTRUP_BLESS=1 writes it from the current output)";
  }
  const std::string expected_text = test::Background::slurp(json_path.string());
  const Json expected = parse_json(expected_text);
  const Json actual = parse_json(r.out);
  EXPECT_EQ(actual, expected) << "got:      " << r.out << "expected: " << expected_text;
  // Exactly one line of output.
  EXPECT_EQ(std::count(r.out.begin(), r.out.end(), '\n'), 1) << r.out;
  // The numbers, as text: parsed JSON compares doubles, which cannot tell 55.006 from
  // 55.0060 or hold 1959120400000000000000000 exactly.
  EXPECT_EQ(raw_value_tokens(r.out), raw_value_tokens(expected_text)) << r.out;
  EXPECT_EQ(r.status, expected.value("kind", "") == "invalid" ? 1 : 0) << describe(r);
}

INSTANTIATE_TEST_SUITE_P(Golden, DecodeGolden, ::testing::ValuesIn(golden_names()),
                         [](const ::testing::TestParamInfo<std::string>& p) {
                           std::string name = p.param;
                           for (char& c : name) {
                             if (std::isalnum(static_cast<unsigned char>(c)) == 0) c = '_';
                           }
                           return name;
                         });

// The golden files agree with the vector file they were made from: every register value there
// is the exact text decode prints.
TEST(DecodeGoldenE2E, AgreesWithTheVectorFile) {
  std::ifstream in(std::string(KAMSTRUP_TEST_DATA) + "/kmp-vectors.json");
  const Json vectors = Json::parse(in);
  std::size_t checked = 0;
  for (const auto& v : vectors) {
    if (!v.contains("hex") || v.value("kind", "") != "response" || !v.contains("registers")) {
      continue;
    }
    const fs::path json_path =
        golden_dir() / ("response-" + v.at("id").get<std::string>() + ".json");
    SCOPED_TRACE(json_path.string());
    ASSERT_TRUE(fs::exists(json_path));
    const std::string text = test::Background::slurp(json_path.string());
    std::vector<std::string> want;
    for (const auto& reg : v.at("registers")) want.push_back(reg.at("value"));
    EXPECT_EQ(raw_value_tokens(text), want);
    const Json j = parse_json(text);
    ASSERT_EQ(j.at("registers").size(), v.at("registers").size());
    for (std::size_t i = 0; i < want.size(); ++i) {
      EXPECT_EQ(j.at("registers")[i].at("id"), v.at("registers")[i].at("id"));
      EXPECT_EQ(j.at("registers")[i].at("unit"), v.at("registers")[i].at("unit"));
    }
    ++checked;
  }
  EXPECT_GE(checked, 15U);
}

TEST(DecodeE2E, StdinDecodesEveryLineAndExits1OnAnInvalidOne) {
  const std::string input =
      "403F10003C0304430000D6DE03220D\n"  // T1: heat_energy 55.006 MWh
      "803F1001000265CF0D\r\n"            // C3: bad CRC (CRLF line end)
      "\n"                                // blank lines are skipped
      "403F0201234567E9560D\n"            // D4: serial 19088743
      "403F10003C0304430000D6DE\n";       // X9: no stop byte
  const RunResult r = kamstrup({"decode", "--json", "-"}, input);
  EXPECT_EQ(r.status, 1) << describe(r);
  std::istringstream lines(r.out);
  std::vector<Json> out;
  for (std::string line; std::getline(lines, line);) out.push_back(parse_json(line));
  ASSERT_EQ(out.size(), 4U) << r.out;
  EXPECT_EQ(out[0].at("kind"), "response");
  EXPECT_EQ(raw_value_tokens(r.out).at(0), "55.006");
  EXPECT_EQ(out[1], Json::parse(R"({"kind": "invalid", "error": "CrcMismatch"})"));
  EXPECT_EQ(out[2].at("serial"), 19088743);
  EXPECT_EQ(out[3], Json::parse(R"({"kind": "invalid", "error": "Truncated"})"));

  // All valid: exit 0; the text form names register, value and unit.
  const RunResult ok = kamstrup({"decode", "-"}, "403F10003C0304430000D6DE03220D\n06\n");
  EXPECT_EQ(ok.status, 0) << describe(ok);
  EXPECT_NE(ok.out.find("heat_energy (60) = 55.006 MWh"), std::string::npos) << ok.out;
  EXPECT_NE(ok.out.find("ACK"), std::string::npos) << ok.out;
}

TEST(DecodeE2E, MalformedHexIsAUsageErrorNamingThePosition) {
  // Odd number of digits.
  RunResult r = kamstrup({"decode", "403F10003C0304430000D6DE03220"});
  EXPECT_EQ(r.status, 2) << describe(r);
  EXPECT_EQ(r.out, "");
  EXPECT_NE(r.err.find("odd number of hex digits"), std::string::npos) << r.err;
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << "one line: " << r.err;

  // A 'G' at (1-based) position 16.
  r = kamstrup({"decode", "--json", "403F10003C03044G0000D6DE03220D"});
  EXPECT_EQ(r.status, 2) << describe(r);
  EXPECT_EQ(r.out, "");
  EXPECT_NE(r.err.find("'G'"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("position 16"), std::string::npos) << r.err;
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << "one line: " << r.err;

  // In stdin mode the lines before the bad one are printed, and the message names the line.
  r = kamstrup({"decode", "-"}, "403F10003C0304430000D6DE03220D\n40 3F x1\n");
  EXPECT_EQ(r.status, 2) << describe(r);
  EXPECT_NE(r.out.find("55.006"), std::string::npos) << r.out;
  EXPECT_NE(r.err.find("line 2"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("'x' at position 7"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace kamstrup::e2e
