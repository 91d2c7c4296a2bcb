#include "daemon/config.hpp"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <regex>
#include <set>
#include <sstream>

#include "kmp/catalogue.hpp"
#include "legacy/standard.hpp"
#include "sim/profile.hpp"

namespace kamstrup::daemon {

namespace {

[[noreturn]] void fail(const std::string& path, const std::string& message) {
  throw ConfigError(path + ": " + message);
}

// Walks one YAML mapping, handing out keys and remembering which were used, so that a typo
// ("intervall") is an error naming the key instead of a silently ignored setting.
class Section {
 public:
  Section(const YAML::Node& node, std::string path) : node_(node), path_(std::move(path)) {
    if (node_ && !node_.IsNull() && !node_.IsMap()) fail(path_, "expected a mapping of keys");
  }
  [[nodiscard]] std::string key_path(const std::string& key) const {
    return path_.empty() ? key : path_ + "." + key;
  }
  YAML::Node get(const std::string& key) {
    used_.insert(key);
    if (!node_ || node_.IsNull()) return YAML::Node();
    const YAML::Node& n = node_;  // const lookup: never inserts the key
    return n[key];
  }
  std::string str(const std::string& key, const std::string& def) {
    YAML::Node n = get(key);
    if (!n || n.IsNull()) return def;
    if (!n.IsScalar()) fail(key_path(key), "expected a text value");
    return n.as<std::string>();
  }
  bool boolean(const std::string& key, bool def) {
    YAML::Node n = get(key);
    if (!n || n.IsNull()) return def;
    std::string v = n.IsScalar() ? n.as<std::string>() : "";
    if (v == "true" || v == "yes" || v == "on") return true;
    if (v == "false" || v == "no" || v == "off") return false;
    fail(key_path(key), "expected true or false, got '" + v + "'");
  }
  long integer(const std::string& key, long def, long min, long max) {
    YAML::Node n = get(key);
    if (!n || n.IsNull()) return def;
    std::string v = n.IsScalar() ? n.as<std::string>() : "";
    char* end = nullptr;
    long x = std::strtol(v.c_str(), &end, 10);
    if (v.empty() || *end != '\0' || x < min || x > max) {
      fail(key_path(key), "expected a whole number from " + std::to_string(min) + " to " +
                              std::to_string(max) + ", got '" + v + "'");
    }
    return x;
  }
  std::chrono::milliseconds duration(const std::string& key, std::chrono::milliseconds def,
                                     std::chrono::milliseconds min) {
    std::string v = str(key, "");
    if (v.empty()) return def;
    auto d = parse_duration(v);
    if (!d)
      fail(key_path(key), "expected a duration like 500ms, 60s, 15m, 1h or 30d, got '" + v + "'");
    if (*d < min) fail(key_path(key), "must be at least " + std::to_string(min.count()) + " ms");
    return *d;
  }
  // A secret from `key`, `key_file` (first line of a file) or `key_env` (environment variable).
  std::string secret(const std::string& key) {
    std::string direct = str(key, "");
    std::string file = str(key + "_file", "");
    std::string env = str(key + "_env", "");
    int given = (direct.empty() ? 0 : 1) + (file.empty() ? 0 : 1) + (env.empty() ? 0 : 1);
    if (given > 1)
      fail(key_path(key), "give only one of " + key + ", " + key + "_file, " + key + "_env");
    if (!file.empty()) {
      std::ifstream in(file);
      if (!in) fail(key_path(key + "_file"), "cannot read '" + file + "'");
      std::string line;
      std::getline(in, line);
      if (!line.empty() && line.back() == '\r') line.pop_back();
      return line;
    }
    if (!env.empty()) {
      const char* v = std::getenv(env.c_str());
      if (v == nullptr) fail(key_path(key + "_env"), "environment variable " + env + " is not set");
      return v;
    }
    return direct;
  }
  // Rejects keys nobody asked for.
  void finish() const {
    if (!node_ || node_.IsNull()) return;
    for (auto it = node_.begin(); it != node_.end(); ++it) {
      std::string k = it->first.as<std::string>();
      if (used_.count(k) == 0) {
        std::string known;
        for (const auto& u : used_) known += (known.empty() ? "" : ", ") + u;
        fail(key_path(k), "unknown key (known here: " + known + ")");
      }
    }
  }
  [[nodiscard]] bool present() const { return node_ && !node_.IsNull(); }

 private:
  YAML::Node node_;
  std::string path_;
  std::set<std::string> used_;
};

transport::LineSettings parse_line(Section& s, const std::string& port) {
  transport::LineSettings line;
  // The built-in electricity-meter profile speaks 9600 8N1, like the real 382.
  if (port == "sim:kamstrup382") {
    line.baud = 9600;
    line.stop_bits = 1;
  }
  line.baud = static_cast<unsigned>(s.integer("baud", line.baud, 300, 115200));
  // Within the range is not enough: a rate the port cannot be set to would only fail at open.
  if (std::find(transport::kBaudRates.begin(), transport::kBaudRates.end(), line.baud) ==
      transport::kBaudRates.end()) {
    std::string rates;
    for (unsigned b : transport::kBaudRates)
      rates += (rates.empty() ? "" : ", ") + std::to_string(b);
    fail(s.key_path("baud"), "expected one of " + rates + ", got " + std::to_string(line.baud));
  }
  std::string parity = s.str("parity", line.parity == transport::Parity::None ? "none" : "even");
  if (parity == "none") {
    line.parity = transport::Parity::None;
  } else if (parity == "even") {
    line.parity = transport::Parity::Even;
  } else if (parity == "odd") {
    line.parity = transport::Parity::Odd;
  } else {
    fail(s.key_path("parity"), "expected none, even or odd, got '" + parity + "'");
  }
  line.data_bits = static_cast<unsigned>(s.integer("databits", line.data_bits, 7, 8));
  line.stop_bits = static_cast<unsigned>(s.integer("stopbits", line.stop_bits, 1, 2));
  return line;
}

MeterConfig parse_meter(const YAML::Node& node, const std::string& path) {
  Section s(node, path);
  MeterConfig m;
  m.name = s.str("name", "");
  static const std::regex kName("[a-z0-9_-]+");
  if (m.name.empty()) fail(s.key_path("name"), "every meter needs a name ([a-z0-9_-]+)");
  if (!std::regex_match(m.name, kName)) {
    fail(s.key_path("name"), "'" + m.name +
                                 "' may only use a-z, 0-9, _ and - (it becomes part "
                                 "of MQTT topics and file names)");
  }
  m.port = s.str("port", "");
  if (m.port.empty())
    fail(s.key_path("port"), "every meter needs a port (e.g. /dev/ttyUSB0 or sim:multical403)");
  if (m.simulated()) {
    std::string profile = m.port.substr(4);
    if (!sim::builtin_profile(profile)) {
      std::string known;
      for (auto n : sim::profile_names())
        known += (known.empty() ? "sim:" : ", sim:") + std::string(n);
      fail(s.key_path("port"), "unknown simulator profile '" + profile + "' (" + known + ")");
    }
  }
  YAML::Node regs = s.get("registers");
  if (regs && !regs.IsNull()) {
    if (!regs.IsSequence())
      fail(s.key_path("registers"), "expected a list of register names or ids");
    for (std::size_t i = 0; i < regs.size(); ++i) {
      std::string ref = regs[i].IsScalar() ? regs[i].as<std::string>() : "";
      auto id = kmp::parse_register_ref(ref);
      if (!id) {
        std::string msg = "unknown register '" + ref + "'";
        auto close = kmp::suggest_registers(ref);
        if (!close.empty()) msg += " (did you mean " + std::string(close[0]) + "?)";
        fail(s.key_path("registers") + "[" + std::to_string(i) + "]", msg);
      }
      if (std::find(m.register_ids.begin(), m.register_ids.end(), *id) != m.register_ids.end()) {
        fail(s.key_path("registers") + "[" + std::to_string(i) + "]",
             "'" + ref + "' is listed twice");
      }
      m.register_ids.push_back(*id);
      m.register_names.push_back(ref);
    }
  } else {
    for (auto n : kmp::default_register_names()) {
      m.register_ids.push_back(*kmp::parse_register_ref(n));
      m.register_names.emplace_back(n);
    }
  }
  if (m.register_ids.empty()) fail(s.key_path("registers"), "the list is empty");
  m.interval = s.duration("interval", std::chrono::seconds(60), std::chrono::seconds(1));
  m.line = parse_line(s, m.port);
  m.timeout = s.duration("timeout", std::chrono::seconds(2), std::chrono::milliseconds(50));
  m.retries = static_cast<unsigned>(s.integer("retries", 2, 0, 10));
  m.protocol = s.str("protocol", "auto");
  if (m.protocol != "auto" && m.protocol != "kmp" && m.protocol != "legacy" &&
      m.protocol != "iec") {
    fail(s.key_path("protocol"),
         "expected auto, kmp, legacy (MULTICAL /#n) or iec (/?! "
         "readout), got '" +
             m.protocol + "'");
  }
  m.scale = s.str("scale", "");
  if (!m.scale.empty()) {
    if (m.protocol != "legacy" && m.protocol != "auto")
      fail(s.key_path("scale"), "only MULTICAL /#n meters (protocol: legacy) use a scale");
    if (!legacy::parse_scale(m.scale).ok()) {
      fail(s.key_path("scale"),
           "expected energy=GJ|kWh|MWh|Gcal:DECIMALS,volume=m3:D,power=kW|MW:D,flow=l/h|m3/h:D "
           "(e.g. energy=MWh:3,volume=m3:2,power=kW:1,flow=l/h:0), got '" +
               m.scale + "'");
    }
  }
  std::string backfill = s.str("backfill", "off");
  if (backfill != "off" && backfill != "0") {
    auto d = parse_duration(backfill);
    if (!d || d->count() <= 0)
      fail(s.key_path("backfill"),
           "expected off or a duration like 7d or 12h, got '" + backfill + "'");
    m.backfill = *d;
  }
  m.logger = s.str("logger", "hourly");
  if (m.logger != "hourly" && m.logger != "daily" && m.logger != "monthly" &&
      m.logger != "yearly") {
    fail(s.key_path("logger"), "expected hourly, daily, monthly or yearly, got '" + m.logger + "'");
  }
  m.logger_time_order = s.str("logger_time_order", "field-table");
  if (m.logger_time_order != "field-table" && m.logger_time_order != "reversed") {
    fail(s.key_path("logger_time_order"),
         "expected field-table or reversed, got '" + m.logger_time_order + "'");
  }
  if ((m.protocol == "legacy" || m.protocol == "iec") && m.backfill.count() > 0)
    fail(s.key_path("backfill"),
         "only KMP meters have a logger we can read (protocol: " + m.protocol + ")");
  s.finish();
  return m;
}

void parse_url(const std::string& path, const std::string& url,
               std::initializer_list<const char*> schemes) {
  for (const char* scheme : schemes) {
    std::string prefix = std::string(scheme) + "://";
    if (url.rfind(prefix, 0) == 0 && url.size() > prefix.size()) return;
  }
  std::string list;
  for (const char* scheme : schemes)
    list += (list.empty() ? "" : " or ") + std::string(scheme) + "://";
  fail(path, "expected a URL starting with " + list + ", got '" + url + "'");
}

}  // namespace

std::optional<std::chrono::milliseconds> parse_duration(const std::string& text) {
  static const std::regex kDur("([0-9]+)(ms|s|m|h|d)");
  std::smatch m;
  if (!std::regex_match(text, m, kDur)) return std::nullopt;
  long long n = std::stoll(m[1].str());
  if (n > 1000000000LL) return std::nullopt;
  const std::string unit = m[2].str();
  long long ms = unit == "ms"  ? n
                 : unit == "s" ? n * 1000
                 : unit == "m" ? n * 60000
                 : unit == "h" ? n * 3600000
                               : n * 86400000;
  return std::chrono::milliseconds(ms);
}

Config parse_config(const std::string& yaml_text, const std::string& source_name) {
  YAML::Node root;
  try {
    root = YAML::Load(yaml_text);
  } catch (const YAML::Exception& e) {
    throw ConfigError(source_name + ": not valid YAML: line " + std::to_string(e.mark.line + 1) +
                      ", column " + std::to_string(e.mark.column + 1) + ": " + e.msg);
  }
  Config c;
  c.source = source_name;
  Section top(root, "");

  YAML::Node meters = top.get("meters");
  if (!meters || meters.IsNull()) fail("meters", "at least one meter is needed");
  if (!meters.IsSequence()) fail("meters", "expected a list of meters");
  std::set<std::string> names;
  for (std::size_t i = 0; i < meters.size(); ++i) {
    std::string path = "meters[" + std::to_string(i) + "]";
    MeterConfig m = parse_meter(meters[i], path);
    if (!names.insert(m.name).second) fail(path + ".name", "duplicate meter name '" + m.name + "'");
    c.meters.push_back(std::move(m));
  }
  if (c.meters.empty()) fail("meters", "at least one meter is needed");

  {
    Section s(top.get("store"), "store");
    c.store.path = s.str("path", c.store.path);
    auto retention =
        s.duration("retention", std::chrono::hours(24 * 365), std::chrono::milliseconds(0));
    c.store.retention = std::chrono::duration_cast<std::chrono::hours>(retention);
    s.finish();
  }
  {
    Section s(top.get("http"), "http");
    if (s.present()) {
      c.http.enabled = true;
      std::string listen = s.str("listen", "127.0.0.1:9847");
      auto colon = listen.rfind(':');
      if (colon == std::string::npos || colon == 0)
        fail("http.listen", "expected HOST:PORT, got '" + listen + "'");
      c.http.host = listen.substr(0, colon);
      std::string port = listen.substr(colon + 1);
      char* end = nullptr;
      long p = std::strtol(port.c_str(), &end, 10);
      if (port.empty() || *end != '\0' || p < 1 || p > 65535)
        fail("http.listen", "bad port '" + port + "'");
      c.http.port = static_cast<std::uint16_t>(p);
      s.finish();
    }
  }
  {
    Section s(top.get("console"), "console");
    if (s.present()) {
      c.console.enabled = s.boolean("enabled", true);
      c.console.format = s.str("format", "text");
      if (c.console.format != "text" && c.console.format != "json") {
        fail("console.format", "expected text or json, got '" + c.console.format + "'");
      }
      s.finish();
    }
  }
  {
    Section s(top.get("mqtt"), "mqtt");
    if (s.present()) {
      auto& m = c.mqtt;
      m.enabled = true;
      m.url = s.str("url", m.url);
      parse_url("mqtt.url", m.url, {"mqtt", "mqtts"});
      m.username = s.str("username", "");
      m.password = s.secret("password");
      m.client_id = s.str("client_id", "");
      m.base_topic = s.str("base_topic", m.base_topic);
      if (m.base_topic.empty() || m.base_topic.find_first_of("#+") != std::string::npos) {
        fail("mqtt.base_topic", "must be a topic without wildcards (# +)");
      }
      m.homeassistant = s.boolean("homeassistant", true);
      m.discovery_prefix = s.str("discovery_prefix", m.discovery_prefix);
      m.energy_unit = s.str("energy_unit", "");
      if (!m.energy_unit.empty() && m.energy_unit != "kWh" && m.energy_unit != "MWh") {
        fail("mqtt.energy_unit", "expected kWh or MWh, got '" + m.energy_unit + "'");
      }
      m.ca_file = s.str("ca_file", "");
      m.cert_file = s.str("cert_file", "");
      m.key_file = s.str("key_file", "");
      m.tls_insecure = s.boolean("tls_insecure", false);
      s.finish();
    }
  }
  {
    Section s(top.get("influxdb"), "influxdb");
    if (s.present()) {
      auto& f = c.influxdb;
      f.enabled = true;
      f.url = s.str("url", f.url);
      parse_url("influxdb.url", f.url, {"http", "https"});
      f.database = s.str("database", "");
      f.username = s.str("username", "");
      f.password = s.secret("password");
      f.org = s.str("org", "");
      f.bucket = s.str("bucket", "");
      f.token = s.secret("token");
      f.measurement = s.str("measurement", f.measurement);
      f.batch = static_cast<std::size_t>(s.integer("batch", 500, 1, 100000));
      bool v1 = !f.database.empty();
      bool v2 = !f.bucket.empty() || !f.org.empty() || !f.token.empty();
      if (v1 == v2) {
        fail(
            "influxdb",
            v1 ? "give either database (InfluxDB 1) or org, bucket and token (InfluxDB 2), not both"
               : "needs database (InfluxDB 1) or org, bucket and token (InfluxDB 2)");
      }
      if (v2 && (f.org.empty() || f.bucket.empty() || f.token.empty())) {
        fail("influxdb", "InfluxDB 2 needs all of org, bucket and token");
      }
      s.finish();
    }
  }
  {
    Section s(top.get("domoticz"), "domoticz");
    if (s.present()) {
      auto& d = c.domoticz;
      d.enabled = true;
      d.url = s.str("url", "");
      parse_url("domoticz.url", d.url, {"http", "https"});
      d.username = s.str("username", "");
      d.password = s.secret("password");
      YAML::Node devices = s.get("devices");
      if (!devices || !devices.IsMap())
        fail("domoticz.devices", "expected meter: {register: idx, ...}");
      for (auto it = devices.begin(); it != devices.end(); ++it) {
        std::string meter = it->first.as<std::string>();
        std::string mpath = "domoticz.devices." + meter;
        if (names.count(meter) == 0) fail(mpath, "no meter is named '" + meter + "'");
        if (!it->second.IsMap()) fail(mpath, "expected register: idx pairs");
        std::vector<std::pair<std::string, int>> regs;
        for (auto r = it->second.begin(); r != it->second.end(); ++r) {
          std::string reg = r->first.as<std::string>();
          if (kmp::find_register(std::string_view(reg)) == nullptr)
            fail(mpath + "." + reg, "unknown register");
          std::string idx = r->second.IsScalar() ? r->second.as<std::string>() : "";
          char* end = nullptr;
          long v = std::strtol(idx.c_str(), &end, 10);
          if (idx.empty() || *end != '\0' || v < 1)
            fail(mpath + "." + reg, "expected a Domoticz device idx (a positive number)");
          regs.emplace_back(reg, static_cast<int>(v));
        }
        d.devices.emplace_back(meter, std::move(regs));
      }
      s.finish();
    }
  }
  {
    Section s(top.get("emoncms"), "emoncms");
    if (s.present()) {
      auto& e = c.emoncms;
      e.enabled = true;
      e.url = s.str("url", "");
      parse_url("emoncms.url", e.url, {"http", "https"});
      e.apikey = s.secret("apikey");
      if (e.apikey.empty()) fail("emoncms.apikey", "the write API key is required");
      e.node = s.str("node", e.node);
      s.finish();
    }
  }
  {
    YAML::Node files = top.get("files");
    if (files && !files.IsNull()) {
      if (!files.IsSequence()) fail("files", "expected a list of {path, format}");
      for (std::size_t i = 0; i < files.size(); ++i) {
        std::string path = "files[" + std::to_string(i) + "]";
        Section s(files[i], path);
        FileOutputConfig f;
        f.path = s.str("path", "");
        if (f.path.empty()) fail(path + ".path", "required");
        f.format = s.str("format", "jsonl");
        if (f.format != "jsonl" && f.format != "csv")
          fail(path + ".format", "expected jsonl or csv");
        s.finish();
        c.files.push_back(f);
      }
    }
  }
  {
    Section s(top.get("exec"), "exec");
    if (s.present()) {
      ExecConfig e;
      YAML::Node cmd = s.get("command");
      if (cmd && cmd.IsScalar()) {
        e.command = {"/bin/sh", "-c", cmd.as<std::string>()};
      } else if (cmd && cmd.IsSequence() && cmd.size() > 0) {
        for (const auto& a : cmd) e.command.push_back(a.as<std::string>());
      } else {
        fail("exec.command", "expected a command line or a list of arguments");
      }
      e.timeout = s.duration("timeout", std::chrono::seconds(10), std::chrono::milliseconds(100));
      s.finish();
      c.exec = e;
    }
  }
  c.log_level = top.str("log_level", "info");
  if (c.log_level != "debug" && c.log_level != "info" && c.log_level != "warn" &&
      c.log_level != "error") {
    fail("log_level", "expected debug, info, warn or error");
  }
  top.finish();
  return c;
}

Config load_config(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw ConfigError(path + ": cannot read the configuration file");
  std::stringstream ss;
  ss << in.rdbuf();
  return parse_config(ss.str(), path);
}

Config default_config() {
  Config c = parse_config(R"(
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
  return c;
}

std::string dump_config(const Config& c) {
  auto mask = [](const std::string& s) {
    return s.empty() ? std::string("\"\"") : std::string("\"********\"");
  };
  auto q = [](const std::string& s) {
    std::string out = "\"";
    for (char ch : s) {
      if (ch == '"' || ch == '\\') out.push_back('\\');
      out.push_back(ch);
    }
    return out + "\"";
  };
  std::ostringstream o;
  o << "# effective configuration (" << c.source << ")\nmeters:\n";
  for (const auto& m : c.meters) {
    o << "  - name: " << m.name << "\n    port: " << q(m.port) << "\n    registers: [";
    for (std::size_t i = 0; i < m.register_ids.size(); ++i) {
      o << (i ? ", " : "") << kmp::register_name(m.register_ids[i]);
    }
    const char* parity = m.line.parity == transport::Parity::None   ? "none"
                         : m.line.parity == transport::Parity::Even ? "even"
                                                                    : "odd";
    o << "]\n    interval: " << m.interval.count() << "ms\n    baud: " << m.line.baud
      << "\n    parity: " << parity << "\n    databits: " << m.line.data_bits
      << "\n    stopbits: " << m.line.stop_bits << "\n    timeout: " << m.timeout.count()
      << "ms\n    retries: " << m.retries << "\n    protocol: " << m.protocol << "\n";
    if (!m.scale.empty()) o << "    scale: " << q(m.scale) << "\n";
    if (m.backfill.count() > 0) {
      o << "    backfill: " << m.backfill.count() << "ms\n    logger: " << m.logger
        << "\n    logger_time_order: " << m.logger_time_order << "\n";
    }
  }
  o << "store:\n  path: " << q(c.store.path) << "\n  retention: " << c.store.retention.count()
    << "h\n";
  if (c.http.enabled) o << "http:\n  listen: " << c.http.host << ":" << c.http.port << "\n";
  if (c.console.enabled) o << "console:\n  format: " << c.console.format << "\n";
  if (c.mqtt.enabled) {
    const auto& m = c.mqtt;
    o << "mqtt:\n  url: " << q(m.url) << "\n  username: " << q(m.username)
      << "\n  password: " << mask(m.password) << "\n  base_topic: " << q(m.base_topic)
      << "\n  homeassistant: " << (m.homeassistant ? "true" : "false")
      << "\n  discovery_prefix: " << q(m.discovery_prefix)
      << "\n  energy_unit: " << q(m.energy_unit) << "\n  ca_file: " << q(m.ca_file) << "\n";
  }
  if (c.influxdb.enabled) {
    const auto& f = c.influxdb;
    o << "influxdb:\n  url: " << q(f.url) << "\n";
    if (!f.database.empty()) {
      o << "  database: " << q(f.database) << "\n  username: " << q(f.username)
        << "\n  password: " << mask(f.password) << "\n";
    } else {
      o << "  org: " << q(f.org) << "\n  bucket: " << q(f.bucket) << "\n  token: " << mask(f.token)
        << "\n";
    }
    o << "  measurement: " << q(f.measurement) << "\n";
  }
  if (c.domoticz.enabled) {
    o << "domoticz:\n  url: " << q(c.domoticz.url) << "\n  username: " << q(c.domoticz.username)
      << "\n  password: " << mask(c.domoticz.password) << "\n  devices:\n";
    for (const auto& [meter, regs] : c.domoticz.devices) {
      o << "    " << meter << ":\n";
      for (const auto& [reg, idx] : regs) o << "      " << reg << ": " << idx << "\n";
    }
  }
  if (c.emoncms.enabled) {
    o << "emoncms:\n  url: " << q(c.emoncms.url) << "\n  apikey: " << mask(c.emoncms.apikey)
      << "\n  node: " << q(c.emoncms.node) << "\n";
  }
  if (!c.files.empty()) {
    o << "files:\n";
    for (const auto& f : c.files)
      o << "  - path: " << q(f.path) << "\n    format: " << f.format << "\n";
  }
  if (c.exec) {
    o << "exec:\n  command: [";
    for (std::size_t i = 0; i < c.exec->command.size(); ++i)
      o << (i ? ", " : "") << q(c.exec->command[i]);
    o << "]\n  timeout: " << c.exec->timeout.count() << "ms\n";
  }
  o << "log_level: " << c.log_level << "\n";
  return o.str();
}

}  // namespace kamstrup::daemon
