// The daemon's configuration (YAML), validated completely before any port or socket opens.
// Every key is documented in docs/config.md and kamstrup.example.yaml. An error names the key
// path ("meters[1].interval: ...").
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "transport/port.hpp"

namespace kamstrup::daemon {

class ConfigError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct MeterConfig {
  std::string name;  // [a-z0-9_-]+, unique
  std::string port;  // any port spec, or "sim:<profile>" for the built-in simulator
  std::vector<std::uint16_t> register_ids;
  std::vector<std::string> register_names;  // as configured (for messages)
  std::chrono::milliseconds interval{60000};
  transport::LineSettings line;
  std::chrono::milliseconds timeout{2000};
  unsigned retries = 2;
  // auto | kmp | legacy | iec. auto tries KMP, the IEC readout and /#1 once and remembers the
  // one that answered for as long as the daemon runs.
  std::string protocol = "auto";
  // legacy (/#n) meters only: the scale to use when the meter's program number is not in the
  // table (see docs/config.md); "" = from the meter's own program number.
  std::string scale;
  // KMP meters: read missed history from the meter's own logger (experimental). 0 = off; else
  // how far back to go at most (first start: this far; after downtime: since the last stored
  // reading, but no further than this).
  std::chrono::milliseconds backfill{0};
  std::string logger = "hourly";                  // hourly | daily | monthly | yearly
  std::string logger_time_order = "field-table";  // field-table | reversed
  [[nodiscard]] bool simulated() const { return port.rfind("sim:", 0) == 0; }
};

struct StoreConfig {
  std::string path = "kamstrup.db";
  std::chrono::hours retention{24 * 365};  // 0 = keep forever
};

struct HttpConfig {
  bool enabled = false;
  std::string host = "127.0.0.1";
  std::uint16_t port = 9847;
};

struct ConsoleConfig {
  bool enabled = false;         // print each poll to stdout as it arrives
  std::string format = "text";  // text | json
};

struct FileOutputConfig {
  std::string path;
  std::string format = "jsonl";  // jsonl | csv
};

struct ExecConfig {
  std::vector<std::string> command;  // argv; the poll as JSON on stdin and in KAMSTRUP_* env vars
  std::chrono::milliseconds timeout{10000};
};

struct MqttSection {
  bool enabled = false;
  std::string url = "mqtt://127.0.0.1:1883";
  std::string username;
  std::string password;  // resolved from password / password_file / password_env
  std::string client_id;
  std::string base_topic = "kamstrup";
  bool homeassistant = true;
  std::string discovery_prefix = "homeassistant";
  std::string energy_unit;  // "" | kWh | MWh
  std::string ca_file, cert_file, key_file;
  bool tls_insecure = false;
};

struct InfluxSection {
  bool enabled = false;
  std::string url = "http://127.0.0.1:8086";
  std::string database;            // v1
  std::string username, password;  // v1 (optional)
  std::string org, bucket, token;  // v2
  std::string measurement = "kamstrup";
  std::size_t batch = 500;
};

struct DomoticzSection {
  bool enabled = false;
  std::string url;
  std::string username, password;
  // meter name → register name → Domoticz device idx
  std::vector<std::pair<std::string, std::vector<std::pair<std::string, int>>>> devices;
};

struct EmoncmsSection {
  bool enabled = false;
  std::string url;
  std::string apikey;
  std::string node = "kamstrup";  // per meter: "<node>_<meter>" unless one meter
};

struct Config {
  std::vector<MeterConfig> meters;
  StoreConfig store;
  HttpConfig http;
  ConsoleConfig console;
  MqttSection mqtt;
  InfluxSection influxdb;
  DomoticzSection domoticz;
  EmoncmsSection emoncms;
  std::vector<FileOutputConfig> files;
  std::optional<ExecConfig> exec;
  std::string log_level = "info";
  std::string source;  // file name, or "built-in default"
};

// Parses and validates; throws ConfigError with the first problem, naming its key path.
Config parse_config(const std::string& yaml_text, const std::string& source_name);
Config load_config(const std::string& path);
// The built-in default: one simulated MULTICAL 403 read every 10 s, the SQLite store, console.
Config default_config();
// The effective configuration as YAML, secrets replaced by "********".
std::string dump_config(const Config& c);

// "60s", "15m", "1h", "500ms", "30d" → duration; nullopt when malformed.
std::optional<std::chrono::milliseconds> parse_duration(const std::string& text);

}  // namespace kamstrup::daemon
