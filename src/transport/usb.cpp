// usb:VID:PID[:SERIAL] -> /dev/ttyXXX, by walking sysfs the way udev's by-id links are built:
// each tty in class/tty points at its device, and some ancestor of that is the USB device with
// idVendor/idProduct/serial. ttyUSB* (usb-serial) and ttyACM* (cdc-acm) sit at different depths,
// hence the walk up rather than a fixed path.
#include "transport/port.hpp"
#include "transport/ports.hpp"

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <fstream>

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

struct Candidate {
  std::string tty;
  std::string vid;
  std::string pid;
  std::optional<std::string> serial;

  [[nodiscard]] std::string describe() const {
    std::string s = vid + ":" + pid + " on " + tty;
    if (serial) s += " (serial " + *serial + ")";
    return s;
  }
};

// The USB device a tty belongs to, if any: the nearest ancestor of its device with ids.
std::optional<Candidate> usb_parent(const fs::path& tty_entry, const fs::path& root) {
  std::error_code ec;
  const fs::path device = tty_entry / "device";
  if (!fs::exists(device, ec)) return std::nullopt;  // virtual ttys (tty0, ptmx, console...)
  fs::path dir = fs::canonical(device, ec);
  if (ec) return std::nullopt;
  while (!dir.empty() && dir != dir.parent_path()) {
    // Stay inside sysfs: a walk reaching its root found no USB device.
    if (dir == root) break;
    if (fs::exists(dir / "idVendor", ec) && fs::exists(dir / "idProduct", ec)) {
      auto vid = read_attr(dir / "idVendor");
      auto pid = read_attr(dir / "idProduct");
      if (!vid || !pid) return std::nullopt;
      return Candidate{tty_entry.filename().string(), lower(*vid), lower(*pid),
                       read_attr(dir / "serial")};
    }
    dir = dir.parent_path();
  }
  return std::nullopt;
}

std::string join(const std::vector<Candidate>& cs) {
  if (cs.empty()) return "none";
  std::string out;
  for (const auto& c : cs) {
    if (!out.empty()) out += ", ";
    out += c.describe();
  }
  return out;
}

}  // namespace

std::string resolve_usb_spec(const std::string& spec, const std::string& sysfs_root,
                             const std::string& dev_root) {
  const UsbSpec want = parse(spec);
  std::error_code ec;
  fs::path root = fs::canonical(sysfs_root, ec);
  if (ec) root = sysfs_root;

  std::vector<fs::path> entries;
  for (fs::directory_iterator it(root / "class" / "tty", ec), end; !ec && it != end;
       it.increment(ec)) {
    entries.push_back(it->path());
  }
  std::sort(entries.begin(), entries.end());  // stable messages and choices

  std::vector<Candidate> seen;
  std::vector<Candidate> matches;
  for (const auto& entry : entries) {
    auto c = usb_parent(entry, root);
    if (!c) continue;
    seen.push_back(*c);
    if (c->vid == want.vid && c->pid == want.pid && (!want.serial || c->serial == want.serial)) {
      matches.push_back(*c);
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
                    matches.front().serial.value_or("SERIAL"));
  }
  return (fs::path(dev_root) / matches.front().tty).string();
}

void detail::check_usb_spec(const std::string& spec) {
  (void)parse(spec);
}

}  // namespace kamstrup::transport
