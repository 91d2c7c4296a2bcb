// The serial ttys of the machine as sysfs describes them, for usb:VID:PID[:SERIAL] resolution and
// `kamstrup ports`. Each tty in class/tty points at its device, and some ancestor of that is the
// USB device with idVendor/idProduct/serial (the way udev's by-id links are built). ttyUSB*
// (usb-serial) and ttyACM* (cdc-acm) sit at different depths, hence the walk up rather than a
// fixed path.
#include "transport/port.hpp"
#include "transport/ports.hpp"
#include "transport/serial_ports.hpp"

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <fstream>
#include <tuple>

namespace kamstrup::transport {

namespace {

namespace fs = std::filesystem;

struct UsbSpec {
  std::string vid;  // lower-case, 4 hex digits
  std::string pid;
  std::optional<std::string> serial;
};

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return s;
}

bool is_hex4(const std::string& s) {
  return s.size() == 4 &&
         std::all_of(s.begin(), s.end(), [](unsigned char c) { return std::isxdigit(c) != 0; });
}

UsbSpec parse(const std::string& spec) {
  const std::string prefix = "usb:";
  auto malformed = [&] {
    return PortError(spec + ": malformed USB port spec (expected usb:VID:PID[:SERIAL] with " +
                     "4-digit hex ids, e.g. usb:0403:6001)");
  };
  if (spec.compare(0, prefix.size(), prefix) != 0) throw malformed();
  const std::string rest = spec.substr(prefix.size());
  const auto colon1 = rest.find(':');
  if (colon1 == std::string::npos) throw malformed();
  const auto colon2 = rest.find(':', colon1 + 1);
  UsbSpec out;
  out.vid = rest.substr(0, colon1);
  out.pid = rest.substr(colon1 + 1,
                        colon2 == std::string::npos ? std::string::npos : colon2 - colon1 - 1);
  if (colon2 != std::string::npos) {
    out.serial = rest.substr(colon2 + 1);  // a serial may itself contain ':'
    if (out.serial->empty()) throw malformed();
  }
  if (!is_hex4(out.vid) || !is_hex4(out.pid)) throw malformed();
  out.vid = lower(out.vid);
  out.pid = lower(out.pid);
  return out;
}

std::optional<std::string> read_attr(const fs::path& file) {
  std::ifstream in(file);
  if (!in) return std::nullopt;
  std::string value;
  std::getline(in, value);
  while (!value.empty() && std::isspace(static_cast<unsigned char>(value.back())) != 0) {
    value.pop_back();
  }
  return value;
}

// The name of the driver bound to a sysfs device directory ("" when none).
std::string driver_of(const fs::path& dir) {
  std::error_code ec;
  const fs::path link = fs::read_symlink(dir / "driver", ec);
  return ec ? std::string() : link.filename().string();
}

// The driver of a non-USB tty's hardware. Since Linux 6.5 a serial-core tty's device is a port
// on the "serial-base" bus (driver "port", under a "ctrl"), which says nothing: the UART driver
// (serial8250, uart-pl011...) is bound to the first ancestor outside that bus.
std::string uart_driver(fs::path dir, const fs::path& root) {
  std::error_code ec;
  while (dir != root && dir.has_parent_path() && dir != dir.parent_path() &&
         fs::read_symlink(dir / "subsystem", ec).filename() == "serial-base") {
    dir = dir.parent_path();
  }
  return driver_of(dir);
}

// A tty that is backed by a device.
struct Tty {
  std::string name;         // "ttyUSB0"
  std::string device_name;  // its /dev name relative to dev_root ("tty!x" in sysfs is "tty/x")
  std::optional<UsbIdentity> usb;
  std::string driver;  // the tty's device's driver, for non-USB ttys
};

// The USB device a tty's device belongs to, if any: the nearest ancestor with ids. The interface
// is the nearest directory on the way up that carries bInterfaceNumber.
std::optional<UsbIdentity> usb_parent(fs::path dir, const fs::path& root) {
  std::error_code ec;
  std::optional<fs::path> interface;
  while (!dir.empty() && dir != dir.parent_path()) {
    // Stay inside sysfs: a walk reaching its root found no USB device.
    if (dir == root) break;
    if (fs::exists(dir / "idVendor", ec) && fs::exists(dir / "idProduct", ec)) {
      auto vid = read_attr(dir / "idVendor");
      auto pid = read_attr(dir / "idProduct");
      if (!vid || !pid) return std::nullopt;
      UsbIdentity id{lower(*vid),
                     lower(*pid),
                     read_attr(dir / "serial"),
                     read_attr(dir / "manufacturer").value_or(""),
                     read_attr(dir / "product").value_or(""),
                     "",
                     ""};
      if (interface) {
        id.interface = read_attr(*interface / "bInterfaceNumber").value_or("");
        id.driver = driver_of(*interface);
      }
      return id;
    }
    if (!interface && fs::exists(dir / "bInterfaceNumber", ec)) interface = dir;
    dir = dir.parent_path();
  }
  return std::nullopt;
}

// The device-backed ttys under root/class/tty, sorted by name. A serial-core port whose `type`
// is 0 (PORT_UNKNOWN) has no UART behind it: the 8250 driver registers its ttyS ports anyway.
std::vector<Tty> scan_ttys(const fs::path& root) {
  std::error_code ec;
  std::vector<fs::path> entries;
  for (fs::directory_iterator it(root / "class" / "tty", ec), end; !ec && it != end;
       it.increment(ec)) {
    entries.push_back(it->path());
  }
  std::sort(entries.begin(), entries.end());  // stable messages and choices

  std::vector<Tty> ttys;
  for (const auto& entry : entries) {
    const fs::path device = entry / "device";
    if (!fs::exists(device, ec)) continue;  // virtual ttys (tty0, ptmx, console...)
    if (read_attr(entry / "type") == "0") continue;
    fs::path dir = fs::canonical(device, ec);
    if (ec) continue;
    Tty t;
    t.name = entry.filename().string();
    t.device_name = t.name;
    std::replace(t.device_name.begin(), t.device_name.end(), '!', '/');
    t.usb = usb_parent(dir, root);
    if (!t.usb) t.driver = uart_driver(dir, root);
    ttys.push_back(std::move(t));
  }
  return ttys;
}

fs::path canonical_or(const std::string& path) {
  std::error_code ec;
  fs::path p = fs::canonical(path, ec);
  return ec ? fs::path(path) : p;
}

std::string describe(const Tty& t) {
  std::string s = t.usb->vid + ":" + t.usb->pid + " on " + t.name;
  if (t.usb->serial) s += " (serial " + *t.usb->serial + ")";
  return s;
}

std::string join(const std::vector<const Tty*>& ts) {
  if (ts.empty()) return "none";
  std::string out;
  for (const auto* t : ts) {
    if (!out.empty()) out += ", ";
    out += describe(*t);
  }
  return out;
}

// Symlinks in `dir` (dev_root/serial/by-id or by-path), each with the lexically normal path it
// points at.
std::vector<std::pair<std::string, fs::path>> links_in(const fs::path& dir) {
  std::vector<std::pair<std::string, fs::path>> out;
  std::error_code ec;
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    std::error_code lec;
    if (!it->is_symlink(lec)) continue;
    fs::path target = fs::read_symlink(it->path(), lec);
    if (lec) continue;
    if (target.is_relative()) target = dir / target;
    out.emplace_back(it->path().string(), target.lexically_normal());
  }
  return out;
}

// Whether a link target is the tty at `device`: the same path, or (through further symlinks)
// the same file.
bool leads_to(const fs::path& target, const fs::path& device) {
  if (target == device.lexically_normal()) return true;
  std::error_code ec;
  return fs::equivalent(target, device, ec) && !ec;
}

}  // namespace

std::string resolve_usb_spec(const std::string& spec, const std::string& sysfs_root,
                             const std::string& dev_root) {
  const UsbSpec want = parse(spec);
  const std::vector<Tty> ttys = scan_ttys(canonical_or(sysfs_root));
  std::vector<const Tty*> seen;
  std::vector<const Tty*> matches;
  for (const auto& t : ttys) {
    if (!t.usb) continue;
    seen.push_back(&t);
    if (t.usb->vid == want.vid && t.usb->pid == want.pid &&
        (!want.serial || t.usb->serial == want.serial)) {
      matches.push_back(&t);
    }
  }

  if (matches.empty()) {
    const std::string what =
        want.serial ? "with that vendor/product id and serial" : "with that vendor/product id";
    throw PortError(spec + ": no USB serial device " + what + " (found: " + join(seen) + ")");
  }
  if (matches.size() > 1) {
    throw PortError(spec + ": " + std::to_string(matches.size()) + " USB serial devices match (" +
                    join(matches) + "); add :SERIAL to choose one, e.g. " + spec + ":" +
                    matches.front()->usb->serial.value_or("SERIAL"));
  }
  return (fs::path(dev_root) / matches.front()->device_name).string();
}

void detail::check_usb_spec(const std::string& spec) {
  (void)parse(spec);
}

const std::vector<KnownAdapter>& known_adapters() {
  // Ready-made optical heads sold for Kamstrup meters are documented with CP210x chips; the
  // others are the usual USB-TTL converters DIY heads are wired to (docs/hardware.md).
  static const std::vector<KnownAdapter> table = {
      {"0403", "6001", "FTDI FT232R", false},        {"0403", "6015", "FTDI FT230X/FT231X", false},
      {"0403", "6010", "FTDI FT2232", false},        {"0403", "6014", "FTDI FT232H", false},
      {"10c4", "ea60", "Silicon Labs CP210x", true}, {"1a86", "7523", "WCH CH340", false},
      {"1a86", "55d4", "WCH CH9102", false},         {"067b", "2303", "Prolific PL2303", false},
      {"067b", "23a3", "Prolific PL2303GC", false},
  };
  return table;
}

std::optional<KnownAdapter> known_adapter(std::string_view vid, std::string_view pid) {
  const std::string v = lower(std::string(vid));
  const std::string p = lower(std::string(pid));
  for (const auto& a : known_adapters()) {
    if (a.vid == v && a.pid == p) return a;
  }
  return std::nullopt;
}

std::string SerialPortInfo::stable_name() const {
  if (!by_id.empty() && shares_by_id_with.empty()) return by_id.front();
  if (!by_path.empty()) return by_path.front();
  return device;
}

std::string SerialPortInfo::usb_spec(const std::vector<SerialPortInfo>& all) const {
  if (!usb) return "";
  std::size_t same_ids = 0;
  std::size_t same_serial = 0;
  for (const auto& other : all) {
    if (!other.usb || other.usb->vid != usb->vid || other.usb->pid != usb->pid) continue;
    ++same_ids;
    if (usb->serial && other.usb->serial == usb->serial) ++same_serial;
  }
  const std::string ids = "usb:" + usb->vid + ":" + usb->pid;
  if (same_ids == 1) return ids;
  if (same_serial == 1) return ids + ":" + *usb->serial;
  return "";
}

std::vector<SerialPortInfo> list_serial_ports(const std::string& sysfs_root,
                                              const std::string& dev_root) {
  const fs::path dev(dev_root);
  const auto by_id = links_in(dev / "serial" / "by-id");
  const auto by_path = links_in(dev / "serial" / "by-path");
  std::vector<SerialPortInfo> ports;
  for (auto& t : scan_ttys(canonical_or(sysfs_root))) {
    SerialPortInfo p;
    p.name = t.name;
    p.device = (dev / t.device_name).string();
    p.usb = std::move(t.usb);
    p.driver = std::move(t.driver);
    for (const auto& [link, target] : by_id) {
      if (leads_to(target, p.device)) p.by_id.push_back(link);
    }
    for (const auto& [link, target] : by_path) {
      if (leads_to(target, p.device)) p.by_path.push_back(link);
    }
    std::sort(p.by_id.begin(), p.by_id.end());
    std::sort(p.by_path.begin(), p.by_path.end());
    ports.push_back(std::move(p));
  }
  // What udev's by-id name is made of: equal keys, equal names.
  auto key = [](const UsbIdentity& u) {
    return std::tie(u.vid, u.pid, u.serial, u.manufacturer, u.product, u.interface);
  };
  for (auto& p : ports) {
    if (!p.usb) continue;
    for (const auto& other : ports) {
      if (&other != &p && other.usb && key(*other.usb) == key(*p.usb)) {
        p.shares_by_id_with.push_back(other.device);
      }
    }
  }
  return ports;
}

}  // namespace kamstrup::transport
