// Every output behind one small interface. The daemon's fan-out (src/daemon/fanout.*) gives each
// output its own delivery thread that replays the store from the output's cursor, so an output
// sees every poll, in store order, at least once, across outages and restarts; one slow or
// dead output never blocks another.
#pragma once

#include <cstdint>
#include <functional>
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

// A delivery the target refused because of what was sent (an HTTP 400 or 422 for a point it will
// never accept): retrying the same polls cannot succeed, and retrying forever would stall the
// output's whole backlog. The fan-out narrows a rejected batch down to the poll(s) the target
// refuses, logs each once with the reason, counts it (rejected, per output) and moves the cursor
// past it, so later polls keep flowing. Never thrown for trouble that a fix on the target's side
// cures without losing data (no answer, 5xx, 408, 429, authentication, unknown database).
class SinkRejected : public SinkError {
 public:
  using SinkError::SinkError;
};

// What the daemon learnt about a meter when it first answered (for discovery, tags): name, model,
// meter_type, sw_revision, serial, protocol. The store keeps it (Store::set_meter_info), so the
// fan-out can hand it to the outputs at start-up, before any backlog is replayed.
using MeterInfo = store::MeterInfo;

// How an output tells the user about a value it will not send wrong (a unit no rule converts for
// its target, ...): `key` is the configuration key behind it ("domoticz.devices.heat.volume"),
// `message` says why. The fan-out logs each key once per run and counts every call
// (SinkHealth::refused_values). Called from the output's delivery thread.
using NoticeHandler = std::function<void(const std::string& key, const std::string& message)>;

// How an output tells the user once about something it sends differently from what they may
// expect, although every value goes out (a Home Assistant device class it had to leave out, two
// meters' entity ids told apart): the fan-out logs each key once per run and counts nothing.
using NoteHandler = NoticeHandler;

// What a probe of an output's target found (Sink::reachability).
enum class Reachability : std::uint8_t { Unknown, Down, Up };

class Sink {
 public:
  virtual ~Sink() = default;

  // Set once by the fan-out before delivery starts.
  void set_notice_handler(NoticeHandler handler) { notice_ = std::move(handler); }
  void set_note_handler(NoteHandler handler) { note_ = std::move(handler); }

  // Stable key for the delivery cursor: "mqtt", "influxdb", "file:/var/log/k.jsonl", ...
  [[nodiscard]] virtual std::string id() const = 0;

  // Delivers polls (oldest first). Returns only when every one is accepted by the target;
  // throws SinkError otherwise (then none is considered delivered and all are retried), or
  // SinkRejected when the target refuses the data itself.
  virtual void deliver(std::span<const store::Poll> polls) = 0;

  // Meter identity, known once the meter first answers; may arrive before or after polls.
  virtual void meter_info(const MeterInfo& /*info*/) {}
  // Whether the meter currently answers (MQTT availability). Not replayed after a restart.
  virtual void meter_online(const std::string& /*meter*/, bool /*online*/) {}
  // Called once before destruction, from the delivery thread: flush and disconnect.
  virtual void close() {}

  // For the fan-out's probe while this output fails: the target's URL (scheme://host[:port]...);
  // a TCP connect to its host and port, cheap and frequent, tells when the target is back, so
  // the backlog goes out then instead of at the end of a long backoff. "" = no probe.
  [[nodiscard]] virtual std::string probe_url() const { return {}; }
  // A sink that knows better than a TCP connect whether a delivery can work now says so here
  // (MQTT: connected to the broker); Unknown = probe probe_url(). Called from the delivery
  // thread while no deliver() runs; must not block.
  [[nodiscard]] virtual Reachability reachability() const { return Reachability::Unknown; }

 protected:
  void notice(const std::string& key, const std::string& message) const {
    if (notice_) notice_(key, message);
  }
  void note(const std::string& key, const std::string& message) const {
    if (note_) note_(key, message);
  }

 private:
  NoticeHandler notice_;
  NoteHandler note_;
};

}  // namespace kamstrup::sinks
