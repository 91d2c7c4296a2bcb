// Every frame of the shared vector file (tests/data/kmp-vectors.json, copied from the fact
// sheet's kmp-vectors.json) decodes to exactly the expected values, or fails with exactly the
// expected typed error. The X* vectors are hand-computed, so they catch bugs a codec tested only
// against itself would round-trip happily.
#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <string>

#include "kmp/frame.hpp"
#include "kmp/messages.hpp"
#include "test_util.hpp"

using namespace kamstrup::kmp;
using kamstrup::test::from_hex;
using nlohmann::json;

namespace {

json load_vectors() {
  std::ifstream in(std::string(KAMSTRUP_TEST_DATA) + "/kmp-vectors.json");
  return json::parse(in);
}

// The vector file states errors as prose after the type name ("UnknownUnit (for that ...)").
std::string error_name(const json& v) {
  std::string s = v.at("error").get<std::string>();
  return s.substr(0, s.find(' '));
}

class Golden : public ::testing::TestWithParam<json> {};

TEST_P(Golden, DecodesExactly) {
  const json& v = GetParam();
  const std::string kind = v.at("kind");
  auto wire = from_hex(v.at("hex"));
  auto frame = decode_frame(wire);

  if (kind == "bad") {
    // The error may sit in the framing (CRC, escape, truncation) or, for a frame with a valid
    // CRC, in the message body (X10: a block overrunning the frame).
    if (frame.ok()) {
      ASSERT_EQ(frame->direction, Direction::FromMeter) << "bad request frame decoded";
      auto r = decode_register_response(*frame);
      ASSERT_FALSE(r.ok()) << "a bad reply decoded";
      EXPECT_EQ(to_string(r.error()), error_name(v));
    } else {
      EXPECT_EQ(to_string(frame.error()), error_name(v));
    }
    return;
  }
  ASSERT_TRUE(frame.ok()) << to_string(frame.error());
  if (v.contains("cid") && !frame->is_ack) {
    EXPECT_EQ(frame->cid, v.at("cid").get<int>());
  }

  if (kind == "request") {
    EXPECT_EQ(frame->direction, Direction::ToMeter);
    auto req = decode_request(*frame);
    ASSERT_TRUE(req.ok()) << to_string(req.error());
    if (v.contains("registers_requested")) {
      const auto& g = std::get<GetRegisterRequest>(*req);
      std::vector<std::uint16_t> want = v.at("registers_requested");
      EXPECT_EQ(g.ids, want);
    }
    if (v.contains("date")) {
      const auto& c = std::get<SetClockRequest>(*req);
      // "2007-07-30" → 70730; "16:15:57" → 161557
      std::string d = v.at("date"), t = v.at("time");
      EXPECT_EQ(c.yymmdd, std::stoul(d.substr(2, 2) + d.substr(5, 2) + d.substr(8, 2)));
      EXPECT_EQ(c.hhmmss, std::stoul(t.substr(0, 2) + t.substr(3, 2) + t.substr(6, 2)));
    }
    // Re-encoding the decoded request gives the same wire bytes (stuffing included).
    auto again = encode_request(*req, frame->dst);
    ASSERT_TRUE(again.ok());
    EXPECT_EQ(*again, wire);
    return;
  }

  ASSERT_EQ(kind, "response");
  EXPECT_EQ(frame->direction, Direction::FromMeter);
  if (v.contains("log")) {
    // Logger replies (CID 0xA0) are framed like every other reply; their body is issue 4's.
    EXPECT_EQ(frame->dst, kDstLoggerTop);
    EXPECT_EQ(frame->data.at(0), v.at("log").at("lid").get<int>());
    return;
  }
  if (frame->cid == kCidGetType) {
    auto t = decode_type_response(*frame);
    ASSERT_TRUE(t.ok());
    EXPECT_EQ(t->meter_type, v.at("meter_type").get<int>());
    EXPECT_EQ(t->sw_revision, v.at("sw_revision").get<std::string>());
    return;
  }
  if (frame->cid == kCidGetSerialNo) {
    auto s = decode_serial_response(*frame);
    ASSERT_TRUE(s.ok());
    EXPECT_EQ(s->serial, v.at("serial").get<std::uint32_t>());
    return;
  }
  auto r = decode_register_response(*frame);
  ASSERT_TRUE(r.ok()) << to_string(r.error());
  if (v.contains("error")) {
    // X7: one block with an unknown unit; that block fails, the frame does not.
    ASSERT_EQ(r->blocks.size(), 1U);
    ASSERT_FALSE(r->blocks[0].value.ok());
    EXPECT_EQ(to_string(r->blocks[0].value.error()), error_name(v));
    return;
  }
  const json& regs = v.at("registers");
  ASSERT_EQ(r->blocks.size(), regs.size());
  for (std::size_t i = 0; i < regs.size(); ++i) {
    const auto& want = regs[i];
    const RegisterBlock* b = r->find(want.at("id").get<std::uint16_t>());
    ASSERT_NE(b, nullptr) << "register " << want.at("id") << " missing";
    ASSERT_TRUE(b->value.ok()) << to_string(b->value.error());
    EXPECT_EQ(b->value->unit, want.at("unit").get<std::string>());
    auto expected = Decimal::parse(want.at("value").get<std::string>());
    ASSERT_TRUE(expected.has_value());
    ASSERT_TRUE(b->value->number.has_value());
    EXPECT_TRUE(b->value->number->equals(*expected))
        << b->value->number->to_string() << " != " << want.at("value");
    // The exact text keeps the meter's own exponent, so it matches the vector's spelling.
    EXPECT_EQ(b->value->number->to_string(), want.at("value").get<std::string>());
  }
  if (v.contains("unsupported")) {
    for (const auto& id : v.at("unsupported")) {
      EXPECT_EQ(r->find(id.get<std::uint16_t>()), nullptr);
    }
  }
}

std::string vector_name(const ::testing::TestParamInfo<json>& info) {
  std::string id = info.param.at("id");
  for (char& c : id) {
    if (!std::isalnum(static_cast<unsigned char>(c))) c = '_';
  }
  return id;
}

// KMP vectors only: the legacy `/#n` and IEC readout vectors belong to the legacy codec's tests.
std::vector<json> kmp_vectors() {
  std::vector<json> out;
  for (const auto& v : load_vectors()) {
    if (v.contains("hex")) out.push_back(v);
  }
  return out;
}

INSTANTIATE_TEST_SUITE_P(Vectors, Golden, ::testing::ValuesIn(kmp_vectors()), vector_name);

TEST(Golden, VectorFileIsComplete) {
  // Guards against a truncated copy silently shrinking the golden suite.
  EXPECT_EQ(kmp_vectors().size(), 38U);
}

}  // namespace
