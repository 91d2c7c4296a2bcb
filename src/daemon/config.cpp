#include "daemon/config.hpp"

#include <algorithm>
#include <fstream>
#include <regex>
#include <set>
#include <sstream>

#include "kmp/catalogue.hpp"
#include "legacy/standard.hpp"
#include "sim/profile.hpp"

namespace kamstrup::daemon {

using config::Context;
using config::fail;
using config::join;
using config::Key;
using config::KeyKind;
using config::Node;
using config::Table;

std::vector<std::string> MeterConfig::register_names() const {
  std::vector<std::string> out;
  for (auto id : register_ids) out.push_back(kmp::register_name(id));
  return out;
}

bool Config::operator==(const Config& o) const {
  return meters == o.meters && store == o.store && http == o.http && console == o.console &&
         mqtt == o.mqtt && influxdb == o.influxdb && domoticz == o.domoticz &&
         emoncms == o.emoncms && files == o.files && exec == o.exec && log_level == o.log_level;
}

namespace {

// --- meters ---

void parse_port(const Node& n, const std::string& path, MeterConfig& m, Context&) {
  m.port = config::scalar(n, path, "a port");
  if (m.port.empty()) fail(path, "every meter needs a port (e.g. /dev/ttyUSB0 or sim:multical403)");
  if (m.simulated()) {
    const std::string profile = m.port.substr(4);
    if (!sim::builtin_profile(profile)) {
      std::string known;
      for (auto p : sim::profile_names())
        known += (known.empty() ? "sim:" : ", sim:") + std::string(p);
      fail(path, "unknown simulator profile '" + profile + "' (" + known + ")");
    }
  }
  // The built-in electricity-meter profile speaks 9600 8N1, like the real 382; line keys after
  // this one still override it.
  if (m.port == "sim:kamstrup382") {
    m.line.baud = 9600;
    m.line.stop_bits = 1;
  }
}

std::uint16_t register_ref(const Node& n, const std::string& path) {
  const std::string ref = config::scalar(n, path, "a register name or id");
  if (ref.empty()) fail(path, "expected a register name or id");
  auto id = kmp::parse_register_ref(ref);
  if (!id) {
    std::string msg = "unknown register '" + ref + "'";
    auto close = kmp::suggest_registers(ref);
    if (!close.empty()) msg += " (did you mean " + std::string(close[0]) + "?)";
    fail(path, msg);
  }
  return *id;
}

void parse_registers(const Node& n, const std::string& path, MeterConfig& m, Context&) {
  if (!n.is_sequence()) fail(path, "expected a list of register names or ids");
  m.register_ids.clear();
  m.labels.clear();
  for (std::size_t i = 0; i < n.items.size(); ++i) {
    const std::string ipath = config::index(path, i);
    const Node& item = n.items[i];
    std::uint16_t id = 0;
    if (item.is_map()) {
      // {register: heat_energy, name: "Heat energy"}: a register with its own display name.
      config::reject_unknown_keys(item, ipath, {"register", "name"});
      const Node* reg = item.find("register");
      if (reg == nullptr) fail(join(ipath, "register"), "required: a register name or id");
      id = register_ref(*reg, join(ipath, "register"));
      if (const Node* label = item.find("name")) {
        std::string text = config::scalar(*label, join(ipath, "name"), "a name");
        if (text.empty()) fail(join(ipath, "name"), "must not be empty");
        m.labels.emplace_back(id, std::move(text));
      }
    } else {
      id = register_ref(item, ipath);
    }
    if (std::find(m.register_ids.begin(), m.register_ids.end(), id) != m.register_ids.end())
      fail(ipath, "'" + kmp::register_name(id) + "' is listed twice");
    m.register_ids.push_back(id);
  }
  if (m.register_ids.empty()) fail(path, "the list is empty");
}

Node dump_registers(const MeterConfig& m) {
  std::vector<Node> items;
  for (auto id : m.register_ids) {
    Node name = Node::text(kmp::register_name(id));
    auto label = std::find_if(m.labels.begin(), m.labels.end(),
                              [id](const auto& l) { return l.first == id; });
    if (label == m.labels.end()) {
      items.push_back(std::move(name));
    } else {
      items.push_back(
          Node::map().add("register", std::move(name)).add("name", Node::text(label->second)));
    }
  }
  return Node::list(std::move(items));
}

std::string baud_list() {
  std::string rates;
  for (unsigned b : transport::kBaudRates) rates += (rates.empty() ? "" : ", ") + std::to_string(b);
  return rates;
}

Key<MeterConfig> line_key(std::string name, std::string doc, std::string example) {
  using M = MeterConfig;
  const std::string key = name;
  return config::custom<M>(
      {name, KeyKind::Integer, std::move(doc), std::move(example), false, ""},
      [key](const Node& n, const std::string& path, M& m, Context&) {
        if (key == "baud") {
          const auto b = static_cast<unsigned>(config::parse_integer(n, path, 300, 115200));
          // Within the range is not enough: a rate the port cannot be set to fails at open.
          if (std::find(transport::kBaudRates.begin(), transport::kBaudRates.end(), b) ==
              transport::kBaudRates.end())
            fail(path, "expected one of " + baud_list() + ", got " + std::to_string(b));
          m.line.baud = b;
        } else if (key == "databits") {
          m.line.data_bits = static_cast<unsigned>(config::parse_integer(n, path, 7, 8));
        } else {
          m.line.stop_bits = static_cast<unsigned>(config::parse_integer(n, path, 1, 2));
        }
      },
      [key](const M& m) {
        const unsigned v = key == "baud"       ? m.line.baud
                           : key == "databits" ? m.line.data_bits
                                               : m.line.stop_bits;
        return Node::text(std::to_string(v));
      });
}

Key<MeterConfig> parity_key() {
  using M = MeterConfig;
  using transport::Parity;
  static const std::vector<std::pair<std::string, Parity>> words = {
      {"none", Parity::None}, {"even", Parity::Even}, {"odd", Parity::Odd}};
  return config::custom<M>(
      {"parity", KeyKind::Choice, "line parity: `none`, `even` or `odd`", "even", false, ""},
      [](const Node& n, const std::string& path, M& m, Context&) {
        const std::string v = config::scalar(n, path, "a parity");
        for (const auto& [w, p] : words) {
          if (w == v) {
            m.line.parity = p;
            return;
          }
        }
        fail(path, "expected none, even or odd, got '" + v + "'");
      },
      [](const M& m) {
        for (const auto& [w, p] : words) {
          if (p == m.line.parity) return Node::text(w);
        }
        return Node();
      });
}

Key<MeterConfig> backfill_key() {
  using M = MeterConfig;
  return config::custom<M>(
      {"backfill", KeyKind::Duration,
       "KMP meters, **experimental**: after the daemon (or the meter) was down, read the missed "
       "time from the meter's own data logger and store those records with their logged times "
       "(`source=logger`). The value caps how far back: `30d` also fetches 30 days on the very "
       "first start. A meter without a readable logger is reported once and polled as usual",
       "7d", false, "`off`"},
      [](const Node& n, const std::string& path, M& m, Context&) {
        const std::string v = config::scalar(n, path, "off or a duration");
        if (v == "off" || v == "0") {
          m.backfill = std::chrono::milliseconds(0);
          return;
        }
        m.backfill = config::parse_duration_at(
            n, path,
            {std::chrono::seconds(1), std::chrono::hours(24 * 3650), std::chrono::seconds(1)});
      },
      [](const M& m) {
        return Node::text(m.backfill.count() == 0 ? "off" : config::format_duration(m.backfill));
      });
}

std::vector<Key<MeterConfig>> meter_key_rows() {
  using M = MeterConfig;
  using namespace config;
  static const std::regex kName("[a-z0-9_-]+");
  return {
      required(str<M>("name", &M::name,
                      "`[a-z0-9_-]+`, unique; used in MQTT topics, InfluxDB tags, file names",
                      "heat",
                      [](const std::string& v, const std::string& path) {
                        if (!std::regex_match(v, kName))
                          fail(path, "'" + v +
                                         "' may only use a-z, 0-9, _ and - (it becomes part of "
                                         "MQTT topics and file names)");
                      })),
      required(custom<M>({"port", KeyKind::Text,
                          "`/dev/ttyUSB0`, `/dev/serial/by-id/...` (`kamstrup ports` lists them), "
                          "`socket://HOST:PORT`, "
                          "`rfc2217://HOST:PORT`, `usb:VID:PID[:SERIAL]`, or `sim:<profile>` "
                          "for the built-in simulator (`sim:multical21` is a water meter without "
                          "heat registers: list its `registers`; " +
                              [] {
                                std::string s;
                                for (auto p : sim::profile_names())
                                  s += (s.empty() ? "" : ", ") + std::string(p);
                                return s;
                              }() +
                              ")",
                          "socket://ser2net.local:2001", true, ""},
                         parse_port, [](const M& m) { return Node::text(m.port); })),
      custom<M>({"registers", KeyKind::List,
                 "names from `kamstrup registers` or ids (`60`, `0x3C`), or `{register: NAME, "
                 "name: \"Display name\"}` to give one its own name (Home Assistant shows it); "
                 "read in as few frames as possible (8 per frame). KMP meters only: `legacy` "
                 "and `iec` meters deliver every quantity their reply carries",
                 "[heat_energy, {register: volume, name: \"Hot water\"}, 0x56, power]", false,
                 "`[heat_energy, volume, temp1, temp2, temp_diff, flow, power, hour_counter]`"},
                parse_registers, dump_registers),
      duration<M>("interval", &M::interval, {std::chrono::seconds(1), std::chrono::hours(24 * 31)},
                  "time between polls. A meter that does not answer is retried on the next "
                  "tick, then with growing gaps (up to 10 intervals or 10 minutes, whichever is "
                  "longer). Every read costs meter battery",
                  "15m"),
      line_key("baud", "line speed: " + baud_list() + " (`sim:kamstrup382`: 9600)", "2400"),
      parity_key(),
      line_key("databits", "7 or 8", "7"),
      line_key("stopbits", "1 or 2 (`sim:kamstrup382`: 1)", "1"),
      duration<M>("timeout", &M::timeout, {std::chrono::milliseconds(50), std::chrono::minutes(1)},
                  "time for the reply to start", "3s"),
      integer<M>("retries", &M::retries, 0, 10,
                 "extra attempts after a failed exchange, each after the meter's 1.6 s recovery "
                 "time",
                 "4"),
      choice<M, std::optional<meter::Protocol>>(
          "protocol", &M::protocol,
          {{"auto", std::nullopt},
           {"kmp", meter::Protocol::Kmp},
           {"legacy", meter::Protocol::Legacy},
           {"iec", meter::Protocol::Iec}},
          "`kmp`, `legacy` (MULTICAL 66/III/401 `/#n` at 300/1200 baud 7E2), `iec` (IEC "
          "62056-21 mode A readout `/?!`), or `auto`: the first poll tries KMP at 1200 8N2 and "
          "9600 8N1, then `/?!`, then `/#1`, and keeps what answered; it is also kept in the "
          "store, and after a restart that protocol is asked first",
          "legacy"),
      str<M>("scale", &M::scale,
             "`legacy` only: the scale of a meter whose program number (ABCCC, `/#2`) is not "
             "in the built-in table, e.g. `energy=MWh:3,volume=m3:2,power=kW:1,flow=l/h:0`",
             "energy=MWh:3,volume=m3:2,power=kW:1,flow=l/h:0",
             [](const std::string& v, const std::string& path) {
               if (!v.empty() && !legacy::parse_scale(v).ok())
                 fail(path,
                      "expected energy=GJ|kWh|MWh|Gcal:DECIMALS,volume=m3:D,power=kW|MW:D,"
                      "flow=l/h|m3/h:D (e.g. energy=MWh:3,volume=m3:2,power=kW:1,flow=l/h:0), "
                      "got '" +
                          v + "'");
             }),
      backfill_key(),
      choice<M, kmp::LoggerKind>("logger", &M::logger,
                                 {{"hourly", kmp::LoggerKind::Hourly},
                                  {"daily", kmp::LoggerKind::Daily},
                                  {"monthly", kmp::LoggerKind::Monthly},
                                  {"yearly", kmp::LoggerKind::Yearly}},
                                 "which logger `backfill` reads", "daily"),
      choice<M, kmp::TimeOrder>(
          "logger_time_order", &M::logger_time_order,
          {{"field-table", kmp::TimeOrder::FieldTable}, {"reversed", kmp::TimeOrder::Reversed}},
          "byte order of the logger's 8-byte timestamp (`field-table`: YY MM DD hh mm ss; "
          "`reversed`): Kamstrup's document shows both, see docs/logger.md"),
      choice<M, std::optional<kmp::InfoCodes>>(
          "model", &M::model,
          {{"auto", std::nullopt},
           {"multical403", kmp::InfoCodes::Multical403},
           {"multical66c", kmp::InfoCodes::Multical66C},
           {"unknown", kmp::InfoCodes::Unknown}},
          "names the flags of the meter's info code (`info`, in the log, `/api/meters`, "
          "`/metrics`, MQTT): `multical403` (MULTICAL 403 bits), `multical66c` (MULTICAL 66-C "
          "codes), `unknown` (every set bit as bit_N), or `auto`: `multical66c` for /#n "
          "meters, `unknown` for the rest (a KMP type number does not tell the model)",
          "multical403"),
  };
}

void check_meter(MeterConfig& m, const std::string& path, Context&) {
  const bool legacy_only =
      m.protocol == meter::Protocol::Legacy || m.protocol == meter::Protocol::Iec;
  if (!m.scale.empty() && m.protocol == meter::Protocol::Kmp)
    fail(join(path, "scale"), "only MULTICAL /#n meters (protocol: legacy) use a scale");
  if (!m.scale.empty() && m.protocol == meter::Protocol::Iec)
    fail(join(path, "scale"), "only MULTICAL /#n meters (protocol: legacy) use a scale");
  if (legacy_only && m.backfill.count() > 0) {
    fail(join(path, "backfill"),
         std::string("only KMP meters have a logger we can read (protocol: ") +
             std::string(meter::protocol_name(*m.protocol)) + ")");
  }
  if (m.register_ids.empty()) {
    for (auto n : kmp::default_register_names())
      m.register_ids.push_back(*kmp::parse_register_ref(n));
  }
}

// What outputs may map for a meter: its registers, and for a meter that may turn out to speak
// a pre-KMP protocol also the quantities those replies carry.
Context::Meter context_entry(const MeterConfig& m) {
  Context::Meter e;
  e.name = m.name;
  for (const auto& [id, label] : m.labels) e.labels.emplace_back(kmp::register_name(id), label);
  e.backfill = m.backfill.count() > 0;
  if (m.protocol == meter::Protocol::Legacy || m.protocol == meter::Protocol::Iec) return e;
  e.registers = m.register_names();
  if (!m.protocol) {
    // Quantities only a /#n or IEC reply carries; a register with a KMP id must be listed (a
    // KMP meter is only asked for those).
    for (const auto& def : kmp::catalogue()) {
      if (def.id < 0) e.registers.emplace_back(def.name);
    }
  }
  return e;
}

void parse_meters(const Node& n, const std::string& path, Config& c, Context& ctx) {
  if (n.is_null()) fail(path, "at least one meter is needed");
  if (!n.is_sequence()) fail(path, "expected a list of meters");
  if (n.items.empty()) fail(path, "at least one meter is needed");
  std::set<std::string> names;
  c.meters.clear();
  for (std::size_t i = 0; i < n.items.size(); ++i) {
    const std::string mpath = config::index(path, i);
    if (!n.items[i].is_map()) fail(mpath, "expected a mapping of keys (name, port, ...)");
    MeterConfig m = config::parse_section(n.items[i], mpath, meter_keys(), ctx);
    if (!names.insert(m.name).second)
      fail(join(mpath, "name"), "duplicate meter name '" + m.name + "'");
    ctx.meters.push_back(context_entry(m));
    c.meters.push_back(std::move(m));
  }
}

// --- http ---

void parse_listen(const Node& n, const std::string& path, HttpConfig& h, Context&) {
  const std::string listen = config::scalar(n, path, "HOST:PORT");
  const auto colon = listen.rfind(':');
  if (colon == std::string::npos || colon == 0 || colon + 1 == listen.size())
    fail(path, "expected HOST:PORT (e.g. 127.0.0.1:9847 or [::1]:9847), got '" + listen + "'");
  auto u = config::parse_url("http://" + listen, path, {"http"});
  if (!u.path.empty() || !u.userinfo.empty())
    fail(path, "expected HOST:PORT, got '" + listen + "'");
  h.host = u.host;
  h.port = u.port;
}

// --- the file ---

template <class S>
Key<Config> optional_section(std::string name, std::optional<S> Config::*field,
                             const Table<S>& (*table)()) {
  Key<Config> k;
  k.meta = {name, KeyKind::Map, table().doc, "{}", false, "off"};
  k.parse = [name, field, table](const Node& m, const std::string&, Config& out, Context& ctx) {
    const Node* n = m.find(name);
    if (n == nullptr) return;
    if (n->is_null()) {
      fail(name, "empty section: give its keys, or `" + name +
                     ": {}` for all defaults (remove the line to turn it off)");
    }
    out.*field = config::parse_section(*n, name, table(), ctx);
  };
  k.dump = [field, table](const Config& c) {
    return (c.*field) ? config::dump_section(*(c.*field), table()) : Node();
  };
  return k;
}

Key<Config> meters_key() {
  Key<Config> k;
  k.meta = {"meters", KeyKind::List, "the meters (see below)", "", true, ""};
  k.parse = [](const Node& m, const std::string&, Config& c, Context& ctx) {
    const Node* n = m.find("meters");
    parse_meters(n != nullptr ? *n : Node(), "meters", c, ctx);
  };
  k.dump = [](const Config& c) {
    std::vector<Node> items;
    for (const auto& m : c.meters) items.push_back(config::dump_section(m, meter_keys()));
    return Node::list(std::move(items));
  };
  return k;
}

Key<Config> store_key() {
  Key<Config> k;
  k.meta = {"store", KeyKind::Map, store::store_keys().doc, "{}", false, ""};
  // Parsed also when absent, so that the default database file is claimed (a file output
  // cannot be pointed at it).
  k.parse = [](const Node& m, const std::string&, Config& out, Context& ctx) {
    const Node* n = m.find("store");
    if (n != nullptr && n->is_null())
      fail("store", "empty section: give its keys, or remove the line for the defaults");
    config::parse_into(n != nullptr ? *n : Node::map(), "store", store::store_keys(), out.store,
                       ctx);
  };
  k.dump = [](const Config& c) { return config::dump_section(c.store, store::store_keys()); };
  return k;
}

Key<Config> files_key() {
  return config::custom<Config>(
      {"files", KeyKind::List, sinks::file_keys().doc, "", false, "none"},
      [](const Node& n, const std::string& path, Config& c, Context& ctx) {
        if (!n.is_sequence()) fail(path, "expected a list of {path, format}");
        c.files.clear();
        for (std::size_t i = 0; i < n.items.size(); ++i) {
          c.files.push_back(
              config::parse_section(n.items[i], config::index(path, i), sinks::file_keys(), ctx));
        }
      },
      [](const Config& c) {
        if (c.files.empty()) return Node();
        std::vector<Node> items;
        for (const auto& f : c.files) items.push_back(config::dump_section(f, sinks::file_keys()));
        return Node::list(std::move(items));
      });
}

}  // namespace

const Table<MeterConfig>& meter_keys() {
  static const Table<MeterConfig> t{
      "meters[]", "Each meter is polled on its own schedule. `name` and `port` are required.",
      meter_key_rows(), check_meter};
  return t;
}

const Table<HttpConfig>& http_keys() {
  using H = HttpConfig;
  using namespace config;
  static const Table<H> t{
      "http",
      "Present = on: `/metrics` (Prometheus), `/api/meters`, `/api/outputs` (JSON) and a status "
      "page `/`, served by libmicrohttpd to many clients at once (docs/web.md).",
      {custom<H>({"listen", KeyKind::Text, "HOST:PORT; anything but loopback is an explicit choice",
                  "0.0.0.0:9100", false, ""},
                 parse_listen,
                 [](const H& h) {
                   const bool v6 = h.host.find(':') != std::string::npos;
                   return Node::text((v6 ? "[" + h.host + "]" : h.host) + ":" +
                                     std::to_string(h.port));
                 }),
       integer<H>("max_connections", &H::max_connections, 1, 4096,
                  "open connections at most; more clients wait in the listen backlog", "64"),
       duration<H>("request_timeout", &H::request_timeout,
                   {std::chrono::milliseconds(100), std::chrono::minutes(10)},
                   "each request must arrive and be answered within this, counted from the "
                   "connection's opening or the previous answer on it (slow clients get 408)",
                   "5s"),
       str<H>("auth_user", &H::auth_user,
              "HTTP Basic authentication for every page (with `password`); over plain HTTP the "
              "password is readable on the network: use a TLS reverse proxy beyond your LAN",
              "admin",
              [](const std::string& v, const std::string& path) {
                if (v.find(':') != std::string::npos) fail(path, "must not contain ':'");
              }),
       secret<H>("password", &H::password, "the Basic-auth password (with `auth_user`)")},
      [](H& h, const std::string& path, Context&) {
        if (h.auth_user.empty() != h.password.empty()) {
          fail(join(path, h.auth_user.empty() ? "auth_user" : "password"),
               "auth_user and password go together");
        }
      }};
  return t;
}

const Table<Config>& top_keys() {
  static const Table<Config> t{
      "",
      "",
      {
          meters_key(),
          store_key(),
          optional_section<HttpConfig>("http", &Config::http, http_keys),
          optional_section<sinks::ConsoleConfig>("console", &Config::console, sinks::console_keys),
          optional_section<sinks::MqttConfig>("mqtt", &Config::mqtt, sinks::mqtt_keys),
          optional_section<sinks::InfluxConfig>("influxdb", &Config::influxdb, sinks::influx_keys),
          optional_section<sinks::DomoticzConfig>("domoticz", &Config::domoticz,
                                                  sinks::domoticz_keys),
          optional_section<sinks::EmoncmsConfig>("emoncms", &Config::emoncms, sinks::emoncms_keys),
          files_key(),
          optional_section<sinks::ExecConfig>("exec", &Config::exec, sinks::exec_keys),
          config::choice<Config, LogLevel>(
              "log_level", &Config::log_level,
              {{"debug", LogLevel::Debug},
               {"info", LogLevel::Info},
               {"warn", LogLevel::Warn},
               {"error", LogLevel::Error}},
              "Logs go to stderr; each meter's state change is logged once, not once per poll",
              "debug"),
      },
      {}};
  return t;
}

Config parse_config(const std::string& yaml_text, const std::string& source_name) {
  Node root = config::parse_yaml(yaml_text, source_name);
  if (!root.is_map()) fail("", source_name + ": expected a mapping of sections (meters: ...)");
  Context ctx;
  Config c;
  c.source = source_name;
  config::parse_into(root, "", top_keys(), c, ctx);
  return c;
}

Config load_config(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw ConfigError(path, "cannot read the configuration file");
  std::stringstream ss;
  ss << in.rdbuf();
  return parse_config(ss.str(), path);
}

store::StoreConfig store_config(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw ConfigError(path, "cannot read the configuration file");
  std::stringstream ss;
  ss << in.rdbuf();
  Node root = config::parse_yaml(ss.str(), path);
  Context ctx;
  store::StoreConfig s;
  const Node* n = root.find("store");
  if (n != nullptr && n->is_map()) config::parse_into(*n, "store", store::store_keys(), s, ctx);
  return s;
}

Config default_config() {
  return parse_config(R"(
meters:
  - name: heat
    port: sim:multical403
    registers: [heat_energy, heat_energy_hires, volume, temp1, temp2, temp_diff, flow, power, hour_counter]
    interval: 10s
store:
  path: kamstrup.db
console:
  format: text
)",
                      "built-in default");
}

std::string dump_config(const Config& c) {
  return "# effective configuration (" + c.source + ")\n" +
         config::to_yaml(config::dump_section(c, top_keys()));
}

std::string config_reference() {
  std::string out;
  auto add = [&out](const std::string& title, const std::string& doc, const std::string& table) {
    out += "## " + title + "\n\n" + doc + "\n\n" + table + "\n";
  };
  add("`meters` (required, a list)", meter_keys().doc, config::markdown(meter_keys()));
  add("`store`", store::store_keys().doc, config::markdown(store::store_keys()));
  add("`http`", http_keys().doc, config::markdown(http_keys()));
  add("`console`", sinks::console_keys().doc, config::markdown(sinks::console_keys()));
  add("`mqtt`", sinks::mqtt_keys().doc, config::markdown(sinks::mqtt_keys()));
  add("`influxdb`", sinks::influx_keys().doc, config::markdown(sinks::influx_keys()));
  add("`domoticz`", sinks::domoticz_keys().doc, config::markdown(sinks::domoticz_keys()));
  add("`emoncms`", sinks::emoncms_keys().doc, config::markdown(sinks::emoncms_keys()));
  add("`files` (a list)", sinks::file_keys().doc, config::markdown(sinks::file_keys()));
  add("`exec`", sinks::exec_keys().doc, config::markdown(sinks::exec_keys()));
  out += "## `log_level`\n\n`debug`, `info` (default), `warn` or `error`. " +
         top_keys().keys.back().meta.doc + ".\n";
  return out;
}

}  // namespace kamstrup::daemon
