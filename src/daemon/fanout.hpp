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
#include <string>
#include <thread>
#include <vector>

#include "sinks/sink.hpp"
#include "store/store.hpp"
#include "web/health.hpp"

namespace kamstrup::daemon {

// Plain data the web layer renders (web/health.hpp).
using SinkHealth = web::SinkHealth;

class Fanout {
 public:
  Fanout(store::Store& store, std::vector<std::unique_ptr<sinks::Sink>> sinks);
  ~Fanout();
  Fanout(const Fanout&) = delete;
  Fanout& operator=(const Fanout&) = delete;

  // Hands every output the meter identities kept in the store, then replays each output's
  // backlog from its cursor, each on its own thread.
  void start();
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

  // Retry backoff after a failed delivery: 1 s doubling to this cap.
  static constexpr std::chrono::seconds kMaxBackoff{60};
  static constexpr std::size_t kBatch = 100;

 private:
  struct Worker;
  void run(Worker& w);
  void deliver_batch(Worker& w, const std::vector<store::Poll>& polls);
  void delivered(Worker& w, std::int64_t seq, std::size_t count);

  store::Store& store_;
  std::vector<std::unique_ptr<Worker>> workers_;
};

}  // namespace kamstrup::daemon
