#include "daemon/http.hpp"

#include <spdlog/spdlog.h>

#include <fstream>
#include <sstream>
#include <stdexcept>

#include "web/pages.hpp"

namespace kamstrup::daemon {

web::ServerOptions server_options(const HttpConfig& cfg) {
  web::ServerOptions o;
  o.host = cfg.host;
  o.port = cfg.port;
  o.log = [](const std::string& line) { spdlog::debug("http: {}", line); };
  return o;
}

std::string read_secret_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot read the password file " + path);
  std::ostringstream text;
  text << in.rdbuf();
  std::string s = text.str();
  if (!s.empty() && s.back() == '\n') s.pop_back();
  if (!s.empty() && s.back() == '\r') s.pop_back();
  if (s.empty()) throw std::runtime_error("the password file " + path + " is empty");
  return s;
}

HttpServer::HttpServer(const HttpConfig& cfg, Status& status, Fanout& fanout, store::Store& store)
    : HttpServer(server_options(cfg), status, fanout, store) {}

HttpServer::HttpServer(web::ServerOptions options, Status& status, Fanout& fanout,
                       store::Store& store) {
  (void)store;  // for /api/history and /api/consumption
  web::Routes routes;
  web::add_status_pages(
      routes, {[&status] { return status.meters(); }, [&fanout] { return fanout.health(); }});
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
