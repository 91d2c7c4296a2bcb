#include "daemon/fanout.hpp"

#include <malloc.h>
#include <netdb.h>
#include <poll.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <map>
#include <set>

namespace kamstrup::daemon {

using Clock = std::chrono::steady_clock;

struct Fanout::Worker {
  std::unique_ptr<sinks::Sink> sink;
  std::thread thread;
  mutable std::mutex mu;
  std::condition_variable cv;
  bool wake = false;
  bool stopping = false;
  Clock::time_point drain_deadline{};
  std::deque<std::function<void(sinks::Sink&)>> events;
  SinkHealth health;
  std::set<std::string> noticed;  // config keys already logged this run
  std::set<std::string> noted;    // note() keys already logged this run
  // The delivery thread's own state (no lock needed).
  bool failing = false;      // the output's last delivery failed (said once)
  bool backing_off = false;  // wait until retry_at before trying again
  Clock::time_point retry_at{};
  std::chrono::milliseconds backoff{0};
  bool stop_seen = false;     // a stop request has cut a backoff short once
  bool probing = false;       // probing the target while backing off
  bool probe_failed = false;  // a probe failed since the last failed delivery
};

namespace {

// Whether the output's target answers now (see Fanout::kProbeEvery).
sinks::Reachability probe(const sinks::Sink& sink) {
  const auto r = sink.reachability();
  if (r != sinks::Reachability::Unknown) return r;
  const auto ep = probe_endpoint(sink.probe_url());
  if (!ep) return sinks::Reachability::Unknown;
  return tcp_connects(*ep, Fanout::kProbeTimeout) ? sinks::Reachability::Up
                                                  : sinks::Reachability::Down;
}

}  // namespace

std::optional<Endpoint> probe_endpoint(const std::string& url) {
  const auto scheme_end = url.find("://");
  if (scheme_end == std::string::npos) return std::nullopt;
  std::string scheme = url.substr(0, scheme_end);
  std::transform(scheme.begin(), scheme.end(), scheme.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  std::string rest = url.substr(scheme_end + 3);
  rest = rest.substr(0, rest.find_first_of("/?#"));
  if (const auto at = rest.rfind('@'); at != std::string::npos) rest = rest.substr(at + 1);
  Endpoint ep;
  std::string port;
  if (!rest.empty() && rest.front() == '[') {  // [IPv6]:port
    const auto close = rest.find(']');
    if (close == std::string::npos) return std::nullopt;
    ep.host = rest.substr(1, close - 1);
    if (close + 1 < rest.size() && rest[close + 1] == ':') port = rest.substr(close + 2);
  } else {
    const auto colon = rest.find(':');
    ep.host = rest.substr(0, colon);
    if (colon != std::string::npos) port = rest.substr(colon + 1);
  }
  if (ep.host.empty()) return std::nullopt;
  if (port.empty()) {
    static const std::map<std::string, std::uint16_t> kDefault{
        {"http", 80}, {"https", 443}, {"mqtt", 1883}, {"mqtts", 8883}};
    const auto it = kDefault.find(scheme);
    if (it == kDefault.end()) return std::nullopt;
    ep.port = it->second;
    return ep;
  }
  if (port.size() > 5 || !std::all_of(port.begin(), port.end(),
                                      [](unsigned char c) { return std::isdigit(c) != 0; })) {
    return std::nullopt;
  }
  const unsigned long n = std::stoul(port);
  if (n == 0 || n > 65535) return std::nullopt;
  ep.port = static_cast<std::uint16_t>(n);
  return ep;
}

bool tcp_connects(const Endpoint& endpoint, std::chrono::milliseconds timeout) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* found = nullptr;
  if (::getaddrinfo(endpoint.host.c_str(), std::to_string(endpoint.port).c_str(), &hints, &found) !=
      0) {
    return false;
  }
  const auto deadline = Clock::now() + timeout;
  bool ok = false;
  for (addrinfo* a = found; a != nullptr && !ok && Clock::now() < deadline; a = a->ai_next) {
    const int fd = ::socket(a->ai_family, a->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) continue;
    if (::connect(fd, a->ai_addr, a->ai_addrlen) == 0) {
      ok = true;
    } else if (errno == EINPROGRESS) {
      const auto left =
          std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
      pollfd p{fd, POLLOUT, 0};
      int err = 0;
      socklen_t len = sizeof err;
      ok = ::poll(&p, 1, static_cast<int>(std::max<std::int64_t>(left.count(), 0))) == 1 &&
           ::getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) == 0 && err == 0;
    }
    ::close(fd);
  }
  ::freeaddrinfo(found);
  return ok;
}

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

void Fanout::store_failed(const std::string& what, const std::exception& e) {
  if (on_store_error_) {
    on_store_error_(what, e);
  } else {
    spdlog::error("store: {}: {}", what, e.what());
  }
}

// The cursor moves on in memory whatever happens; a store that cannot save it (disk full) costs
// at most a redelivery after a restart (at least once), never a stalled output.
void Fanout::save_cursor(Worker& w, std::int64_t seq) {
  try {
    store_.set_cursor(w.health.id, seq);
  } catch (const store::StoreError& e) {
    store_failed("cannot save the cursor of output " + w.health.id, e);
  }
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
  save_cursor(w, seq);
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
      save_cursor(w, p.seq);
    }
  }
}

// Sleeps until there is work: woken (new polls, events, stop) or, while backing off, until the
// backoff has passed, a stop request comes (it cuts one backoff short; retries during the drain
// keep their spacing), or a probe finds the target back.
void Fanout::wait_for_work(Worker& w) {
  std::unique_lock lock(w.mu);
  if (!w.backing_off) {
    w.cv.wait(lock, [&] { return w.wake || w.stopping; });
    return;
  }
  auto cut_short = [&] { return w.stopping && !w.stop_seen; };
  while (!cut_short() && Clock::now() < w.retry_at) {
    const auto until = w.probing ? std::min(w.retry_at, Clock::now() + kProbeEvery) : w.retry_at;
    if (w.cv.wait_until(lock, until, cut_short)) return;
    if (!w.probing || Clock::now() >= w.retry_at) continue;
    lock.unlock();
    const auto r = probe(*w.sink);
    lock.lock();
    if (r == sinks::Reachability::Down) {
      w.probe_failed = true;
    } else if (r == sinks::Reachability::Up && w.probe_failed) {
      spdlog::debug("output {}: its target answers again; retrying now", w.health.id);
      return;
    } else {
      w.probing = false;  // no probe, or reachable yet failing: the backoff decides
    }
  }
}

// Delivers from the cursor until the store has no more (or the drain deadline has passed).
bool Fanout::deliver_backlog(Worker& w) {
  for (;;) {
    auto polls = store_.polls_after(w.health.cursor, kBatch);
    if (polls.empty()) return true;
    deliver_batch(w, polls);
    std::lock_guard lock(w.mu);
    if (w.stopping && Clock::now() > w.drain_deadline) return false;
  }
}

void Fanout::run(Worker& w) {
  for (;;) {
    wait_for_work(w);
    std::deque<std::function<void(sinks::Sink&)>> events;
    bool stopping = false;
    Clock::time_point drain_deadline;
    {
      std::lock_guard lock(w.mu);
      w.wake = false;
      events.swap(w.events);
      stopping = w.stopping;
      w.stop_seen = stopping;
      drain_deadline = w.drain_deadline;
    }
    auto requeue = [&] {
      // Events are idempotent (discovery, availability): all again rather than any skipped.
      std::lock_guard lock(w.mu);
      for (auto it = events.rbegin(); it != events.rend(); ++it) w.events.push_front(*it);
    };
    w.backing_off = false;
    try {
      for (auto& e : events) e(*w.sink);
      deliver_backlog(w);
      if (w.failing) spdlog::info("output {}: delivering again", w.health.id);
      w.failing = false;
      w.backoff = std::chrono::milliseconds(0);
    } catch (const store::StoreError& e) {
      // The store's trouble, not the output's: counted there; try again in a second.
      store_failed("cannot read the backlog of output " + w.health.id, e);
      requeue();
      w.backing_off = true;
      w.probing = false;
      w.retry_at = Clock::now() + std::chrono::seconds(1);
    } catch (const std::exception& e) {
      {
        std::lock_guard lock(w.mu);
        ++w.health.failures;
        w.health.last_error = e.what();
      }
      requeue();
      if (!w.failing)
        spdlog::warn("output {}: {} (keeping the backlog, retrying)", w.health.id, e.what());
      w.failing = true;
      w.backoff = w.backoff.count() == 0
                      ? std::chrono::milliseconds(1000)
                      : std::min<std::chrono::milliseconds>(w.backoff * 2, kMaxBackoff);
      w.backing_off = true;
      w.probing = true;
      w.probe_failed = false;
      w.retry_at = Clock::now() + w.backoff;
    }
    if (stopping && (!w.backing_off || Clock::now() >= drain_deadline)) break;
    // Keep trying until the drain deadline, but no longer than it.
    if (stopping) w.retry_at = std::min(w.retry_at, drain_deadline);
  }
  try {
    w.sink->close();
  } catch (const std::exception& e) {
    spdlog::warn("output {}: closing: {}", w.health.id, e.what());
  }
}

}  // namespace kamstrup::daemon
