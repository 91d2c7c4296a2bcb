// The pure parts of meter/logger_session: logger kinds from record spacing, and the meter's
// local date/time registers ↔ Unix time.
#include <gtest/gtest.h>

#include "meter/logger_session.hpp"

namespace kamstrup::meter {
namespace {

constexpr std::int64_t kH = 3'600'000;
constexpr std::int64_t kD = 24 * kH;

LoggerInfo logger(std::uint8_t lid, std::optional<std::int64_t> spacing, bool empty = false) {
  LoggerInfo l;
  l.lid = lid;
  l.spacing_ms = spacing;
  l.empty = empty;
  return l;
}

TEST(LoggerClassify, BandsWhateverTheLidOrder) {
  std::vector<LoggerInfo> ls = {logger(1, 365 * kD), logger(2, 31 * kD), logger(3, 24 * kH),
                                logger(4, kH)};
  classify_loggers(ls);
  EXPECT_EQ(ls[0].kind, LoggerKind::Yearly);
  EXPECT_EQ(ls[1].kind, LoggerKind::Monthly);
  EXPECT_EQ(ls[2].kind, LoggerKind::Daily);
  EXPECT_EQ(ls[3].kind, LoggerKind::Hourly);
  // Short months, leap years and daylight-saving days stay in their bands.
  ls = {logger(1, 28 * kD), logger(2, 366 * kD), logger(3, 23 * kH), logger(4, 25 * kH)};
  classify_loggers(ls);
  EXPECT_EQ(ls[0].kind, LoggerKind::Monthly);
  EXPECT_EQ(ls[1].kind, LoggerKind::Yearly);
  EXPECT_EQ(ls[2].kind, LoggerKind::Daily);
  // The second day-spaced logger fits no free band: it takes the remaining kind (by design).
  EXPECT_EQ(ls[3].kind, LoggerKind::Hourly);
}

TEST(LoggerClassify, RemainingKindsGoByOrderOfSpacing) {
  // A compressed hourly logger (2 s), a real daily one, an empty one and a single-record one.
  std::vector<LoggerInfo> ls = {logger(1, std::nullopt, true), logger(2, std::nullopt),
                                logger(3, 24 * kH), logger(4, 2000)};
  classify_loggers(ls);
  EXPECT_EQ(ls[3].kind, LoggerKind::Hourly);
  EXPECT_EQ(ls[2].kind, LoggerKind::Daily);
  EXPECT_EQ(ls[0].kind, LoggerKind::Monthly);  // no spacing: LID order
  EXPECT_EQ(ls[1].kind, LoggerKind::Yearly);
  // All compressed: shortest spacing is hourly, and so on.
  ls = {logger(1, 8000), logger(2, 4000), logger(3, 2000), logger(4, 1000)};
  classify_loggers(ls);
  EXPECT_EQ(ls[3].kind, LoggerKind::Hourly);
  EXPECT_EQ(ls[2].kind, LoggerKind::Daily);
  EXPECT_EQ(ls[1].kind, LoggerKind::Monthly);
  EXPECT_EQ(ls[0].kind, LoggerKind::Yearly);
  LoggerDirectory dir;
  dir.loggers = ls;
  ASSERT_NE(dir.find(LoggerKind::Daily), nullptr);
  EXPECT_EQ(dir.find(LoggerKind::Daily)->lid, 3);
}

TEST(LoggerTime, LocalRegistersRoundTrip) {
  const auto ms = unix_ms_of(261123, 143005);
  ASSERT_TRUE(ms.has_value());
  const kmp::LogTime t = log_time_of(*ms);
  EXPECT_EQ(t, (kmp::LogTime{26, 11, 23, 14, 30, 5, 0, 0}));
  EXPECT_EQ(unix_ms_of(261123, 153005).value() - *ms, kH);
  EXPECT_FALSE(unix_ms_of(261131, 0).has_value());
  EXPECT_FALSE(unix_ms_of(260230, 0).has_value());
  EXPECT_FALSE(unix_ms_of(261123, 246000).has_value());
  EXPECT_EQ(logger_kind_name(LoggerKind::Daily), "daily");
  EXPECT_EQ(log_status_name(LogStatus::OutOfRange), "OutOfRange");
  EXPECT_EQ(default_log_registers(), (std::vector<std::uint16_t>{60, 68, 1004}));
}

}  // namespace
}  // namespace kamstrup::meter
