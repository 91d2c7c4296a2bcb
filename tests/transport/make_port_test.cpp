#include "transport/port.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <asio/io_context.hpp>

namespace kamstrup::transport {
namespace {

using ::testing::HasSubstr;

std::string spec_error(const std::string& spec, const LineSettings& line = {}) {
  asio::io_context io;
  try {
    (void)make_port(io.get_executor(), spec, line);
  } catch (const PortError& e) {
    return e.what();
  }
  return "no error";
}

TEST(MakePort, NamesThePortAfterTheSpec) {
  asio::io_context io;
  const LineSettings line;
  for (const std::string spec :
       {"/dev/ttyUSB0", "socket://127.0.0.1:7000", "rfc2217://meter-gw.local:2217",
        "socket://[::1]:7000", "usb:0403:6001", "usb:0403:6001:A12B3C"}) {
    auto port = make_port(io.get_executor(), spec, line);
    ASSERT_TRUE(port) << spec;
    EXPECT_EQ(port->name(), spec);
    EXPECT_EQ(port->line(), line);
  }
}

TEST(MakePort, RejectsMalformedSpecsNamingThem) {
  for (const std::string spec :
       {"socket://host", "socket://host:", "socket://:7000", "socket://host:port",
        "socket://host:0", "socket://host:70000", "rfc2217://host", "socket://::1:7000"}) {
    EXPECT_THAT(spec_error(spec), HasSubstr(spec + ": malformed port spec")) << spec;
  }
  for (const std::string spec :
       {"usb:zz", "usb:0403", "usb:0403:60011", "usb:xyzw:6001", "usb:0403:6001:"}) {
    EXPECT_THAT(spec_error(spec), HasSubstr(spec + ": malformed USB port spec")) << spec;
  }
  EXPECT_THAT(spec_error("tcp://host:1"), HasSubstr("tcp://host:1: unknown port scheme"));
  EXPECT_THAT(spec_error(""), HasSubstr("empty port spec"));
}

TEST(MakePort, RejectsImpossibleLineSettings) {
  EXPECT_THAT(spec_error("/dev/ttyUSB0", {0, 8, Parity::None, 2}),
              HasSubstr("baud rate must be positive"));
  EXPECT_THAT(spec_error("/dev/ttyUSB0", {1200, 9, Parity::None, 2}), HasSubstr("9 data bits"));
  EXPECT_THAT(spec_error("/dev/ttyUSB0", {1200, 8, Parity::None, 3}), HasSubstr("3 stop bits"));
}

}  // namespace
}  // namespace kamstrup::transport
