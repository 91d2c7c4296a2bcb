#include "daemon/outputs.hpp"

#include "sinks/console.hpp"
#include "sinks/domoticz.hpp"
#include "sinks/emoncms.hpp"
#include "sinks/exec.hpp"
#include "sinks/file.hpp"
#include "sinks/influxdb.hpp"
#include "sinks/mqtt.hpp"

namespace kamstrup::daemon {

std::vector<std::unique_ptr<sinks::Sink>> make_outputs(const Config& config) {
  std::vector<std::unique_ptr<sinks::Sink>> out;
  if (config.console && config.console->enabled)
    out.push_back(std::make_unique<sinks::ConsoleSink>(config.console->format));
  if (config.mqtt) out.push_back(std::make_unique<sinks::MqttSink>(*config.mqtt));
  if (config.influxdb) out.push_back(std::make_unique<sinks::InfluxSink>(*config.influxdb));
  if (config.domoticz) out.push_back(std::make_unique<sinks::DomoticzSink>(*config.domoticz));
  if (config.emoncms) out.push_back(std::make_unique<sinks::EmoncmsSink>(*config.emoncms));
  for (const auto& f : config.files) out.push_back(std::make_unique<sinks::FileSink>(f));
  if (config.exec) out.push_back(std::make_unique<sinks::ExecSink>(*config.exec));
  return out;
}

}  // namespace kamstrup::daemon
