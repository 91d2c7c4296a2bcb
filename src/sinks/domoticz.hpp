// Domoticz output: sets mapped virtual devices through the JSON API,
//
//   GET {url}/json.htm?type=command&param=udevice&idx=12&nvalue=0&svalue=8700;55006000
//
// one request per mapped (meter, register), with HTTP basic auth when a username is set.
// Accepted = HTTP 2xx and a JSON answer with "status": "OK"; anything else (Domoticz answers
// "status": "ERR" for an unknown idx) → SinkError naming the endpoint and idx, retried; an
// HTTP 4xx that refuses the data (http::classify) → SinkRejected, skipped by the fan-out.
//
// The svalue's layout and unit follow the device type (docs/config.md, "Domoticz device types"):
// exact decimal conversions through kmp/units.hpp, rounded half-even to the device's resolution
// only where the ratio has no finite decimal (GJ → Wh, l/h → l/min). Totals are sent whole each
// time, so rounding never accumulates. A value whose unit no rule converts for its device (the
// unit arrives with the meter's reply) is never sent: notice("domoticz.devices.<meter>.<reg>")
// logs and counts it once per poll, and the other devices are still updated. Registers not in
// the mapping are ignored.
//
// Domoticz has no timestamp parameter: it stamps every update with its arrival time. A batch
// of backlog (after an outage) therefore sends only the newest value per device, once, instead
// of replaying every old value as if it were current; a live poll is always sent. A kwh device
// takes its power and its energy from the same poll.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "config/keys.hpp"
#include "sinks/http_client.hpp"
#include "sinks/sink.hpp"

namespace kamstrup::sinks {

// The Domoticz device type a register is sent to; decides the svalue's layout and unit, and
// which registers fit (config check: the catalogue quantity of the register).
enum class DomoticzType : std::uint8_t {
  Custom,       // "Custom Sensor": the exact value in the meter's unit (the bare `register: idx`)
  Temperature,  // "Temperature": °C, exact (temperature registers)
  Kwh,          // "Electric (Instant+Counter)": "POWER;ENERGY" in whole W;Wh (energy + power)
  Counter,      // "Counter" (RFXMeter): kWh or m³ × divider as an integer (energy, volume, count)
  Water,        // "Counter" set to type Water: m³ × divider as an integer, litres by default
  Gas,          // "Gas": litres (m³ × 1000, fixed by Domoticz) as an integer (volume)
  Usage,        // "Usage (Electric)": W to 0.1 W (power)
  Waterflow,    // "Waterflow": l/min to 0.01 l/min (flow)
  Text,         // "Text": the value and its unit as text
};

struct DomoticzDevice {
  std::string meter;  // configured meter name
  std::string reg;    // register name (catalogue)
  int idx = 0;        // Domoticz device idx
  DomoticzType type = DomoticzType::Custom;
  std::string power;  // kwh: the register giving the instant power
  // counter, water: the Domoticz counter's divider (counts per kWh or m³; a power of ten). The
  // config sets 1 for a counter on a register without a unit of its own (input_a, ...).
  std::uint32_t divider = 1000;
  bool operator==(const DomoticzDevice&) const = default;
};

// The `domoticz:` section.
struct DomoticzConfig {
  std::string url;  // e.g. http://127.0.0.1:8080
  std::string username;
  config::Secret password;
  std::vector<DomoticzDevice> devices;
  http::ClientOptions http;  // timeout, connect_timeout, ca_file, tls_insecure, proxy, no_proxy
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
  // The svalue for `dev` from poll `p`, or nullopt after notice() (once per key and poll).
  std::optional<std::string> svalue(const DomoticzDevice& dev, const store::Poll& p);
  void refuse(const std::string& key, std::int64_t seq, const std::string& why);
  void update(int idx, const std::string& svalue);

  DomoticzConfig cfg_;
  std::map<std::string, std::int64_t> refused_;  // notice key -> seq of the poll last refused
  std::string base_;
  http::HttpClient client_;
};

}  // namespace kamstrup::sinks
