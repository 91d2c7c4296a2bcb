// usb:VID:PID[:SERIAL] resolution against a fake sysfs laid out like the real one.
#include "../support/fake_sysfs.hpp"
#include "support.hpp"
#include "transport/port.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace kamstrup::transport {
namespace {

using namespace test;
using ::testing::HasSubstr;
namespace fs = std::filesystem;

// The shared fake tree (tests/support/fake_sysfs.hpp) with this file's shorthand.
class FakeSysfs {
 public:
  FakeSysfs() : fake_(dir_.path()) {}
  [[nodiscard]] std::string root() const { return fake_.sys().string(); }

  void usb_serial(const std::string& tty, const std::string& usb_dev, const std::string& vid,
                  const std::string& pid, const std::optional<std::string>& serial) {
    fake_.usb_serial(tty, usb_dev, {vid, pid, serial, "", "", "ftdi_sio"});
  }
  void usb_acm(const std::string& tty, const std::string& usb_dev, const std::string& vid,
               const std::string& pid) {
    fake_.usb_acm(tty, usb_dev, {vid, pid, std::nullopt, "", "", ""});
  }
  // Ttys without a USB device: a virtual console and an on-board UART.
  void non_usb() {
    fake_.virtual_console("tty0");
    fake_.uart("ttyS0", "serial8250", "serial8250", 4);
  }

 private:
  TempDir dir_;
  kamstrup::test::FakeSystem fake_;
};

std::string resolve_error(const std::string& spec, const FakeSysfs& sys) {
  try {
    return "resolved to " + resolve_usb_spec(spec, sys.root(), "/dev");
  } catch (const PortError& e) {
    return e.what();
  }
}

TEST(UsbResolver, FindsTheTtyOfAUsbSerialAdapter) {
  FakeSysfs sys;
  sys.non_usb();
  sys.usb_serial("ttyUSB0", "1-1", "0403", "6001", "A50285BI");
  sys.usb_acm("ttyACM0", "1-2", "2341", "0043");
  EXPECT_EQ(resolve_usb_spec("usb:0403:6001", sys.root(), "/dev"), "/dev/ttyUSB0");
  EXPECT_EQ(resolve_usb_spec("usb:2341:0043", sys.root(), "/dev"), "/dev/ttyACM0");
  EXPECT_EQ(resolve_usb_spec("usb:0403:6001:A50285BI", sys.root(), "/dev"), "/dev/ttyUSB0");
  EXPECT_EQ(resolve_usb_spec("usb:0403:6001", sys.root(), "/tmp/devs"), "/tmp/devs/ttyUSB0");
}

TEST(UsbResolver, IdsCompareCaseInsensitively) {
  FakeSysfs sys;
  sys.usb_serial("ttyUSB3", "1-4", "10c4", "ea60", std::nullopt);
  EXPECT_EQ(resolve_usb_spec("usb:10C4:EA60", sys.root(), "/dev"), "/dev/ttyUSB3");
  EXPECT_EQ(resolve_usb_spec("usb:10c4:Ea60", sys.root(), "/dev"), "/dev/ttyUSB3");
}

TEST(UsbResolver, NoMatchListsWhatWasFound) {
  FakeSysfs sys;
  sys.non_usb();
  sys.usb_serial("ttyUSB0", "1-1", "0403", "6001", "A50285BI");
  sys.usb_acm("ttyACM0", "1-2", "2341", "0043");
  EXPECT_EQ(resolve_error("usb:067b:2303", sys),
            "usb:067b:2303: no USB serial device with that vendor/product id (found: 2341:0043 "
            "on ttyACM0, 0403:6001 on ttyUSB0 (serial A50285BI))");
}

TEST(UsbResolver, NoUsbTtysAtAll) {
  FakeSysfs sys;
  sys.non_usb();
  EXPECT_EQ(resolve_error("usb:0403:6001", sys),
            "usb:0403:6001: no USB serial device with that vendor/product id (found: none)");
  TempDir empty;  // no class/tty at all
  try {
    (void)resolve_usb_spec("usb:0403:6001", empty.path().string(), "/dev");
    FAIL() << "no error";
  } catch (const PortError& e) {
    EXPECT_THAT(e.what(), HasSubstr("(found: none)"));
  }
}

TEST(UsbResolver, TwoMatchesAreAmbiguousUntilTheSerialPicksOne) {
  FakeSysfs sys;
  sys.usb_serial("ttyUSB0", "1-1", "0403", "6001", "A50285BI");
  sys.usb_serial("ttyUSB1", "1-3", "0403", "6001", "FT9XK2QL");
  const auto message = resolve_error("usb:0403:6001", sys);
  EXPECT_THAT(message, HasSubstr("usb:0403:6001: 2 USB serial devices match"));
  EXPECT_THAT(message, HasSubstr("ttyUSB0 (serial A50285BI)"));
  EXPECT_THAT(message, HasSubstr("ttyUSB1 (serial FT9XK2QL)"));
  EXPECT_THAT(message, HasSubstr("add :SERIAL"));
  EXPECT_THAT(message, HasSubstr("usb:0403:6001:A50285BI"));

  EXPECT_EQ(resolve_usb_spec("usb:0403:6001:FT9XK2QL", sys.root(), "/dev"), "/dev/ttyUSB1");
  EXPECT_EQ(resolve_usb_spec("usb:0403:6001:A50285BI", sys.root(), "/dev"), "/dev/ttyUSB0");
  EXPECT_THAT(resolve_error("usb:0403:6001:NOPE", sys),
              HasSubstr("usb:0403:6001:NOPE: no USB serial device with that vendor/product id "
                        "and serial (found: 0403:6001 on ttyUSB0 (serial A50285BI), 0403:6001 "
                        "on ttyUSB1 (serial FT9XK2QL))"));
}

TEST(UsbResolver, MalformedSpecs) {
  FakeSysfs sys;
  for (const std::string spec : {"usb:", "usb:zz", "usb:0403", "usb:403:6001", "usb:0403:6001:",
                                 "usb:04031:6001", "usb:g403:6001", "0403:6001"}) {
    EXPECT_THAT(resolve_error(spec, sys), HasSubstr(spec + ": malformed USB port spec")) << spec;
  }
}

}  // namespace
}  // namespace kamstrup::transport
