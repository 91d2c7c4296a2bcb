#include "daemon/daemon.hpp"

#include <spdlog/spdlog.h>

#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/io_context.hpp>
#include <asio/redirect_error.hpp>
#include <asio/signal_set.hpp>
#include <asio/steady_timer.hpp>
#include <asio/this_coro.hpp>
#include <asio/use_awaitable.hpp>
#include <chrono>
#include <cstdio>
#include <functional>
#include <memory>
#include <optional>
#include <sstream>
#include <thread>

#include "daemon/fanout.hpp"
#include "daemon/http.hpp"
#include "daemon/log_setup.hpp"
#include "daemon/notify.hpp"
#include "daemon/outputs.hpp"
#include "daemon/status.hpp"
#include "kmp/catalogue.hpp"
#include "kmp/messages.hpp"
#include "meter/detect.hpp"
#include "meter/legacy_session.hpp"
#include "meter/logger_session.hpp"
#include "meter/report.hpp"
#include "meter/session.hpp"
#include "sim/profile.hpp"
#include "sim/simulator.hpp"
#include "store/store.hpp"
#include "transport/port.hpp"

namespace kamstrup::daemon {

namespace {

using Clock = std::chrono::steady_clock;

std::int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// A built-in simulated meter for `port: sim:<profile>`, on a pty of its own thread.
class EmbeddedSimulator {
 public:
  explicit EmbeddedSimulator(const std::string& profile) {
    sim::SimOptions o;
    o.profile = sim::builtin_profile(profile).value();  // names validated by the config
    o.seed = static_cast<std::uint64_t>(now_ms());
    sim_ = std::make_unique<sim::Simulator>(std::move(o));
    std::ostringstream sink;
    sim_->start(sink);
    thread_ = std::thread([this] { sim_->run(); });
  }
  ~EmbeddedSimulator() {
    sim_->stop();
    if (thread_.joinable()) thread_.join();
  }
  [[nodiscard]] const std::string& port() const { return sim_->port(0); }

 private:
  std::unique_ptr<sim::Simulator> sim_;
  std::thread thread_;
};

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
  MeterStatus status;
  asio::steady_timer* timer = nullptr;
};

class Runner {
 public:
  Runner(const Config& cfg, store::Store& st, Fanout& fanout, Status& status)
      : cfg_(cfg), store_(st), fanout_(fanout), status_(status) {}

  // Runs until SIGTERM/SIGINT (returns nullopt) or a SIGHUP with a valid new configuration
  // (returns it). A SIGHUP whose file is invalid is logged and changes nothing: the meters keep
  // their schedule.
  std::optional<Config> run_loop(std::vector<MeterRuntime>& meters,
                                 const std::string& config_path) {
    asio::io_context io;
    asio::signal_set signals(io, SIGINT, SIGTERM, SIGHUP);
    Watchdog watchdog(io);
    std::optional<Config> next;
    std::function<void(const std::error_code&, int)> on_signal = [&](const std::error_code& ec,
                                                                     int sig) {
      if (ec) return;
      if (sig == SIGHUP) {
        if (config_path.empty()) {
          spdlog::info("SIGHUP: running the built-in default, there is no file to reload");
          signals.async_wait(on_signal);
          return;
        }
        try {
          next = load_config(config_path);
        } catch (const ConfigError& e) {
          spdlog::error("SIGHUP: keeping the running configuration: {}", e.what());
          signals.async_wait(on_signal);
          return;
        }
        spdlog::info("SIGHUP: reloading {} after in-flight polls", config_path);
        notify_reloading();
      } else {
        spdlog::info("stopping after in-flight polls");
        notify_stopping();
      }
      stopping_ = true;
      watchdog.stop();
      for (auto& m : meters) {
        if (m.timer != nullptr) m.timer->cancel();
      }
      if (retention_timer_ != nullptr) retention_timer_->cancel();
    };
    signals.async_wait(on_signal);
    for (auto& m : meters) asio::co_spawn(io, poll_meter(m), asio::detached);
    asio::co_spawn(io, retention(), asio::detached);
    io.run();
    return next;
  }

 private:
  asio::awaitable<void> retention() {
    if (cfg_.store.retention.count() == 0) co_return;
    asio::steady_timer timer(co_await asio::this_coro::executor);
    retention_timer_ = &timer;
    while (!stopping_) {
      auto cutoff = now_ms() - cfg_.store.retention.count();
      try {
        if (auto n = store_.delete_before(cutoff); n > 0)
          spdlog::info("retention: removed {} old polls", n);
      } catch (const std::exception& e) {
        spdlog::error("retention: {}", e.what());
      }
      timer.expires_after(std::chrono::hours(1));
      std::error_code ec;
      co_await timer.async_wait(asio::redirect_error(asio::use_awaitable, ec));
    }
    retention_timer_ = nullptr;
  }

  void set_state(MeterRuntime& m, bool up, const std::string& state) {
    if (state != m.status.state) {
      if (up) {
        spdlog::info("meter {}: answering on {}", m.cfg.name, m.cfg.port);
      } else {
        spdlog::warn("meter {}: {}", m.cfg.name, state);
      }
    }
    if (up != m.status.up || m.status.state.empty()) fanout_.meter_online(m.cfg.name, up);
    m.status.up = up;
    m.status.state = state;
  }

  void publish_status(MeterRuntime& m) {
    m.status.stats = m.stats_base;
    if (m.session) add_stats(m.status.stats, m.session->stats());
    if (m.legacy) add_stats(m.status.stats, m.legacy->stats());
    status_.set(m.status);
  }

  static void add_stats(meter::SessionStats& t, const meter::SessionStats& s) {
    {
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

  static meter::SessionOptions session_options(const MeterConfig& c) {
    meter::SessionOptions so;
    so.reply_timeout = c.timeout;
    so.retries = c.retries;
    return so;
  }

  static meter::LegacyOptions legacy_options(const MeterConfig& c) {
    meter::LegacyOptions lo;
    lo.retries = c.retries;
    if (!c.scale.empty()) lo.scale = legacy::parse_scale(c.scale).value();  // validated
    return lo;
  }

  void fail_poll(MeterRuntime& m, meter::Failure f) {
    ++m.status.polls_failed;
    m.backfill_due = true;
    set_state(m, false,
              "no valid answer (" + std::string(meter::failure_name(f)) +
                  "): " + std::string(meter::diagnosis_text(f)));
  }

  // Finds the protocol once per daemon run (a configured one is taken as it is).
  asio::awaitable<bool> resolve_protocol(MeterRuntime& m) {
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

  // Reads what the meter's own logger holds for the time this daemon did not poll, and stores it
  // as readings with their logged times (source "logger"), so outputs get them like any other.
  asio::awaitable<void> backfill(MeterRuntime& m) {
    m.backfill_due = false;
    const auto now = now_ms();
    const auto window =
        std::chrono::duration_cast<std::chrono::milliseconds>(m.cfg.backfill).count();
    auto last = store_.last_time(m.cfg.name);
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
    if (r.status == meter::LogStatus::Ok || r.status == meter::LogStatus::OutOfRange ||
        r.status == meter::LogStatus::Empty) {
      m.log_directory = r.directory;
    }
    if (r.status == meter::LogStatus::OutOfRange || r.status == meter::LogStatus::Empty) {
      spdlog::info("meter {}: backfill: the logger has no records for the gap", m.cfg.name);
      co_return;
    }
    if (!r.ok()) {
      if (r.status == meter::LogStatus::Unsupported || r.status == meter::LogStatus::NoSuchLogger ||
          r.status == meter::LogStatus::NoTime) {
        m.logger_unsupported = true;  // asking again after every outage would not help
      }
      spdlog::warn("meter {}: backfill from the meter's logger failed: {}", m.cfg.name, r.error);
      co_return;
    }
    std::vector<store::Poll> polls;
    for (const auto& rec : r.records) {
      if (rec.time_ms < from || rec.time_ms >= now) continue;
      store::Poll p;
      p.meter = m.cfg.name;
      p.time_ms = rec.time_ms;
      p.source = "logger";
      p.values = to_values(rec.readings);
      if (!p.values.empty()) polls.push_back(std::move(p));
    }
    if (polls.empty()) {
      spdlog::info("meter {}: backfill: the logger has no records for the gap", m.cfg.name);
      co_return;
    }
    store_.insert_all(polls);
    fanout_.notify();
    m.status.backfilled += polls.size();
    spdlog::info("meter {}: backfill: stored {} logger record(s)", m.cfg.name, polls.size());
  }

  static std::vector<store::Value> to_values(const std::vector<meter::Reading>& readings) {
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

  asio::awaitable<void> poll_once(MeterRuntime& m) {
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
    if (!m.info_known) {
      auto type = co_await m.session->get_type();
      if (type.type) {
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
        m.info_known = true;
        m.status.info = info;
        fanout_.meter_info(info);
      }
    }
    if (m.info_known && m.backfill_due && m.cfg.backfill.count() > 0 && !m.logger_unsupported)
      co_await backfill(m);
    auto result = co_await m.session->read_registers(m.cfg.register_ids);
    store_result(m, result);
  }

  asio::awaitable<void> poll_legacy(MeterRuntime& m) {
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
      m.info_known = true;
      m.status.info = info;
      fanout_.meter_info(info);
    }
    if (result.answered() && result.unknown_program) {
      // The meter answered but its program number is not in the scale table: no guessed values.
      ++m.status.polls_failed;
      set_state(m, false, meter::unknown_program_text(result));
      co_return;
    }
    store_result(m, result);
  }

  void store_result(MeterRuntime& m, const meter::ReadResult& result) {
    if (!result.answered()) {
      fail_poll(m, result.failure);
      return;
    }
    store::Poll poll;
    poll.meter = m.cfg.name;
    poll.time_ms = now_ms();
    poll.values = to_values(result.readings);
    if (!poll.values.empty()) {
      store_.insert(poll);
      fanout_.notify();
      m.status.last_poll = poll;
    }
    ++m.status.polls_ok;
    m.status.last_success_ms = poll.time_ms;
    set_state(m, true, "answering");
  }

  asio::awaitable<void> poll_meter(MeterRuntime& m) {
    asio::steady_timer timer(co_await asio::this_coro::executor);
    m.timer = &timer;
    auto next = Clock::now();
    unsigned failures = 0;
    while (!stopping_) {
      bool ok = false;
      try {
        co_await poll_once(m);
        ok = m.status.up;
      } catch (const transport::PortError& e) {
        set_state(m, false, std::string("port error: ") + e.what());
        drop_port(m);
      } catch (const store::StoreError& e) {
        spdlog::error("meter {}: the history store failed: {}", m.cfg.name, e.what());
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
        auto cap =
            std::max<std::chrono::milliseconds>(m.cfg.interval * 10, std::chrono::minutes(10));
        auto wait = m.cfg.interval * (1LL << std::min(failures - 1, 10U));
        next = now + std::min<std::chrono::milliseconds>(
                         std::chrono::duration_cast<std::chrono::milliseconds>(wait), cap);
      }
      if (stopping_) break;
      timer.expires_at(next);
      std::error_code ec;
      co_await timer.async_wait(asio::redirect_error(asio::use_awaitable, ec));
    }
    m.timer = nullptr;
    drop_port(m);
  }

  const Config& cfg_;
  store::Store& store_;
  Fanout& fanout_;
  Status& status_;
  bool stopping_ = false;
  asio::steady_timer* retention_timer_ = nullptr;
};

void set_log_level(LogLevel level) {
  switch (level) {
    case LogLevel::Debug:
      spdlog::set_level(spdlog::level::debug);
      break;
    case LogLevel::Info:
      spdlog::set_level(spdlog::level::info);
      break;
    case LogLevel::Warn:
      spdlog::set_level(spdlog::level::warn);
      break;
    case LogLevel::Error:
      spdlog::set_level(spdlog::level::err);
      break;
  }
}

}  // namespace

int run(Config config, const RunOptions& options) {
  // Logs go to stderr: stdout carries the console output (readings), which scripts may parse.
  setup_logging();
  for (;;) {
    set_log_level(config.log_level);
    spdlog::info("kamstrup run: {} meter(s), history in {} ({})", config.meters.size(),
                 config.store.path, config.source);
    std::unique_ptr<store::Store> st;
    try {
      st = std::make_unique<store::Store>(config.store.path);
    } catch (const store::StoreError& e) {
      spdlog::error("{}", e.what());
      return 1;
    }
    std::vector<std::unique_ptr<EmbeddedSimulator>> sims;
    std::vector<MeterRuntime> meters;
    for (const auto& mc : config.meters) {
      MeterRuntime m;
      m.cfg = mc;
      m.port_spec = mc.port;
      if (mc.simulated()) {
        sims.push_back(std::make_unique<EmbeddedSimulator>(mc.port.substr(4)));
        m.port_spec = sims.back()->port();
        spdlog::info("meter {}: built-in simulated {} on {}", mc.name, mc.port.substr(4),
                     m.port_spec);
      }
      m.protocol = mc.protocol;  // nullopt for auto
      if (!m.protocol) {
        if (auto known = st->meter_info(mc.name))
          m.remembered = meter::parse_protocol(known->protocol);
      }
      m.status.name = mc.name;
      m.status.port = mc.port;
      meters.push_back(std::move(m));
    }
    Status status;
    std::vector<std::unique_ptr<sinks::Sink>> outputs;
    try {
      outputs = make_outputs(config);
    } catch (const std::exception& e) {
      spdlog::error("{}", e.what());
      return 1;
    }
    Fanout fanout(*st, std::move(outputs));
    fanout.start();
    std::unique_ptr<HttpServer> http;
    if (config.http) {
      try {
        http = std::make_unique<HttpServer>(*config.http, status, fanout, *st);
      } catch (const std::exception& e) {
        spdlog::error("{}", e.what());
        fanout.stop(std::chrono::milliseconds(0));
        return 1;
      }
    }
    Runner runner(config, *st, fanout, status);
    notify_ready(std::to_string(config.meters.size()) + " meter(s), history in " +
                 config.store.path);
    std::optional<Config> next = runner.run_loop(meters, options.config_path);
    if (http) http->stop();
    fanout.stop(std::chrono::seconds(5));
    meters.clear();
    sims.clear();
    if (!next) {
      spdlog::info("stopped");
      return 0;
    }
    config = std::move(*next);
  }
}

}  // namespace kamstrup::daemon
