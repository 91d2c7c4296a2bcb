// The simulator's legacy side without I/O: the multical66c/multical401 profiles, their YAML
// keys, and what LegacyResponder answers to every request code.
#include <gtest/gtest.h>

#include "legacy/iec.hpp"
#include "legacy/standard.hpp"
#include "sim/legacy_frontend.hpp"
#include "sim/meter_model.hpp"
#include "sim/profile.hpp"

using namespace kamstrup;
using namespace kamstrup::sim;

namespace {

const WallClock::time_point kT0 = WallClock::from_time_t(1'710'500'000);

std::vector<std::string> lines_of(const std::string& bytes) {
  std::vector<std::string> out;
  std::size_t start = 0;
  for (std::size_t cr; (cr = bytes.find('\r', start)) != std::string::npos; start = cr + 1) {
    out.push_back(bytes.substr(start, cr - start));
  }
  EXPECT_EQ(start, bytes.size()) << "reply does not end with CR";
  return out;
}

TEST(LegacySim, EveryRequestCodeGetsWellFormedLines) {
  const Profile p = *builtin_profile("multical66c");
  MeterModel model(p, 1, kT0);
  LegacyResponder r(p);
  struct Expect {
    char code;
    std::size_t lines, fields;
  };
  const Expect expect[] = {{'1', 1, 10}, {'2', 1, 10}, {'3', 1, 9},  {'4', 1, 9},
                           {'B', 1, 12}, {'C', 1, 8},  {'D', 1, 8},  {'6', 3, 12},
                           {'7', 3, 12}, {'8', 3, 11}, {'9', 3, 11}, {'J', 3, 4}};
  for (const auto& e : expect) {
    SCOPED_TRACE(std::string(1, e.code));
    auto reply = r.standard(e.code, model, kT0);
    ASSERT_TRUE(reply);
    const auto lines = lines_of(reply->bytes);
    ASSERT_EQ(lines.size(), e.lines) << reply->bytes;
    for (const auto& line : lines) {
      const std::size_t min_width = (e.code == '6' || e.code == '7') ? 5 : 6;
      auto fields = legacy::split_fields(line, e.fields, min_width);
      EXPECT_TRUE(fields.ok()) << line << ": " << legacy::to_string(fields.error());
    }
  }
  auto monthly = r.standard('5', model, kT0);
  ASSERT_TRUE(monthly);
  EXPECT_EQ(lines_of(monthly->bytes).size(), 4U);  // header as /#3, then 3 months
  // Every logger reply parses with the reader's logger parser, newest record first.
  for (char code : {'5', '6', '7', '8', '9', 'J'}) {
    auto reply = r.standard(code, model, kT0);
    auto table = legacy::decode_log(code, lines_of(reply->bytes));
    ASSERT_TRUE(table.ok()) << code << ": " << legacy::to_string(table.error());
    ASSERT_EQ(table->rows.size(), 3U) << code;
    EXPECT_GT(table->rows[0].yymmdd, table->rows[1].yymmdd) << code;
  }
  EXPECT_FALSE(r.standard('0', model, kT0));
}

TEST(LegacySim, Standard1IsTheModelsValuesInTheScale) {
  for (const char* program : {"0044119", "0042119", "0044158", "0042170"}) {
    SCOPED_TRACE(program);
    const Profile p = parse_profile_yaml(
        std::string("base: multical66c\nprogram_number: \"") + program + "\"\n", "t.yaml");
    MeterModel model(p, 3, kT0);
    LegacyResponder r(p);
    const auto scale = legacy::scale_for(*legacy::parse_program_number(program));
    ASSERT_TRUE(scale.ok());
    EXPECT_EQ(r.scale(), *scale);
    const auto t = kT0 + std::chrono::seconds(30);
    auto reply = r.standard('1', model, t);
    ASSERT_TRUE(reply);
    auto values = legacy::decode_standard1(reply->bytes.substr(0, reply->bytes.size() - 1), *scale);
    ASSERT_TRUE(values.ok());
    ASSERT_EQ(reply->values.size(), 10U);
    for (const auto& v : *values) {
      EXPECT_EQ(reply->values.at(v.name), v.value.number->to_string()) << v.name;
      const std::uint16_t id = v.name == "peak_power" ? 128 : static_cast<std::uint16_t>(v.id);
      auto model_value = model.value(id, t);
      ASSERT_TRUE(model_value) << v.name;
      EXPECT_TRUE(model_value->equals(*v.value.number))
          << v.name << ": model " << model_value->to_string() << ", sent "
          << v.value.number->to_string();
    }
    // The /#2 reply carries the program number.
    auto two = r.standard('2', model, t);
    auto s2 = legacy::decode_standard2(two->bytes.substr(0, two->bytes.size() - 1));
    ASSERT_TRUE(s2.ok());
    EXPECT_EQ(s2->program.text, program);
  }
}

TEST(LegacySim, IecReadoutHasAValidBcc) {
  const Profile p = *builtin_profile("multical401");
  EXPECT_TRUE(p.legacy.iec_ack);
  EXPECT_EQ(p.legacy.field_width, 8U);
  MeterModel model(p, 1, kT0);
  LegacyResponder r(p);
  EXPECT_EQ(r.iec_identification(), "/KAM0MCC\r\n");
  auto data = r.iec_data(model, kT0);
  EXPECT_EQ(data.bytes.front(), '\x02');
  auto readout = legacy::decode_iec_readout(r.iec_identification() + data.bytes);
  ASSERT_TRUE(readout.ok()) << legacy::to_string(readout.error());
  ASSERT_EQ(readout->items.size(), 4U);
  EXPECT_EQ(readout->items[1].code, "6.8");
  EXPECT_EQ(readout->items[1].unit, "GJ");
  EXPECT_EQ(data.values.at("heat_energy"), "5071.09");
  EXPECT_EQ(data.values.at("customer_number"), "40117");
  // /#1 of the 401 has 8-digit fields.
  auto one = r.standard('1', model, kT0);
  EXPECT_EQ(one->bytes.substr(0, 9), "00507109 ");
}

TEST(LegacySim, RequestsAreRecognisedAcrossReads) {
  const Profile p = *builtin_profile("multical66c");
  LegacyResponder r(p);
  const std::string a = "/",
                    b = "#1/?!\r\n\x06"
                        "0",
                    c = "00\r\n";
  auto ra = r.feed({reinterpret_cast<const std::uint8_t*>(a.data()), a.size()});
  auto rb = r.feed({reinterpret_cast<const std::uint8_t*>(b.data()), b.size()});
  auto rc = r.feed({reinterpret_cast<const std::uint8_t*>(c.data()), c.size()});
  EXPECT_TRUE(ra.empty());
  ASSERT_EQ(rb.size(), 2U);
  EXPECT_EQ(rb[0].text(), "/#1");
  EXPECT_EQ(rb[1].text(), "/?!");
  ASSERT_EQ(rc.size(), 1U);
  EXPECT_EQ(rc[0].text(), "ACK");
}

TEST(LegacySim, ProfileKeysAndTheirErrors) {
  const Profile gj = parse_profile_yaml(
      "base: multical66c\nprogram_number: \"0042119\"\ncustomer_number: 123\n"
      "iec_identification: \"/KAM 1 MC\"\niec_ack: true\nreply_line: \"1200 7E1\"\n",
      "t.yaml");
  const RegisterSpec* energy = gj.find(60);
  ASSERT_NE(energy, nullptr);
  EXPECT_EQ(energy->unit_code, 8);  // GJ
  EXPECT_EQ(energy->value.to_string(), "5071.09");
  EXPECT_EQ(gj.legacy.customer_number, 123U);
  EXPECT_EQ(gj.legacy.iec_identification, "/KAM 1 MC");
  EXPECT_TRUE(gj.legacy.iec_ack);
  EXPECT_EQ(gj.legacy.reply_line.to_string(), "1200 7E1");
  EXPECT_EQ(gj.line.to_string(), "300 7E2");

  const struct {
    const char* yaml;
    const char* message;
  } bad[] = {
      {"program_number: \"0044119\"\n", "program_number: only for the legacy profiles"},
      {"base: multical66c\nprogram_number: \"0044999\"\n", "outside the scale table"},
      {"base: multical66c\nprogram_number: \"44x19\"\n", "program_number: expected ABCCC"},
      {"base: multical66c\nscale: \"energy=MWh\"\n", "scale: expected e.g."},
      {"base: multical66c\niec_identification: \"KAM\"\n", "iec_identification: expected"},
      {"base: multical66c\ncustomer_number: 123456789012\n", "customer_number: expected up to 11"},
      {"base: multical66c\niec_ack: maybe\n", "iec_ack: expected true or false"},
  };
  for (const auto& c : bad) {
    try {
      (void)parse_profile_yaml(c.yaml, "t.yaml");
      ADD_FAILURE() << "accepted: " << c.yaml;
    } catch (const ProfileError& e) {
      EXPECT_NE(std::string(e.what()).find(c.message), std::string::npos) << e.what();
      EXPECT_EQ(std::string(e.what()).rfind("t.yaml: ", 0), 0U) << e.what();
    }
  }
  // An unknown program number is fine with an explicit scale.
  const Profile odd = parse_profile_yaml(
      "base: multical66c\nprogram_number: \"0044999\"\n"
      "scale: \"energy=MWh:2,volume=m3:1,power=kW:1,flow=l/h:0\"\n",
      "t.yaml");
  EXPECT_EQ(odd.find(60)->value.to_string(), "5071.09");
}

}  // namespace
