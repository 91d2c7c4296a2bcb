// Live state the daemon shares with its HTTP endpoints (/metrics, /api): per-meter reader health
// and the latest values. Written by the event loop, read by the HTTP thread.
#pragma once

#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "meter/session.hpp"
#include "sinks/sink.hpp"
#include "store/store.hpp"

namespace kamstrup::daemon {

struct MeterStatus {
  std::string name;
  std::string port;
  bool up = false;
  std::string state;          // "answering", or why not
  meter::SessionStats stats;  // accumulated over port reopenings
  std::uint64_t polls_ok = 0;
  std::uint64_t polls_failed = 0;
  std::uint64_t backfilled = 0;  // logger records stored by backfill
  std::int64_t last_success_ms = 0;
  sinks::MeterInfo info;
  store::Poll last_poll;  // latest values
};

class Status {
 public:
  void set(const MeterStatus& m) {
    std::lock_guard lock(mu_);
    meters_[m.name] = m;
  }
  [[nodiscard]] std::vector<MeterStatus> meters() const {
    std::lock_guard lock(mu_);
    std::vector<MeterStatus> out;
    for (const auto& [name, m] : meters_) out.push_back(m);
    return out;
  }

 private:
  mutable std::mutex mu_;
  std::map<std::string, MeterStatus> meters_;
};

}  // namespace kamstrup::daemon
