// A local HTTP server that records every request (method, path, raw target, query parameters,
// headers, body) and answers what the test says: the stand-in for the HTTP targets that have no
// Debian-packaged server (InfluxDB 2.x, Domoticz, emoncms), and for a target that refuses data.
// Header-only; link the test with cpp-httplib (pkg-config cpp-httplib).
#pragma once

#include <httplib.h>

#include <chrono>
#include <functional>
#include <mutex>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>
#include <vector>

namespace kamstrup::test {

struct Recorded {
  std::string method, path, target, body;
  httplib::Headers headers;
  httplib::Params params;
  std::string remote_addr;  // the client's end of the connection: one port per TCP connection
  int remote_port = 0;
  [[nodiscard]] std::string header(const std::string& k) const {
    auto it = headers.find(k);
    return it == headers.end() ? "(none)" : it->second;
  }
  [[nodiscard]] std::string param(const std::string& k) const {
    auto it = params.find(k);
    return it == params.end() ? "(none)" : it->second;
  }
};

class Recorder {
 public:
  using Answer = std::function<void(const httplib::Request&, httplib::Response&)>;

  // host: the address to listen on, "127.0.0.1" or "::1".
  explicit Recorder(std::string host = "127.0.0.1") : host_(std::move(host)) {
    auto handler = [this](const httplib::Request& req, httplib::Response& res) {
      Answer a;
      {
        std::lock_guard lock(mu_);
        requests_.push_back({req.method, req.path, req.target, req.body, req.headers, req.params,
                             req.remote_addr, req.remote_port});
        a = answer_;
      }
      a(req, res);
    };
    svr_.Get(".*", handler);
    svr_.Post(".*", handler);
    svr_.Put(".*", handler);
    // Like a real server (nginx: 1000), not cpp-httplib's 5, so a client's connection reuse shows.
    svr_.set_keep_alive_max_count(1000);
    port_ = svr_.bind_to_any_port(host_);
    if (port_ <= 0) throw std::runtime_error("recorder: cannot bind");
    thread_ = std::thread([this] { svr_.listen_after_bind(); });
    // Bounded wait for the accept loop, so stop() in the destructor cannot miss it.
    for (int i = 0; i < 5000 && !svr_.is_running(); ++i)
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  ~Recorder() {
    svr_.stop();
    thread_.join();
  }
  Recorder(const Recorder&) = delete;
  Recorder& operator=(const Recorder&) = delete;

  void answer(int status, const std::string& body, const std::string& type = "application/json") {
    set([status, body, type](const httplib::Request&, httplib::Response& res) {
      res.status = status;
      res.set_content(body, type.c_str());
    });
  }
  void set(Answer a) {
    std::lock_guard lock(mu_);
    answer_ = std::move(a);
  }
  std::vector<Recorded> requests() {
    std::lock_guard lock(mu_);
    return requests_;
  }
  void clear() {
    std::lock_guard lock(mu_);
    requests_.clear();
  }
  [[nodiscard]] std::string url() const {
    const bool v6 = host_.find(':') != std::string::npos;
    return "http://" + (v6 ? "[" + host_ + "]" : host_) + ":" + std::to_string(port_);
  }
  [[nodiscard]] int port() const { return port_; }
  // How many TCP connections the recorded requests came on.
  std::size_t connections() {
    std::lock_guard lock(mu_);
    std::set<std::pair<std::string, int>> seen;
    for (const auto& r : requests_) seen.emplace(r.remote_addr, r.remote_port);
    return seen.size();
  }

 private:
  std::string host_;
  httplib::Server svr_;
  int port_ = -1;
  std::thread thread_;
  std::mutex mu_;
  std::vector<Recorded> requests_;
  Answer answer_ = [](const httplib::Request&, httplib::Response& res) { res.status = 204; };
};

}  // namespace kamstrup::test
