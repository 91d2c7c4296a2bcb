// A fabricated /sys and /dev laid out like the real ones (kernel 6.x, udev's 60-serial.rules), so
// the serial-port enumeration and usb: resolution can be tested without the hardware:
//   sys/devices/.../usb1/1-1/{idVendor,idProduct,serial,manufacturer,product}
//   sys/devices/.../usb1/1-1/1-1:1.0/{bInterfaceNumber,driver->} /ttyUSB0/tty/ttyUSB0/device->..
//   sys/class/tty/ttyUSB0 -> ../../devices/.../tty/ttyUSB0
//   dev/ttyUSB0 (a plain file), dev/serial/by-id/NAME -> ../../ttyUSB0, dev/serial/by-path/...
#pragma once

#include <filesystem>
#include <fstream>
#include <optional>
#include <string>

namespace kamstrup::test {

class FakeSystem {
 public:
  // Lays out `base`/sys and `base`/dev (base must exist).
  explicit FakeSystem(std::filesystem::path base) : base_(std::move(base)) {
    std::filesystem::create_directories(sys() / "class/tty");
    std::filesystem::create_directories(sys() / "bus/usb/drivers");
    std::filesystem::create_directories(dev() / "serial/by-id");
    std::filesystem::create_directories(dev() / "serial/by-path");
  }

  [[nodiscard]] std::filesystem::path sys() const { return base_ / "sys"; }
  [[nodiscard]] std::filesystem::path dev() const { return base_ / "dev"; }

  struct Usb {
    std::string vid;
    std::string pid;
    std::optional<std::string> serial;
    std::string manufacturer;  // "" = the device has no such string
    std::string product;
    std::string driver = "ftdi_sio";
  };

  // A usb-serial tty (ftdi_sio, cp210x, ch341, pl2303...): the tty's device is the port node
  // below the interface, two levels under the USB device. `usb_dev` is the USB bus path ("1-1.2").
  void usb_serial(const std::string& tty, const std::string& usb_dev, const Usb& u,
                  const std::string& interface = "00") {
    const auto iface = interface_dir(usb_dev, u, interface);
    add_tty(tty, iface / tty);
    std::ofstream(dev() / tty);
  }

  // A cdc-acm tty: the tty's device is the interface itself.
  void usb_acm(const std::string& tty, const std::string& usb_dev, Usb u) {
    u.driver = "cdc_acm";
    const auto iface = interface_dir(usb_dev, u, "00");
    add_tty(tty, iface);
    std::ofstream(dev() / tty);
  }

  // A virtual console (no device link), as every machine has.
  void virtual_console(const std::string& tty) {
    const auto vt = sys() / "devices/virtual/tty" / tty;
    std::filesystem::create_directories(vt);
    std::filesystem::create_directory_symlink("../../devices/virtual/tty/" + tty,
                                              sys() / "class/tty" / tty);
    std::ofstream(vt / "dev") << "4:1\n";
  }

  // A serial-core port of an on-board UART driver: `type` 0 is what the 8250 driver shows for
  // the ports it registers without hardware (PORT_UNKNOWN); 4 is a 16550A, 83 a PL011.
  // With `serial_base` the tty hangs below a port and a controller on the serial-base bus, as
  // since Linux 6.5 (drivers "port" and "ctrl"); the UART driver is bound above them.
  void uart(const std::string& tty, const std::string& parent, const std::string& driver, int type,
            bool serial_base = false) {
    auto dir = sys() / "devices/platform" / parent;
    std::filesystem::create_directories(dir);
    bind_driver(dir, "platform", driver);
    if (serial_base) {
      for (const char* level : {"ctrl", "port"}) {
        dir /= (std::string(level) == "ctrl" ? tty + ":0" : tty + ":0.0");
        std::filesystem::create_directories(dir);
        bind_driver(dir, "serial-base", level);
        std::filesystem::create_directory_symlink(sys() / "bus/serial-base", dir / "subsystem");
      }
    }
    add_tty(tty, dir);
    std::ofstream(sys() / "class/tty" / tty / "type") << type << "\n";
    if (type != 0) std::ofstream(dev() / tty);
  }

  // dev/serial/by-id/NAME -> ../../TTY (udev's relative form).
  void by_id(const std::string& name, const std::string& tty) { link("by-id", name, tty); }
  void by_path(const std::string& name, const std::string& tty) { link("by-path", name, tty); }

 private:
  std::filesystem::path interface_dir(const std::string& usb_dev, const Usb& u,
                                      const std::string& interface) {
    const auto d = sys() / "devices/pci0000:00/0000:00:14.0/usb1" / usb_dev;
    std::filesystem::create_directories(d);
    std::ofstream(d / "idVendor") << u.vid << "\n";
    std::ofstream(d / "idProduct") << u.pid << "\n";
    if (u.serial) std::ofstream(d / "serial") << *u.serial << "\n";
    if (!u.manufacturer.empty()) std::ofstream(d / "manufacturer") << u.manufacturer << "\n";
    if (!u.product.empty()) std::ofstream(d / "product") << u.product << "\n";
    const auto iface = d / (usb_dev + ":1." + std::to_string(std::stoi(interface)));
    std::filesystem::create_directories(iface);
    std::ofstream(iface / "bInterfaceNumber") << interface << "\n";
    bind_driver(iface, "usb", u.driver);
    return iface;
  }

  void bind_driver(const std::filesystem::path& dir, const std::string& bus,
                   const std::string& driver) {
    const auto drv = sys() / "bus" / bus / "drivers" / driver;
    std::filesystem::create_directories(drv);
    std::error_code ec;
    std::filesystem::create_directory_symlink(drv, dir / "driver", ec);
  }

  // class/tty/<tty> -> <parent>/tty/<tty>, whose `device` link points (relatively) at parent.
  void add_tty(const std::string& tty, const std::filesystem::path& parent) {
    const auto node = parent / "tty" / tty;
    std::filesystem::create_directories(node);
    std::filesystem::create_directory_symlink("../..", node / "device");
    std::filesystem::create_directory_symlink(std::filesystem::relative(node, sys() / "class/tty"),
                                              sys() / "class/tty" / tty);
  }

  void link(const std::string& kind, const std::string& name, const std::string& tty) {
    const auto at = dev() / "serial" / kind / name;
    std::filesystem::remove(at);  // udev replaces a name another device had
    std::filesystem::create_symlink("../../" + tty, at);
  }

  std::filesystem::path base_;
};

}  // namespace kamstrup::test
