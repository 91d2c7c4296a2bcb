// The daemon's HTTP server: the web layer's server (web/server.hpp, libmicrohttpd) with the
// status pages (web/pages.hpp: /metrics, /api/meters, /api/outputs, /) fed from the daemon's
// Status and Fanout. Bound to 127.0.0.1 unless configured.
#pragma once

#include <memory>
#include <string>

#include "daemon/config.hpp"
#include "daemon/fanout.hpp"
#include "daemon/status.hpp"
#include "store/store.hpp"
#include "web/history_api.hpp"
#include "web/metrics.hpp"
#include "web/server.hpp"

namespace kamstrup::daemon {

using web::prometheus_metrics;

// The server's settings from the `http:` section.
web::ServerOptions server_options(const HttpConfig& cfg);

class HttpServer {
 public:
  // Binds and starts serving on its own thread; throws std::runtime_error "http.listen: cannot
  // listen on HOST:PORT (why)" when it cannot bind.
  HttpServer(const HttpConfig& cfg, Status& status, Fanout& fanout, store::Store& store);
  HttpServer(web::ServerOptions options, Status& status, Fanout& fanout, store::Store& store);
  ~HttpServer();
  void stop();
  [[nodiscard]] std::uint16_t port() const { return server_->port(); }

 private:
  std::shared_ptr<web::LiveFeed> live_;  // /api/live; outlives the server that streams it
  std::unique_ptr<web::Server> server_;
};

}  // namespace kamstrup::daemon
