#include "daemon/notify.hpp"

#include <systemd/sd-daemon.h>

#include <cstdint>
#include <ctime>
#include <string>

namespace kamstrup::daemon {

void notify_ready(std::string_view status) {
  const std::string msg = "READY=1\nSTATUS=" + std::string(status);
  sd_notify(0, msg.c_str());
}

void notify_reloading() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  const auto usec = static_cast<std::uint64_t>(ts.tv_sec) * 1000000U +
                    static_cast<std::uint64_t>(ts.tv_nsec) / 1000U;
  const std::string msg = "RELOADING=1\nMONOTONIC_USEC=" + std::to_string(usec);
  sd_notify(0, msg.c_str());
}

void notify_stopping() {
  sd_notify(0, "STOPPING=1");
}

void notify_watchdog() {
  sd_notify(0, "WATCHDOG=1");
}

std::optional<std::chrono::microseconds> watchdog_interval() {
  std::uint64_t usec = 0;
  if (sd_watchdog_enabled(0, &usec) <= 0 || usec == 0) return std::nullopt;
  return std::chrono::microseconds(usec / 2);
}

Watchdog::Watchdog(asio::io_context& io) : timer_(io), interval_(watchdog_interval()) {
  if (!interval_) return;
  notify_watchdog();
  arm();
}

void Watchdog::stop() {
  stopped_ = true;
  timer_.cancel();
}

void Watchdog::arm() {
  timer_.expires_after(*interval_);
  timer_.async_wait([this](const std::error_code& ec) {
    if (ec || stopped_) return;
    notify_watchdog();
    arm();
  });
}

}  // namespace kamstrup::daemon
