// The legacy vectors of the shared vector file (tests/data/kmp-vectors.json): MC66-1 (/#1),
// MC66-2 (/#2) and IEC-1 (a Kamstrup 382 mode A readout) decode to exactly the expected values.
#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <string>

#include "kmp/catalogue.hpp"
#include "legacy/iec.hpp"
#include "legacy/standard.hpp"

using namespace kamstrup::legacy;
using kamstrup::kmp::Decimal;
using nlohmann::json;

namespace {

json vector_named(const std::string& id) {
  std::ifstream in(std::string(KAMSTRUP_TEST_DATA) + "/kmp-vectors.json");
  const json all = json::parse(in);
  for (const auto& v : all) {
    if (v.at("id") == id) return v;
  }
  ADD_FAILURE() << "vector " << id << " missing from kmp-vectors.json";
  return json::object();
}

const Value* find(const std::vector<Value>& values, const std::string& name) {
  for (const auto& v : values) {
    if (v.name == name) return &v;
  }
  return nullptr;
}

// The value's exact text equals the vector's ("507.109" is not "507.1090").
void expect_exact(const Value* v, const std::string& text, const std::string& unit) {
  ASSERT_NE(v, nullptr);
  ASSERT_TRUE(v->value.number.has_value()) << v->name;
  EXPECT_EQ(v->value.number->to_string(), text) << v->name;
  EXPECT_EQ(v->value.unit, unit) << v->name;
}

TEST(LegacyGolden, Mc66StandardData1WithProgram44119) {
  const json v = vector_named("MC66-1");
  EXPECT_EQ(v.at("request"), "/#1");
  EXPECT_EQ(request_bytes("1").value(), "/#1");
  auto program = parse_program_number("0044119");
  ASSERT_TRUE(program.ok());
  auto scale = scale_for(*program);
  ASSERT_TRUE(scale.ok());
  auto values = decode_standard1(v.at("reply").get<std::string>(), *scale);
  ASSERT_TRUE(values.ok()) << to_string(values.error());
  ASSERT_EQ(values->size(), v.at("values").size());
  for (const auto& [name, expected] : v.at("values").items()) {
    SCOPED_TRACE(name);
    expect_exact(find(*values, name), expected[0], expected[1]);
  }
  // Names and ids are the KMP catalogue's; peak_power has no KMP register.
  for (const auto& value : *values) {
    const auto* def = kamstrup::kmp::find_register(std::string_view(value.name));
    ASSERT_NE(def, nullptr) << value.name;
    EXPECT_EQ(def->id, value.id) << value.name;
  }
  EXPECT_EQ(find(*values, "peak_power")->id, -1);
  EXPECT_EQ(find(*values, "heat_energy")->id, 60);
  EXPECT_EQ(find(*values, "heat_energy")->value.unit_code, 3);  // MWh
  EXPECT_EQ(find(*values, "volume")->value.unit_code, 40);      // m³
}

TEST(LegacyGolden, Mc66StandardData2GivesProgramNumberCustomerAndDate) {
  const json v = vector_named("MC66-2");
  auto s2 = decode_standard2(v.at("reply").get<std::string>());
  ASSERT_TRUE(s2.ok()) << to_string(s2.error());
  EXPECT_EQ(s2->program.a, 4U);
  EXPECT_EQ(s2->program.b, 4U);
  EXPECT_EQ(s2->program.ccc, 119U);
  EXPECT_EQ(s2->program.text, v.at("values").at("program_number")[0]);
  const Value* customer = find(s2->values, "customer_number");
  ASSERT_NE(customer, nullptr);
  EXPECT_TRUE(customer->value.number->equals(
      *Decimal::parse(v.at("values").at("customer_number")[0].get<std::string>())));
  EXPECT_EQ(customer->id, -1);
  const Value* program = find(s2->values, "program_number");
  ASSERT_NE(program, nullptr);
  EXPECT_EQ(program->value.text, "0044119");
  const Value* date = find(s2->values, "date");
  ASSERT_NE(date, nullptr);
  EXPECT_EQ(date->value.number->to_string(), v.at("values").at("date")[0]);
  EXPECT_EQ(date->value.text, v.at("values").at("date")[1]);
  EXPECT_EQ(date->id, 1003);
  // Without a scale the tariff registers (energy) are left out, with one they are scaled.
  EXPECT_EQ(find(s2->values, "tariff2"), nullptr);
  auto scale = scale_for(s2->program);
  auto scaled = decode_standard2(v.at("reply").get<std::string>(), &*scale);
  ASSERT_TRUE(scaled.ok());
  expect_exact(find(scaled->values, "tariff2"), "0.000", "MWh");
}

TEST(LegacyGolden, Iec382ReadoutWithArithmeticBcc) {
  const json v = vector_named("IEC-1");
  const std::string text = v.at("text");
  // The BCC is the 7-bit sum after STX through ETX, and it is not the XOR.
  const auto stx = text.find('\x02');
  const std::string block = text.substr(stx + 1, text.size() - stx - 2);
  EXPECT_EQ(iec_bcc(block), static_cast<std::uint8_t>(v.at("bcc").get<std::string>()[0]));
  unsigned x = 0;
  for (char c : block) x ^= static_cast<unsigned char>(c);
  EXPECT_NE(x, iec_bcc(block));

  auto readout = decode_iec_readout(text);
  ASSERT_TRUE(readout.ok()) << to_string(readout.error());
  EXPECT_EQ(readout->identification, "/KAM 685-382-OK-15");
  ASSERT_EQ(readout->items.size(), 8U);
  EXPECT_EQ(readout->items[0].code, "0.0");
  EXPECT_EQ(readout->items[0].value_text, v.at("values").at("0.0"));
  for (const char* code : {"1.20", "1.31", "1.6"}) {
    SCOPED_TRACE(code);
    bool found = false;
    for (const auto& item : readout->items) {
      if (item.code != code) continue;
      found = true;
      ASSERT_TRUE(item.number.has_value());
      EXPECT_TRUE(
          item.number->equals(*Decimal::parse(v.at("values").at(code)[0].get<std::string>())));
      EXPECT_EQ(item.unit, v.at("values").at(code)[1]);
    }
    EXPECT_TRUE(found);
  }
  // Decimal comma: 000018,3 is exactly 18.3 (mantissa 183, exponent -1).
  EXPECT_EQ(readout->items[6].number->mantissa, 183U);
  EXPECT_EQ(readout->items[6].number->exponent, -1);

  const auto values = iec_values(*readout);
  ASSERT_EQ(values.size(), 8U);
  expect_exact(find(values, "energy_in"), "53", "kWh");
  expect_exact(find(values, "hour_counter"), "482", "h");
  expect_exact(find(values, "max_power"), "18.3", "kW");
  expect_exact(find(values, "max_power_last_month"), "0.0", "");
  EXPECT_EQ(find(values, "customer_number")->value.text, "00054042");
  EXPECT_EQ(find(values, "customer_number")->value.number->to_string(), "54042");
  EXPECT_EQ(find(values, "energy_in_tariff1")->id, -1);
  EXPECT_EQ(find(values, "hour_counter")->id, 1004);
  // Every name the mapping gives is in the catalogue.
  for (const auto& value : values) {
    EXPECT_NE(kamstrup::kmp::find_register(std::string_view(value.name)), nullptr) << value.name;
  }
}

TEST(LegacyGolden, HeatMeterIecItemsMapToKmpNames) {
  const IecItem items[] = {make_iec_item("0.0", *Decimal::parse("60017"), "", 11),
                           make_iec_item("6.8", *Decimal::parse("5071.09"), "GJ"),
                           make_iec_item("6.26", *Decimal::parse("12966.26"), "m3"),
                           make_iec_item("6.31", *Decimal::parse("32673"), "h")};
  const std::string wire = encode_iec_readout("/KAM 0 MC", items);
  EXPECT_NE(wire.find("6.8(05071,09*GJ)"), std::string::npos) << wire;  // 7 digits
  EXPECT_NE(wire.find("0.0(00000060017)"), std::string::npos) << wire;
  auto readout = decode_iec_readout(wire);
  ASSERT_TRUE(readout.ok()) << to_string(readout.error());
  const auto values = iec_values(*readout);
  expect_exact(find(values, "heat_energy"), "5071.09", "GJ");
  expect_exact(find(values, "volume"), "12966.26", "m³");
  expect_exact(find(values, "hour_counter"), "32673", "h");
  EXPECT_EQ(find(values, "heat_energy")->id, 60);
  EXPECT_EQ(find(values, "volume")->value.unit_code, 40);
}

TEST(LegacyGolden, RequestStrings) {
  for (const char* code : {"1", "2", "3", "4", "5", "6", "7", "8", "9", "B", "C", "D", "J"}) {
    auto r = request_bytes(code);
    ASSERT_TRUE(r.ok()) << code;
    EXPECT_EQ(*r, std::string("/#") + code);
  }
  EXPECT_EQ(request_bytes("/#b").value(), "/#B");
  EXPECT_EQ(request_bytes("#7").value(), "/#7");
  for (const char* bad : {"", "0", "A", "E", "10", "/#", "/?!"}) {
    EXPECT_EQ(request_bytes(bad).error(), Error::BadRequest) << bad;
  }
  EXPECT_EQ(kIecRequest, "/?!\r\n");
  EXPECT_EQ(kIecAck, std::string_view("\x06"
                                      "000\r\n",
                                      6));
}

TEST(LegacyGolden, RequestScannerSeesEveryRequestOnce) {
  RequestScanner scan;
  std::vector<std::string> events;
  // Noise, a /#1 without terminator, a /#C with CR LF, an IEC sign-on, an ACK, a bad code.
  const std::string wire = std::string("xx/#1/#C\r\n/?!\r\n\x06") + "000\r\n/#E/#J";
  for (char c : wire) {
    switch (scan.feed(static_cast<std::uint8_t>(c))) {
      case RequestScanner::Event::Standard:
        events.push_back(std::string("#") + scan.code());
        break;
      case RequestScanner::Event::Iec:
        events.emplace_back("iec");
        break;
      case RequestScanner::Event::Ack:
        events.emplace_back("ack");
        break;
      default:
        break;
    }
  }
  EXPECT_EQ(events, (std::vector<std::string>{"#1", "#C", "iec", "ack", "#J"}));
  // Parity bit set (a 7E line read as 8 bits): still seen.
  RequestScanner with_parity;
  std::vector<RequestScanner::Event> e;
  for (std::uint8_t b : {std::uint8_t{'/' | 0x80}, std::uint8_t{'#'}, std::uint8_t{'2' | 0x80}}) {
    e.push_back(with_parity.feed(b));
  }
  EXPECT_EQ(e.back(), RequestScanner::Event::Standard);
  EXPECT_EQ(with_parity.code(), '2');
}

}  // namespace
