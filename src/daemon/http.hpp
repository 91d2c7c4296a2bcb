// The built-in HTTP server: Prometheus /metrics (register values as gauges plus reader and
// output health), a small JSON API and a status page. Bound to 127.0.0.1 unless configured.
// A minimal HTTP/1.1 server of its own (GET/HEAD, one request per connection, served one at a
// time on its thread, 5 s per connection): no HTTP library mapped into the daemon for four
// read-only pages (docs/performance.md).
#pragma once

#include <memory>
#include <string>
#include <thread>

#include "daemon/config.hpp"
#include "daemon/fanout.hpp"
#include "daemon/status.hpp"
#include "store/store.hpp"

namespace kamstrup::daemon {

// Prometheus text exposition format 0.0.4 for the current state.
std::string prometheus_metrics(const std::vector<MeterStatus>& meters,
                               const std::vector<SinkHealth>& sinks);

class HttpServer {
 public:
  // Binds and starts serving on its own thread; throws std::runtime_error naming the address
  // when it cannot bind.
  HttpServer(const HttpConfig& cfg, Status& status, Fanout& fanout, store::Store& store);
  ~HttpServer();
  void stop();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
  std::thread thread_;
};

}  // namespace kamstrup::daemon
