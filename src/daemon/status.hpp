// Live state the daemon shares with its HTTP endpoints (/metrics, /api): per-meter reader health
// and the latest values. Written by the event loop, read by the HTTP thread.
#pragma once

#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "web/health.hpp"

namespace kamstrup::daemon {

// The plain data lives in the web layer, which renders it without including daemon/.
using MeterStatus = web::MeterStatus;
using StoreHealth = web::StoreHealth;

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

  // Where store() gets the store's health (the daemon's StoreKeeper); set before serving.
  void set_store_source(std::function<StoreHealth()> source) { store_source_ = std::move(source); }
  [[nodiscard]] StoreHealth store() const {
    return store_source_ ? store_source_() : StoreHealth{};
  }

 private:
  mutable std::mutex mu_;
  std::map<std::string, MeterStatus> meters_;
  std::function<StoreHealth()> store_source_;
};

}  // namespace kamstrup::daemon
