// MQTT output with Home Assistant discovery (libmosquitto).
//
// Topics (<base> = base_topic, <meter> = the configured meter name):
//   <base>/<meter>/<register>     one per register, retained (`retain`): the plain value as HA
//                                 shows it: the text for dates/times/ASCII ("2022-01-12"), else
//                                 the exact decimal ("55.006") in the unit discovery announces
//                                 (`energy_unit` for energy registers when asked; HA's unit where
//                                 the meter's is one step away, ha::sensor). One message per
//                                 register per delivery: the newest (by read time) of the batch,
//                                 so a backlog after an outage is not replayed into HA's states
//   <base>/<meter>/info/<flag>    "ON"/"OFF", retained (`retain`), with each info code (register
//                                 99) delivered: one per flag of the meter's info-code table
//                                 (MeterInfo::info_codes; none for "unknown")
//   <base>/<meter>/state          `format: nested` (default): one JSON object per poll, every
//                                 poll of a backlog, not retained (an event stream): the poll as
//                                 files and the console write it (poll_json, docs/formats.md);
//                                 values are the meter's own, never converted
//   <base>/values                 `format: flat` instead: kamstrup-402-mqtt's payload
//                                 {"energy": 227.445, ...} per poll for the first meter of the
//                                 file (others: <base>/<meter>/values), retained as `retain` says
//   <base>/<meter>/availability   "online"/"offline", retained (meter_online(); the first
//                                 meter_info() for a meter implies "online")
//   <base>/status                 "online", retained, on every connect; the connection's will
//                                 (broker sends it on an unclean end) and close() set "offline"
//   <discovery_prefix>/sensor/<unique_id>/config   HA discovery, retained (see mqtt.cpp)
//   <discovery_prefix>/binary_sensor/<unique_id>/config   the info-code flags (see mqtt.cpp)
//
// Delivery: deliver() publishes every message of the batch and returns when the broker has
// acknowledged all of them (PUBACK for QoS 1, PUBCOMP for QoS 2, written to the socket for
// QoS 0); a lost connection or `timeout` throws SinkError and the fan-out redelivers the whole
// batch (duplicates on the broker are possible, losses are not).
//
// Threads: the sink runs its own network thread (connect, reconnect with backoff, keepalive,
// acknowledgements). deliver() may block for up to `timeout`; meter_info() and meter_online()
// never block on the network: they record the state and publish it when connected (it is
// published again after every reconnect).
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "config/keys.hpp"
#include "sinks/sink.hpp"
#include "store/store.hpp"

namespace kamstrup::sinks {

struct MqttConfig {
  // Broker: mqtt://host[:port] (plain, default port 1883) or mqtts://host[:port] (TLS, 8883).
  // IPv6 literals in brackets: mqtt://[::1]:1883.
  std::string url = "mqtt://127.0.0.1:1883";
  // Credentials (MQTT CONNECT). A password needs a username. Prefer mqtts:// when set.
  std::string username;
  config::Secret password;
  // MQTT client id; "" = "kamstrup-<hostname>". Must be unique on the broker: a second client
  // with the same id disconnects the first.
  std::string client_id;
  // Root of every topic this sink publishes (except discovery).
  std::string base_topic = "kamstrup";
  // Retain the per-register topics (the current value of each register).
  bool retain = true;
  // QoS of every publication (0, 1 or 2).
  int qos = 1;
  // The per-poll message: Nested = the one JSON shape on <base>/<meter>/state; Flat =
  // kamstrup-402-mqtt's {"energy": 227.445, ...} on <base>/values (see the top of this file).
  enum class Format : std::uint8_t { Nested, Flat };
  Format format = Format::Nested;
  // Publish Home Assistant MQTT discovery configs.
  bool homeassistant = true;
  std::string discovery_prefix = "homeassistant";
  // Device class of each meter's volume registers, meter -> "water" | "volume" (unnamed meters:
  // "volume"). The config check adds "water" for the meters it takes for water meters
  // (ha::default_volume_class).
  std::vector<std::pair<std::string, std::string>> ha_volume_class;
  // "" = publish energy registers in the meter's unit; "kWh" or "MWh" = convert energy
  // registers (catalogue quantity "energy") exactly when the meter's unit is Wh/kWh/MWh/GWh.
  // Meters that count in GJ (or Gcal) stay in their unit: GJ → kWh is not an exact decimal
  // scaling, and HA's energy device class and Energy dashboard accept GJ as it is.
  std::string energy_unit;
  // TLS (mqtts:// only): CA certificate(s) that must have signed the broker's certificate ("" =
  // the system's trusted CAs), and an optional client certificate and key (both or neither).
  std::string ca_file;
  std::string cert_file;
  std::string key_file;
  // Skip the check that the broker's certificate names the host in `url` (as mosquitto_pub
  // --insecure). The certificate chain is still verified against ca_file.
  bool tls_insecure = false;
  // MQTT keepalive (at least 5 s).
  std::chrono::seconds keepalive{60};
  // A deliver() batch fails when the broker acknowledges nothing for this long (the limit is on
  // silence, not on the whole batch, so a long backlog on a slow link still makes progress).
  // Also the longest a connection attempt may take (TCP, TLS handshake, CONNACK), and so the
  // longest deliver() waits for an attempt in progress before it throws.
  std::chrono::milliseconds timeout{10000};
  // Reconnect backoff: the delay after a failed attempt doubles from min to max; it restarts
  // from min only after a connection that stayed up 10 s (no storm when two clients share an
  // id and keep disconnecting each other). The short cap lets a returning broker get the
  // backlog within a few seconds (the fan-out retries as soon as reachability() says Up); a
  // refused connection every 2 s costs nothing.
  std::chrono::milliseconds reconnect_min{500};
  std::chrono::milliseconds reconnect_max{2000};
  // Derived from the meters section by the config check (not keys): the meters in file order
  // (when two report one serial the first keeps the plain unique ids; the first gets
  // <base>/values in the flat format), and each meter's register display names (register ->
  // name) for the entity names.
  std::vector<std::string> meters;
  std::map<std::string, std::map<std::string, std::string>> labels;
  // Each meter whose registers this run knows in full (a `registers:` list, no logger backfill)
  // -> those register names: entities an earlier run left for other registers of the meter are
  // deleted once it answers as KMP (see the top of mqtt.cpp).
  std::map<std::string, std::vector<std::string>> registers;
  bool operator==(const MqttConfig&) const = default;
};

// The `mqtt:` section of the configuration file (parsing, checks, dump, docs).
const config::Table<MqttConfig>& mqtt_keys();
// What the constructor refuses, without connecting: std::invalid_argument naming the field.
void validate(const MqttConfig& config);

class MqttSink : public Sink {
 public:
  // Validates the config (std::invalid_argument naming the field) and starts connecting in the
  // background; never throws for an unreachable broker (deliver() reports that).
  explicit MqttSink(MqttConfig config);
  ~MqttSink() override;
  MqttSink(const MqttSink&) = delete;
  MqttSink& operator=(const MqttSink&) = delete;

  [[nodiscard]] std::string id() const override;
  void deliver(std::span<const store::Poll> polls) override;
  void meter_info(const MeterInfo& info) override;
  void meter_online(const std::string& meter, bool online) override;
  // Up while connected to the broker, Down otherwise (the fan-out's probe).
  [[nodiscard]] Reachability reachability() const override;
  // Publishes "offline" to <base>/status (waits up to `timeout` for it), disconnects cleanly
  // and stops the network thread. Idempotent; deliver() afterwards throws SinkError.
  void close() override;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Pure pieces, exposed for tests.
namespace mqtt_detail {

// kamstrup-402-mqtt's name for a register ("energy" for heat_energy, "tempdiff", "hourcounter",
// "minflow_m", ...), or the register's own name where it has none.
std::string_view flat_name(std::string_view reg);
// kamstrup-402-mqtt's payload for a poll: {"energy": 227.445, "volume": 2131.935}, exact number
// tokens in the meter's units; registers without a number (text) are left out.
std::string flat_json(const store::Poll& poll);

}  // namespace mqtt_detail

}  // namespace kamstrup::sinks
