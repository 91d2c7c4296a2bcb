// The RFC 2217 client's telnet state machine, byte by byte.
#include "transport/telnet.hpp"

#include <gtest/gtest.h>

namespace kamstrup::transport::telnet {
namespace {

using Bytes = std::vector<std::uint8_t>;
constexpr std::uint8_t kNop = 241;

Bytes feed(Client& c, const Bytes& in) {
  Bytes data;
  c.feed(in, data);
  return data;
}

TEST(TelnetEscape, DoublesIacOnly) {
  Bytes out;
  escape(Bytes{0x01, 0xFF, 0x0D, 0xFF, 0xFF, 0x00}, out);
  EXPECT_EQ(out, (Bytes{0x01, 0xFF, 0xFF, 0x0D, 0xFF, 0xFF, 0xFF, 0xFF, 0x00}));
}

TEST(TelnetClient, StartOffersComPortAndBinaryBothWays) {
  Client c;
  c.start();
  EXPECT_EQ(c.take_output(), (Bytes{kIac, kWill, kOptComPort, kIac, kWill, kOptBinary, kIac, kWill,
                                    kOptSga, kIac, kDo, kOptBinary, kIac, kDo, kOptSga}));
  EXPECT_EQ(c.us(kOptComPort), OptionState::WantYes);
  EXPECT_TRUE(c.take_output().empty());
}

TEST(TelnetClient, AnswersToOurRequestsAreNotAnsweredAgain) {
  Client c;
  c.start();
  (void)c.take_output();
  // ser2net sends its own DO/WILL for the same options, crossing ours on the wire.
  EXPECT_TRUE(feed(c, {kIac, kDo, kOptComPort, kIac, kDo, kOptBinary, kIac, kWill, kOptBinary, kIac,
                       kDo, kOptSga, kIac, kWill, kOptSga, kIac, kDo, kOptSga})
                  .empty());
  EXPECT_TRUE(c.take_output().empty());
  EXPECT_EQ(c.us(kOptComPort), OptionState::Yes);
  EXPECT_EQ(c.us(kOptBinary), OptionState::Yes);
  EXPECT_EQ(c.him(kOptBinary), OptionState::Yes);
}

TEST(TelnetClient, RefusesOptionsItDoesNotSupport) {
  Client c;
  c.start();
  (void)c.take_output();
  (void)feed(c, {kIac, kWill, kOptEcho, kIac, kDo, 24, kIac, kWill, 31});
  EXPECT_EQ(c.take_output(), (Bytes{kIac, kDont, kOptEcho, kIac, kWont, 24, kIac, kDont, 31}));
  EXPECT_EQ(c.him(kOptEcho), OptionState::No);
}

TEST(TelnetClient, ServerRefusingComPortIsVisible) {
  Client c;
  c.start();
  (void)c.take_output();
  (void)feed(c, {kIac, kDont, kOptComPort});
  EXPECT_EQ(c.us(kOptComPort), OptionState::No);
  EXPECT_TRUE(c.take_output().empty());  // it was never on, so nothing to confirm
}

TEST(TelnetClient, ServerTurningAnOptionOffIsConfirmed) {
  Client c;
  c.start();
  (void)feed(c, {kIac, kDo, kOptBinary, kIac, kWill, kOptBinary});
  (void)c.take_output();
  (void)feed(c, {kIac, kDont, kOptBinary, kIac, kWont, kOptBinary});
  EXPECT_EQ(c.take_output(), (Bytes{kIac, kWont, kOptBinary, kIac, kDont, kOptBinary}));
}

TEST(TelnetClient, DataIsUnescapedAndCommandsStripped) {
  Client c;
  const Bytes wire = {0x40, kIac, kIac,        0x0D, 0x00, kIac, kNop, 0x0D,     0x0A,
                      kIac, kSb,  kOptComPort, 107,  0x30, kIac, kSe,  0xFF - 1, 0x0D};
  EXPECT_EQ(feed(c, wire), (Bytes{0x40, 0xFF, 0x0D, 0x00, 0x0D, 0x0A, 0xFE, 0x0D}));
}

TEST(TelnetClient, AnySplitOfTheStreamGivesTheSameResult) {
  const Bytes wire = {0x01, kIac, kIac, 0x02, kIac, kSb,  kOptComPort, 101,  0x00,
                      0x00, kIac, kIac, 0x00, kIac, kSe,  0x03,        kIac, kDo,
                      24,   0x04, kIac, kNop, kIac, kIac, kIac,        kIac, 0x05};
  const Bytes expected_data = {0x01, 0xFF, 0x02, 0x03, 0x04, 0xFF, 0xFF, 0x05};
  for (std::size_t split = 0; split <= wire.size(); ++split) {
    for (std::size_t split2 = split; split2 <= wire.size(); ++split2) {
      Client c;
      Bytes data;
      c.feed(std::span(wire).subspan(0, split), data);
      c.feed(std::span(wire).subspan(split, split2 - split), data);
      c.feed(std::span(wire).subspan(split2), data);
      ASSERT_EQ(data, expected_data) << split << "," << split2;
      ASSERT_EQ(c.com_port_reply(1), (Bytes{0x00, 0x00, 0xFF, 0x00})) << split << "," << split2;
      ASSERT_EQ(c.take_output(), (Bytes{kIac, kWont, 24})) << split << "," << split2;
    }
  }
}

TEST(TelnetClient, RecordsComPortRepliesUntilForgotten) {
  Client c;
  (void)feed(c, {kIac, kSb, kOptComPort, 101, 0, 0, 0x04, 0xB0, kIac, kSe});
  (void)feed(c, {kIac, kSb, kOptComPort, 104, 2, kIac, kSe});
  EXPECT_EQ(c.com_port_reply(com::kSetBaudrate), (Bytes{0, 0, 0x04, 0xB0}));
  EXPECT_EQ(c.com_port_reply(com::kSetStopsize), (Bytes{2}));
  EXPECT_FALSE(c.com_port_reply(com::kSetParity));
  c.forget_com_port_replies();
  EXPECT_FALSE(c.com_port_reply(com::kSetBaudrate));
  // Subnegotiations of other options are not COM-PORT replies.
  (void)feed(c, {kIac, kSb, 24, 101, 9, kIac, kSe});
  EXPECT_FALSE(c.com_port_reply(com::kSetBaudrate));
}

TEST(TelnetClient, SendsItsSignatureWhenAsked) {
  Client c;
  (void)feed(c, {kIac, kSb, kOptComPort, 100, kIac, kSe});
  const std::string sig = "kamstrup-reader";
  Bytes expected = {kIac, kSb, kOptComPort, 0};
  expected.insert(expected.end(), sig.begin(), sig.end());
  expected.insert(expected.end(), {kIac, kSe});
  EXPECT_EQ(c.take_output(), expected);
  // A signature with text is the server introducing itself: nothing to answer.
  (void)feed(c, {kIac, kSb, kOptComPort, 100, 'x', kIac, kSe});
  EXPECT_TRUE(c.take_output().empty());
}

TEST(TelnetClient, SubnegotiationWithoutSeEndsAtTheNextCommand) {
  Client c;
  EXPECT_EQ(feed(c, {kIac, kSb, kOptComPort, 104, 1, kIac, kDo, 24, 0x33}), (Bytes{0x33}));
  EXPECT_EQ(c.com_port_reply(com::kSetStopsize), (Bytes{1}));
  EXPECT_EQ(c.take_output(), (Bytes{kIac, kWont, 24}));
}

TEST(TelnetClient, OverlongSubnegotiationIsBounded) {
  Client c;
  Bytes wire = {kIac, kSb, kOptComPort, 107};
  wire.insert(wire.end(), 100000, 0x01);
  wire.insert(wire.end(), {kIac, kSe, 0x44});
  EXPECT_EQ(feed(c, wire), (Bytes{0x44}));
  EXPECT_LE(c.com_port_reply(7)->size(), 256U);
}

TEST(TelnetClient, ComPortCommandValuesAreEscaped) {
  Client c;
  c.send_com_port(com::kSetBaudrate, Bytes{0x00, 0x00, 0xFF, 0x00});
  EXPECT_EQ(c.take_output(),
            (Bytes{kIac, kSb, kOptComPort, 1, 0x00, 0x00, 0xFF, 0xFF, 0x00, kIac, kSe}));
}

TEST(TelnetClient, ResetForgetsTheConnection) {
  Client c;
  c.start();
  (void)feed(c, {kIac, kDo, kOptComPort, kIac, kSb, kOptComPort, 101, 1, 2, 3, 4, kIac, kSe, kIac});
  c.reset();
  EXPECT_EQ(c.us(kOptComPort), OptionState::No);
  EXPECT_FALSE(c.com_port_reply(1));
  EXPECT_TRUE(c.take_output().empty());
  EXPECT_EQ(feed(c, {kIac, kIac}), (Bytes{0xFF}));  // the dangling IAC was forgotten too
}

}  // namespace
}  // namespace kamstrup::transport::telnet
