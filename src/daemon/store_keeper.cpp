#include "daemon/store_keeper.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>

namespace kamstrup::daemon {

namespace {
std::int64_t unix_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}
}  // namespace

StoreKeeper::StoreKeeper(store::Store& store, std::size_t queue) : store_(store) {
  health_.path = store.path();
  health_.queue = std::max<std::size_t>(queue, 1);
}

void StoreKeeper::failed(const std::string& what, const std::exception& e) {
  std::lock_guard lock(mu_);
  ++health_.errors;
  health_.state = what + ": " + e.what();
  if (!health_.ok) return;  // said when it started failing
  health_.ok = false;
  health_.since_ms = unix_ms();
  written_since_failure_ = 0;
  dropped_since_failure_ = 0;
  overflow_said_ = false;
  spdlog::error(
      "store: {}: {}; the meters keep polling, up to {} polls are held in memory and written "
      "when the store can be written again",
      what, e.what(), health_.queue);
}

void StoreKeeper::recovered_locked() {
  if (health_.ok) return;
  health_.ok = true;
  health_.state = "ok";
  health_.since_ms = unix_ms();
  spdlog::info(
      "store: writing again: {} held poll(s) stored, {} dropped while the queue of {} "
      "was full",
      written_since_failure_, dropped_since_failure_, health_.queue);
}

// Writes held polls oldest first, each in its own transaction (one that fails stays held, with
// the ones after it). True when none is left.
bool StoreKeeper::write_held() {
  for (;;) {
    store::Poll next;
    {
      std::lock_guard lock(mu_);
      if (held_.empty()) return true;
      next = held_.front();
    }
    try {
      store_.insert(next);
    } catch (const store::StoreError& e) {
      failed("cannot write " + store_.path(), e);
      return false;
    }
    std::lock_guard lock(mu_);
    held_.pop_front();
    health_.held = held_.size();
    ++written_since_failure_;
  }
}

bool StoreKeeper::flush() {
  if (!write_held()) return false;
  std::lock_guard lock(mu_);
  recovered_locked();
  return true;
}

bool StoreKeeper::store(store::Poll poll) {
  if (write_held()) {
    try {
      store_.insert(poll);
      std::lock_guard lock(mu_);
      recovered_locked();
      return true;
    } catch (const store::StoreError& e) {
      failed("cannot write " + store_.path(), e);
    }
  }
  std::lock_guard lock(mu_);
  if (held_.size() >= health_.queue) {
    held_.pop_front();
    ++health_.dropped;
    ++dropped_since_failure_;
    if (!overflow_said_) {
      overflow_said_ = true;
      spdlog::error(
          "store: the queue of {} held polls is full: dropping the oldest held poll "
          "for each new one until the store can be written again (counted)",
          health_.queue);
    }
  }
  held_.push_back(std::move(poll));
  health_.held = held_.size();
  return false;
}

bool StoreKeeper::store_all(std::vector<store::Poll>& polls) {
  try {
    store_.insert_all(polls);
    return true;
  } catch (const store::StoreError& e) {
    failed("cannot write " + store_.path(), e);
    return false;
  }
}

std::deque<store::Poll> StoreKeeper::take_held() {
  std::lock_guard lock(mu_);
  std::deque<store::Poll> out;
  out.swap(held_);
  health_.held = 0;
  return out;
}

void StoreKeeper::hold(std::deque<store::Poll> polls) {
  std::lock_guard lock(mu_);
  while (polls.size() > health_.queue) {
    polls.pop_front();
    ++health_.dropped;
  }
  held_ = std::move(polls);
  health_.held = held_.size();
}

bool StoreKeeper::failing() const {
  std::lock_guard lock(mu_);
  return !health_.ok;
}

std::size_t StoreKeeper::held() const {
  std::lock_guard lock(mu_);
  return held_.size();
}

std::size_t StoreKeeper::held(const std::string& meter) const {
  std::lock_guard lock(mu_);
  return static_cast<std::size_t>(std::count_if(
      held_.begin(), held_.end(), [&](const store::Poll& p) { return p.meter == meter; }));
}

StoreHealth StoreKeeper::health() const {
  std::lock_guard lock(mu_);
  return health_;
}

}  // namespace kamstrup::daemon
