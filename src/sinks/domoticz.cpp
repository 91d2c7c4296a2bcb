#include "sinks/domoticz.hpp"

#include <nlohmann/json.hpp>

#include "kmp/catalogue.hpp"

#include <algorithm>
#include <optional>
#include <utility>

namespace kamstrup::sinks {

DomoticzSink::DomoticzSink(DomoticzConfig config)
    : cfg_(std::move(config)), base_(http::trim_base_url(cfg_.url)), client_(cfg_.timeout) {}

const DomoticzDevice* DomoticzSink::find(const std::string& meter, const std::string& reg) const {
  for (const auto& d : cfg_.devices) {
    if (d.meter == meter && d.reg == reg) return &d;
  }
  return nullptr;
}

void DomoticzSink::deliver(std::span<const store::Poll> polls) {
  // The newest value per device, in the order the devices first appear.
  struct Update {
    int idx;
    std::string svalue;
  };
  std::vector<Update> updates;
  for (const auto& p : polls) {
    for (const auto& v : p.values) {
      const DomoticzDevice* dev = find(p.meter, v.name);
      if (dev == nullptr) continue;
      const int* idx = &dev->idx;
      const std::string& s = v.value.empty() ? v.text : v.value;
      if (s.empty()) continue;
      bool found = false;
      for (auto& u : updates) {
        if (u.idx == *idx) {
          u.svalue = s;
          found = true;
        }
      }
      if (!found) updates.push_back({*idx, s});
    }
  }

  std::optional<http::BasicAuth> auth;
  if (!cfg_.username.empty()) auth = http::BasicAuth{cfg_.username, cfg_.password.value};
  for (const auto& u : updates) {
    std::string url = base_ + "/json.htm?type=command&param=udevice&idx=" + std::to_string(u.idx) +
                      "&nvalue=0&svalue=" + http::url_encode(u.svalue);
    http::Response r;
    try {
      r = client_.request("GET", url, {}, {}, auth);
    } catch (const http::HttpError& e) {
      throw SinkError(std::string("domoticz: ") + e.what());
    }
    std::string where = "domoticz: GET " + http::redact_url(url) + ": ";
    if (r.status != 200) {
      std::string what = where + "HTTP " + std::to_string(r.status);
      if (r.status == 401 || r.status == 403) what += " (authentication failed)";
      if (http::rejects_data(r.status))
        throw SinkRejected(what + " (the server rejected the data): " + http::body_excerpt(r.body));
      throw SinkError(what + ": " + http::body_excerpt(r.body));
    }
    auto json = nlohmann::json::parse(r.body, nullptr, /*allow_exceptions=*/false);
    if (!json.is_object() || !json.contains("status") || json["status"] != "OK")
      throw SinkError(where + "device idx " + std::to_string(u.idx) +
                      " not updated: " + http::body_excerpt(r.body));
  }
}

namespace {

const std::vector<std::pair<std::string, DomoticzType>>& type_words() {
  static const std::vector<std::pair<std::string, DomoticzType>> w = {
      {"custom", DomoticzType::Custom}, {"temperature", DomoticzType::Temperature},
      {"kwh", DomoticzType::Kwh},       {"counter", DomoticzType::Counter},
      {"water", DomoticzType::Water},   {"gas", DomoticzType::Gas},
      {"usage", DomoticzType::Usage},   {"waterflow", DomoticzType::Waterflow},
      {"text", DomoticzType::Text},
  };
  return w;
}

DomoticzDevice parse_device(const config::Node& n, const std::string& path,
                            const std::string& meter, const std::string& reg) {
  using namespace config;
  DomoticzDevice d;
  d.meter = meter;
  d.reg = reg;
  auto idx_of = [](const Node& v, const std::string& p) {
    return static_cast<int>(parse_integer(v, p, 1, 2147483647));
  };
  if (!n.is_map()) {
    d.idx = idx_of(n, path);  // the bare form: a custom sensor
    return d;
  }
  reject_unknown_keys(n, path, {"idx", "type", "power"});
  const Node* idx = n.find("idx");
  if (idx == nullptr) fail(join(path, "idx"), "required (the device's idx in Domoticz)");
  d.idx = idx_of(*idx, join(path, "idx"));
  if (const Node* t = n.find("type")) {
    const std::string w = scalar(*t, join(path, "type"), "a device type");
    bool found = false;
    std::string list;
    for (const auto& [word, type] : type_words()) {
      list += (list.empty() ? "" : ", ") + word;
      if (word == w) d.type = type, found = true;
    }
    if (!found) fail(join(path, "type"), "expected one of " + list + ", got '" + w + "'");
  }
  if (const Node* p = n.find("power")) d.power = scalar(*p, join(path, "power"), "a register");
  return d;
}

void parse_devices(const config::Node& n, const std::string& path, DomoticzConfig& out,
                   config::Context& ctx) {
  using namespace config;
  if (!n.is_map()) fail(path, "expected meter: {register: idx, ...}");
  out.devices.clear();
  for (const auto& [meter, regs] : n.entries) {
    const std::string mpath = join(path, meter);
    const Context::Meter* m = ctx.meter(meter);
    if (m == nullptr) fail(mpath, "no meter is named '" + meter + "'");
    if (!regs.is_map()) fail(mpath, "expected register: idx pairs");
    for (const auto& [reg, value] : regs.entries) {
      const std::string rpath = join(mpath, reg);
      if (kmp::find_register(std::string_view(reg)) == nullptr) fail(rpath, "unknown register");
      auto polled = [&](const std::string& r) {
        return m->registers.empty() ||
               std::find(m->registers.begin(), m->registers.end(), r) != m->registers.end();
      };
      if (!polled(reg))
        fail(rpath, "meter '" + meter + "' does not read " + reg + " (add it to its registers)");
      DomoticzDevice d = parse_device(value, rpath, meter, reg);
      if (d.type == DomoticzType::Kwh) {
        if (d.power.empty())
          fail(join(rpath, "power"),
               "a kwh device needs the register that gives the power (e.g. power: power)");
        if (kmp::find_register(std::string_view(d.power)) == nullptr)
          fail(join(rpath, "power"), "unknown register '" + d.power + "'");
        if (!polled(d.power))
          fail(join(rpath, "power"), "meter '" + meter + "' does not read " + d.power);
      } else if (!d.power.empty()) {
        fail(join(rpath, "power"), "only kwh devices take a power register");
      }
      out.devices.push_back(std::move(d));
    }
  }
}

config::Node dump_devices(const DomoticzConfig& c) {
  using namespace config;
  Node n = Node::map();
  for (const auto& d : c.devices) {
    Node* meter = nullptr;
    for (auto& [k, v] : n.entries) {
      if (k == d.meter) meter = &v;
    }
    if (meter == nullptr) {
      n.add(d.meter, Node::map());
      meter = &n.entries.back().second;
    }
    Node value = Node::text(std::to_string(d.idx));
    if (d.type != DomoticzType::Custom) {
      value = Node::map().add("idx", std::move(value));
      for (const auto& [word, type] : type_words()) {
        if (type == d.type) value.add("type", Node::text(word));
      }
      if (!d.power.empty()) value.add("power", Node::text(d.power));
    }
    meter->add(d.reg, std::move(value));
  }
  return n;
}

}  // namespace

const config::Table<DomoticzConfig>& domoticz_keys() {
  using C = DomoticzConfig;
  using namespace config;
  static const Table<C> t{
      "domoticz",
      "Domoticz virtual devices through its JSON API (`param=udevice`). Each mapped register is "
      "sent to its device in the device type's units (see the device types below).",
      {
          required(
              url<C>("url", &C::url, {"http", "https"}, "Domoticz", "http://domoticz.local:8080")),
          str<C>("username", &C::username, "user (HTTP basic auth)", "kamstrup"),
          secret<C>("password", &C::password, "needs `username`"),
          custom<C>(
              {"devices", KeyKind::Map,
               "`<meter>: {<register>: <idx>}` (a Custom sensor) or `<register>: {idx: N, "
               "type: kwh|counter|water|gas|usage|waterflow|temperature|text|custom, power: "
               "<register>}`",
               "{heat: {heat_energy: {idx: 43, type: kwh, power: power}, volume: {idx: 44, "
               "type: water}, temp1: 45}}",
               true, ""},
              [](const Node& n, const std::string& path, C& out, Context& ctx) {
                parse_devices(n, path, out, ctx);
              },
              [](const C& c) { return dump_devices(c); }),
          duration<C>("timeout", &C::timeout,
                      {std::chrono::milliseconds(100), std::chrono::minutes(10)},
                      "an update that takes longer fails (and is retried)", "30s"),
      },
      [](C& c, const std::string& path, Context&) {
        if (c.devices.empty()) fail(join(path, "devices"), "required: map registers to device idx");
        if (c.password.source != Secret::Source::None && c.username.empty())
          fail(join(path, "password"), "a password needs a username");
      }};
  return t;
}

}  // namespace kamstrup::sinks
