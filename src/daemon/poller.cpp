#include "daemon/poller.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <asio/co_spawn.hpp>
#include <asio/redirect_error.hpp>
#include <asio/steady_timer.hpp>
#include <asio/this_coro.hpp>
#include <asio/use_awaitable.hpp>
#include <chrono>
#include <cstdio>
#include <vector>

#include "kmp/catalogue.hpp"
#include "kmp/info_code.hpp"
#include "kmp/messages.hpp"
#include "meter/legacy_session.hpp"
#include "meter/logger_session.hpp"
#include "meter/report.hpp"
#include "meter/session.hpp"
#include "transport/port.hpp"

namespace kamstrup::daemon {

namespace {

using Clock = std::chrono::steady_clock;

std::int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

struct MeterRuntime {
  MeterConfig cfg;
  std::string port_spec;  // the simulator's pty for sim: meters
  std::unique_ptr<transport::Port> port;
  std::unique_ptr<meter::MeterSession> session;
  std::unique_ptr<meter::LegacySession> legacy;
  std::optional<meter::Protocol> protocol;  // configured, or found by detection and kept
  // What detection found in an earlier run (the store's meter info): asked first, so a restart
  // does not keep a pre-KMP meter waiting through the silent KMP probes.
  std::optional<meter::Protocol> remembered;
  bool backfill_due = true;         // at start and after the meter was unreachable
  bool logger_unsupported = false;  // said so once; no more logger reads this run
  std::optional<meter::LoggerDirectory> log_directory;  // the meter's LIDs, found once
  meter::SessionStats stats_base;  // stats of sessions on earlier port openings
  bool info_known = false;
  bool unsupported_known = false;  // status.unsupported holds what the meter answered
  MeterStatus status;
  asio::steady_timer* timer = nullptr;
};

void add_stats(meter::SessionStats& t, const meter::SessionStats& s) {
  t.frames_sent += s.frames_sent;
  t.bytes_sent += s.bytes_sent;
  t.bytes_received += s.bytes_received;
  t.replies += s.replies;
  t.timeouts += s.timeouts;
  t.crc_errors += s.crc_errors;
  t.bad_frames += s.bad_frames;
  t.echoes += s.echoes;
  t.noise_bytes += s.noise_bytes;
  t.retries += s.retries;
}

meter::SessionOptions session_options(const MeterConfig& c) {
  meter::SessionOptions so;
  so.reply_timeout = c.timeout;
  so.retries = c.retries;
  return so;
}

meter::LegacyOptions legacy_options(const MeterConfig& c) {
  meter::LegacyOptions lo;
  lo.retries = c.retries;
  if (!c.scale.empty()) lo.scale = legacy::parse_scale(c.scale).value();  // validated
  return lo;
}

std::vector<store::Value> to_values(const std::vector<meter::Reading>& readings) {
  std::vector<store::Value> values;
  for (const auto& r : readings) {
    if (!r.value) continue;  // unsupported or failed: never a value
    store::Value v;
    v.register_id = r.id;
    v.name = r.name;
    v.value = r.value->number ? r.value->number->to_string() : "";
    v.text = r.value->text;
    v.unit = r.value->unit;
    values.push_back(std::move(v));
  }
  return values;
}

// The configured registers a reply lacks. A KMP meter answers each asked id (Unsupported for
// one it does not have); a /#n or IEC reply carries a fixed set, so there only a list the user
// wrote counts (the KMP default list is not theirs).
std::vector<std::string> missing_registers(const MeterRuntime& m, const meter::ReadResult& r) {
  std::vector<std::string> out;
  if (*m.protocol == meter::Protocol::Kmp) {
    for (const auto* rd : r.unsupported()) out.push_back(rd->name);
    return out;
  }
  const auto defaults = kmp::default_register_names();
  const auto names = m.cfg.register_names();
  if (std::equal(names.begin(), names.end(), defaults.begin(), defaults.end())) return out;
  const auto picked = meter::select_readings(r, names);
  for (const auto* rd : picked.unsupported()) out.push_back(rd->name);
  return out;
}

std::string joined(const std::vector<std::string>& v) {
  std::string s;
  for (const auto& x : v) s += (s.empty() ? "" : ", ") + x;
  return s;
}

}  // namespace

struct Poller::Impl {
  Impl(const Config& c, store::Store& st, StoreKeeper& k, Fanout& f, Status& s)
      : cfg(c), store(st), keeper(k), fanout(f), status(s) {}

  const Config& cfg;
  store::Store& store;
  StoreKeeper& keeper;
  Fanout& fanout;
  Status& status;
  std::vector<std::unique_ptr<MeterRuntime>> meters;  // stable addresses for the coroutines
  bool stopping = false;
  int live = 0;                             // coroutines not yet ended
  std::vector<asio::steady_timer*> timers;  // of the loops that wait, to cut waits short on stop

  void spawn(asio::io_context& io, asio::awaitable<void> task, std::string what) {
    ++live;
    asio::co_spawn(io, std::move(task), [this, what = std::move(what)](std::exception_ptr e) {
      --live;
      if (!e) return;
      try {
        std::rethrow_exception(e);
      } catch (const std::exception& x) {
        spdlog::error("{}: ended by an unexpected error: {}", what, x.what());
      }
    });
  }

  // Waits on `timer` until `when` (or until stop() cancels it).
  asio::awaitable<void> wait(asio::steady_timer& timer, Clock::time_point when) {
    timers.push_back(&timer);
    timer.expires_at(when);
    std::error_code ec;
    co_await timer.async_wait(asio::redirect_error(asio::use_awaitable, ec));
    timers.erase(std::find(timers.begin(), timers.end(), &timer));
  }

  void stop() {
    stopping = true;
    for (auto* t : timers) t->cancel();
  }

  asio::awaitable<void> retention() {
    asio::steady_timer timer(co_await asio::this_coro::executor);
    while (!stopping) {
      auto cutoff = now_ms() - cfg.store.retention.count();
      try {
        if (auto n = store.delete_before(cutoff); n > 0)
          spdlog::info("retention: removed {} old polls", n);
      } catch (const store::StoreError& e) {
        keeper.failed("retention: cannot delete old polls", e);
      }
      co_await wait(timer, Clock::now() + std::chrono::hours(1));
    }
  }

  // While polls are held, tries the store once per shortest poll interval, so a recovered store
  // is noticed within an interval even when every meter is backing off.
  asio::awaitable<void> store_retry() {
    asio::steady_timer timer(co_await asio::this_coro::executor);
    auto every = std::chrono::milliseconds(std::chrono::hours(24));
    for (const auto& m : cfg.meters) every = std::min(every, m.interval);
    while (!stopping) {
      co_await wait(timer, Clock::now() + every);
      if (!stopping && keeper.held() > 0 && keeper.flush()) fanout.notify();
    }
  }

  void set_state(MeterRuntime& m, bool up, const std::string& state) {
    if (state != m.status.state) {
      if (up) {
        spdlog::info("meter {}: answering on {}", m.cfg.name, m.cfg.port);
      } else {
        spdlog::warn("meter {}: {}", m.cfg.name, state);
      }
    }
    if (up != m.status.up || m.status.state.empty()) fanout.meter_online(m.cfg.name, up);
    m.status.up = up;
    m.status.state = state;
  }

  void publish_status(MeterRuntime& m) {
    m.status.stats = m.stats_base;
    if (m.session) add_stats(m.status.stats, m.session->stats());
    if (m.legacy) add_stats(m.status.stats, m.legacy->stats());
    m.status.held = keeper.held(m.cfg.name);
    status.set(m.status);
  }

  void drop_port(MeterRuntime& m) {
    if (m.session || m.legacy) {
      publish_status(m);
      m.stats_base = m.status.stats;
    }
    m.session.reset();
    m.legacy.reset();
    if (m.port) m.port->close();
    m.port.reset();
  }

  void fail_poll(MeterRuntime& m, meter::Failure f) {
    ++m.status.polls_failed;
    m.backfill_due = true;
    set_state(m, false,
              "no valid answer (" + std::string(meter::failure_name(f)) +
                  "): " + std::string(meter::diagnosis_text(f)));
  }

  void announce(MeterRuntime& m, sinks::MeterInfo info) {
    m.info_known = true;
    m.status.info = info;
    fanout.meter_info(info);
  }

  asio::awaitable<bool> resolve_protocol(MeterRuntime& m);
  asio::awaitable<void> backfill(MeterRuntime& m);
  std::vector<store::Poll> logger_polls(const MeterRuntime& m, const meter::LogReadResult& r,
                                        std::int64_t from, std::int64_t to);
  asio::awaitable<void> identify_kmp(MeterRuntime& m);
  asio::awaitable<void> poll_once(MeterRuntime& m);
  asio::awaitable<void> poll_legacy(MeterRuntime& m);
  void note_answer(MeterRuntime& m, meter::ReadResult& result);
  void store_result(MeterRuntime& m, meter::ReadResult& result);
  asio::awaitable<void> poll_meter(MeterRuntime& m);
};

// Finds the protocol once per daemon run (a configured one is taken as it is).
asio::awaitable<bool> Poller::Impl::resolve_protocol(MeterRuntime& m) {
  if (m.protocol) co_return true;
  meter::DetectOptions d;
  d.kmp = session_options(m.cfg);
  d.kmp.retries = std::min(m.cfg.retries, 1U);
  d.legacy = legacy_options(m.cfg);
  d.legacy.retries = std::min(m.cfg.retries, 1U);
  d.first = m.remembered;
  // The configured line first (it is 9600 8N1 for sim:kamstrup382 and where the user set it).
  d.kmp_lines = {m.cfg.line};
  for (const auto& l : meter::default_kmp_lines()) {
    if (!(l == m.cfg.line)) d.kmp_lines.push_back(l);
  }
  auto det = co_await meter::detect_protocol(*m.port, d);
  if (!det.protocol) {
    fail_poll(m, det.worst_failure());
    co_return false;
  }
  m.protocol = det.protocol;
  if (*m.protocol == meter::Protocol::Kmp) {
    m.cfg.line = det.line;
    co_await m.port->set_line(det.line);
  }
  const bool as_before = det.steps.size() == 1 && m.remembered == det.protocol;
  spdlog::info("meter {}: speaks {}{} ({})", m.cfg.name, meter::protocol_title(*m.protocol),
               *m.protocol == meter::Protocol::Kmp ? " at " + det.line.to_string() : "",
               as_before ? "as in the last run" : "auto-detected");
  co_return true;
}

// Logger records in [from, to) as polls with their logged times (source "logger").
std::vector<store::Poll> Poller::Impl::logger_polls(const MeterRuntime& m,
                                                    const meter::LogReadResult& r,
                                                    std::int64_t from, std::int64_t to) {
  std::vector<store::Poll> polls;
  for (const auto& rec : r.records) {
    if (rec.time_ms < from || rec.time_ms >= to) continue;
    store::Poll p;
    p.meter = m.cfg.name;
    p.time_ms = rec.time_ms;
    p.source = "logger";
    p.values = to_values(rec.readings);
    if (!p.values.empty()) polls.push_back(std::move(p));
  }
  return polls;
}

// Reads what the meter's own logger holds for the time this daemon did not poll, and stores it
// as readings with their logged times, so outputs get them like any other. Not while the store
// fails: the logger keeps the records, and the next poll after the store recovers asks again.
asio::awaitable<void> Poller::Impl::backfill(MeterRuntime& m) {
  if (keeper.failing()) co_return;
  const auto now = now_ms();
  const auto window = std::chrono::duration_cast<std::chrono::milliseconds>(m.cfg.backfill).count();
  std::optional<std::int64_t> last;
  try {
    last = store.last_time(m.cfg.name);
  } catch (const store::StoreError& e) {
    keeper.failed("cannot read the last poll time", e);
    co_return;
  }
  m.backfill_due = false;
  const std::int64_t from = std::max(last.value_or(0) + 1, now - window);
  meter::LogReadOptions lo;
  lo.kind = m.cfg.logger;
  lo.from_ms = from;
  lo.to_ms = now;
  lo.order = m.cfg.logger_time_order;
  lo.directory = m.log_directory;
  // The reader adds date and clock itself; a record has room for six more registers.
  for (auto id : m.cfg.register_ids) {
    if (id != 1002 && id != 1003 && lo.registers.size() < 6) lo.registers.push_back(id);
  }
  spdlog::info("meter {}: backfill: reading the {} logger from {} ms", m.cfg.name,
               kmp::to_string(m.cfg.logger), from);
  auto r = co_await meter::read_log(*m.session, lo);
  using S = meter::LogStatus;
  if (r.status == S::Ok || r.status == S::OutOfRange || r.status == S::Empty)
    m.log_directory = r.directory;
  if (!r.ok() && r.status != S::OutOfRange && r.status != S::Empty) {
    if (r.status == S::Unsupported || r.status == S::NoSuchLogger || r.status == S::NoTime)
      m.logger_unsupported = true;  // asking again after every outage would not help
    spdlog::warn("meter {}: backfill from the meter's logger failed: {}", m.cfg.name, r.error);
    co_return;
  }
  auto polls = logger_polls(m, r, from, now);
  if (polls.empty()) {
    spdlog::info("meter {}: backfill: the logger has no records for the gap", m.cfg.name);
    co_return;
  }
  if (!keeper.store_all(polls)) {
    m.backfill_due = true;
    co_return;
  }
  fanout.notify();
  m.status.backfilled += polls.size();
  spdlog::info("meter {}: backfill: stored {} logger record(s)", m.cfg.name, polls.size());
}

asio::awaitable<void> Poller::Impl::identify_kmp(MeterRuntime& m) {
  auto type = co_await m.session->get_type();
  if (!type.type) co_return;
  auto serial = co_await m.session->get_serial();
  sinks::MeterInfo info;
  info.name = m.cfg.name;
  char hex[8];
  std::snprintf(hex, sizeof hex, "0x%04X", type.type->meter_type);
  info.meter_type = hex;
  info.model = kmp::meter_type_name(type.type->meter_type);
  info.sw_revision = type.type->sw_revision;
  info.serial = serial.serial ? std::to_string(*serial.serial) : "";
  info.protocol = "kmp";
  info.info_codes = kmp::info_codes_name(m.cfg.model.value_or(kmp::InfoCodes::Unknown));
  announce(m, std::move(info));
}

asio::awaitable<void> Poller::Impl::poll_once(MeterRuntime& m) {
  auto ex = co_await asio::this_coro::executor;
  if (!m.port) {
    m.port = transport::make_port(ex, m.port_spec, m.cfg.line);
    co_await m.port->open();
    m.session = std::make_unique<meter::MeterSession>(*m.port, session_options(m.cfg));
    m.legacy = std::make_unique<meter::LegacySession>(*m.port, legacy_options(m.cfg));
  }
  if (!co_await resolve_protocol(m)) co_return;
  if (*m.protocol != meter::Protocol::Kmp) {
    co_await poll_legacy(m);
    co_return;
  }
  if (!m.info_known) co_await identify_kmp(m);
  if (m.info_known && m.backfill_due && m.cfg.backfill.count() > 0 && !m.logger_unsupported)
    co_await backfill(m);
  auto result = co_await m.session->read_registers(m.cfg.register_ids);
  store_result(m, result);
}

asio::awaitable<void> Poller::Impl::poll_legacy(MeterRuntime& m) {
  // Not a conditional expression: GCC mishandles co_await inside ?: operands.
  meter::ReadResult result;
  if (*m.protocol == meter::Protocol::Iec) {
    result = co_await m.legacy->read_iec();
  } else {
    result = co_await m.legacy->read_standard();
  }
  if (result.answered() && !m.info_known) {
    sinks::MeterInfo info;
    info.name = m.cfg.name;
    info.protocol = std::string(meter::protocol_name(*m.protocol));
    for (const auto& r : result.readings) {
      if (r.name == "customer_number" && r.value) info.serial = meter::display_value(*r.value);
    }
    info.info_codes = kmp::info_codes_name(m.cfg.model.value_or(result.info_codes));
    announce(m, std::move(info));
  }
  if (result.answered() && result.unknown_program) {
    // The meter answered but its program number is not in the scale table: no guessed values.
    ++m.status.polls_failed;
    set_state(m, false, meter::unknown_program_text(result));
    co_return;
  }
  store_result(m, result);
}

// What an answer says beyond its values: the configured registers the meter lacks (logged once,
// and again only when that set changes) and the info code's flags.
void Poller::Impl::note_answer(MeterRuntime& m, meter::ReadResult& result) {
  if (m.cfg.model) result.info_codes = *m.cfg.model;
  m.status.info_codes = result.info_codes;
  auto missing = missing_registers(m, result);
  if (!m.unsupported_known || missing != m.status.unsupported) {
    if (!missing.empty()) {
      spdlog::warn(
          "meter {}: the meter does not have {} (configured, but it never sends a value "
          "for {})",
          m.cfg.name, joined(missing), missing.size() == 1 ? "it" : "them");
    } else if (m.unsupported_known) {
      spdlog::info("meter {}: every configured register answers now", m.cfg.name);
    }
    m.status.unsupported = std::move(missing);
    m.unsupported_known = true;
  }
  m.status.info_flags.reset();
  for (const auto& rd : result.readings) {
    if (auto flags = meter::info_flags(rd, result.info_codes)) {
      m.status.info_flags = std::move(flags);
      break;
    }
  }
}

void Poller::Impl::store_result(MeterRuntime& m, meter::ReadResult& result) {
  if (!result.answered()) {
    fail_poll(m, result.failure);
    return;
  }
  note_answer(m, result);
  store::Poll poll;
  poll.meter = m.cfg.name;
  poll.time_ms = now_ms();
  const auto read_at = poll.time_ms;
  poll.values = to_values(result.readings);
  if (!poll.values.empty()) {
    m.status.last_poll = poll;
    // Held when the store fails: the meter answered all the same, and keeps its schedule.
    if (keeper.store(std::move(poll))) fanout.notify();
  }
  ++m.status.polls_ok;
  m.status.last_success_ms = read_at;
  set_state(m, true, "answering");
}

asio::awaitable<void> Poller::Impl::poll_meter(MeterRuntime& m) {
  asio::steady_timer timer(co_await asio::this_coro::executor);
  auto next = Clock::now();
  unsigned failures = 0;
  while (!stopping) {
    bool ok = false;
    try {
      co_await poll_once(m);
      ok = m.status.up;
    } catch (const transport::PortError& e) {
      set_state(m, false, std::string("port error: ") + e.what());
      drop_port(m);
    }
    publish_status(m);
    failures = ok ? 0 : failures + 1;
    auto now = Clock::now();
    if (ok) {
      next += m.cfg.interval;
      if (next <= now) next = now + m.cfg.interval;  // a slow poll skips ticks, never bunches
    } else {
      // Retry on the next tick, then back off (up to 10 intervals or 10 minutes, whichever
      // is longer) so a sleeping meter is not hammered.
      auto cap = std::max<std::chrono::milliseconds>(m.cfg.interval * 10, std::chrono::minutes(10));
      auto wait_for = m.cfg.interval * (1LL << std::min(failures - 1, 10U));
      next = now + std::min<std::chrono::milliseconds>(
                       std::chrono::duration_cast<std::chrono::milliseconds>(wait_for), cap);
    }
    if (stopping) break;
    co_await wait(timer, next);
  }
  drop_port(m);
}

Poller::Poller(const Config& cfg, store::Store& store, StoreKeeper& keeper, Fanout& fanout,
               Status& status)
    : impl_(std::make_unique<Impl>(cfg, store, keeper, fanout, status)) {}

Poller::~Poller() = default;

void Poller::add_meter(const MeterConfig& meter, const std::string& port,
                       std::optional<meter::Protocol> remembered) {
  auto m = std::make_unique<MeterRuntime>();
  m->cfg = meter;
  m->port_spec = port;
  m->protocol = meter.protocol;  // nullopt for auto
  if (!m->protocol) m->remembered = remembered;
  m->status.name = meter.name;
  m->status.port = meter.port;
  impl_->meters.push_back(std::move(m));
}

void Poller::start(asio::io_context& io) {
  for (auto& m : impl_->meters) impl_->spawn(io, impl_->poll_meter(*m), "meter " + m->cfg.name);
  if (impl_->cfg.store.retention.count() > 0) impl_->spawn(io, impl_->retention(), "retention");
  impl_->spawn(io, impl_->store_retry(), "store retry");
}

void Poller::stop() {
  impl_->stop();
}

bool Poller::stopping() const {
  return impl_->stopping;
}

bool Poller::done() const {
  return impl_->live == 0;
}

}  // namespace kamstrup::daemon
