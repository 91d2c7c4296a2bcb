// The simulator's data logger (MeterModel, profile.logger): synthesized past consistent with the
// start values, forward records equal to the live model at their boundary, and the A0–A3 / 0x9B
// answers with their INFO bits, with an injected clock.
#include <gtest/gtest.h>

#include <ctime>

#include "kmp/logger.hpp"
#include "kmp/messages.hpp"
#include "sim/meter_model.hpp"

namespace kamstrup::sim {
namespace {

using Bytes = std::vector<std::uint8_t>;
using std::chrono::hours;
using std::chrono::seconds;

// Local civil time (glibc's struct tm: sec, min, hour, mday, mon, year, wday, yday, isdst, ...).
WallClock::time_point local(int year, int month, int day, int hour, int minute, int second) {
  std::tm tm{second, minute, hour, day, month - 1, year - 1900, 0, 0, -1, 0, nullptr};
  return WallClock::from_time_t(std::mktime(&tm));
}

const WallClock::time_point kStart = local(2026, 11, 23, 10, 20, 30);

kmp::LogTime log_time(WallClock::time_point t) {
  const std::time_t tt = WallClock::to_time_t(t);
  std::tm tm{};
  localtime_r(&tt, &tm);
  return kmp::LogTime{static_cast<std::uint8_t>(tm.tm_year - 100),
                      static_cast<std::uint8_t>(tm.tm_mon + 1),
                      static_cast<std::uint8_t>(tm.tm_mday),
                      static_cast<std::uint8_t>(tm.tm_hour),
                      static_cast<std::uint8_t>(tm.tm_min),
                      static_cast<std::uint8_t>(tm.tm_sec),
                      0,
                      0};
}

std::string value_of(const LoggedRecord& r, std::uint16_t id) {
  for (const auto& v : r.values) {
    if (v.id == id) return v.value.to_string();
  }
  return "<none>";
}

kmp::uint128 mantissa_of(const LoggedRecord& r, std::uint16_t id) {
  for (const auto& v : r.values) {
    if (v.id == id) return v.value.mantissa;
  }
  return 0;
}

Bytes request(kmp::LogCommand cmd, std::uint8_t lid, std::vector<std::uint16_t> regs,
              std::uint8_t records, std::uint8_t max_length = 128, kmp::LogTime t = {},
              std::uint16_t id = 0, kmp::TimeOrder order = kmp::TimeOrder::FieldTable) {
  kmp::LogRequest req;
  req.command = cmd;
  req.lid = lid;
  req.registers = std::move(regs);
  req.records = records;
  req.max_length = max_length;
  if (cmd == kmp::LogCommand::TimePresent || cmd == kmp::LogCommand::TimePast) req.time = t;
  if (cmd == kmp::LogCommand::IdPresent || cmd == kmp::LogCommand::TimePast) req.record_id = id;
  return kmp::encode_log_request(req, order).value();
}

kmp::LogReply decode(const Answer& a) {
  EXPECT_TRUE(a.reply.has_value()) << a.reason;
  if (!a.reply) return {};
  auto f = kmp::decode_frame(*a.reply);
  EXPECT_TRUE(f.ok());
  EXPECT_EQ(f->dst, 0x7F);
  auto r = kmp::decode_log_response(*f, f->cid);
  EXPECT_TRUE(r.ok()) << kmp::to_hex(*a.reply);
  return r.ok() ? r.value() : kmp::LogReply{};
}

// The 602 profile: LID 1 hourly, 2 daily, 3 monthly, 4 yearly; hour counter 41873 h at start.
TEST(LoggerSim, SynthesizedPastIsConsistent) {
  MeterModel m(*builtin_profile("multical602"), 5, kStart);
  const auto hourly = m.log_records(LogKind::Hourly, kStart);
  ASSERT_EQ(hourly.size(), 1400U);  // capacity; the energy lasts ~260 days back
  const auto last_hour =
      WallClock::time_point(std::chrono::duration_cast<hours>(kStart.time_since_epoch()));
  EXPECT_EQ(hourly.back().t, last_hour);
  // 41873 h at 10:20:30 → 41872 at the last full hour, exactly one less per hour before.
  EXPECT_EQ(value_of(hourly.back(), 1004), "41872");
  for (std::size_t i = 1; i < hourly.size(); ++i) {
    SCOPED_TRACE(i);
    EXPECT_EQ(hourly[i].t - hourly[i - 1].t, hours(1));
    EXPECT_EQ(static_cast<std::uint16_t>(hourly[i - 1].id + 1), hourly[i].id);
    EXPECT_EQ(mantissa_of(hourly[i], 1004), mantissa_of(hourly[i - 1], 1004) + 1);
    EXPECT_GE(mantissa_of(hourly[i], 60), mantissa_of(hourly[i - 1], 60));
    EXPECT_GE(mantissa_of(hourly[i], 68), mantissa_of(hourly[i - 1], 68));
    EXPECT_GE(mantissa_of(hourly[i], 97), mantissa_of(hourly[i - 1], 97));
  }
  EXPECT_LE(mantissa_of(hourly.back(), 60), 19802U);  // 198.02 GJ at start
  // Logged date and clock are the record's local time.
  const kmp::LogTime lt = log_time(hourly.back().t);
  EXPECT_EQ(value_of(hourly.back(), 1003),
            std::to_string(lt.year * 10000 + lt.month * 100 + lt.day));
  EXPECT_EQ(value_of(hourly.back(), 1002), std::to_string(lt.hour * 10000));

  // The daily record at local midnight carries the same counters as the hourly one then.
  const auto daily = m.log_records(LogKind::Daily, kStart);
  ASSERT_FALSE(daily.empty());
  EXPECT_EQ(daily.back().t, local(2026, 11, 23, 0, 0, 0));
  for (const auto& h : hourly) {
    if (h.t != daily.back().t) continue;
    for (int id : {60, 68, 1004, 97, 110, 1003, 1002}) {
      EXPECT_EQ(value_of(h, static_cast<std::uint16_t>(id)),
                value_of(daily.back(), static_cast<std::uint16_t>(id)))
          << id;
    }
  }
  // Monthly: 1 November, 1 October, ... back to the "installation".
  const auto monthly = m.log_records(LogKind::Monthly, kStart);
  ASSERT_GE(monthly.size(), 2U);
  EXPECT_EQ(monthly.back().t, local(2026, 11, 1, 0, 0, 0));
  EXPECT_EQ(monthly[monthly.size() - 2].t, local(2026, 10, 1, 0, 0, 0));
  EXPECT_EQ(monthly.back().id, (2026 * 12 + 10) & 0xFFFF);
}

TEST(LoggerSim, SameSeedSameHistory) {
  MeterModel a(*builtin_profile("multical403"), 9, kStart);
  MeterModel b(*builtin_profile("multical403"), 9, kStart);
  MeterModel c(*builtin_profile("multical403"), 10, kStart);
  const auto ra = a.log_records(LogKind::Daily, kStart);
  const auto rb = b.log_records(LogKind::Daily, kStart);
  const auto rc = c.log_records(LogKind::Daily, kStart);
  ASSERT_EQ(ra.size(), rb.size());
  ASSERT_GE(ra.size(), 30U);
  bool differs = false;
  for (std::size_t i = 0; i < ra.size(); ++i) {
    EXPECT_EQ(value_of(ra[i], 60), value_of(rb[i], 60));
    if (i < rc.size() && value_of(ra[i], 60) != value_of(rc[i], 60)) differs = true;
  }
  EXPECT_TRUE(differs) << "another seed should give another past";
}

TEST(LoggerSim, ForwardRecordsAreTheLiveModelsValuesAtTheBoundary) {
  MeterModel a(*builtin_profile("multical403"), 3, kStart);
  MeterModel b(*builtin_profile("multical403"), 3, kStart);
  const auto before = a.log_records(LogKind::Hourly, kStart).size();
  const auto recs = a.log_records(LogKind::Hourly, kStart + hours(3));
  EXPECT_EQ(recs.size(), std::min<std::size_t>(before + 3, 1400));
  const auto b1 = local(2026, 11, 23, 11, 0, 0);
  const auto& r = recs[recs.size() - 3];
  EXPECT_EQ(r.t, b1);
  for (int id : {60, 68, 1004, 97, 110, 86, 87, 74, 80}) {
    auto v = b.value(static_cast<std::uint16_t>(id), b1);
    ASSERT_TRUE(v.has_value());
    EXPECT_EQ(value_of(r, static_cast<std::uint16_t>(id)), v->to_string()) << id;
  }
  EXPECT_EQ(value_of(r, 1002), "110000");
}

TEST(LoggerSim, CompressedPeriod) {
  Profile p = *builtin_profile("multical403");
  p.logger.period[0] = std::chrono::milliseconds(2000);
  MeterModel m(p, 1, kStart);
  const auto past = m.log_records(LogKind::Hourly, kStart);
  ASSERT_EQ(past.size(), 1400U);
  EXPECT_EQ(past[1].t - past[0].t, seconds(2));
  const auto later = m.log_records(LogKind::Hourly, kStart + seconds(11));
  // Boundaries at even seconds after 10:20:30: :32 :34 :36 :38 :40.
  EXPECT_EQ(later.back().t, kStart + seconds(10));
  EXPECT_EQ(later.back().index - past.back().index, 5);
  EXPECT_EQ(later.size(), 1400U);
}

TEST(LoggerSim, RequestsAnswerFromTheRecords) {
  MeterModel m(*builtin_profile("multical602"), 5, kStart);
  const auto hourly = m.log_records(LogKind::Hourly, kStart);
  const kmp::LogTime future = log_time(kStart + hours(24));
  const auto now = kStart + seconds(1);

  // A3: the two newest records, newest first; LRO = the last one sent.
  Answer a = m.handle(request(kmp::LogCommand::TimePast, 1, {1003, 1002, 60}, 2, 128, future), now);
  kmp::LogReply r = decode(a);
  ASSERT_EQ(r.records.size(), 2U);
  EXPECT_EQ(r.records[0].record_id, hourly.back().id);
  EXPECT_EQ(r.records[1].record_id, hourly[hourly.size() - 2].id);
  EXPECT_EQ(r.info, 0);
  EXPECT_EQ(r.last_read_id, hourly[hourly.size() - 2].id);
  EXPECT_EQ(r.newest_id, hourly.back().id);
  ASSERT_EQ(r.columns.size(), 3U);
  EXPECT_EQ(r.value(0, 2)->number->to_string(), value_of(hourly.back(), 60));
  ASSERT_EQ(a.records.size(), 2U);
  EXPECT_EQ(a.log_info, 0);

  // A1 continues after the last record read: the newest, then the end of the log.
  r = decode(m.handle(request(kmp::LogCommand::LastPresent, 1, {60}, 5), now));
  ASSERT_EQ(r.records.size(), 1U);
  EXPECT_EQ(r.records[0].record_id, hourly.back().id);
  EXPECT_EQ(r.info, kmp::kLogInfoEndOfLog);
  r = decode(m.handle(request(kmp::LogCommand::LastPresent, 1, {60}, 5), now));
  EXPECT_TRUE(r.records.empty());
  EXPECT_EQ(r.info, kmp::kLogInfoEndOfLog);

  // A0 before the oldest record starts at the oldest; registers not logged are left out.
  r = decode(m.handle(request(kmp::LogCommand::TimePresent, 1, {60, 1001, 68}, 3, 128,
                              kmp::LogTime{20, 1, 1, 0, 0, 0, 0, 0}),
                      now));
  ASSERT_EQ(r.records.size(), 3U);
  EXPECT_EQ(r.records[0].record_id, hourly.front().id);
  ASSERT_EQ(r.columns.size(), 2U);  // 1001 (serial) is not logged
  EXPECT_EQ(r.columns[1].id, 68);

  // A2 from an id; MaxL 40 with three 4-byte registers fits one record (23 + 14m ≤ 40).
  const auto& mid = hourly[700];
  r = decode(
      m.handle(request(kmp::LogCommand::IdPresent, 1, {60, 68, 1004}, 5, 40, {}, mid.id), now));
  ASSERT_EQ(r.records.size(), 1U);
  EXPECT_EQ(r.records[0].record_id, mid.id);
  EXPECT_EQ(r.info, kmp::kLogInfoMaxLength);
  // A3 with an offset: k records before the one found.
  r = decode(
      m.handle(request(kmp::LogCommand::TimePast, 1, {60}, 1, 128, log_time(mid.t), 3), now));
  ASSERT_EQ(r.records.size(), 1U);
  EXPECT_EQ(r.records[0].record_id, hourly[697].id);

  // Out of range: a time after the newest record, an unknown id, an invalid time.
  r = decode(m.handle(request(kmp::LogCommand::TimePresent, 1, {60}, 1, 128, future), now));
  EXPECT_TRUE(r.records.empty());
  EXPECT_EQ(r.info, kmp::kLogInfoOutOfRange);
  r = decode(m.handle(request(kmp::LogCommand::IdPresent, 1, {60}, 1, 128, {},
                              static_cast<std::uint16_t>(hourly.back().id + 7)),
                      now));
  EXPECT_EQ(r.info, kmp::kLogInfoOutOfRange);
  r = decode(m.handle(
      request(kmp::LogCommand::TimePast, 1, {60}, 1, 128, future, 0, kmp::TimeOrder::Reversed),
      now));
  EXPECT_EQ(r.info, kmp::kLogInfoOutOfRange) << "a reversed time reads as month 0";

  // An unknown LID gets silence.
  Answer none = m.handle(request(kmp::LogCommand::LastPresent, 9, {60}, 1), now);
  EXPECT_FALSE(none.reply.has_value());
  EXPECT_EQ(none.reason, "no logger with LID 9");
}

TEST(LoggerSim, EmptyLogReversedOrderAndEventStatus) {
  Profile p = *builtin_profile("multical403");
  // 5 operating hours at 10:20:30: installed at 05:20:30, so no daily record yet (midnight).
  p.find(1004)->value = *kmp::Decimal::parse("5");
  p.logger.reversed_time = true;
  MeterModel m(p, 2, kStart);
  const auto now = kStart + seconds(1);
  const kmp::LogTime future = log_time(kStart + hours(24));
  // 403: LID 4 hourly, 3 daily.
  kmp::LogReply r = decode(m.handle(
      request(kmp::LogCommand::TimePast, 3, {60}, 1, 128, future, 0, kmp::TimeOrder::Reversed),
      now));
  EXPECT_EQ(r.info, kmp::kLogInfoEmpty);
  EXPECT_TRUE(r.records.empty());
  r = decode(m.handle(
      request(kmp::LogCommand::TimePast, 4, {60}, 10, 255, future, 0, kmp::TimeOrder::Reversed),
      now));
  EXPECT_EQ(r.records.size(), 5U);  // 06:00 .. 10:00
  EXPECT_EQ(r.info, kmp::kLogInfoEndOfLog);
  // The field-table order reads the reversed bytes as year 0, month 0: out of range.
  r = decode(m.handle(request(kmp::LogCommand::TimePast, 4, {60}, 10, 255, future), now));
  EXPECT_EQ(r.info, kmp::kLogInfoOutOfRange);

  // 0x9B: ES2 bit 0 while the hourly log has unread records; 0x9C unconditional clears it.
  auto status = [&](const Bytes& wire, std::uint8_t cid) {
    Answer a = m.handle(wire, now);
    EXPECT_TRUE(a.reply.has_value()) << a.reason;
    auto f = kmp::decode_frame(*a.reply);
    return kmp::decode_event_status_response(*f, cid).value();
  };
  // A3 reads towards the past, so the last record read is the oldest one sent: unread remain.
  EXPECT_EQ(status(kmp::encode_get_event_status(), 0x9B)[1], 1);
  // A1 reads up to the newest: nothing unread.
  kmp::LogReply rest = decode(m.handle(request(kmp::LogCommand::LastPresent, 4, {60}, 10), now));
  EXPECT_EQ(rest.records.size(), 4U);
  EXPECT_EQ(status(kmp::encode_get_event_status(), 0x9B)[1], 0);
  m.handle(request(kmp::LogCommand::TimePast, 4, {60}, 1, 128, log_time(kStart - hours(3)), 0,
                   kmp::TimeOrder::Reversed),
           now);
  EXPECT_EQ(status(kmp::encode_get_event_status(), 0x9B)[1], 1);
  EXPECT_EQ(status(kmp::encode_clear_event_status({{0, 0, 0, 0}, {0, 1, 0, 0}}), 0x9C)[1], 0);
}

TEST(LoggerSim, DisabledLoggerIsSilent) {
  Profile p = *builtin_profile("multical403");
  p.logger.enabled = false;
  MeterModel m(p, 2, kStart);
  Answer a = m.handle(request(kmp::LogCommand::LastPresent, 4, {60}, 1), kStart);
  EXPECT_FALSE(a.reply.has_value());
  EXPECT_EQ(a.reason, "addressed to 0x7F, not to the meter (0x3F)");
  EXPECT_FALSE(m.handle(kmp::encode_get_event_status(), kStart).reply.has_value());
  // The 382 profile has no logger at all.
  MeterModel e(*builtin_profile("kamstrup382"), 2, kStart);
  EXPECT_FALSE(e.handle(kmp::encode_get_event_status(), kStart).reply.has_value());
  EXPECT_TRUE(e.log_records(LogKind::Hourly, kStart).empty());
}

TEST(LoggerSim, ProfileYaml) {
  Profile p = parse_profile_yaml(
      "base: multical602\nlogger:\n  time_order: reversed\n  lids: {hourly: 7}\n"
      "  period: {hourly: 2s, daily: 500ms}\n",
      "test");
  EXPECT_TRUE(p.logger.enabled);
  EXPECT_TRUE(p.logger.reversed_time);
  EXPECT_EQ(p.logger.lids[0], 7);
  EXPECT_EQ(p.logger.lids[1], 2);
  EXPECT_EQ(p.logger.period[0].count(), 2000);
  EXPECT_EQ(p.logger.period[1].count(), 500);
  EXPECT_THROW(parse_profile_yaml("logger:\n  period: {weekly: 2s}\n", "t"), ProfileError);
  EXPECT_THROW(parse_profile_yaml("logger:\n  period: {hourly: 2x}\n", "t"), ProfileError);
  EXPECT_THROW(parse_profile_yaml("logger:\n  colour: red\n", "t"), ProfileError);
  EXPECT_THROW(parse_profile_yaml("logger:\n  lids: {hourly: 2}\n", "t"), ProfileError);
  Profile off = parse_profile_yaml("logger: {enabled: false}\n", "t");
  EXPECT_FALSE(off.logger.enabled);
}

}  // namespace
}  // namespace kamstrup::sim
