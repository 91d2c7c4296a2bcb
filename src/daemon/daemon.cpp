#include "daemon/daemon.hpp"

#include <spdlog/spdlog.h>

#include <asio/io_context.hpp>
#include <asio/signal_set.hpp>
#include <chrono>
#include <csignal>
#include <deque>
#include <memory>
#include <optional>
#include <sstream>
#include <thread>
#include <utility>

#include "daemon/fanout.hpp"
#include "daemon/http.hpp"
#include "daemon/log_setup.hpp"
#include "daemon/notify.hpp"
#include "daemon/outputs.hpp"
#include "daemon/poller.hpp"
#include "daemon/status.hpp"
#include "daemon/store_keeper.hpp"
#include "sim/profile.hpp"
#include "sim/simulator.hpp"
#include "store/store.hpp"

namespace kamstrup::daemon {

namespace {

// How long stopping (or reloading) waits for outputs to take their backlog.
constexpr std::chrono::seconds kDrain{5};

// A built-in simulated meter for `port: sim:<profile>`, on a pty of its own thread.
class EmbeddedSimulator {
 public:
  explicit EmbeddedSimulator(const std::string& profile) {
    sim::SimOptions o;
    o.profile = sim::builtin_profile(profile).value();  // names validated by the config
    o.seed =
        static_cast<std::uint64_t>(std::chrono::system_clock::now().time_since_epoch().count());
    sim_ = std::make_unique<sim::Simulator>(std::move(o));
    std::ostringstream sink;
    sim_->start(sink);
    thread_ = std::thread([this] { sim_->run(); });
  }
  ~EmbeddedSimulator() {
    sim_->stop();
    if (thread_.joinable()) thread_.join();
  }
  EmbeddedSimulator(const EmbeddedSimulator&) = delete;
  EmbeddedSimulator& operator=(const EmbeddedSimulator&) = delete;
  [[nodiscard]] const std::string& port() const { return sim_->port(0); }

 private:
  std::unique_ptr<sim::Simulator> sim_;
  std::thread thread_;
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

// Everything one configuration opens, in the order it opens; members close in reverse.
struct Generation {
  store::Store* store = nullptr;  // the daemon's: kept open across reloads
  std::unique_ptr<StoreKeeper> keeper;
  std::vector<std::unique_ptr<EmbeddedSimulator>> sims;
  Status status;
  std::unique_ptr<Fanout> fanout;
  std::unique_ptr<HttpServer> http;
  std::unique_ptr<Poller> poller;
};

// The whole life of `kamstrup run`: one event loop and one signal set from start to exit, so a
// signal that arrives while a configuration closes or opens (a reload drains the outputs for up
// to kDrain) is never left to the default action that kills the process. Each configuration
// runs as a Generation on that loop.
class Daemon {
 public:
  Daemon(Config config, RunOptions options)
      : config_(std::move(config)), options_(std::move(options)) {}

  int run() {
    arm();
    try {
      lock_ = std::make_unique<store::WriterLock>(config_.store.path);
    } catch (const store::StoreError& e) {
      spdlog::error("{}", e.what());
      return 1;
    }
    for (;;) {
      set_log_level(config_.log_level);
      spdlog::info("kamstrup run: {} meter(s), history in {} ({})", config_.meters.size(),
                   config_.store.path, config_.source);
      Generation g;
      if (!open(g)) return 1;
      poller_ = g.poller.get();
      g.poller->start(io_);
      notify_ready(std::to_string(config_.meters.size()) + " meter(s), history in " +
                   config_.store.path);
      if (exit_) poller_->stop();  // a SIGTERM while this configuration opened
      if (hup_again_ && !exit_) {
        hup_again_ = false;
        reload();
      }
      while (!g.poller->done()) io_.run_one();
      poller_ = nullptr;
      close(g);
      // Signals that came while the outputs drained: SIGTERM ends here, SIGHUP reloads again.
      io_.poll();
      if (exit_ || !next_) {
        if (!carried_.empty())
          spdlog::error("store: {} held poll(s) lost: the store could not be written",
                        carried_.size());
        spdlog::info("stopped");
        return 0;
      }
      config_ = std::move(*next_);
      next_.reset();
      if (next_lock_) lock_ = std::move(next_lock_);
    }
  }

 private:
  void arm() {
    signals_.async_wait([this](const std::error_code& ec, int sig) { on_signal(ec, sig); });
  }

  void on_signal(const std::error_code& ec, int sig) {
    if (ec) return;
    arm();
    if (sig != SIGHUP) {
      if (!exit_) {
        spdlog::info("stopping after in-flight polls");
        notify_stopping();
        watchdog_.stop();
      }
      exit_ = true;
      if (poller_ != nullptr) poller_->stop();
      return;
    }
    if (exit_) return;
    if (poller_ == nullptr || poller_->stopping()) {
      // A reload is under way: one more when it is done, however many SIGHUPs come meanwhile
      // (the file may have changed again since it was read).
      hup_again_ = true;
      return;
    }
    reload();
  }

  // A SIGHUP with a valid new file stops the running configuration after its in-flight polls
  // and switches to the new one; an invalid file changes nothing.
  void reload() {
    if (options_.config_path.empty()) {
      spdlog::info("SIGHUP: running the built-in default, there is no file to reload");
      return;
    }
    std::optional<Config> next;
    std::unique_ptr<store::WriterLock> lock;
    try {
      next = load_config(options_.config_path);
      if (next->store.path != lock_->database())
        lock = std::make_unique<store::WriterLock>(next->store.path);
    } catch (const std::exception& e) {  // ConfigError, or the new store's lock is taken
      spdlog::error("SIGHUP: keeping the running configuration: {}", e.what());
      return;
    }
    spdlog::info("SIGHUP: reloading {} after in-flight polls", options_.config_path);
    notify_reloading();
    next_ = std::move(next);
    next_lock_ = std::move(lock);
    poller_->stop();
  }

  // The store stays open across reloads that keep its path: reopening costs the damage check
  // and, on a full disk, may not work at all (SQLite needs room for its -shm file).
  bool open_store(Generation& g) {
    const std::string& path = config_.store.path;
    // A new time zone reopens too: opening is where the days and months are rebuilt.
    if (!store_ || store_->path() != path || opened_zone_ != config_.store.timezone) {
      store_.reset();
      // A damaged page would otherwise surface one failed write at a time, for ever.
      if (auto damage = store::damage_report(path); !damage.empty()) {
        spdlog::error("{}", damage);
        return false;
      }
      try {
        store_ = std::make_unique<store::Store>(config_.store);
      } catch (const store::StoreError& e) {
        spdlog::error("{}", e.what());
        return false;
      }
      opened_zone_ = config_.store.timezone;
      for (const auto& note : store_->open_notes()) spdlog::info("store: {}", note.text);
      store_->subscribe({{}, [](const store::CounterReset& r) {
                           spdlog::warn(
                               "meter {}: {} went down from {} to {} (meter replaced or reset?): "
                               "counted as no consumption (docs/history.md)",
                               r.meter, r.register_name, r.before, r.after);
                         }});
    }
    g.store = store_.get();
    g.keeper = std::make_unique<StoreKeeper>(*g.store, config_.store.queue);
    if (!carried_.empty()) g.keeper->hold(std::exchange(carried_, {}));
    g.status.set_store_source([k = g.keeper.get()] { return k->health(); });
    return true;
  }

  bool open(Generation& g) {
    if (!open_store(g)) return false;
    std::vector<std::pair<const MeterConfig*, std::string>> ports;
    for (const auto& mc : config_.meters) {
      std::string port = mc.port;
      if (mc.simulated()) {
        g.sims.push_back(std::make_unique<EmbeddedSimulator>(mc.port.substr(4)));
        port = g.sims.back()->port();
        spdlog::info("meter {}: built-in simulated {} on {}", mc.name, mc.port.substr(4), port);
      }
      ports.emplace_back(&mc, port);
    }
    try {
      g.fanout = std::make_unique<Fanout>(*g.store, make_outputs(config_));
    } catch (const std::exception& e) {
      spdlog::error("{}", e.what());
      return false;
    }
    g.fanout->on_store_error([k = g.keeper.get()](const std::string& what,
                                                  const std::exception& e) { k->failed(what, e); });
    try {
      g.fanout->start();
    } catch (const store::StoreError& e) {
      spdlog::error("{}", e.what());
      return false;
    }
    if (config_.http) {
      try {
        g.http = std::make_unique<HttpServer>(*config_.http, g.status, *g.fanout, *g.store);
      } catch (const std::exception& e) {
        spdlog::error("{}", e.what());
        g.fanout->stop(std::chrono::milliseconds(0));
        return false;
      }
    }
    g.poller = std::make_unique<Poller>(config_, *g.store, *g.keeper, *g.fanout, g.status);
    for (const auto& [mc, port] : ports) {
      std::optional<meter::Protocol> remembered;
      try {
        if (auto known = g.store->meter_info(mc->name))
          remembered = meter::parse_protocol(known->protocol);
      } catch (const store::StoreError& e) {
        g.keeper->failed("cannot read the meter info of " + mc->name, e);
      }
      g.poller->add_meter(*mc, port, remembered);
    }
    return true;
  }

  void close(Generation& g) {
    if (g.http) g.http->stop();
    // Held polls get one more chance, so that the drain can deliver them; what is still held
    // goes on to the next configuration (a reload during a full disk loses nothing).
    if (g.keeper->held() > 0 && g.keeper->flush()) g.fanout->notify();
    g.fanout->stop(kDrain);
    carried_ = g.keeper->take_held();
    g.poller.reset();
    g.sims.clear();
  }

  asio::io_context io_;
  asio::signal_set signals_{io_, SIGINT, SIGTERM, SIGHUP};
  Watchdog watchdog_{io_};  // WATCHDOG=1 from the loop that polls, for the daemon's whole life
  Config config_;
  RunOptions options_;
  std::unique_ptr<store::WriterLock> lock_;
  std::unique_ptr<store::Store> store_;           // declared after the locks: closed before they go
  std::string opened_zone_;                       // store.timezone the store was opened with
  Poller* poller_ = nullptr;                      // the running generation's, while its loops run
  std::optional<Config> next_;                    // the configuration a reload switches to
  std::unique_ptr<store::WriterLock> next_lock_;  // its store's lock, when it moved
  bool exit_ = false;                             // SIGTERM/SIGINT seen
  bool hup_again_ = false;                        // a SIGHUP came during a reload
  std::deque<store::Poll> carried_;  // held polls a reload hands to the next configuration
};

}  // namespace

int run(Config config, const RunOptions& options) {
  // Logs go to stderr: stdout carries the console output (readings), which scripts may parse.
  setup_logging();
  Daemon daemon(std::move(config), options);
  return daemon.run();
}

}  // namespace kamstrup::daemon
