// The daemon's configuration (YAML), validated completely before any port or socket opens.
// Each section is read by its owner's key table (config/keys.hpp): meters and http here, the
// store in the store layer, every output in its sink. The same tables dump the effective
// configuration and write docs/config.md. An error names the key path
// ("meters[1].interval: ...").
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "config/keys.hpp"
#include "kmp/info_code.hpp"
#include "kmp/logger.hpp"
#include "meter/detect.hpp"
#include "sinks/console.hpp"
#include "sinks/domoticz.hpp"
#include "sinks/emoncms.hpp"
#include "sinks/exec.hpp"
#include "sinks/file.hpp"
#include "sinks/influxdb.hpp"
#include "sinks/mqtt.hpp"
#include "store/store.hpp"
#include "transport/port.hpp"

namespace kamstrup::daemon {

using ConfigError = config::Error;

struct MeterConfig {
  std::string name;  // [a-z0-9_-]+, unique
  std::string port;  // any port spec, or "sim:<profile>" for the built-in simulator
  std::vector<std::uint16_t> register_ids;
  // Display names given in the file (`{register: heat_energy, name: "Heat energy"}`), by id.
  std::vector<std::pair<std::uint16_t, std::string>> labels;
  std::chrono::milliseconds interval{60000};
  transport::LineSettings line;
  std::chrono::milliseconds timeout{2000};
  unsigned retries = 2;
  // nullopt = auto: KMP, the IEC readout and /#1 are tried once and the one that answered is
  // kept (and remembered in the store for the next start).
  std::optional<meter::Protocol> protocol;
  // legacy (/#n) meters only: the scale to use when the meter's program number is not in the
  // table (see docs/config.md); "" = from the meter's own program number.
  std::string scale;
  // KMP meters: read missed history from the meter's own logger (experimental). 0 = off; else
  // how far back to go at most (first start: this far; after downtime: since the last stored
  // reading, but no further than this).
  std::chrono::milliseconds backfill{0};
  kmp::LoggerKind logger = kmp::LoggerKind::Hourly;
  kmp::TimeOrder logger_time_order = kmp::TimeOrder::FieldTable;
  // The table that names the flags of the meter's info code; nullopt = auto: MULTICAL 66-C for
  // /#n meters, bits only (Unknown) for the rest (a KMP type number does not tell the model).
  std::optional<kmp::InfoCodes> model;
  [[nodiscard]] bool simulated() const { return port.rfind("sim:", 0) == 0; }
  // The catalogue names of register_ids ("register_<id>" for uncatalogued ids).
  [[nodiscard]] std::vector<std::string> register_names() const;
  bool operator==(const MeterConfig&) const = default;
};

struct HttpConfig {
  std::string host = "127.0.0.1";
  std::uint16_t port = 9847;
  unsigned max_connections = 256;
  std::chrono::milliseconds request_timeout{10000};
  std::string auth_user;  // HTTP Basic authentication when set (with `password`)
  config::Secret password;
  bool operator==(const HttpConfig&) const = default;
};

enum class LogLevel : std::uint8_t { Debug, Info, Warn, Error };

struct Config {
  std::vector<MeterConfig> meters;
  store::StoreConfig store;
  std::optional<HttpConfig> http;
  std::optional<sinks::ConsoleConfig> console;
  std::optional<sinks::MqttConfig> mqtt;
  std::optional<sinks::InfluxConfig> influxdb;
  std::optional<sinks::DomoticzConfig> domoticz;
  std::optional<sinks::EmoncmsConfig> emoncms;
  std::vector<sinks::FileOutputConfig> files;
  std::optional<sinks::ExecConfig> exec;
  LogLevel log_level = LogLevel::Info;
  std::string source;  // file name, or "built-in default" (not part of the comparison)
  bool operator==(const Config& o) const;
};

// The tables (for docs and the generated round-trip test).
const config::Table<MeterConfig>& meter_keys();
const config::Table<HttpConfig>& http_keys();
const config::Table<Config>& top_keys();

// Parses and validates; throws ConfigError with the first problem, naming its key path.
Config parse_config(const std::string& yaml_text, const std::string& source_name);
Config load_config(const std::string& path);
// Only the `store:` section of a file (for readers such as `kamstrup history --config`, which
// must find the database like `run` does without needing the outputs' secrets).
store::StoreConfig store_config(const std::string& path);
// The built-in default: one simulated MULTICAL 403 read every 10 s, the SQLite store, console.
Config default_config();
// The effective configuration as YAML: every key with its value (defaults filled in); secrets
// as their references (`password_file: ...`), inline ones as "********". Parsing it gives the
// same configuration back (for secrets given by reference).
std::string dump_config(const Config& c);
// docs/config.md's generated part: one section per table, in file order.
std::string config_reference();

// "60s", "15m", "1h", "500ms", "30d" → duration; nullopt when malformed.
using config::parse_duration;

}  // namespace kamstrup::daemon
