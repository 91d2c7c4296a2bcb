// `kamstrup ports` end to end: the real binary pointed at a fabricated /sys and /dev (hidden
// --sysfs-root/--dev-root), table and JSON.
#include "../support/fake_sysfs.hpp"
#include "e2e.hpp"

#include <sstream>

namespace kamstrup::e2e {
namespace {

using kamstrup::test::FakeSystem;

// A Pi with an FTDI head, two serial-less CH340 heads (one by-id name between them) and its
// own UART; the 8250 driver's empty ttyS ports and the consoles must not show.
class PortsE2E : public ::testing::Test {
 protected:
  PortsE2E() : fake_(dir_.path()) {
    for (int i = 0; i < 4; ++i) fake_.virtual_console("tty" + std::to_string(i));
    fake_.uart("ttyAMA0", "fe201000.serial", "uart-pl011", 83);
    for (int i = 0; i < 32; ++i) {
      fake_.uart("ttyS" + std::to_string(i), "serial8250/serial8250:0." + std::to_string(i),
                 "serial8250", 0);
    }
    fake_.usb_serial("ttyUSB0", "1-1.2",
                     {"0403", "6015", "D30A1B2C", "FTDI", "FT230X Basic UART", "ftdi_sio"});
    fake_.usb_serial("ttyUSB1", "1-1.3", {"1a86", "7523", std::nullopt, "", "USB Serial", "ch341"});
    fake_.usb_serial("ttyUSB2", "1-1.4", {"1a86", "7523", std::nullopt, "", "USB Serial", "ch341"});
    fake_.by_id("usb-FTDI_FT230X_Basic_UART_D30A1B2C-if00-port0", "ttyUSB0");
    fake_.by_id("usb-1a86_USB_Serial-if00-port0", "ttyUSB2");
    fake_.by_path("platform-3f980000.usb-usb-0:1.2:1.0-port0", "ttyUSB0");
    fake_.by_path("platform-3f980000.usb-usb-0:1.3:1.0-port0", "ttyUSB1");
    fake_.by_path("platform-3f980000.usb-usb-0:1.4:1.0-port0", "ttyUSB2");
  }

  RunResult ports(std::vector<std::string> extra = {}) {
    std::vector<std::string> args = {"ports", "--sysfs-root", fake_.sys().string(), "--dev-root",
                                     fake_.dev().string()};
    args.insert(args.end(), extra.begin(), extra.end());
    return kamstrup(args);
  }
  std::string dev(const std::string& rel) const { return (fake_.dev() / rel).string(); }

  TempDir dir_;
  FakeSystem fake_;
};

TEST_F(PortsE2E, JsonNamesEveryRealDeviceAndItsStableName) {
  const RunResult r = ports({"--json"});
  ASSERT_EQ(r.status, 0) << describe(r);
  const Json j = parse_json(r.out);
  ASSERT_TRUE(j.is_array()) << r.out;
  ASSERT_EQ(j.size(), 4U) << r.out;

  EXPECT_EQ(j[0].at("device"), dev("ttyAMA0"));
  EXPECT_TRUE(j[0].at("usb").is_null());
  EXPECT_EQ(j[0].at("driver"), "uart-pl011");
  EXPECT_EQ(j[0].at("stable_name"), dev("ttyAMA0"));

  const Json& ftdi = j[1];
  EXPECT_EQ(ftdi.at("device"), dev("ttyUSB0"));
  EXPECT_EQ(ftdi.at("usb").at("vid"), "0403");
  EXPECT_EQ(ftdi.at("usb").at("pid"), "6015");
  EXPECT_EQ(ftdi.at("usb").at("serial"), "D30A1B2C");
  EXPECT_EQ(ftdi.at("usb").at("manufacturer"), "FTDI");
  EXPECT_EQ(ftdi.at("usb").at("product"), "FT230X Basic UART");
  EXPECT_EQ(ftdi.at("usb").at("driver"), "ftdi_sio");
  EXPECT_EQ(ftdi.at("adapter").at("chip"), "FTDI FT230X/FT231X");
  EXPECT_EQ(ftdi.at("adapter").at("common_in_optical_heads"), false);
  const std::string ftdi_id = dev("serial/by-id/usb-FTDI_FT230X_Basic_UART_D30A1B2C-if00-port0");
  EXPECT_EQ(ftdi.at("by_id"), Json::array({ftdi_id}));
  EXPECT_EQ(ftdi.at("by_id_shared_with"), Json::array());
  EXPECT_EQ(ftdi.at("stable_name"), ftdi_id);
  EXPECT_EQ(ftdi.at("usb_spec"), "usb:0403:6015");

  for (int i : {1, 2}) {
    const Json& ch = j[static_cast<std::size_t>(i) + 1];
    SCOPED_TRACE(ch.dump());
    EXPECT_EQ(ch.at("device"), dev("ttyUSB" + std::to_string(i)));
    EXPECT_TRUE(ch.at("usb").at("serial").is_null());
    EXPECT_TRUE(ch.at("usb").at("manufacturer").is_null());
    EXPECT_EQ(ch.at("adapter").at("chip"), "WCH CH340");
    EXPECT_EQ(ch.at("by_id_shared_with"), Json::array({dev("ttyUSB" + std::to_string(3 - i))}));
    EXPECT_EQ(ch.at("stable_name"), dev("serial/by-path/platform-3f980000.usb-usb-0:1." +
                                        std::to_string(i + 2) + ":1.0-port0"));
    EXPECT_TRUE(ch.at("usb_spec").is_null());
  }
  EXPECT_EQ(j[2].at("by_id"), Json::array());
  EXPECT_EQ(j[3].at("by_id"), Json::array({dev("serial/by-id/usb-1a86_USB_Serial-if00-port0")}));
}

TEST_F(PortsE2E, TableShowsAdaptersAndWarnsAboutTheSharedName) {
  const RunResult r = ports();
  ASSERT_EQ(r.status, 0) << describe(r);
  EXPECT_EQ(r.err, "");
  const auto& out = r.out;
  EXPECT_EQ(out.rfind("device", 0), 0U) << out;
  // Notes are wrapped to the terminal width: compare with every run of blanks made one space.
  const std::string flat = std::regex_replace(out, std::regex(R"(\s+)"), " ");
  for (const std::string& want : std::vector<std::string>{
           "0403:6015", "D30A1B2C", "FT230X Basic UART", "FTDI FT230X/FT231X", "1a86:7523",
           "WCH CH340", "serial port, not USB (uart-pl011)", "port: names that survive re-plugging",
           "serial/by-id/usb-FTDI_FT230X_Basic_UART_D30A1B2C-if00-port0 (or usb:0403:6015)",
           "serial/by-path/platform-3f980000.usb-usb-0:1.3:1.0-port0",
           "shares its by-id name with " + dev("ttyUSB2") +
               " (same adapter model, no serial number)",
           "(now this one: " + dev("serial/by-id/usb-1a86_USB_Serial-if00-port0") + ")",
           "the by-path name is tied to the USB socket instead"}) {
    EXPECT_NE(flat.find(want), std::string::npos) << "missing '" << want << "' in\n" << out;
  }
  EXPECT_EQ(out.find("ttyS"), std::string::npos) << out;
  EXPECT_EQ(out.find("tty0"), std::string::npos) << out;
  // No CP210x here: no footnote for a mark that is not shown.
  EXPECT_EQ(out.find("* the chip"), std::string::npos) << out;
  // Header + 4 devices, a blank line, then one note ("! ...") for each CH340.
  std::vector<std::string> lines;
  std::istringstream in(out);
  for (std::string l; std::getline(in, l);) lines.push_back(l);
  ASSERT_GT(lines.size(), 5U) << out;
  EXPECT_EQ(lines[5], "") << out;
  EXPECT_EQ(std::count_if(lines.begin(), lines.end(),
                          [](const std::string& l) {
                            return l.find_first_not_of(' ') != std::string::npos &&
                                   l.compare(l.find_first_not_of(' '), 2, "! ") == 0;
                          }),
            2)
      << out;
}

TEST(PortsE2EEmpty, NothingFoundIsSaidPlainly) {
  TempDir dir;
  FakeSystem fake(dir.path());
  fake.virtual_console("tty0");
  const std::vector<std::string> roots = {"--sysfs-root", fake.sys().string(), "--dev-root",
                                          fake.dev().string()};
  std::vector<std::string> args = {"ports"};
  args.insert(args.end(), roots.begin(), roots.end());
  RunResult r = kamstrup(args);
  EXPECT_EQ(r.status, 0) << describe(r);
  EXPECT_NE(r.out.find("no serial devices found"), std::string::npos) << r.out;
  args.push_back("--json");
  r = kamstrup(args);
  EXPECT_EQ(r.status, 0) << describe(r);
  EXPECT_EQ(parse_json(r.out), Json::array());
}

}  // namespace
}  // namespace kamstrup::e2e
