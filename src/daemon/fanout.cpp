#include "daemon/fanout.hpp"

#include <set>

#include <spdlog/spdlog.h>

#include <malloc.h>

#include <algorithm>

namespace kamstrup::daemon {

struct Fanout::Worker {
  std::unique_ptr<sinks::Sink> sink;
  std::thread thread;
  mutable std::mutex mu;
  std::condition_variable cv;
  bool wake = false;
  bool stopping = false;
  std::chrono::steady_clock::time_point drain_deadline{};
  std::deque<std::function<void(sinks::Sink&)>> events;
  SinkHealth health;
  std::set<std::string> noticed;  // config keys already logged this run
  std::set<std::string> noted;    // note() keys already logged this run
};

Fanout::Fanout(store::Store& store, std::vector<std::unique_ptr<sinks::Sink>> sinks)
    : store_(store) {
  for (auto& s : sinks) {
    auto w = std::make_unique<Worker>();
    w->health.id = s->id();
    Worker* wp = w.get();
    s->set_notice_handler([wp](const std::string& key, const std::string& message) {
      bool first = false;
      {
        std::lock_guard lock(wp->mu);
        ++wp->health.refused_values;
        wp->health.last_refusal = key + ": " + message;
        first = wp->noticed.insert(key).second;
      }
      // Once per key: a unit that cannot be converted stays so for every poll.
      if (first) spdlog::warn("{}: {}: {} (not sent; counted)", wp->health.id, key, message);
    });
    s->set_note_handler([wp](const std::string& key, const std::string& message) {
      bool first = false;
      {
        std::lock_guard lock(wp->mu);
        first = wp->noted.insert(key).second;
      }
      if (first) spdlog::warn("{}: {}: {}", wp->health.id, key, message);
    });
    w->sink = std::move(s);
    workers_.push_back(std::move(w));
  }
}

Fanout::~Fanout() {
  stop(std::chrono::milliseconds(0));
}

void Fanout::start() {
  // Each output thread allocates a little now and then; without a cap glibc would give each its
  // own malloc arena (a few hundred kB of RSS apiece). Two arenas are plenty at this rate.
  mallopt(M_ARENA_MAX, 2);
  // What the meters told an earlier run, so that a backlog replayed before a meter answers
  // again still carries its serial (InfluxDB tag) and discovery has its device.
  std::vector<sinks::MeterInfo> known;
  try {
    known = store_.meter_infos();
  } catch (const std::exception& e) {
    spdlog::warn("store: cannot read the stored meter info: {}", e.what());
  }
  for (auto& w : workers_) {
    w->health.cursor = store_.cursor(w->health.id);
    for (const auto& info : known)
      w->events.emplace_back([info](sinks::Sink& s) { s.meter_info(info); });
    w->wake = true;  // replay the backlog now, not only after the next poll
    w->thread = std::thread([this, &w = *w] { run(w); });
  }
}

void Fanout::notify() {
  for (auto& w : workers_) {
    std::lock_guard lock(w->mu);
    w->wake = true;
    w->cv.notify_one();
  }
}

void Fanout::meter_info(const sinks::MeterInfo& info) {
  try {
    store_.set_meter_info(info);
  } catch (const std::exception& e) {
    spdlog::warn("store: cannot keep the meter info of {}: {}", info.name, e.what());
  }
  for (auto& w : workers_) {
    std::lock_guard lock(w->mu);
    w->events.emplace_back([info](sinks::Sink& s) { s.meter_info(info); });
    w->wake = true;
    w->cv.notify_one();
  }
}

void Fanout::meter_online(const std::string& meter, bool online) {
  for (auto& w : workers_) {
    std::lock_guard lock(w->mu);
    w->events.emplace_back([meter, online](sinks::Sink& s) { s.meter_online(meter, online); });
    w->wake = true;
    w->cv.notify_one();
  }
}

void Fanout::stop(std::chrono::milliseconds drain) {
  auto deadline = std::chrono::steady_clock::now() + drain;
  for (auto& w : workers_) {
    std::lock_guard lock(w->mu);
    w->stopping = true;
    w->drain_deadline = deadline;
    w->wake = true;
    w->cv.notify_one();
  }
  for (auto& w : workers_) {
    if (w->thread.joinable()) w->thread.join();
  }
}

std::vector<SinkHealth> Fanout::health() const {
  std::vector<SinkHealth> out;
  for (const auto& w : workers_) {
    SinkHealth h;
    {
      std::lock_guard lock(w->mu);
      h = w->health;
    }
    // Counted, not last_seq - cursor: retention may have deleted undelivered polls.
    try {
      h.backlog = store_.count_after(h.cursor);
    } catch (const std::exception&) {
      h.backlog = -1;
    }
    out.push_back(std::move(h));
  }
  return out;
}

void Fanout::delivered(Worker& w, std::int64_t seq, std::size_t count) {
  {
    std::lock_guard lock(w.mu);
    w.health.cursor = seq;
    w.health.delivered += count;
    w.health.last_success_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                                   std::chrono::system_clock::now().time_since_epoch())
                                   .count();
    w.health.last_error.clear();
  }
  store_.set_cursor(w.health.id, seq);
}

// Delivers `polls` (consecutive from the cursor). When the target refuses the batch
// (SinkRejected), delivers it again one poll at a time: the polls it accepts go through, each one
// it refuses is logged once, counted and skipped (the cursor moves past it), so one bad poll never
// stalls the backlog. Any other failure propagates with the cursor after the last delivered poll.
void Fanout::deliver_batch(Worker& w, const std::vector<store::Poll>& polls) {
  if (polls.size() > 1) {
    try {
      w.sink->deliver(polls);
      delivered(w, polls.back().seq, polls.size());
      return;
    } catch (const sinks::SinkRejected& e) {
      spdlog::debug("output {}: batch of {} refused ({}); sending one poll at a time", w.health.id,
                    polls.size(), e.what());
    }
  }
  for (const auto& p : polls) {
    try {
      w.sink->deliver(std::span<const store::Poll>(&p, 1));
      delivered(w, p.seq, 1);
    } catch (const sinks::SinkRejected& e) {
      spdlog::warn("output {}: skipping poll {} of meter {} (read at Unix ms {}): {}", w.health.id,
                   p.seq, p.meter, p.time_ms, e.what());
      {
        std::lock_guard lock(w.mu);
        w.health.cursor = p.seq;
        ++w.health.rejected;
        w.health.last_rejection = e.what();
      }
      store_.set_cursor(w.health.id, p.seq);
    }
  }
}

void Fanout::run(Worker& w) {
  using Clock = std::chrono::steady_clock;
  std::chrono::milliseconds backoff{0};
  bool failing = false;
  bool stop_seen = false;
  for (;;) {
    std::deque<std::function<void(sinks::Sink&)>> events;
    bool stopping = false;
    Clock::time_point drain_deadline;
    {
      std::unique_lock lock(w.mu);
      // Sleep until woken, or until the backoff after a failure has passed.
      if (backoff.count() > 0) {
        // A stop request cuts the backoff short once; after that, retries during the drain
        // keep their spacing instead of spinning.
        w.cv.wait_for(lock, backoff, [&] { return w.stopping && !stop_seen; });
      } else {
        w.cv.wait(lock, [&] { return w.wake || w.stopping; });
      }
      w.wake = false;
      events.swap(w.events);
      stopping = w.stopping;
      stop_seen = stopping;
      drain_deadline = w.drain_deadline;
    }
    try {
      for (auto& e : events) e(*w.sink);
      for (;;) {
        auto polls = store_.polls_after(w.health.cursor, kBatch);
        if (polls.empty()) break;
        deliver_batch(w, polls);
        if (stopping && Clock::now() > drain_deadline) break;
      }
      if (failing) spdlog::info("output {}: delivering again", w.health.id);
      failing = false;
      backoff = std::chrono::milliseconds(0);
    } catch (const std::exception& e) {
      {
        std::lock_guard lock(w.mu);
        ++w.health.failures;
        w.health.last_error = e.what();
        // Events not yet applied are lost only if they were applied partially; requeue all
        // so discovery/availability are never skipped (they are idempotent).
        for (auto it = events.rbegin(); it != events.rend(); ++it) w.events.push_front(*it);
      }
      if (!failing)
        spdlog::warn("output {}: {} (keeping the backlog, retrying)", w.health.id, e.what());
      failing = true;
      backoff = backoff.count() == 0
                    ? std::chrono::milliseconds(1000)
                    : std::min<std::chrono::milliseconds>(backoff * 2, kMaxBackoff);
    }
    if (stopping && (!failing || Clock::now() >= drain_deadline)) break;
    if (stopping && failing) {
      // Keep trying until the drain deadline, but no longer than it.
      backoff = std::min<std::chrono::milliseconds>(
          backoff,
          std::chrono::duration_cast<std::chrono::milliseconds>(drain_deadline - Clock::now()));
      if (backoff.count() <= 0) break;
    }
  }
  try {
    w.sink->close();
  } catch (const std::exception& e) {
    spdlog::warn("output {}: closing: {}", w.health.id, e.what());
  }
}

}  // namespace kamstrup::daemon
