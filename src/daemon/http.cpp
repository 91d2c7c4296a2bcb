#include "daemon/http.hpp"

#include <spdlog/spdlog.h>

#include <stdexcept>

#include "web/history_api.hpp"
#include "web/pages.hpp"

namespace kamstrup::daemon {

web::ServerOptions server_options(const HttpConfig& cfg) {
  web::ServerOptions o;
  o.host = cfg.host;
  o.port = cfg.port;
  o.max_connections = cfg.max_connections;
  o.request_timeout = cfg.request_timeout;
  o.auth_user = cfg.auth_user;
  o.auth_password = cfg.password.value;
  o.log = [](const std::string& line) { spdlog::debug("http: {}", line); };
  return o;
}

HttpServer::HttpServer(const HttpConfig& cfg, Status& status, Fanout& fanout, store::Store& store)
    : HttpServer(server_options(cfg), status, fanout, store) {}

HttpServer::HttpServer(web::ServerOptions options, Status& status, Fanout& fanout,
                       store::Store& store) {
  web::Routes routes;
  web::add_status_pages(
      routes, {[&status] { return status.meters(); }, [&fanout] { return fanout.health(); },
               [&status] { return status.store(); }});
  live_ = std::make_shared<web::LiveFeed>(store, [&status] {
    std::vector<std::string> names;
    for (const auto& m : status.meters()) names.push_back(m.name);
    return names;
  });
  web::add_history_api(routes, store, live_);
  const bool auth = !options.auth_user.empty();
  try {
    server_ = std::make_unique<web::Server>(std::move(options), std::move(routes));
  } catch (const std::exception& e) {
    throw std::runtime_error(std::string("http.listen: ") + e.what());
  }
  if (auth && !server_->loopback()) {
    spdlog::warn(
        "http: Basic authentication over plain HTTP: the password crosses the network readable "
        "by anyone on the path (put a TLS reverse proxy in front on an untrusted network)");
  }
}

HttpServer::~HttpServer() {
  stop();
}

void HttpServer::stop() {
  if (server_) server_->stop();
}

}  // namespace kamstrup::daemon
