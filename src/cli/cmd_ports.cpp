// `kamstrup ports`: the serial devices of this machine and, for each, the name to put in
// `port:` that still finds it after re-plugging (transport/serial_ports.hpp does the looking).
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstdio>
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include "cli/commands.hpp"
#include "transport/serial_ports.hpp"

namespace kamstrup::cli {

namespace {

using transport::SerialPortInfo;

struct PortsArgs {
  bool json = false;
  std::string sysfs_root = "/sys";
  std::string dev_root = "/dev";
};

std::string or_dash(const std::string& s) {
  return s.empty() ? "-" : s;
}

std::string adapter_text(const SerialPortInfo& p) {
  if (!p.usb) return "-";
  auto known = transport::known_adapter(p.usb->vid, p.usb->pid);
  if (!known) return "-";
  return std::string(known->chip) + (known->common_in_heads ? " *" : "");
}

std::string product_text(const SerialPortInfo& p) {
  if (p.usb) return or_dash(p.usb->product);
  return "serial port, not USB" + (p.driver.empty() ? "" : " (" + p.driver + ")");
}

nlohmann::ordered_json optional_text(const std::string& s) {
  return s.empty() ? nlohmann::ordered_json(nullptr) : nlohmann::ordered_json(s);
}

nlohmann::ordered_json to_json(const SerialPortInfo& p, const std::vector<SerialPortInfo>& all) {
  nlohmann::ordered_json j;
  j["device"] = p.device;
  j["name"] = p.name;
  if (p.usb) {
    const auto& u = *p.usb;
    j["usb"] = {{"vid", u.vid},
                {"pid", u.pid},
                {"serial", u.serial ? nlohmann::ordered_json(*u.serial) : nullptr},
                {"manufacturer", optional_text(u.manufacturer)},
                {"product", optional_text(u.product)},
                {"interface", optional_text(u.interface)},
                {"driver", optional_text(u.driver)}};
    auto known = transport::known_adapter(u.vid, u.pid);
    j["adapter"] = known
                       ? nlohmann::ordered_json{{"chip", known->chip},
                                                {"common_in_optical_heads", known->common_in_heads}}
                       : nlohmann::ordered_json(nullptr);
  } else {
    j["usb"] = nullptr;
    j["adapter"] = nullptr;
  }
  j["driver"] = optional_text(p.driver);
  j["by_id"] = p.by_id;
  j["by_path"] = p.by_path;
  j["by_id_shared_with"] = p.shares_by_id_with;
  j["stable_name"] = p.stable_name();
  j["usb_spec"] = optional_text(p.usb_spec(all));
  return j;
}

// Why the stable name is what it is, when that needs saying ("" otherwise).
std::string note(const SerialPortInfo& p) {
  if (!p.usb) return "";
  if (!p.shares_by_id_with.empty()) {
    std::string others;
    for (const auto& o : p.shares_by_id_with) others += (others.empty() ? "" : ", ") + o;
    std::string what =
        p.usb->serial ? "the same serial number (" + *p.usb->serial + ")" : "no serial number";
    std::string s = "shares its by-id name with " + others + " (same adapter model, " + what +
                    "): that link leads to whichever was plugged in last";
    if (!p.by_id.empty()) s += " (now this one: " + p.by_id.front() + ")";
    s += p.by_path.empty()
             ? "; no by-path link either: write a udev rule, or use adapters with serial numbers"
             : "; the by-path name is tied to the USB socket instead";
    return s;
  }
  if (p.by_id.empty() && p.by_path.empty()) {
    return "no /dev/serial link (is udev running?)";
  }
  if (!p.usb->serial) {
    return "no serial number: the by-id name stays unique only while no second adapter of this "
           "model is plugged in";
  }
  return "";
}

// Splits text at spaces into lines of at most `width` characters (longer words stay whole).
std::vector<std::string> wrap(const std::string& text, std::size_t width) {
  std::vector<std::string> lines;
  std::string line;
  std::size_t start = 0;
  while (start < text.size()) {
    std::size_t end = text.find(' ', start);
    if (end == std::string::npos) end = text.size();
    const std::string word = text.substr(start, end - start);
    if (!line.empty() && line.size() + 1 + word.size() > width) {
      lines.push_back(line);
      line.clear();
    }
    line += (line.empty() ? "" : " ") + word;
    start = end + 1;
  }
  if (!line.empty()) lines.push_back(line);
  return lines;
}

void print_table(const std::vector<SerialPortInfo>& ports) {
  struct Row {
    std::string device, ids, serial, vendor, product, adapter;
  };
  std::vector<Row> rows{{"device", "usb id", "serial", "vendor", "product", "adapter"}};
  for (const auto& p : ports) {
    Row r{p.device, "-", "-", "-", product_text(p), adapter_text(p)};
    if (p.usb) {
      r.ids = p.usb->vid + ":" + p.usb->pid;
      r.serial = p.usb->serial.value_or("-");
      r.vendor = or_dash(p.usb->manufacturer);
    }
    rows.push_back(std::move(r));
  }
  std::size_t w[5] = {0, 0, 0, 0, 0};
  for (const auto& r : rows) {
    const std::string* cells[5] = {&r.device, &r.ids, &r.serial, &r.vendor, &r.product};
    for (std::size_t i = 0; i < 5; ++i) w[i] = std::max(w[i], cells[i]->size());
  }
  for (const auto& r : rows) {
    std::printf("%-*s  %-*s  %-*s  %-*s  %-*s  %s\n", static_cast<int>(w[0]), r.device.c_str(),
                static_cast<int>(w[1]), r.ids.c_str(), static_cast<int>(w[2]), r.serial.c_str(),
                static_cast<int>(w[3]), r.vendor.c_str(), static_cast<int>(w[4]), r.product.c_str(),
                r.adapter.c_str());
  }
  if (std::any_of(rows.begin(), rows.end(),
                  [](const Row& r) { return r.adapter.find(" *") != std::string::npos; })) {
    std::printf("* the chip of the ready-made optical heads sold for Kamstrup meters\n");
  }

  std::printf("\nport: names that survive re-plugging\n");
  std::size_t dw = 0;
  for (const auto& p : ports) dw = std::max(dw, p.device.size());
  for (const auto& p : ports) {
    std::string line = p.stable_name();
    if (auto spec = p.usb_spec(ports); !spec.empty()) line += "  (or " + spec + ")";
    std::printf("  %-*s  %s\n", static_cast<int>(dw), p.device.c_str(), line.c_str());
    if (auto n = note(p); !n.empty()) {
      bool first = true;
      for (const auto& l : wrap(n, 96 > dw + 6 ? 96 - dw - 6 : 40)) {
        std::printf("  %-*s  %s %s\n", static_cast<int>(dw), "", first ? "!" : " ", l.c_str());
        first = false;
      }
    }
  }
}

}  // namespace

void add_ports_command(CLI::App& app) {
  auto* cmd = app.add_subcommand(
      "ports", "List serial devices with their stable names, to choose the --port / port: value");
  cmd->footer(
      "Lists every serial device that is real hardware (USB adapters, on-board UARTs such as\n"
      "ttyAMA0 on a Raspberry Pi; not the empty ttyS ports the kernel registers anyway), with\n"
      "its USB vendor:product id, serial number and strings, and marks the chips optical heads\n"
      "are built around (FTDI, Silicon Labs CP210x, WCH CH340/CH9102, Prolific PL2303).\n"
      "\n"
      "For each it names what to put in `port:` (or --port) so the meter is found again after\n"
      "re-plugging or a reboot: the /dev/serial/by-id link (made from the adapter's ids and\n"
      "serial number); or, when two adapters of one model have no serial number (common with\n"
      "CH340) or the same one and so share a by-id name, the /dev/serial/by-path link, which\n"
      "belongs to the USB socket. The usb:VID:PID[:SERIAL] form is shown where it picks the\n"
      "device alone. --json prints an array of objects (device, usb, adapter, by_id, by_path,\n"
      "by_id_shared_with, stable_name, usb_spec).");
  auto args = std::make_shared<PortsArgs>();
  cmd->add_flag("--json", args->json, "Print a JSON array");
  // For tests: a fabricated sysfs and /dev.
  cmd->add_option("--sysfs-root", args->sysfs_root)->group("");
  cmd->add_option("--dev-root", args->dev_root)->group("");
  cmd->callback([args] {
    const auto ports = transport::list_serial_ports(args->sysfs_root, args->dev_root);
    if (args->json) {
      auto out = nlohmann::ordered_json::array();
      for (const auto& p : ports) out.push_back(to_json(p, ports));
      std::cout << out.dump(2) << "\n";
      return;
    }
    if (ports.empty()) {
      std::cout << "no serial devices found (is the optical head plugged in? `dmesg | tail` "
                   "shows whether the kernel saw it)\n";
      return;
    }
    print_table(ports);
  });
}

}  // namespace kamstrup::cli
