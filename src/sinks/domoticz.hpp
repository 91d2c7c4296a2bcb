// Domoticz output: sets mapped virtual devices through the JSON API,
//
//   GET {url}/json.htm?type=command&param=udevice&idx=12&nvalue=0&svalue=55.006
//
// one request per mapped (meter, register), with HTTP basic auth when a username is set.
// Accepted = HTTP 200 and a JSON answer with "status": "OK"; anything else (Domoticz answers
// "status": "ERR" for an unknown idx) → SinkError naming the endpoint and idx, retried; an
// HTTP 4xx that refuses the data (http::rejects_data) → SinkRejected, skipped by the fan-out.
//
// svalue is the register's exact decimal text in the meter's unit (its text, e.g. a date, when
// it has no number), so a "Custom sensor" (or text) virtual device fits; registers not in the
// mapping are ignored.
//
// Domoticz has no timestamp parameter: it stamps every update with its arrival time. A batch
// of backlog (after an outage) therefore sends only the newest value per device, once, instead
// of replaying every old value as if it were current; a live poll is always sent.
#pragma once

#include <chrono>
#include <string>
#include <utility>
#include <vector>

#include "config/keys.hpp"
#include "sinks/http_client.hpp"
#include "sinks/sink.hpp"

namespace kamstrup::sinks {

// The Domoticz device type a register is sent to; decides the svalue's layout and unit.
enum class DomoticzType : std::uint8_t {
  Custom,       // "Custom sensor": the value in the meter's unit (the bare `register: idx` form)
  Temperature,  // "Temperature": °C
  Kwh,          // "Electric (Instant+Counter)" / kWh: "POWER;ENERGY" in W;Wh
  Counter,      // "Counter" (RFXMeter): the total as an integer in the counter's unit
  Water,        // Counter with meter type Water: litres
  Gas,          // Counter with meter type Gas: litres (m³ × 1000)
  Usage,        // "Usage (Electric)": W
  Waterflow,    // "Waterflow": l/min
  Text,         // "Text": the value as text
};

struct DomoticzDevice {
  std::string meter;  // configured meter name
  std::string reg;    // register name (catalogue)
  int idx = 0;        // Domoticz device idx
  DomoticzType type = DomoticzType::Custom;
  std::string power;  // kwh: the register giving the instant power
  bool operator==(const DomoticzDevice&) const = default;
};

// The `domoticz:` section.
struct DomoticzConfig {
  std::string url;  // e.g. http://127.0.0.1:8080
  std::string username;
  config::Secret password;
  std::vector<DomoticzDevice> devices;
  std::chrono::milliseconds timeout{10000};
  bool operator==(const DomoticzConfig&) const = default;
};

const config::Table<DomoticzConfig>& domoticz_keys();

class DomoticzSink : public Sink {
 public:
  explicit DomoticzSink(DomoticzConfig config);
  [[nodiscard]] std::string id() const override { return "domoticz"; }
  [[nodiscard]] std::string probe_url() const override { return cfg_.url; }
  void deliver(std::span<const store::Poll> polls) override;

 private:
  [[nodiscard]] const DomoticzDevice* find(const std::string& meter, const std::string& reg) const;

  DomoticzConfig cfg_;
  std::string base_;
  http::HttpClient client_;
};

}  // namespace kamstrup::sinks
