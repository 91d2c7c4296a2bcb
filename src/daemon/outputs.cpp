#include "daemon/outputs.hpp"

#include <stdexcept>

#include "sinks/console.hpp"
#include "sinks/domoticz.hpp"
#include "sinks/emoncms.hpp"
#include "sinks/exec.hpp"
#include "sinks/file.hpp"
#include "sinks/influxdb.hpp"
#include "sinks/mqtt.hpp"

namespace kamstrup::daemon {

namespace {

template <typename S, typename C>
std::unique_ptr<sinks::Sink> make(const char* key, C cfg) {
  try {
    return std::make_unique<S>(std::move(cfg));
  } catch (const std::invalid_argument& e) {
    // The config parser validates first; this only catches what it could not know.
    throw ConfigError(std::string(key) + ": " + e.what());
  }
}

}  // namespace

std::vector<std::unique_ptr<sinks::Sink>> make_outputs(const Config& config) {
  std::vector<std::unique_ptr<sinks::Sink>> out;
  if (config.console.enabled) {
    out.push_back(std::make_unique<sinks::ConsoleSink>(config.console.format));
  }
  if (config.mqtt.enabled) {
    const auto& m = config.mqtt;
    sinks::MqttConfig c;
    c.url = m.url;
    c.username = m.username;
    c.password = m.password;
    c.client_id = m.client_id;
    c.base_topic = m.base_topic;
    c.homeassistant = m.homeassistant;
    c.discovery_prefix = m.discovery_prefix;
    c.energy_unit = m.energy_unit;
    c.ca_file = m.ca_file;
    c.cert_file = m.cert_file;
    c.key_file = m.key_file;
    c.tls_insecure = m.tls_insecure;
    out.push_back(make<sinks::MqttSink>("mqtt", std::move(c)));
  }
  if (config.influxdb.enabled) {
    const auto& f = config.influxdb;
    sinks::InfluxConfig c;
    c.url = f.url;
    c.database = f.database;
    c.username = f.username;
    c.password = f.password;
    c.org = f.org;
    c.bucket = f.bucket;
    c.token = f.token;
    c.measurement = f.measurement;
    c.batch = f.batch;
    out.push_back(make<sinks::InfluxSink>("influxdb", std::move(c)));
  }
  if (config.domoticz.enabled) {
    const auto& d = config.domoticz;
    sinks::DomoticzConfig c;
    c.url = d.url;
    c.username = d.username;
    c.password = d.password;
    c.devices = d.devices;
    out.push_back(make<sinks::DomoticzSink>("domoticz", std::move(c)));
  }
  if (config.emoncms.enabled) {
    const auto& e = config.emoncms;
    sinks::EmoncmsConfig c;
    c.url = e.url;
    c.apikey = e.apikey;
    c.node = e.node;
    // One meter keeps the plain node name; several get <node>_<meter>.
    c.per_meter_node = config.meters.size() > 1;
    out.push_back(make<sinks::EmoncmsSink>("emoncms", std::move(c)));
  }
  for (std::size_t i = 0; i < config.files.size(); ++i) {
    sinks::FileOutputConfig c;
    c.path = config.files[i].path;
    c.format = config.files[i].format;
    out.push_back(make<sinks::FileSink>("files", std::move(c)));
  }
  if (config.exec) {
    sinks::ExecConfig c;
    c.command = config.exec->command;
    c.timeout = config.exec->timeout;
    out.push_back(make<sinks::ExecSink>("exec", std::move(c)));
  }
  return out;
}

}  // namespace kamstrup::daemon
