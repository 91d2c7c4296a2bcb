// The daemon's writes of polls to the history, and the store's health. The store failing is not
// the meter failing: when a write fails (disk full, an I/O error, a damaged page) the poll is
// held in a bounded in-memory queue and written, oldest first, before the next one at the next
// poll or retry, so the meters keep their schedule and nothing is lost while the queue lasts.
// Outputs still deliver only from the store: a held poll reaches them once it is written.
// Failures are counted (StoreHealth::errors) and logged once per change of state.
#pragma once

#include <cstdint>
#include <deque>
#include <exception>
#include <mutex>
#include <string>
#include <vector>

#include "store/store.hpp"
#include "web/health.hpp"

namespace kamstrup::daemon {

using StoreHealth = web::StoreHealth;

class StoreKeeper {
 public:
  // `queue`: how many polls it may hold (store.queue, at least 1).
  StoreKeeper(store::Store& store, std::size_t queue);

  // Writes the held polls and then `poll`, in that order. True when `poll` is in the store;
  // false when it is held (or, with a full queue, held at the cost of the oldest held one).
  // Loop thread only.
  bool store(store::Poll poll);
  // Writes the held polls; true when none is left. Loop thread only.
  bool flush();
  // Logger records (backfill): all in one transaction, or none and not held (the meter's logger
  // still has them). True when stored. Loop thread only.
  bool store_all(std::vector<store::Poll>& polls);

  // Another store operation failed (`what`: "reading the backlog of output mqtt", ...): counted,
  // logged when the store was healthy until now. Any thread.
  void failed(const std::string& what, const std::exception& e);

  // Across a reload: the polls still held, oldest first (the keeper keeps none), and the same
  // handed to the next configuration's keeper (beyond its queue the oldest are dropped, counted).
  std::deque<store::Poll> take_held();
  void hold(std::deque<store::Poll> polls);

  [[nodiscard]] bool failing() const;
  [[nodiscard]] std::size_t held() const;
  [[nodiscard]] std::size_t held(const std::string& meter) const;
  [[nodiscard]] StoreHealth health() const;

 private:
  bool write_held();
  void recovered_locked();

  store::Store& store_;
  mutable std::mutex mu_;  // guards everything below (health() comes from the HTTP thread)
  std::deque<store::Poll> held_;
  StoreHealth health_;
  std::size_t written_since_failure_ = 0;
  std::uint64_t dropped_since_failure_ = 0;
  bool overflow_said_ = false;
};

}  // namespace kamstrup::daemon
