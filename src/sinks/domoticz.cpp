#include "sinks/domoticz.hpp"

#include <nlohmann/json.hpp>

#include "kmp/catalogue.hpp"
#include "kmp/units.hpp"

#include <algorithm>
#include <optional>
#include <string_view>
#include <utility>

namespace kamstrup::sinks {

DomoticzSink::DomoticzSink(DomoticzConfig config)
    : cfg_(std::move(config)), base_(http::trim_base_url(cfg_.url)), client_(cfg_.http) {}

const DomoticzDevice* DomoticzSink::find(const std::string& meter, const std::string& reg) const {
  for (const auto& d : cfg_.devices) {
    if (d.meter == meter && d.reg == reg) return &d;
  }
  return nullptr;
}

namespace {

const store::Value* value_named(const store::Poll& p, const std::string& name) {
  for (const auto& v : p.values) {
    if (v.name == name) return &v;
  }
  return nullptr;
}

// `v` in `unit`, rounded half-even to `decimals` fraction digits (exact whenever the ratio and
// the resolution allow), or nullopt with the reason in `why`.
std::optional<kmp::Decimal> in_unit(const store::Value& v, std::string_view unit, int decimals,
                                    std::string& why) {
  const auto d = kmp::Decimal::parse(v.value);
  if (!d) {
    why = v.name + " has no number" + (v.text.empty() ? "" : " ('" + v.text + "')");
    return std::nullopt;
  }
  auto c = kmp::convert_rounded(*d, v.unit, unit, decimals);
  if (!c) why = v.name + " in '" + v.unit + "' does not convert to " + std::string(unit);
  return c;
}

// A value rounded to 10^-k as the integer count of 10^-k units: 1875.560 -> 1875560.
std::string as_count(const kmp::Decimal& d) {
  return kmp::Decimal{d.mantissa, 0, d.negative}.to_string();
}

int log10_of(std::uint32_t divider) {
  int k = 0;
  for (; divider > 1; divider /= 10) ++k;
  return k;
}

// What a counter's count is worth before the divider: kWh, m³, or (a register without a unit
// of its own) the meter's value as it is.
std::string counter_unit(const DomoticzDevice& dev, const store::Value& v) {
  if (dev.type == DomoticzType::Water) return "m³";
  const kmp::RegisterDef* r = kmp::find_register(std::string_view(dev.reg));
  if (r != nullptr && r->quantity == kmp::Quantity::Energy) return "kWh";
  if (r != nullptr && r->quantity == kmp::Quantity::Volume) return "m³";
  return v.unit;
}

}  // namespace

void DomoticzSink::refuse(const std::string& key, std::int64_t seq, const std::string& why) {
  // A batch that fails later is retried with the same polls: count each refused poll once.
  auto [it, fresh] = refused_.try_emplace(key, seq);
  if (!fresh && it->second == seq) return;
  it->second = seq;
  notice(key, why + "; not sent");
}

std::optional<std::string> DomoticzSink::svalue(const DomoticzDevice& dev, const store::Poll& p) {
  const std::string key = "domoticz.devices." + dev.meter + "." + dev.reg;
  const store::Value& v = *value_named(p, dev.reg);
  std::string why;
  std::optional<kmp::Decimal> d;
  switch (dev.type) {
    case DomoticzType::Custom:
      return v.value.empty() ? v.text : v.value;
    case DomoticzType::Text:
      if (v.value.empty()) return v.text;
      return v.unit.empty() ? v.value : v.value + " " + v.unit;
    case DomoticzType::Temperature:
      if (auto t = kmp::Decimal::parse(v.value)) {
        if (auto c = kmp::convert_exact(*t, v.unit, "°C")) return c->to_string();
      }
      why = v.name + " in '" + v.unit + "' is no °C temperature";
      break;
    case DomoticzType::Kwh: {
      const auto energy = in_unit(v, "Wh", 0, why);
      if (!energy) break;
      const store::Value* pw = value_named(p, dev.power);
      if (pw == nullptr || (pw->value.empty() && pw->text.empty())) {
        refuse(key + ".power", p.seq,
               "the poll has no " + dev.power +
                   " (a kwh device needs power and energy from one reading)");
        return std::nullopt;
      }
      const auto power = in_unit(*pw, "W", 0, why);
      if (!power) {
        refuse(key + ".power", p.seq, why);
        return std::nullopt;
      }
      return power->to_string() + ";" + energy->to_string();
    }
    case DomoticzType::Counter:
    case DomoticzType::Water:
      d = in_unit(v, counter_unit(dev, v), log10_of(dev.divider), why);
      if (d) return as_count(*d);
      break;
    case DomoticzType::Gas:
      d = in_unit(v, "l", 0, why);
      if (d) return d->to_string();
      break;
    case DomoticzType::Usage:
      d = in_unit(v, "W", 1, why);
      if (d) return d->to_string();
      break;
    case DomoticzType::Waterflow:
      d = in_unit(v, "l/min", 2, why);
      if (d) return d->to_string();
      break;
  }
  refuse(key, p.seq, why);
  return std::nullopt;
}

void DomoticzSink::update(int idx, const std::string& svalue) {
  std::optional<http::BasicAuth> auth;
  if (!cfg_.username.empty()) auth = http::BasicAuth{cfg_.username, cfg_.password.value};
  const std::string url = base_ +
                          "/json.htm?type=command&param=udevice&idx=" + std::to_string(idx) +
                          "&nvalue=0&svalue=" + http::url_encode(svalue);
  http::Response r;
  try {
    r = client_.request("GET", url, {}, {}, auth);
  } catch (const http::HttpError& e) {
    throw SinkError(std::string("domoticz: ") + e.what());
  }
  const std::string where = "domoticz: GET " + http::redact_url(url) + ": ";
  http::check_status(where, r);
  auto json = nlohmann::json::parse(r.body, nullptr, /*allow_exceptions=*/false);
  if (!json.is_object() || !json.contains("status") || json["status"] != "OK")
    throw SinkError(where + "device idx " + std::to_string(idx) +
                    " not updated: " + http::body_excerpt(r.body));
}

void DomoticzSink::deliver(std::span<const store::Poll> polls) {
  // The newest poll per device, in the order the devices first appear.
  std::vector<std::pair<const DomoticzDevice*, const store::Poll*>> latest;
  for (const auto& p : polls) {
    for (const auto& v : p.values) {
      const DomoticzDevice* dev = find(p.meter, v.name);
      if (dev == nullptr || (v.value.empty() && v.text.empty())) continue;
      auto it = std::find_if(latest.begin(), latest.end(),
                             [dev](const auto& l) { return l.first == dev; });
      if (it == latest.end())
        latest.emplace_back(dev, &p);
      else
        it->second = &p;
    }
  }
  // Every svalue first: a refused device never holds up the others, nor is it half-sent.
  std::vector<std::pair<int, std::string>> updates;
  for (const auto& [dev, poll] : latest) {
    if (auto s = svalue(*dev, *poll)) updates.emplace_back(dev->idx, std::move(*s));
  }
  for (const auto& [idx, s] : updates) update(idx, s);
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

std::string_view type_word(DomoticzType t) {
  for (const auto& [word, type] : type_words()) {
    if (type == t) return word;
  }
  return "custom";
}

// Whether a device type can show a register of quantity `q` (custom and text show anything).
bool fits(DomoticzType t, kmp::Quantity q) {
  using Q = kmp::Quantity;
  switch (t) {
    case DomoticzType::Custom:
    case DomoticzType::Text:
      return true;
    case DomoticzType::Temperature:
      return q == Q::Temperature;
    case DomoticzType::Kwh:
      return q == Q::Energy;
    case DomoticzType::Counter:
      return q == Q::Energy || q == Q::Volume || q == Q::Number;
    case DomoticzType::Water:
    case DomoticzType::Gas:
      return q == Q::Volume;
    case DomoticzType::Usage:
      return q == Q::Power;
    case DomoticzType::Waterflow:
      return q == Q::Flow;
  }
  return false;
}

std::string fitting_types(kmp::Quantity q) {
  std::string list;
  for (const auto& [word, type] : type_words()) {
    if (fits(type, q)) list += (list.empty() ? "" : ", ") + word;
  }
  return list;
}

void check_fit(const DomoticzDevice& d, const std::string& path) {
  using namespace config;
  const kmp::Quantity q = kmp::find_register(std::string_view(d.reg))->quantity;
  if (!fits(d.type, q))
    fail(join(path, "type"), "a " + std::string(type_word(d.type)) + " device cannot show " +
                                 d.reg + " (" + std::string(kmp::quantity_name(q)) +
                                 "); types that fit: " + fitting_types(q));
  if (d.type == DomoticzType::Kwh) {
    const kmp::RegisterDef* p = kmp::find_register(std::string_view(d.power));
    if (p == nullptr) fail(join(path, "power"), "unknown register '" + d.power + "'");
    if (p->quantity != kmp::Quantity::Power)
      fail(join(path, "power"), d.power + " is no power register (" +
                                    std::string(kmp::quantity_name(p->quantity)) + ")");
  }
}

std::uint32_t parse_divider(const config::Node& n, const std::string& path) {
  const auto v = config::parse_integer(n, path, 1, 1000000);
  for (long long p = 1; p <= v; p *= 10) {
    if (p == v) return static_cast<std::uint32_t>(v);
  }
  config::fail(path,
               "must be a power of ten (1, 10, 100, 1000, ... 1000000), the divider set on "
               "the Domoticz counter; got " +
                   std::to_string(v));
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
  reject_unknown_keys(n, path, {"idx", "type", "power", "divider"});
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
  const bool counts = d.type == DomoticzType::Counter || d.type == DomoticzType::Water;
  if (const Node* v = n.find("divider")) {
    if (!counts) fail(join(path, "divider"), "only counter and water devices take a divider");
    d.divider = parse_divider(*v, join(path, "divider"));
  } else if (counts &&
             kmp::find_register(std::string_view(reg))->quantity == kmp::Quantity::Number) {
    d.divider = 1;  // a count without a unit of its own: sent as it is
  }
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
      check_fit(d, rpath);
      for (const auto& other : out.devices) {
        if (other.idx == d.idx)
          fail(join(rpath, "idx"), "device idx " + std::to_string(d.idx) + " is already set by " +
                                       join(join(path, other.meter), other.reg));
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
      value.add("type", Node::text(std::string(type_word(d.type))));
      if (!d.power.empty()) value.add("power", Node::text(d.power));
      if (d.type == DomoticzType::Counter || d.type == DomoticzType::Water)
        value.add("divider", Node::text(std::to_string(d.divider)));
    }
    meter->add(d.reg, std::move(value));
  }
  return n;
}

}  // namespace

const config::Table<DomoticzConfig>& domoticz_keys() {
  using C = DomoticzConfig;
  using namespace config;
  static const Table<C> t = http::with_client_keys(Table<C>{
      "domoticz",
      "Domoticz virtual devices through its JSON API (`param=udevice`). Each mapped register is "
      "sent to its device in the device type's units (see \"Domoticz device types\" below); a "
      "value whose unit does not convert is logged once, counted and not sent.",
      {
          required(
              url<C>("url", &C::url, {"http", "https"}, "Domoticz", "http://domoticz.local:8080")),
          str<C>("username", &C::username, "user (HTTP basic auth)", "kamstrup"),
          secret<C>("password", &C::password, "needs `username`"),
          custom<C>(
              {"devices", KeyKind::Map,
               "`<meter>: {<register>: <idx>}` (a Custom Sensor) or `<register>: {idx: N, "
               "type: kwh|counter|water|gas|usage|waterflow|temperature|text|custom}`; a kwh "
               "device also takes `power: <register>`, a counter or water device `divider: "
               "<the Domoticz counter's divider>` (a power of ten; default 1000, 1 for a "
               "register without a unit). One device idx per register; the type must fit the "
               "register's quantity",
               "{heat: {heat_energy: {idx: 43, type: kwh, power: power}, volume: {idx: 44, "
               "type: water, divider: 1000}, temp1: 45}}",
               true, ""},
              [](const Node& n, const std::string& path, C& out, Context& ctx) {
                parse_devices(n, path, out, ctx);
              },
              [](const C& c) { return dump_devices(c); }),
      },
      [](C& c, const std::string& path, Context&) {
        if (c.devices.empty()) fail(join(path, "devices"), "required: map registers to device idx");
        if (c.password.source != Secret::Source::None && c.username.empty())
          fail(join(path, "password"), "a password needs a username");
      }});
  return t;
}

}  // namespace kamstrup::sinks
