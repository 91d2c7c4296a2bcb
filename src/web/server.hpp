// The HTTP server the pages and the API run on: libmicrohttpd (Debian libmicrohttpd-dev) driven
// from one thread of ours with epoll, so any number of slow or idle clients (up to the connection
// limit) cost memory but never hold up another client. Why this library: docs/web.md.
//
// Contract:
// - Listens on ServerOptions::host (loopback by default); binding errors throw at construction.
// - Every request must be received and answered within request_timeout, counted from the
//   connection's opening or from the previous answer on it (keep-alive): a client that sends
//   its request a byte at a time gets 408 and is closed at that deadline, however often it sends.
//   Streamed responses (Response::stream) are exempt: they last as long as the producer wants.
// - At most max_connections sockets at a time; further clients wait in the listen backlog
//   until one closes.
// - Keep-alive and pipelining: requests on one connection are answered in order.
// - Malformed requests get 400, 414 or 431 from libmicrohttpd (505 for an unknown HTTP
//   version) or are closed; unknown paths 404, known paths with another method 405. Request
//   bodies are read and discarded.
// - With auth_user set, every request needs that user and password (HTTP Basic), else 401.
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace kamstrup::web {

struct ServerOptions {
  std::string host = "127.0.0.1";  // "" = every local address
  std::uint16_t port = 9847;       // 0 = any free port (Server::port() says which)
  unsigned max_connections = 256;
  std::chrono::milliseconds request_timeout{10000};
  // HTTP Basic authentication when auth_user is not empty. Over plain HTTP the password
  // crosses the network readable by anyone on the path (docs/web.md).
  std::string auth_user;
  std::string auth_password;
  // libmicrohttpd's own diagnostics (malformed requests, resource limits); none when unset.
  std::function<void(const std::string&)> log;
};

struct Request {
  std::string method;
  std::string path;                                          // percent-decoded, no query
  std::vector<std::pair<std::string, std::string>> query;    // decoded, in order
  std::vector<std::pair<std::string, std::string>> headers;  // as received, in order
  // The first query argument of that name.
  [[nodiscard]] std::optional<std::string> arg(std::string_view name) const;
  // The first header of that name, compared case-insensitively.
  [[nodiscard]] std::optional<std::string> header(std::string_view name) const;
};

// A response body produced over time (Server-Sent Events for /api/live): a handler returns it in
// Response::stream, a producer on any thread push()es chunks, close() ends the body. While
// nothing is queued the connection is suspended (no thread, no polling); push() wakes it.
class Stream {
 public:
  // A client that falls more than max_queued bytes behind is dropped: its stream ends.
  explicit Stream(std::size_t max_queued = 256 * 1024) : max_queued_(max_queued) {}
  Stream(const Stream&) = delete;
  Stream& operator=(const Stream&) = delete;

  // Queues a chunk. false once the stream is over (closed, the client went away, the server
  // stopped, or the client fell behind): the producer should forget it.
  bool push(std::string chunk);
  // Ends the body after what is queued.
  void close();
  [[nodiscard]] bool open() const;

 private:
  friend struct StreamAccess;  // server.cpp
  mutable std::mutex mu_;
  std::deque<std::string> chunks_;
  std::size_t offset_ = 0;  // bytes of chunks_.front() already sent
  std::size_t queued_ = 0;
  std::size_t max_queued_;
  bool closed_ = false;
  bool dropped_ = false;        // ended because the client fell behind: cut, not finished
  void* connection_ = nullptr;  // the MHD_Connection it is attached to
  int server_wake_ = -1;        // the server loop's eventfd, valid while connection_ is set
  bool suspended_ = false;
};

struct Response {
  int status = 200;
  std::string content_type = "text/plain; charset=utf-8";
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;  // extra headers
  // When set, the body comes from the stream (chunked) and `body` is ignored.
  std::shared_ptr<Stream> stream;

  static Response text(int status, std::string body) {
    Response r;
    r.status = status;
    r.body = std::move(body);
    return r;
  }
};

using Handler = std::function<Response(const Request&)>;

// Exact path -> handler per method. A GET handler answers HEAD too (the body is not sent).
class Routes {
 public:
  void add(const std::string& method, const std::string& path, Handler handler);
  void get(const std::string& path, Handler handler) { add("GET", path, std::move(handler)); }
  // The handler's answer; 404 for an unknown path, 405 (with Allow) for another method, 500
  // with the message when the handler throws.
  [[nodiscard]] Response dispatch(const Request& request) const;

 private:
  std::map<std::string, std::map<std::string, Handler>> routes_;  // path -> method -> handler
};

class Server {
 public:
  // Binds, then serves on its own thread. Throws std::runtime_error "cannot listen on
  // HOST:PORT (why)" when it cannot bind.
  Server(ServerOptions options, Routes routes);
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Stops accepting and closes every connection (streams end). Idempotent.
  void stop();
  [[nodiscard]] std::uint16_t port() const;
  // Whether the listening address is a loopback one (127.0.0.0/8, ::1).
  [[nodiscard]] bool loopback() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace kamstrup::web
