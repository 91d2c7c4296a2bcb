// The logger codec (kmp/logger.hpp): vector L1 (the official example) decoded exactly, the
// document's request example, a negative corpus, and encode → decode round trips.
#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <random>
#include <string>

#include "kmp/frame.hpp"
#include "kmp/logger.hpp"
#include "test_util.hpp"

using namespace kamstrup::kmp;
using kamstrup::test::from_hex;
using nlohmann::json;

namespace {

json vector_named(const std::string& id) {
  std::ifstream in(std::string(KAMSTRUP_TEST_DATA) + "/kmp-vectors.json");
  for (const auto& v : json::parse(in)) {
    if (v.at("id") == id) return v;
  }
  throw std::runtime_error("no vector " + id);
}

Frame reply(std::uint8_t cid, const std::string& data_hex) {
  Frame f;
  f.direction = Direction::FromMeter;
  f.dst = kDstLoggerTop;
  f.cid = cid;
  f.data = from_hex(data_hex);
  return f;
}

std::string number(const LogReply& r, std::size_t rec, std::size_t col) {
  auto v = r.value(rec, col);
  if (!v.ok() || !v->number) return "<error>";
  return v->number->to_string();
}

// L1: 40 7F A0 | 01 LID | 02 N | 10F3 | 003C 08 04 00 FF068662 | 0044 27 04 00 E993DC05
//     | 10F4 B50A5C5E 93E05047 | 10F5 CF065396 F2584C96 | 10F5 LRO | 1102 NEW | 00 INFO | E2AA 0D
// (1B F9 on the wire is the stuffed 06.) Values, by hand: FF068662 = 4278617698 GJ (unit 8,
// SiEx 0), E993DC05 = 3918781445 l (unit 0x27 = 39), B50A5C5E = 3037355102, 93E05047 =
// 2480951367, CF065396 = 3473298326, F2584C96 = 4065873046.
TEST(LoggerGolden, VectorL1DecodesExactly) {
  const json v = vector_named("L1");
  auto frame = decode_frame(from_hex(v.at("hex")));
  ASSERT_TRUE(frame.ok()) << to_string(frame.error());
  EXPECT_EQ(frame->dst, kDstLoggerTop);
  auto r = decode_log_response(*frame, kCidGetLogTimePresent);
  ASSERT_TRUE(r.ok()) << to_string(r.error());
  const json& log = v.at("log");
  EXPECT_EQ(r->lid, log.at("lid").get<int>());
  ASSERT_EQ(r->records.size(), log.at("records").size());
  for (std::size_t i = 0; i < r->records.size(); ++i) {
    EXPECT_EQ(r->records[i].record_id, log.at("records")[i].get<int>());
  }
  ASSERT_EQ(r->columns.size(), 2U);
  EXPECT_EQ(r->columns[0].id, 60);
  EXPECT_EQ(r->columns[1].id, 68);
  EXPECT_EQ(r->last_read_id, log.at("last_read").get<int>());
  EXPECT_EQ(r->newest_id, log.at("newest").get<int>());
  EXPECT_EQ(r->info, log.at("info").get<int>());
  EXPECT_EQ(r->register_count, 2);

  EXPECT_EQ(r->columns[0], (LogColumn{60, 8, 4, 0}));
  EXPECT_EQ(r->columns[1], (LogColumn{68, 39, 4, 0}));
  EXPECT_EQ(number(*r, 0, 0), "4278617698");
  EXPECT_EQ(number(*r, 0, 1), "3918781445");
  EXPECT_EQ(number(*r, 1, 0), "3037355102");
  EXPECT_EQ(number(*r, 1, 1), "2480951367");
  EXPECT_EQ(number(*r, 2, 0), "3473298326");
  EXPECT_EQ(number(*r, 2, 1), "4065873046");
  EXPECT_EQ(r->value(0, 0)->unit, "GJ");
  EXPECT_EQ(r->value(2, 1)->unit, "l");
  // The application layer is 48 bytes: 3 + 2·3 + 5·2 + 3·2·4 + 5.
  EXPECT_EQ(log_response_length(r->columns, r->records.size()), 1 + frame->data.size());
  EXPECT_EQ(log_response_length(r->columns, r->records.size()), 48U);

  // Re-encoding gives the same wire bytes.
  auto again = encode_log_response(*r);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(to_hex(*again), v.at("hex").get<std::string>());
}

TEST(LoggerGolden, DocumentRequestExample) {
  // A0 01 02 00 3C 00 44 03 80 <Time>, 2007-05-24 10:30:00.
  LogRequest req;
  req.command = LogCommand::TimePresent;
  req.lid = 1;
  req.registers = {60, 68};
  req.records = 3;
  req.max_length = 0x80;
  req.time = LogTime{7, 5, 24, 10, 30, 0, 0, 0};
  auto wire = encode_log_request(req, TimeOrder::FieldTable);
  ASSERT_TRUE(wire.ok());
  auto f = decode_frame(*wire);
  ASSERT_TRUE(f.ok());
  EXPECT_EQ(f->dst, kDstLoggerTop);
  EXPECT_EQ(f->cid, 0xA0);
  EXPECT_EQ(to_hex(f->data), "0102003C004403800705180A1E000000");
  // The reversed order is the document's own example text "xxxx001E0A180507".
  auto rev = encode_log_request(req, TimeOrder::Reversed);
  auto fr = decode_frame(*rev);
  EXPECT_EQ(to_hex(fr->data),
            "0102003C00440380"
            "0000001E0A180507");
  // Decoding with the wrong order gives a different, invalid time: the switch matters.
  auto wrong = decode_log_request(*fr, TimeOrder::FieldTable);
  ASSERT_TRUE(wrong.ok());
  EXPECT_FALSE(wrong->time.valid());
  auto right = decode_log_request(*fr, TimeOrder::Reversed);
  ASSERT_TRUE(right.ok());
  EXPECT_EQ(*right, req);
}

TEST(LoggerGolden, FieldTableTimeExample) {
  // 2007-05-17 10:30:00 = 07 05 11 0A 1E 00 00 00 (doc §4.3).
  auto b = encode_log_time(LogTime{7, 5, 17, 10, 30, 0, 0, 0}, TimeOrder::FieldTable);
  EXPECT_EQ(to_hex(b), "0705110A1E000000");
  EXPECT_EQ(to_string(TimeOrder::FieldTable), "field-table");
  EXPECT_EQ(parse_time_order("reversed"), TimeOrder::Reversed);
  EXPECT_FALSE(parse_time_order("backwards").has_value());
  EXPECT_EQ(to_string(LoggerKind::Monthly), "monthly");
  EXPECT_EQ(parse_logger_kind("yearly"), LoggerKind::Yearly);
  EXPECT_FALSE(parse_logger_kind("weekly").has_value());
}

TEST(LoggerGolden, CalendarArithmetic) {
  EXPECT_EQ(days_from_civil(1970, 1, 1), 0);
  EXPECT_EQ(days_from_civil(2000, 3, 1), 11017);
  EXPECT_EQ(days_from_civil(2026, 11, 23), 20780);
  std::int64_t y = 0;
  unsigned m = 0, d = 0;
  civil_from_days(20780, y, m, d);
  EXPECT_EQ(y, 2026);
  EXPECT_EQ(m, 11U);
  EXPECT_EQ(d, 23U);
  EXPECT_TRUE((LogTime{24, 2, 29, 23, 59, 59, 0, 0}).valid());
  EXPECT_FALSE((LogTime{23, 2, 29, 0, 0, 0, 0, 0}).valid());
  EXPECT_FALSE((LogTime{23, 13, 1, 0, 0, 0, 0, 0}).valid());
  EXPECT_FALSE((LogTime{23, 1, 1, 24, 0, 0, 0, 0}).valid());
}

TEST(LoggerGolden, EventStatus) {
  auto get = encode_get_event_status();
  EXPECT_EQ(to_hex(get).substr(0, 6), "807F9B");
  auto f = decode_frame(get);
  ASSERT_TRUE(f.ok());
  auto req = decode_event_status_request(*f);
  ASSERT_TRUE(req.ok());
  EXPECT_FALSE(req->has_value());
  ClearEventStatusRequest clear{{0, 1, 0, 0}, {0, 2, 0, 0}};
  auto cf = decode_frame(encode_clear_event_status(clear));
  ASSERT_TRUE(cf.ok());
  EXPECT_EQ(to_hex(cf->data), "0001000000020000");
  auto creq = decode_event_status_request(*cf);
  ASSERT_TRUE(creq.ok());
  ASSERT_TRUE(creq->has_value());
  EXPECT_EQ(**creq, clear);
  auto resp = decode_frame(encode_event_status_response(kCidGetEventStatus, {0, 1, 0, 0}));
  ASSERT_TRUE(resp.ok());
  auto status = decode_event_status_response(*resp, kCidGetEventStatus);
  ASSERT_TRUE(status.ok());
  EXPECT_EQ((*status)[1], 1);
  EXPECT_EQ(decode_event_status_response(*resp, kCidClearEventStatus).error(), Error::WrongCid);
  EXPECT_EQ(decode_event_status_response(reply(0x9B, "000100"), 0x9B).error(), Error::Truncated);
  EXPECT_EQ(decode_event_status_response(reply(0x9B, "0001000000"), 0x9B).error(),
            Error::Malformed);
}

// ---- negative corpus ---------------------------------------------------------------------------

struct Bad {
  const char* name;
  std::uint8_t cid;
  const char* data;
  Error error;
};

// Data after the CID, derived from L1 where possible.
const Bad kBad[] = {
    // The last record loses its last value byte.
    {"truncated last record", 0xA0,
     "010210F3003C080400FF068662004427040"
     "0E993DC0510F4B50A5C5E93E0504710F5CF065396F2584C10F5110200",
     Error::Truncated},
    // Only the first record's RecID and format, no value bytes at all.
    {"truncated first value", 0xA0,
     "010210F3003C0804"
     "00FF10F5110200",
     Error::Truncated},
    // NoB 0x20 in the second format runs past the frame.
    {"NoB overrun", 0xA0,
     "010210F3003C080400FF068662004427200"
     "0E993DC0510F5110200",
     Error::Truncated},
    // N = 9 registers: NRgs is limited to 1..8.
    {"too many registers", 0xA0, "010910F3003C080400FF06866210F5110200", Error::Malformed},
    // The same register twice in the formats.
    {"duplicate register", 0xA0, "010210F3003C080400FF068662003C080400FF06866210F5110200",
     Error::Malformed},
    // INFO = 0 but a short layout.
    {"short layout without INFO", 0xA0, "01000102110200", Error::Truncated},
    {"only INFO 0", 0xA0, "00", Error::Malformed},
    // INFO ≠ 0 with lengths no short form has (4, 5, 8 bytes).
    {"INFO-shortened length 4", 0xA0, "01020304", Error::Malformed},
    {"INFO-shortened length 5", 0xA0, "0102030404", Error::Malformed},
    {"INFO-shortened length 8", 0xA0, "0100010211020104", Error::Malformed},
    // INFO ≠ 0 and a full-size layout that does not parse.
    {"INFO set, broken full layout", 0xA3,
     "010110F3003C0804"
     "00FF0686"
     "10F5110204",
     Error::Truncated},
    {"empty data", 0xA0, "", Error::Truncated},
};

TEST(LoggerNegative, EachBadReplyHasItsError) {
  for (const auto& b : kBad) {
    SCOPED_TRACE(b.name);
    auto r = decode_log_response(reply(b.cid, b.data));
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(to_string(r.error()), to_string(b.error));
  }
}

TEST(LoggerNegative, WrongCidAndDirection) {
  const json v = vector_named("L1");
  auto frame = decode_frame(from_hex(v.at("hex")));
  ASSERT_TRUE(frame.ok());
  EXPECT_EQ(decode_log_response(*frame, kCidGetLogTimePast).error(), Error::WrongCid);
  Frame f = *frame;
  f.cid = 0x10;
  EXPECT_EQ(decode_log_response(f).error(), Error::WrongCid);
  f.cid = 0xA0;
  f.direction = Direction::ToMeter;
  EXPECT_EQ(decode_log_response(f).error(), Error::WrongDirection);
  // A GetRegister reply is not a logger reply, and a logger request is not a GetRegister one.
  EXPECT_EQ(decode_register_response(*frame).error(), Error::WrongCid);
}

TEST(LoggerNegative, BadRequests) {
  LogRequest req;
  EXPECT_EQ(encode_log_request(req, TimeOrder::FieldTable).error(), Error::Malformed);
  req.registers = {1, 2, 3, 4, 5, 6, 7, 8, 9};
  EXPECT_EQ(encode_log_request(req, TimeOrder::FieldTable).error(), Error::Malformed);
  Frame f;
  f.direction = Direction::ToMeter;
  f.dst = kDstLoggerTop;
  f.cid = 0xA2;
  f.data = from_hex("0101003C0180");  // RecID missing
  EXPECT_EQ(decode_log_request(f, TimeOrder::FieldTable).error(), Error::Truncated);
  f.data = from_hex("0101003C0180000100");  // one byte too many
  EXPECT_EQ(decode_log_request(f, TimeOrder::FieldTable).error(), Error::Malformed);
  f.data = from_hex("0100018000");
  EXPECT_EQ(decode_log_request(f, TimeOrder::FieldTable).error(), Error::Malformed);
  f.cid = 0xA4;
  EXPECT_EQ(decode_log_request(f, TimeOrder::FieldTable).error(), Error::WrongCid);
}

TEST(LoggerNegative, ShortFormsDecode) {
  auto one = decode_log_response(reply(0xA0, "01"));
  ASSERT_TRUE(one.ok());
  EXPECT_EQ(one->info, kLogInfoEmpty);
  EXPECT_FALSE(one->lid.has_value());
  auto seven = decode_log_response(reply(0xA3, "0300001234567804"));
  ASSERT_FALSE(seven.ok());  // 8 bytes
  auto form5 = decode_log_response(reply(0xA3, "03001234567804"));
  ASSERT_TRUE(form5.ok());
  EXPECT_EQ(form5->lid, 3);
  EXPECT_EQ(form5->register_count, 0);
  EXPECT_EQ(form5->last_read_id, 0x1234);
  EXPECT_EQ(form5->newest_id, 0x5678);
  EXPECT_EQ(form5->info, kLogInfoOutOfRange);
  EXPECT_TRUE(form5->records.empty());
}

TEST(LoggerNegative, EncoderRejectsInconsistentReplies) {
  LogReply r;
  r.cid = 0xA0;
  EXPECT_EQ(encode_log_response(r).error(), Error::Malformed);  // no records and INFO 0
  r.info = kLogInfoEmpty;
  r.register_count = 1;
  EXPECT_EQ(encode_log_response(r).error(), Error::Malformed);  // N without LID
  r.lid = 1;
  r.columns = {{60, 3, 4, 0x43}};
  r.records = {{1, {{0, 0, 0}}}};  // 3 bytes for NoB 4
  r.last_read_id = 1;
  r.newest_id = 1;
  EXPECT_EQ(encode_log_response(r).error(), Error::Malformed);
  r.records = {{1, {{0, 0, 0, 1}}}};
  EXPECT_TRUE(encode_log_response(r).ok());
  r.cid = 0x10;
  EXPECT_EQ(encode_log_response(r).error(), Error::WrongCid);
}

// ---- property tests ----------------------------------------------------------------------------

LogReply random_reply(std::mt19937_64& rng) {
  auto pick = [&](unsigned lo, unsigned hi) {
    return static_cast<unsigned>(std::uniform_int_distribution<unsigned>(lo, hi)(rng));
  };
  LogReply r;
  r.cid = static_cast<std::uint8_t>(0xA0 + pick(0, 3));
  if (pick(0, 3) == 0) {
    // A short form.
    r.info = static_cast<std::uint8_t>(pick(1, 255));
    unsigned form = pick(1, 5);
    if (form >= 2) r.lid = static_cast<std::uint8_t>(pick(0, 255));
    if (form == 3 || form == 5) r.register_count = static_cast<std::uint8_t>(pick(0, 8));
    if (form >= 4) {
      r.last_read_id = static_cast<std::uint16_t>(pick(0, 65535));
      r.newest_id = static_cast<std::uint16_t>(pick(0, 65535));
    }
    return r;
  }
  r.info = pick(0, 1) == 0 ? 0 : static_cast<std::uint8_t>(pick(0, 255));
  r.lid = static_cast<std::uint8_t>(pick(0, 255));
  const unsigned n = pick(0, 8);
  for (unsigned i = 0; i < n; ++i) {
    LogColumn c;
    do {
      c.id = static_cast<std::uint16_t>(pick(0, 65535));
    } while (r.column_of(c.id));
    c.unit_code = static_cast<std::uint8_t>(pick(0, 64));
    c.nob = static_cast<std::uint8_t>(pick(0, 6));
    c.siex = static_cast<std::uint8_t>(pick(0, 255));
    r.columns.push_back(c);
  }
  r.register_count = static_cast<std::uint8_t>(n);
  const unsigned m = pick(1, 6);
  auto id = static_cast<std::uint16_t>(pick(0, 65535));
  for (unsigned k = 0; k < m; ++k) {
    LogRecordData rec;
    rec.record_id = id++;
    for (const auto& c : r.columns) {
      std::vector<std::uint8_t> v(c.nob);
      for (auto& b : v) b = static_cast<std::uint8_t>(pick(0, 255));
      rec.values.push_back(std::move(v));
    }
    r.records.push_back(std::move(rec));
  }
  r.last_read_id = static_cast<std::uint16_t>(pick(0, 65535));
  r.newest_id = static_cast<std::uint16_t>(pick(0, 65535));
  return r;
}

TEST(LoggerProperty, ResponsesRoundTrip) {
  std::mt19937_64 rng(4339);
  for (int i = 0; i < 5000; ++i) {
    LogReply r = random_reply(rng);
    auto wire = encode_log_response(r, i % 2 == 0 ? kDstLoggerTop : kDstLoggerBase);
    ASSERT_TRUE(wire.ok()) << i;
    auto frame = decode_frame(*wire);
    ASSERT_TRUE(frame.ok()) << i << " " << to_hex(*wire);
    auto back = decode_log_response(*frame, r.cid);
    ASSERT_TRUE(back.ok()) << i << " " << to_string(back.error()) << " " << to_hex(*wire);
    ASSERT_EQ(*back, r) << i << " " << to_hex(*wire);
    if (!r.records.empty()) {
      EXPECT_EQ(log_response_length(r.columns, r.records.size()), 1 + frame->data.size());
    }
  }
}

TEST(LoggerProperty, RequestsRoundTripInBothOrders) {
  std::mt19937_64 rng(4354);
  auto byte = [&] {
    return static_cast<std::uint8_t>(std::uniform_int_distribution<int>(0, 255)(rng));
  };
  for (int i = 0; i < 5000; ++i) {
    LogRequest req;
    req.command = static_cast<LogCommand>(0xA0 + i % 4);
    req.lid = byte();
    const int n = 1 + byte() % 8;
    for (int k = 0; k < n; ++k)
      req.registers.push_back(static_cast<std::uint16_t>(byte() << 8U | byte()));
    req.records = byte();
    req.max_length = byte();
    if (req.command == LogCommand::TimePresent || req.command == LogCommand::TimePast) {
      req.time = LogTime{byte(), byte(), byte(), byte(), byte(), byte(), byte(), byte()};
    }
    if (req.command == LogCommand::IdPresent || req.command == LogCommand::TimePast) {
      req.record_id = static_cast<std::uint16_t>(byte() << 8U | byte());
    }
    const TimeOrder order = i % 3 == 0 ? TimeOrder::Reversed : TimeOrder::FieldTable;
    auto wire = encode_log_request(req, order);
    ASSERT_TRUE(wire.ok());
    auto frame = decode_frame(*wire);
    ASSERT_TRUE(frame.ok());
    auto back = decode_log_request(*frame, order);
    ASSERT_TRUE(back.ok()) << to_hex(*wire);
    ASSERT_EQ(*back, req) << to_hex(*wire);
  }
}

TEST(LoggerProperty, TruncatingAFullReplyNeverYieldsAnotherValidOne) {
  // Dropping bytes before INFO from a full reply must not decode to different records silently:
  // either an error or (for a cut at a record boundary that keeps the tail) fewer records.
  std::mt19937_64 rng(7);
  for (int i = 0; i < 2000; ++i) {
    LogReply r = random_reply(rng);
    if (r.records.empty() || r.columns.empty()) continue;
    auto wire = encode_log_response(r);
    auto frame = decode_frame(*wire);
    ASSERT_TRUE(frame.ok());
    Frame cut = *frame;
    // Remove one byte from the middle of the last record.
    const std::size_t at = cut.data.size() - 6;
    cut.data.erase(cut.data.begin() + static_cast<std::ptrdiff_t>(at));
    auto back = decode_log_response(cut);
    if (back.ok()) {
      // Possible only when a record's values total one byte: then the bytes shifted into a
      // valid layout with different ids; the records must still differ from the original.
      EXPECT_NE(*back, r);
    }
  }
}

}  // namespace
