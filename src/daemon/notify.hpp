// Service-manager notifications (sd_notify(3), libsystemd): readiness, reload, stop and the
// watchdog keep-alive of a `Type=notify` unit with `WatchdogSec=`. Without systemd ($NOTIFY_SOCKET
// unset) every call does nothing, so the daemon behaves the same when started from a shell.
#pragma once

#include <asio/io_context.hpp>
#include <asio/steady_timer.hpp>
#include <chrono>
#include <optional>
#include <string_view>

namespace kamstrup::daemon {

// READY=1 with a one-line STATUS=: call once the configuration is valid and the store is open
// (also after a reload).
void notify_ready(std::string_view status);
// RELOADING=1 (with MONOTONIC_USEC=, which newer systemd asks for): a valid new configuration
// is about to replace the running one; notify_ready() follows when it runs.
void notify_reloading();
// STOPPING=1: draining in-flight polls before exit.
void notify_stopping();
// WATCHDOG=1.
void notify_watchdog();

// Half the watchdog timeout the service manager set for this process (sd_watchdog_enabled:
// $WATCHDOG_USEC, for this PID), or nullopt when there is none.
std::optional<std::chrono::microseconds> watchdog_interval();

// Sends WATCHDOG=1 from a timer on the daemon's event loop, so the keep-alive stops when the
// loop stops turning. Does nothing without a watchdog. stop() cancels the timer so io.run() can
// return.
class Watchdog {
 public:
  explicit Watchdog(asio::io_context& io);
  void stop();

 private:
  void arm();

  asio::steady_timer timer_;
  std::optional<std::chrono::microseconds> interval_;
  bool stopped_ = false;
};

}  // namespace kamstrup::daemon
