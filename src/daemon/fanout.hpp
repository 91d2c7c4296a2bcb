// Fan-out in one place: each output gets its own delivery thread that replays the store from
// the output's durable cursor, so every output sees every poll, in order, at least once, across
// outages and restarts, and one dead output never holds up another.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "sinks/sink.hpp"
#include "store/store.hpp"
#include "web/health.hpp"

namespace kamstrup::daemon {

// Plain data the web layer renders (web/health.hpp).
using SinkHealth = web::SinkHealth;

// Where a probe connects: the host and port of an output's URL ("http://h:8086/x" -> h, 8086;
// default ports by scheme: http 80, https 443, mqtt 1883, mqtts 8883). nullopt when the URL has
// no host or an unknown scheme without a port.
struct Endpoint {
  std::string host;
  std::uint16_t port = 0;
  bool operator==(const Endpoint&) const = default;
};
std::optional<Endpoint> probe_endpoint(const std::string& url);
// Whether a TCP connection to the endpoint opens within `timeout` (closed at once).
bool tcp_connects(const Endpoint& endpoint, std::chrono::milliseconds timeout);

class Fanout {
 public:
  Fanout(store::Store& store, std::vector<std::unique_ptr<sinks::Sink>> sinks);
  ~Fanout();
  Fanout(const Fanout&) = delete;
  Fanout& operator=(const Fanout&) = delete;

  // Hands every output the meter identities kept in the store, then replays each output's
  // backlog from its cursor, each on its own thread.
  void start();
  // Where store failures met by the delivery threads go (reading a backlog, saving a cursor):
  // they are the store's health, not the output's. Set before start(); unset = logged.
  using StoreErrorHandler = std::function<void(const std::string& what, const std::exception& e)>;
  void on_store_error(StoreErrorHandler handler) { on_store_error_ = std::move(handler); }
  // New polls are in the store.
  void notify();
  // Out-of-band meter events, queued to every output in order. meter_info() also keeps the
  // identity in the store for the next start.
  void meter_info(const sinks::MeterInfo& info);
  void meter_online(const std::string& meter, bool online);
  // Delivers what it can within `drain` (outputs that are down keep their backlog in the store
  // for next time), then closes every output.
  void stop(std::chrono::milliseconds drain);

  [[nodiscard]] std::vector<SinkHealth> health() const;

  // Retry backoff after a failed delivery: 1 s doubling to this cap. Only a delivery that
  // succeeds resets it. While an output fails, its target is probed every kProbeEvery
  // (Sink::reachability, else a TCP connect to Sink::probe_url's host and port, kProbeTimeout at
  // most): when a probe that failed succeeds, the backlog is retried at once, so a returning
  // target gets it within about kProbeEvery instead of up to kMaxBackoff. A target that accepts
  // connections but still fails (HTTP 5xx) is left to the backoff until a probe fails again.
  static constexpr std::chrono::seconds kMaxBackoff{60};
  static constexpr std::chrono::milliseconds kProbeEvery{500};
  static constexpr std::chrono::milliseconds kProbeTimeout{1000};
  static constexpr std::size_t kBatch = 100;

 private:
  struct Worker;
  void run(Worker& w);
  void wait_for_work(Worker& w);
  bool deliver_backlog(Worker& w);
  void deliver_batch(Worker& w, const std::vector<store::Poll>& polls);
  void delivered(Worker& w, std::int64_t seq, std::size_t count);
  void store_failed(const std::string& what, const std::exception& e);
  void save_cursor(Worker& w, std::int64_t seq);

  store::Store& store_;
  StoreErrorHandler on_store_error_;
  std::vector<std::unique_ptr<Worker>> workers_;
};

}  // namespace kamstrup::daemon
