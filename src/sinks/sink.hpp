// Every output behind one small interface. The daemon's fan-out (src/daemon/fanout.*) gives each
// output its own delivery thread that replays the store from the output's cursor, so an output
// sees every poll, in store order, at least once, across outages and restarts; one slow or
// dead output never blocks another.
#pragma once

#include <span>
#include <stdexcept>
#include <string>
#include <string_view>

#include "store/store.hpp"

namespace kamstrup::sinks {

// A delivery that failed but may succeed later (broker down, HTTP 5xx, timeout). The fan-out
// keeps the backlog and retries with backoff. Messages name the output and the endpoint.
class SinkError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// What the daemon learnt about a meter when it first answered (for discovery, tags).
struct MeterInfo {
  std::string name;         // configured name
  std::string model;        // e.g. "MULTICAL 403" or "" when unknown
  std::string meter_type;   // GetType meter type, e.g. "0x0403"
  std::string sw_revision;  // e.g. "A2"
  std::string serial;       // GetSerialNo, decimal text; "" when unknown
  std::string protocol;     // "kmp"
};

class Sink {
 public:
  virtual ~Sink() = default;

  // Stable key for the delivery cursor: "mqtt", "influxdb", "file:/var/log/k.jsonl", ...
  [[nodiscard]] virtual std::string id() const = 0;

  // Delivers polls (oldest first). Returns only when every one is accepted by the target;
  // throws SinkError otherwise (then none is considered delivered and all are retried).
  virtual void deliver(std::span<const store::Poll> polls) = 0;

  // Meter identity, known once the meter first answers; may arrive before or after polls.
  virtual void meter_info(const MeterInfo& /*info*/) {}
  // Whether the meter currently answers (MQTT availability). Not replayed after a restart.
  virtual void meter_online(const std::string& /*meter*/, bool /*online*/) {}
  // Called once before destruction, from the delivery thread: flush and disconnect.
  virtual void close() {}
};

}  // namespace kamstrup::sinks
