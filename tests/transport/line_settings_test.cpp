#include "transport/port.hpp"

#include <gtest/gtest.h>

namespace kamstrup::transport {
namespace {

TEST(LineSettings, PrintsBaudAndFrame) {
  EXPECT_EQ(LineSettings{}.to_string(), "1200 8N2");
  EXPECT_EQ((LineSettings{9600, 8, Parity::None, 1}.to_string()), "9600 8N1");
  EXPECT_EQ((LineSettings{300, 7, Parity::Even, 2}.to_string()), "300 7E2");
  EXPECT_EQ((LineSettings{2400, 7, Parity::Odd, 1}.to_string()), "2400 7O1");
}

TEST(LineSettings, CharTimeCountsStartParityAndStopBits) {
  EXPECT_EQ(LineSettings{}.bits_per_char(), 11U);
  EXPECT_EQ((LineSettings{300, 7, Parity::Even, 2}.bits_per_char()), 11U);
  EXPECT_EQ((LineSettings{9600, 8, Parity::None, 1}.char_time()), std::chrono::microseconds(1041));
}

TEST(ParseFrameFormat, AcceptsTheUsualFormats) {
  EXPECT_EQ(parse_frame_format(1200, "8N2"), (LineSettings{1200, 8, Parity::None, 2}));
  EXPECT_EQ(parse_frame_format(300, "7E2"), (LineSettings{300, 7, Parity::Even, 2}));
  EXPECT_EQ(parse_frame_format(9600, "8n1"), (LineSettings{9600, 8, Parity::None, 1}));
  EXPECT_EQ(parse_frame_format(2400, "7o1"), (LineSettings{2400, 7, Parity::Odd, 1}));
}

TEST(ParseFrameFormat, RejectsMalformedFormats) {
  for (const char* bad : {"", "8N", "8N21", "9N1", "4N1", "8X1", "8N3", "8N0", "N81", " 8N1"}) {
    EXPECT_EQ(parse_frame_format(1200, bad), std::nullopt) << bad;
  }
  EXPECT_EQ(parse_frame_format(0, "8N1"), std::nullopt);
}

TEST(ParseFrameFormat, RoundTripsWithToString) {
  for (const char* f : {"8N2", "8N1", "7E2", "7E1", "7O2", "8E1"}) {
    auto s = parse_frame_format(1200, f);
    ASSERT_TRUE(s);
    EXPECT_EQ(s->to_string(), std::string("1200 ") + f);
  }
}

}  // namespace
}  // namespace kamstrup::transport
