// The meters' side of one configuration's run: every meter polled on its own schedule on the
// daemon's event loop (its port opened on the first poll, the protocol found once, the logger
// read for a gap), each reading stored through the StoreKeeper and announced to the fan-out,
// plus the hourly retention and the retry of polls the store could not take. The lifecycle
// (signals, reloads, the lock) is daemon.cpp's; this only starts and stops.
#pragma once

#include <asio/io_context.hpp>
#include <memory>
#include <optional>
#include <string>

#include "daemon/config.hpp"
#include "daemon/fanout.hpp"
#include "daemon/status.hpp"
#include "daemon/store_keeper.hpp"
#include "meter/detect.hpp"
#include "store/store.hpp"

namespace kamstrup::daemon {

class Poller {
 public:
  Poller(const Config& cfg, store::Store& store, StoreKeeper& keeper, Fanout& fanout,
         Status& status);
  ~Poller();
  Poller(const Poller&) = delete;
  Poller& operator=(const Poller&) = delete;

  // Before start(): one meter, polled on `port` (the configured spec, or the pty of its built-in
  // simulator); `remembered` is the protocol an earlier run found (asked first under `auto`).
  void add_meter(const MeterConfig& meter, const std::string& port,
                 std::optional<meter::Protocol> remembered);
  // Spawns every loop on `io` (which the caller runs).
  void start(asio::io_context& io);
  // Lets in-flight polls finish, then ends every loop (on the loop's thread).
  void stop();
  [[nodiscard]] bool stopping() const;
  // Every loop has ended (the meters' ports are closed).
  [[nodiscard]] bool done() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace kamstrup::daemon
