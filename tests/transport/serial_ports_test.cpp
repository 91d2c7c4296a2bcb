// `kamstrup ports`' enumeration against a fabricated /sys and /dev (tests/support/fake_sysfs.hpp):
// which ttys are listed, their USB identity, their by-id/by-path links, and which by-id names two
// adapters share.
#include "transport/serial_ports.hpp"
#include "../support/fake_sysfs.hpp"
#include "support.hpp"
#include "transport/port.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace kamstrup::transport {
namespace {

using kamstrup::test::FakeSystem;
using ::testing::ElementsAre;
using ::testing::IsEmpty;

class SerialPorts : public ::testing::Test {
 protected:
  SerialPorts() : fake_(dir_.path()) {}

  std::vector<SerialPortInfo> list() const {
    return list_serial_ports(fake_.sys().string(), fake_.dev().string());
  }
  std::string dev(const std::string& name) const { return (fake_.dev() / name).string(); }
  std::string by_id(const std::string& name) const {
    return (fake_.dev() / "serial/by-id" / name).string();
  }
  std::string by_path(const std::string& name) const {
    return (fake_.dev() / "serial/by-path" / name).string();
  }

  static std::vector<std::string> names(const std::vector<SerialPortInfo>& ports) {
    std::vector<std::string> out;
    for (const auto& p : ports) out.push_back(p.name);
    return out;
  }

  test::TempDir dir_;
  FakeSystem fake_;
};

const FakeSystem::Usb kFtdi{"0403", "6001", "A50285BI", "FTDI", "FT232R USB UART", "ftdi_sio"};
const FakeSystem::Usb kCp2102{
    "10c4", "ea60", "0001", "Silicon Labs", "CP2102 USB to UART Bridge Controller", "cp210x"};
const FakeSystem::Usb kCh340{"1a86", "7523", std::nullopt, "", "USB Serial", "ch341"};

// A Raspberry Pi with a head on each kind of adapter: the PL011 and mini-UART are listed, the
// 8250 driver's 31 empty ttyS ports and the virtual consoles are not.
TEST_F(SerialPorts, ListsRealDevicesOnly) {
  for (int i = 0; i < 8; ++i) fake_.virtual_console("tty" + std::to_string(i));
  fake_.uart("ttyAMA0", "fe201000.serial", "uart-pl011", 83);
  fake_.uart("ttyS0", "fe215040.serial", "dw-apb-uart", 4, /*serial_base=*/true);
  for (int i = 1; i < 32; ++i) {
    fake_.uart("ttyS" + std::to_string(i), "serial8250/serial8250:0." + std::to_string(i),
               "serial8250", 0);
  }
  fake_.usb_serial("ttyUSB0", "1-1.2", kFtdi);
  fake_.usb_acm("ttyACM0", "1-1.3",
                {"2341", "0043", "75833353035351F0E1B1", "Arduino (www.arduino.cc)", "Uno", ""});
  fake_.by_id("usb-FTDI_FT232R_USB_UART_A50285BI-if00-port0", "ttyUSB0");
  fake_.by_path("platform-fd500000.pcie-pci-0000:01:00.0-usb-0:1.2:1.0-port0", "ttyUSB0");
  fake_.by_path("platform-fd500000.pcie-pci-0000:01:00.0-usbv2-0:1.2:1.0-port0", "ttyUSB0");
  fake_.by_id("usb-Arduino__www.arduino.cc__Uno_75833353035351F0E1B1-if00", "ttyACM0");

  const auto ports = list();
  ASSERT_THAT(names(ports), ElementsAre("ttyACM0", "ttyAMA0", "ttyS0", "ttyUSB0"));

  const auto& acm = ports[0];
  ASSERT_TRUE(acm.usb);
  EXPECT_EQ(acm.usb->vid, "2341");
  EXPECT_EQ(acm.usb->driver, "cdc_acm");
  EXPECT_EQ(acm.usb->product, "Uno");
  EXPECT_THAT(acm.by_id,
              ElementsAre(by_id("usb-Arduino__www.arduino.cc__Uno_75833353035351F0E1B1-if00")));
  EXPECT_FALSE(known_adapter(acm.usb->vid, acm.usb->pid));

  const auto& pl011 = ports[1];
  EXPECT_FALSE(pl011.usb);
  EXPECT_EQ(pl011.device, dev("ttyAMA0"));
  EXPECT_EQ(pl011.driver, "uart-pl011");
  EXPECT_EQ(pl011.stable_name(), dev("ttyAMA0"));
  EXPECT_EQ(pl011.usb_spec(ports), "");
  EXPECT_EQ(ports[2].driver, "dw-apb-uart");

  const auto& ftdi = ports[3];
  ASSERT_TRUE(ftdi.usb);
  EXPECT_EQ(ftdi.device, dev("ttyUSB0"));
  EXPECT_EQ(ftdi.usb->vid, "0403");
  EXPECT_EQ(ftdi.usb->pid, "6001");
  EXPECT_EQ(ftdi.usb->serial, "A50285BI");
  EXPECT_EQ(ftdi.usb->manufacturer, "FTDI");
  EXPECT_EQ(ftdi.usb->product, "FT232R USB UART");
  EXPECT_EQ(ftdi.usb->interface, "00");
  EXPECT_EQ(ftdi.usb->driver, "ftdi_sio");
  EXPECT_EQ(ftdi.driver, "");
  EXPECT_THAT(ftdi.by_id, ElementsAre(by_id("usb-FTDI_FT232R_USB_UART_A50285BI-if00-port0")));
  EXPECT_THAT(
      ftdi.by_path,
      ElementsAre(by_path("platform-fd500000.pcie-pci-0000:01:00.0-usb-0:1.2:1.0-port0"),
                  by_path("platform-fd500000.pcie-pci-0000:01:00.0-usbv2-0:1.2:1.0-port0")));
  EXPECT_THAT(ftdi.shares_by_id_with, IsEmpty());
  EXPECT_EQ(ftdi.stable_name(), by_id("usb-FTDI_FT232R_USB_UART_A50285BI-if00-port0"));
  EXPECT_EQ(ftdi.usb_spec(ports), "usb:0403:6001");
}

// Two CH340s without serial numbers: udev gives both the same by-id name, and the link goes to
// the one plugged in last; each keeps its own by-path name.
TEST_F(SerialPorts, TwoAdaptersWithoutSerialShareTheirById) {
  fake_.usb_serial("ttyUSB0", "1-1.2", kCh340);
  fake_.usb_serial("ttyUSB1", "1-1.4", kCh340);
  fake_.by_id("usb-1a86_USB_Serial-if00-port0", "ttyUSB0");
  fake_.by_id("usb-1a86_USB_Serial-if00-port0", "ttyUSB1");  // replaces the first
  fake_.by_path("platform-3f980000.usb-usb-0:1.2:1.0-port0", "ttyUSB0");
  fake_.by_path("platform-3f980000.usb-usb-0:1.4:1.0-port0", "ttyUSB1");

  const auto ports = list();
  ASSERT_THAT(names(ports), ElementsAre("ttyUSB0", "ttyUSB1"));
  EXPECT_THAT(ports[0].by_id, IsEmpty());
  EXPECT_THAT(ports[1].by_id, ElementsAre(by_id("usb-1a86_USB_Serial-if00-port0")));
  EXPECT_THAT(ports[0].shares_by_id_with, ElementsAre(dev("ttyUSB1")));
  EXPECT_THAT(ports[1].shares_by_id_with, ElementsAre(dev("ttyUSB0")));
  EXPECT_EQ(ports[0].stable_name(), by_path("platform-3f980000.usb-usb-0:1.2:1.0-port0"));
  EXPECT_EQ(ports[1].stable_name(), by_path("platform-3f980000.usb-usb-0:1.4:1.0-port0"));
  EXPECT_EQ(ports[0].usb_spec(ports), "");  // usb:1a86:7523 would match both
  EXPECT_FALSE(ports[0].usb->serial);
  EXPECT_EQ(ports[0].usb->manufacturer, "");
  EXPECT_EQ(ports[0].usb->driver, "ch341");
}

TEST_F(SerialPorts, OneAdapterWithoutSerialKeepsItsById) {
  fake_.usb_serial("ttyUSB0", "1-1.2", kCh340);
  fake_.by_id("usb-1a86_USB_Serial-if00-port0", "ttyUSB0");
  const auto ports = list();
  ASSERT_EQ(ports.size(), 1U);
  EXPECT_THAT(ports[0].shares_by_id_with, IsEmpty());
  EXPECT_EQ(ports[0].stable_name(), by_id("usb-1a86_USB_Serial-if00-port0"));
  EXPECT_EQ(ports[0].usb_spec(ports), "usb:1a86:7523");
}

// Cheap CP2102 boards often carry the factory serial 0001: identical serials collide like none.
TEST_F(SerialPorts, IdenticalSerialsCollideToo) {
  fake_.usb_serial("ttyUSB0", "1-1", kCp2102);
  fake_.usb_serial("ttyUSB1", "1-2", kCp2102);
  fake_.by_id("usb-Silicon_Labs_CP2102_USB_to_UART_Bridge_Controller_0001-if00-port0", "ttyUSB1");
  const auto ports = list();
  ASSERT_EQ(ports.size(), 2U);
  EXPECT_THAT(ports[0].shares_by_id_with, ElementsAre(dev("ttyUSB1")));
  // No by-path link either (udev without path_id): the device itself is all there is.
  EXPECT_EQ(ports[0].stable_name(), dev("ttyUSB0"));
  EXPECT_EQ(ports[1].stable_name(), dev("ttyUSB1"));
  EXPECT_EQ(ports[1].usb_spec(ports), "");
}

TEST_F(SerialPorts, DistinctSerialsAndInterfacesDoNotCollide) {
  auto other = kFtdi;
  other.serial = "FT9XK2QL";
  fake_.usb_serial("ttyUSB0", "1-1", kFtdi);
  fake_.usb_serial("ttyUSB1", "1-2", other);
  const FakeSystem::Usb dual{"0403", "6010", "FT2232X", "FTDI", "Dual RS232-HS", "ftdi_sio"};
  fake_.usb_serial("ttyUSB2", "1-3", dual, "00");
  fake_.usb_serial("ttyUSB3", "1-3", dual, "01");
  const auto ports = list();
  ASSERT_EQ(ports.size(), 4U);
  for (const auto& p : ports) EXPECT_THAT(p.shares_by_id_with, IsEmpty()) << p.name;
  EXPECT_EQ(ports[0].usb_spec(ports), "usb:0403:6001:A50285BI");
  EXPECT_EQ(ports[1].usb_spec(ports), "usb:0403:6001:FT9XK2QL");
  EXPECT_EQ(ports[2].usb->interface, "00");
  EXPECT_EQ(ports[3].usb->interface, "01");
  EXPECT_EQ(ports[2].usb_spec(ports), "");  // both interfaces answer to usb:0403:6010:FT2232X
}

TEST_F(SerialPorts, LinksToOtherThingsAreIgnored) {
  fake_.usb_serial("ttyUSB0", "1-1", kFtdi);
  fake_.by_id("usb-FTDI_FT232R_USB_UART_A50285BI-if00-port0", "ttyUSB0");
  fake_.by_id("usb-gone-if00-port0", "ttyUSB7");       // dangling
  std::ofstream(fake_.dev() / "serial/by-id/README");  // not a link
  // An absolute link, as a hand-written udev rule may make.
  std::filesystem::create_symlink(fake_.dev() / "ttyUSB0", fake_.dev() / "serial/by-id/abs");
  const auto ports = list();
  ASSERT_EQ(ports.size(), 1U);
  EXPECT_THAT(ports[0].by_id,
              ElementsAre(by_id("abs"), by_id("usb-FTDI_FT232R_USB_UART_A50285BI-if00-port0")));
}

TEST_F(SerialPorts, NothingThereIsAnEmptyList) {
  EXPECT_THAT(list(), IsEmpty());
  EXPECT_THAT(
      list_serial_ports((dir_.path() / "no-sys").string(), (dir_.path() / "no-dev").string()),
      IsEmpty());
}

// The resolver and the list walk the same tree: a usb: spec from the list resolves to its tty.
TEST_F(SerialPorts, UsbSpecsFromTheListResolve) {
  auto other = kFtdi;
  other.serial = "FT9XK2QL";
  fake_.usb_serial("ttyUSB0", "1-1", kFtdi);
  fake_.usb_serial("ttyUSB1", "1-2", other);
  fake_.usb_serial("ttyUSB2", "1-3", kCp2102);
  const auto ports = list();
  ASSERT_EQ(ports.size(), 3U);
  for (const auto& p : ports) {
    const auto spec = p.usb_spec(ports);
    ASSERT_FALSE(spec.empty()) << p.name;
    EXPECT_EQ(resolve_usb_spec(spec, fake_.sys().string(), fake_.dev().string()), p.device);
  }
}

TEST(KnownAdapters, ByVendorAndProduct) {
  auto cp = known_adapter("10C4", "EA60");
  ASSERT_TRUE(cp);
  EXPECT_EQ(cp->chip, "Silicon Labs CP210x");
  EXPECT_TRUE(cp->common_in_heads);
  ASSERT_TRUE(known_adapter("1a86", "7523"));
  EXPECT_EQ(known_adapter("1a86", "7523")->chip, "WCH CH340");
  EXPECT_EQ(known_adapter("067b", "2303")->chip, "Prolific PL2303");
  EXPECT_EQ(known_adapter("0403", "6015")->chip, "FTDI FT230X/FT231X");
  EXPECT_FALSE(known_adapter("2341", "0043"));
  EXPECT_FALSE(known_adapter("0403", "ffff"));
}

}  // namespace
}  // namespace kamstrup::transport
