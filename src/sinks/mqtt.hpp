// MQTT output with Home Assistant discovery (libmosquitto).
//
// Topics (<base> = base_topic, <meter> = the configured meter name):
//   <base>/<meter>/<register>     one per register, retained (`retain`): the plain value as HA
//                                 shows it: the text for dates/times/ASCII ("2022-01-12"), else
//                                 the exact decimal ("55.006"), converted to `energy_unit` for
//                                 energy registers when asked
//   <base>/<meter>/state          one JSON object per poll, not retained (an event stream): the
//                                 poll as files and the console write it (poll_json,
//                                 docs/formats.md); values are the meter's own, never converted
//   <base>/<meter>/availability   "online"/"offline", retained (meter_online(); the first
//                                 meter_info() for a meter implies "online")
//   <base>/status                 "online", retained, on every connect; the connection's will
//                                 (broker sends it on an unclean end) and close() set "offline"
//   <discovery_prefix>/sensor/<unique_id>/config   HA discovery, retained (see mqtt.cpp)
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
#include <memory>
#include <span>
#include <string>
#include <string_view>

#include "config/keys.hpp"
#include "kmp/quantity.hpp"
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
  // Publish Home Assistant MQTT discovery configs.
  bool homeassistant = true;
  std::string discovery_prefix = "homeassistant";
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

// The device_class to announce for a catalogue device_class and the unit that is published:
// the catalogue's when HA accepts that unit for it, else "" (see mqtt.cpp for the table).
std::string_view ha_device_class(std::string_view catalogue_class, std::string_view unit);
// HA's device class for a quantity, before the unit check.
std::string_view ha_class_of(kmp::Quantity q);

}  // namespace mqtt_detail

}  // namespace kamstrup::sinks
