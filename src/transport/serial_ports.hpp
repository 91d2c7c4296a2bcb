// The serial devices of this machine, for `kamstrup ports`: every tty that is real hardware,
// with its USB identity and the stable names udev gave it under /dev/serial/by-id and by-path.
//
// Read from sysfs the same way usb:VID:PID[:SERIAL] is resolved (one walker, in usb.cpp). Both
// roots are parameters so tests can lay out a fake /sys and /dev.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace kamstrup::transport {

// The USB device (and interface) a tty belongs to.
struct UsbIdentity {
  std::string vid;                    // lower-case, 4 hex digits
  std::string pid;                    // lower-case, 4 hex digits
  std::optional<std::string> serial;  // the device's iSerial string; many CH340s have none
  std::string manufacturer;           // the device's own strings ("" when it has none)
  std::string product;
  std::string interface;  // bInterfaceNumber as sysfs prints it ("00"), "" when unknown
  std::string driver;     // the interface's kernel driver (ftdi_sio, cp210x, ch341, cdc_acm...)
};

// A USB serial chip that optical heads are built around.
struct KnownAdapter {
  std::string_view vid;
  std::string_view pid;
  std::string_view chip;  // "Silicon Labs CP210x"
  bool common_in_heads;   // seen in ready-made optical heads (sources in docs/hardware.md)
};

// The table behind known_adapter(), in a stable order (docs and --help list it).
const std::vector<KnownAdapter>& known_adapters();
// The known adapter with these ids (lower- or upper-case hex), if any.
std::optional<KnownAdapter> known_adapter(std::string_view vid, std::string_view pid);

struct SerialPortInfo {
  std::string name;    // sysfs/kernel name: "ttyUSB0", "ttyAMA0"
  std::string device;  // dev_root + "/" + name
  std::optional<UsbIdentity> usb;
  std::string driver;              // the tty's own device driver for a non-USB port ("" when none)
  std::vector<std::string> by_id;  // dev_root/serial/by-id links that lead to this tty, sorted
  std::vector<std::string> by_path;  // dev_root/serial/by-path links, sorted
  // Other listed ttys whose USB identity (ids, strings, serial, interface) equals this one's:
  // udev builds the by-id name from exactly that, so they get the same name and the link goes
  // to whichever was plugged in last. Sorted device paths.
  std::vector<std::string> shares_by_id_with;

  // The name to put in `port:`: a by-id link when no other adapter shares it, else a by-path
  // link (tied to the USB socket), else the device itself.
  [[nodiscard]] std::string stable_name() const;
  // usb:VID:PID[:SERIAL] when that spec picks this tty alone among `all`, else "".
  [[nodiscard]] std::string usb_spec(const std::vector<SerialPortInfo>& all) const;
};

// Every tty under sysfs_root/class/tty that is backed by a device, sorted by name. Skipped:
// virtual terminals, ptys and the console (no device), and serial-core ports whose `type` is 0
// (PORT_UNKNOWN: the 8250 driver registers ttyS0..ttyS31 whether or not a UART is there).
// Missing directories mean "nothing found", never an error.
std::vector<SerialPortInfo> list_serial_ports(const std::string& sysfs_root = "/sys",
                                              const std::string& dev_root = "/dev");

}  // namespace kamstrup::transport
