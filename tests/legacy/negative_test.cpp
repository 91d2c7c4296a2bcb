// Every malformed reply fails with its typed error, never a shifted or partial value.
#include <gtest/gtest.h>

#include <string>

#include "legacy/iec.hpp"
#include "legacy/standard.hpp"

using namespace kamstrup::legacy;

namespace {

const std::string kGood =
    "0507109 1296626 0032673 0006811 0003366 0003445 0000031 0000079 0000093 0000000";

Scale mwh() {
  return *scale_for(*parse_program_number("0044119"));
}

struct Case {
  const char* what;
  std::string line;
  Error error;
};

TEST(LegacyNegative, StandardReplyLines) {
  std::string shifted = kGood;
  shifted.erase(0, 8);  // first field missing: every other field would shift left
  std::string short_field = kGood;
  short_field.erase(8, 1);  // 6-digit volume
  std::string letter = kGood;
  letter[17] = 'O';  // a letter O in the hours field
  const Case cases[] = {
      {"empty", "", Error::Empty},
      {"spaces only", "    ", Error::Empty},
      {"missing field", shifted, Error::MissingField},
      {"short field", short_field, Error::ShortField},
      {"letter in a field", letter, Error::BadDigit},
      {"extra field", kGood + " 0000000", Error::ExtraField},
      {"sign", "-507109 1296626 0032673 0006811 0003366 0003445 0000031 0000079 0000093 0000000",
       Error::BadDigit},
      {"decimal point",
       "0507.10 1296626 0032673 0006811 0003366 0003445 0000031 0000079 "
       "0000093 0000000",
       Error::BadDigit},
      {"21 digits", std::string(21, '1') + kGood.substr(7), Error::LongField},
      {"tab separator",
       "0507109\t1296626 0032673 0006811 0003366 0003445 0000031 0000079 "
       "0000093 0000000",
       Error::BadDigit},
  };
  for (const auto& c : cases) {
    auto r = decode_standard1(c.line, mwh());
    ASSERT_FALSE(r.ok()) << c.what;
    EXPECT_EQ(r.error(), c.error) << c.what << ": " << to_string(r.error());
  }
  // Wider fields are legal (an 8-digit first field posted from a MULTICAL 401).
  auto wide = decode_standard1("1" + kGood, mwh());
  ASSERT_TRUE(wide.ok());
  EXPECT_EQ((*wide)[0].value.number->to_string(), "10507.109");
  // Runs of spaces and a trailing space separate like one.
  std::string spaced = kGood;
  spaced.insert(7, " ");
  auto s = decode_standard1(spaced + " ", mwh());
  ASSERT_TRUE(s.ok());
  EXPECT_EQ((*s)[1].value.number->to_string(), "12966.26");
}

TEST(LegacyNegative, StandardData2) {
  const std::string good =
      "00000060017 0000000 0000000 0000000 0000000 0000000 0000000 0044119 1200000 0171028";
  ASSERT_TRUE(decode_standard2(good).ok());
  std::string bad_date = good;
  bad_date.replace(good.size() - 4, 4, "1328");  // month 13
  EXPECT_EQ(decode_standard2(bad_date).error(), Error::BadDate);
  std::string bad_program = good;
  bad_program.replace(good.find("0044119"), 7, "1044119");
  EXPECT_EQ(decode_standard2(bad_program).error(), Error::BadProgramNumber);
  EXPECT_EQ(decode_standard2(good.substr(12)).error(), Error::MissingField);
}

TEST(LegacyNegative, LineReceiverIsBoundedAndStripsParity) {
  LineReceiver rx;
  std::vector<LineReceiver::Event> events;
  for (std::size_t i = 0; i < LineReceiver::kMaxLine + 10; ++i) {
    auto e = rx.feed('1');
    if (e != LineReceiver::Event::None) events.push_back(e);
  }
  EXPECT_EQ(events, std::vector<LineReceiver::Event>{LineReceiver::Event::Overlong});
  // The overlong line is dropped up to its CR; the next line is whole.
  EXPECT_EQ(rx.feed('\r'), LineReceiver::Event::None);
  std::vector<LineReceiver::Event> next;
  for (char c : std::string("\n0001 0002\r")) {
    // bit 7 set on every other character (parity seen as data)
    auto b = static_cast<std::uint8_t>(c);
    if (c == '0') b = static_cast<std::uint8_t>(b | 0x80U);
    next.push_back(rx.feed(b));
  }
  EXPECT_EQ(next.back(), LineReceiver::Event::Line);
  EXPECT_EQ(rx.line(), "0001 0002");
  // NUL, a character whose parity check failed, stays in the line (anywhere in it), so the line
  // fails validation instead of losing a digit: "12345678" with its first digit lost would be a
  // legal 7-digit field.
  std::string lost_first = "12345678 0000001\r";
  lost_first[0] = '\0';
  std::string lost_inside = lost_first;
  lost_inside[0] = '1';
  lost_inside[4] = '\0';
  for (const std::string& wire : {lost_first, lost_inside}) {
    LineReceiver r;
    LineReceiver::Event last = LineReceiver::Event::None;
    for (char c : wire) last = r.feed(static_cast<std::uint8_t>(c));
    ASSERT_EQ(last, LineReceiver::Event::Line);
    EXPECT_EQ(r.line().size(), 16U);
    EXPECT_EQ(split_fields(r.line(), 2, 7).error(), Error::BadDigit);
  }
}

std::string iec1() {
  return std::string("/KAM 685-382-OK-15\r\n\x02") +
         "0.0(00054042)\r\n1.20(0000053*kWh)\r\n1.20.1(0000033*kWh)\r\n1.20.2(0000020*kWh)\r\n"
         "1.31(0000482*h)\r\n1.26(0000000)\r\n1.6(000018,3*kW)\r\n1.6*1(000000,0)!\r\n\x03>";
}

TEST(LegacyNegative, IecReadouts) {
  ASSERT_TRUE(decode_iec_readout(iec1()).ok());
  std::string bad_bcc = iec1();
  bad_bcc.back() = '?';
  std::string flipped = iec1();
  flipped[flipped.find("53")] = '6';  // one digit changed: BCC catches it
  std::string no_etx = iec1();
  no_etx.erase(no_etx.size() - 2);
  std::string no_bcc = iec1();
  no_bcc.pop_back();
  std::string no_stx = iec1();
  no_stx.erase(no_stx.find('\x02'), 1);
  std::string no_ident = iec1().substr(20);
  std::string bad_item =
      "/KAM 0 MC\r\n\x02"
      "6.8(0012345*GJ\r\n!\r\n\x03";
  bad_item.push_back(static_cast<char>(iec_bcc(bad_item.substr(bad_item.find('\x02') + 1))));
  std::string overlong = iec1() + std::string(IecReceiver::kMaxBytes, ' ');
  const struct {
    const char* what;
    std::string text;
    Error error;
  } cases[] = {
      {"bad BCC", bad_bcc, Error::BadBcc},
      {"changed digit", flipped, Error::BadBcc},
      {"missing ETX", no_etx, Error::NoEtx},
      {"missing BCC", no_bcc, Error::NoBcc},
      {"missing STX", no_stx, Error::NoStx},
      {"missing identification", no_ident, Error::NoIdentification},
      {"item without ')'", bad_item, Error::BadItem},
      {"overlong", overlong, Error::Overlong},
      {"only our echo", "/?!\r\n", Error::NoIdentification},
  };
  for (const auto& c : cases) {
    auto r = decode_iec_readout(c.text);
    ASSERT_FALSE(r.ok()) << c.what;
    EXPECT_EQ(r.error(), c.error) << c.what << ": " << to_string(r.error());
  }
}

TEST(LegacyNegative, IecReceiverSkipsEchoAndCompletesAfterBcc) {
  IecReceiver rx;
  const std::string wire = std::string("\x00/?!\r\n", 6) + iec1() + "junk";
  std::vector<IecReceiver::Event> events;
  std::size_t complete_at = 0;
  for (std::size_t i = 0; i < wire.size(); ++i) {
    auto e = rx.feed(static_cast<std::uint8_t>(wire[i]));
    if (e != IecReceiver::Event::None) events.push_back(e);
    if (e == IecReceiver::Event::Complete) complete_at = i;
  }
  EXPECT_EQ(events, (std::vector<IecReceiver::Event>{IecReceiver::Event::Identification,
                                                     IecReceiver::Event::Complete}));
  EXPECT_EQ(complete_at, 6 + iec1().size() - 1);
  EXPECT_TRUE(rx.saw_echo());
  EXPECT_EQ(rx.bytes(), iec1());
  // A readout that never ends is cut at the cap.
  IecReceiver big;
  std::size_t overlong = 0;
  std::string endless = "/KAM\r\n\x02";
  endless += std::string(IecReceiver::kMaxBytes, '1');
  for (char c : endless) {
    if (big.feed(static_cast<std::uint8_t>(c)) == IecReceiver::Event::Overlong) ++overlong;
  }
  EXPECT_EQ(overlong, 1U);
}

// Heads that reflect "/?!" without its CR LF, or only "/?", run the echo into the meter's
// identification: the fragment before the identification's '/' is echo, not part of it.
TEST(LegacyNegative, IecReceiverSkipsAPartialEchoBeforeTheIdentification) {
  for (const std::string echo : {"/?!", "/?", "/", "/!\r"}) {
    SCOPED_TRACE(echo);
    IecReceiver rx;
    const std::string wire = echo + iec1();
    std::vector<IecReceiver::Event> events;
    for (char c : wire) {
      auto e = rx.feed(static_cast<std::uint8_t>(c));
      if (e != IecReceiver::Event::None) events.push_back(e);
    }
    EXPECT_EQ(events, (std::vector<IecReceiver::Event>{IecReceiver::Event::Identification,
                                                       IecReceiver::Event::Complete}));
    EXPECT_TRUE(rx.saw_echo());
    EXPECT_EQ(rx.bytes(), iec1());
    auto r = decode_iec_readout(rx.bytes());
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(r->identification, "/KAM 685-382-OK-15");
  }
  // An identification that merely contains '/' further on is not cut.
  IecReceiver rx;
  const std::string ident = "/KAM/2\r\n\x02!\r\n\x03";
  std::string wire = ident + static_cast<char>(iec_bcc("!\r\n\x03"));
  for (char c : wire) rx.feed(static_cast<std::uint8_t>(c));
  EXPECT_FALSE(rx.saw_echo());
  ASSERT_TRUE(decode_iec_readout(rx.bytes()).ok());
  EXPECT_EQ(decode_iec_readout(rx.bytes())->identification, "/KAM/2");
}

}  // namespace

namespace {

TEST(LegacyLogs, DailyHourlyAndInfoLoggers) {
  const std::vector<std::string> daily = {
      "171028 05071 00000 00000 00012 00000 00000 00000 06811 00000 03366 00000",
      "171027 05070 00000 00000 00012 00000 00000 00000 06790 00000 03350 00008"};
  auto t = decode_log('6', daily);
  ASSERT_TRUE(t.ok()) << to_string(t.error());
  ASSERT_EQ(t->rows.size(), 2U);
  ASSERT_EQ(t->names.size(), 11U);
  EXPECT_EQ(t->names[0], "heat_energy");
  EXPECT_EQ(t->names[10], "info");
  EXPECT_EQ(t->rows[0].date, "2017-10-28");
  EXPECT_EQ(t->rows[1].yymmdd, 171027U);
  EXPECT_EQ(t->rows[0].fields[0], 5071U);
  EXPECT_EQ(t->rows[1].fields[10], 8U);
  EXPECT_EQ(decode_log('7', daily)->rows.size(), 2U);

  auto info = decode_log('J', std::vector<std::string>{"0000008 171027 0120000 0507100"});
  ASSERT_TRUE(info.ok());
  EXPECT_EQ(info->rows[0].date, "2017-10-27");
  EXPECT_EQ(info->names, (std::vector<std::string>{"info", "clock", "heat_energy"}));
  EXPECT_EQ(info->rows[0].fields, (std::vector<kamstrup::kmp::uint128>{8, 120000, 507100}));

  // /#8: the tail after In-B is not documented: named field_<n>, count fixed by the first line.
  auto monthly = decode_log(
      '8', std::vector<std::string>{"171001 0507109 1296626 0000000 0000000 0000000 0000000 "
                                    "0000093 0000000 0000000 0000000"});
  ASSERT_TRUE(monthly.ok());
  EXPECT_EQ(monthly->names.size(), 10U);
  EXPECT_EQ(monthly->names[1], "volume");
  EXPECT_EQ(monthly->names[6], "field_7");
}

TEST(LegacyLogs, MalformedLoggerReplies) {
  const struct {
    const char* what;
    char code;
    std::vector<std::string> lines;
    Error error;
  } cases[] = {
      {"no records", '6', {}, Error::MissingField},
      {"a short line",
       '6',
       {"171028 05071 00000 00000 00012 00000 00000 00000 06811 00000 03366 00000",
        "171027 05070 00000 00000 00012 00000 00000 00000 06790 00000 03350"},
       Error::MissingField},
      {"4-digit field",
       '7',
       {"171028 5071 00000 00000 00012 00000 00000 00000 06811 00000 03366 00000"},
       Error::ShortField},
      {"bad date",
       '6',
       {"171328 05071 00000 00000 00012 00000 00000 00000 06811 00000 03366 00000"},
       Error::BadDate},
      {"lines of different length",
       '9',
       {"171001 0507109 1296626 0000000 0000000 0000000", "161001 0407109 1196626 0000000"},
       Error::MissingField},
      {"header only",
       '5',
       {"00000060017 0171028 0507109 1296626 0000000 0000000 0000000 0000000 0000093"},
       Error::MissingField},
      {"letter", 'J', {"0000008 171027 0120O00 0507100"}, Error::BadDigit},
      {"not a logger", '1', {"171027"}, Error::BadRequest},
  };
  for (const auto& c : cases) {
    auto r = decode_log(c.code, c.lines);
    ASSERT_FALSE(r.ok()) << c.what;
    EXPECT_EQ(r.error(), c.error) << c.what << ": " << to_string(r.error());
  }
}

}  // namespace
