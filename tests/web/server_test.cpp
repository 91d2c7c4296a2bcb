// The web layer's HTTP server (libmicrohttpd) over real loopback sockets: clients that misbehave
// (slowloris, idle connections, malformed requests) never hold up a well-behaved one; keep-alive
// and pipelining; the connection limit; Basic auth; streamed responses. cpp-httplib's client
// stands in for Prometheus, raw sockets for everything a real client would not send.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <httplib.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "web/pages.hpp"
#include "web/server.hpp"

using namespace std::chrono_literals;
using namespace std::string_literals;
using kamstrup::web::Request;
using kamstrup::web::Response;
using kamstrup::web::Routes;
using kamstrup::web::Server;
using kamstrup::web::ServerOptions;
using kamstrup::web::Stream;

namespace {

using Clock = std::chrono::steady_clock;

struct Reply {
  int status = 0;
  std::map<std::string, std::string> headers;  // lower-case names
  std::string body;
};

// A client socket that sends exactly the bytes it is given.
class Raw {
 public:
  explicit Raw(std::uint16_t port) {
    static const bool ignored = [] {
      signal(SIGPIPE, SIG_IGN);
      return true;
    }();
    (void)ignored;
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::connect(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
      ::close(fd_);
      fd_ = -1;
    }
  }
  ~Raw() { close(); }
  Raw(const Raw&) = delete;
  Raw& operator=(const Raw&) = delete;

  [[nodiscard]] bool connected() const { return fd_ >= 0; }
  void close() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }

  bool send(std::string_view data) {
    while (!data.empty()) {
      ssize_t n = ::send(fd_, data.data(), data.size(), MSG_NOSIGNAL);
      if (n <= 0) return false;
      data.remove_prefix(static_cast<std::size_t>(n));
    }
    return true;
  }

  // Waits up to `limit` for more bytes; false on timeout. Sets closed() at end of stream.
  bool fill(std::chrono::milliseconds limit) {
    pollfd p{fd_, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(limit.count())) <= 0) return false;
    char b[65536];
    ssize_t n = ::recv(fd_, b, sizeof b, 0);
    if (n <= 0) {
      closed_ = true;
      return false;
    }
    buf_.append(b, static_cast<std::size_t>(n));
    return true;
  }

  // Everything until the server closes the connection (or `limit` passes).
  std::string read_to_close(std::chrono::milliseconds limit) {
    const auto end = Clock::now() + limit;
    while (!closed_) {
      const auto left =
          std::max(std::chrono::duration_cast<std::chrono::milliseconds>(end - Clock::now()), 0ms);
      if (!fill(left) && (closed_ || Clock::now() >= end)) break;
    }
    return std::exchange(buf_, {});
  }

  // The next response on the connection: Content-Length or chunked body.
  // A reply to HEAD has no body whatever its Content-Length says.
  std::optional<Reply> reply(std::chrono::milliseconds limit = 5000ms, bool head_only = false) {
    const auto end = Clock::now() + limit;
    auto more = [&] {
      return Clock::now() < end &&
             fill(std::chrono::duration_cast<std::chrono::milliseconds>(end - Clock::now()));
    };
    std::size_t head_end;
    while ((head_end = buf_.find("\r\n\r\n")) == std::string::npos)
      if (!more()) return std::nullopt;
    Reply r;
    std::string head = buf_.substr(0, head_end);
    buf_.erase(0, head_end + 4);
    if (head.rfind("HTTP/1.1 ", 0) != 0) return std::nullopt;
    r.status = std::stoi(head.substr(9, 3));
    for (std::size_t pos = head.find("\r\n"); pos != std::string::npos;) {
      std::size_t next = head.find("\r\n", pos + 2);
      std::string line = head.substr(pos + 2, next == std::string::npos ? next : next - pos - 2);
      auto colon = line.find(':');
      std::string name = line.substr(0, colon);
      for (auto& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      r.headers[name] = line.substr(line.find_first_not_of(' ', colon + 1));
      pos = next;
    }
    if (head_only) return r;
    if (r.headers["transfer-encoding"] == "chunked") {
      for (;;) {
        std::size_t eol;
        while ((eol = buf_.find("\r\n")) == std::string::npos)
          if (!more()) return std::nullopt;
        const std::size_t size = std::stoul(buf_.substr(0, eol), nullptr, 16);
        while (buf_.size() < eol + 2 + size + 2)
          if (!more()) return std::nullopt;
        r.body += buf_.substr(eol + 2, size);
        buf_.erase(0, eol + 2 + size + 2);
        if (size == 0) return r;
      }
    }
    const std::size_t length = std::stoul(
        r.headers.count("content-length") != 0u ? r.headers["content-length"] : std::string("0"));
    while (buf_.size() < length)
      if (!more()) return std::nullopt;
    r.body = buf_.substr(0, length);
    buf_.erase(0, length);
    return r;
  }

  // True when the server has closed the connection without anything more to read.
  bool closed_by_server(std::chrono::milliseconds limit) {
    read_to_close(limit);
    return closed_;
  }

 private:
  int fd_ = -1;
  std::string buf_;
  bool closed_ = false;
};

std::string status_line(const std::string& raw) {
  return raw.substr(0, raw.find("\r\n"));
}

// The daemon's pages over one meter, as the daemon serves them.
Routes pages() {
  kamstrup::web::MeterStatus m;
  m.name = "heat";
  m.up = true;
  m.last_poll.values.push_back({60, "heat_energy", "55.006", "", "MWh"});
  Routes routes;
  kamstrup::web::add_status_pages(routes,
                                  {[m] { return std::vector<kamstrup::web::MeterStatus>{m}; },
                                   [] { return std::vector<kamstrup::web::SinkHealth>{}; },
                                   {}});
  return routes;
}

ServerOptions on_any_port() {
  ServerOptions o;
  o.port = 0;
  return o;
}

const std::string kSample =
    R"(kamstrup_register_value{meter="heat",register="heat_energy",id="60",unit="MWh"} 55.006)";

// The well-behaved client: a fresh connection, GET /metrics, the whole answer.
struct Timed {
  int status = 0;
  std::string body;
  std::chrono::milliseconds took{};
};
Timed get_metrics(std::uint16_t port) {
  httplib::Client client("127.0.0.1", port);
  client.set_connection_timeout(5s);
  client.set_read_timeout(5s);
  const auto t0 = Clock::now();
  auto res = client.Get("/metrics");
  Timed t;
  t.took = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - t0);
  if (res) {
    t.status = res->status;
    t.body = res->body;
  }
  return t;
}

// The issue's failure: one client sending a byte every few seconds, and 200 connections that
// send nothing, while Prometheus scrapes. With the default options (the daemon's).
TEST(WebServer, SlowlorisAndIdleConnectionsDoNotDelayMetrics) {
  Server server(on_any_port(), pages());
  std::vector<std::unique_ptr<Raw>> idle;
  for (int i = 0; i < 200; ++i) {
    idle.push_back(std::make_unique<Raw>(server.port()));
    ASSERT_TRUE(idle.back()->connected()) << i;
  }
  std::atomic<bool> done{false};
  std::atomic<int> trickled{0};
  std::thread slowloris([&] {
    Raw s(server.port());
    if (!s.send("GET /metrics HTTP/1.1\r\nHost: x\r\nX-Slow: ")) return;
    while (!done.load()) {
      if (!s.send("a")) return;
      ++trickled;
      for (int i = 0; i < 20 && !done.load(); ++i) std::this_thread::sleep_for(100ms);  // 2 s
    }
  });
  std::this_thread::sleep_for(300ms);  // every connection is in before the first scrape
  for (int i = 0; i < 8; ++i) {
    Timed t = get_metrics(server.port());
    EXPECT_EQ(t.status, 200) << i;
    EXPECT_NE(t.body.find(kSample), std::string::npos) << i << t.body;
    EXPECT_LT(t.took, 1000ms) << "scrape " << i;  // the loose bound the issue asks for
    std::this_thread::sleep_for(500ms);
  }
  const int sent = trickled.load();
  done = true;
  slowloris.join();
  EXPECT_GE(sent, 3) << "the slowloris was still sending while the scrapes were answered";
  // And the idle connections are still open: not one was dropped to make room.
  int open = 0;
  for (auto& c : idle) open += c->closed_by_server(0ms) ? 0 : 1;
  EXPECT_EQ(open, 200);
}

// The deadline is absolute: a client trickling its request line never gets past it, and a
// client that sends nothing at all is closed too.
TEST(WebServer, ARequestMustArriveWithinTheDeadline) {
  ServerOptions o = on_any_port();
  o.request_timeout = 1000ms;
  Server server(o, pages());
  Raw silent(server.port());
  Raw slow(server.port());
  const std::string request =
      "GET /metrics HTTP/1.1\r\nHost: x\r\nX-Slow: " + std::string(100, 'a') +
      "\r\n\r\n";  // 20 s at 5 bytes/s
  std::size_t sent = 0;
  std::string got;
  while (sent < request.size()) {
    if (!slow.send(request.substr(sent, 1))) break;
    ++sent;
    got = slow.read_to_close(200ms);
    if (!got.empty()) break;
  }
  got += slow.read_to_close(2000ms);
  EXPECT_LT(sent, request.size()) << "the whole request got through";
  EXPECT_EQ(status_line(got), "HTTP/1.1 408 Request Timeout") << got;
  EXPECT_TRUE(slow.closed_by_server(1000ms));
  EXPECT_EQ(status_line(silent.read_to_close(3000ms)), "HTTP/1.1 408 Request Timeout");
  EXPECT_TRUE(silent.closed_by_server(0ms));
  EXPECT_EQ(get_metrics(server.port()).status, 200);
}

// Bad requests get a 4xx, or are closed without an answer (a line that is not a request line),
// or, for bytes that never form a line, get the deadline's 408 and a close; the server keeps
// serving.
TEST(WebServer, MalformedRequestsGet4xxAndNothingBreaks) {
  ServerOptions o = on_any_port();
  o.request_timeout = 1000ms;
  Server server(o, pages());
  struct Case {
    std::string name, request, status;
  };
  const std::vector<Case> cases = {
      {"garbage request line", "garbage\r\n\r\n", ""},  // closed, nothing sent
      {"binary garbage", "\x00\x01\x02 \xff\xfe garbage\r\n\r\n"s, "HTTP/1.1 408 Request Timeout"},
      {"TLS ClientHello", "\x16\x03\x01\x00\x7a\x01\x00\x00\x76\x03\x03"s,
       "HTTP/1.1 408 Request Timeout"},
      {"HTTP/0.9", "GET /metrics\r\n\r\n", "HTTP/1.1 400 Bad Request"},
      {"no Host in HTTP/1.1", "GET /metrics HTTP/1.1\r\n\r\n", "HTTP/1.1 400 Bad Request"},
      {"header line without colon", "GET /metrics HTTP/1.1\r\nHost: x\r\nnocolon\r\n\r\n",
       "HTTP/1.1 400 Bad Request"},
      {"huge header",
       "GET /metrics HTTP/1.1\r\nHost: x\r\nX-Big: " + std::string(100000, 'a') + "\r\n\r\n",
       "HTTP/1.1 431 Request Header Fields Too Large"},
      {"huge URL", "GET /" + std::string(100000, 'a') + " HTTP/1.1\r\nHost: x\r\n\r\n",
       "HTTP/1.1 414 URI Too Long"},
      {"unknown method", "BREW /metrics HTTP/1.1\r\nHost: x\r\n\r\n",
       "HTTP/1.1 405 Method Not Allowed"},
      {"POST with a body", "POST /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello",
       "HTTP/1.1 405 Method Not Allowed"},
      {"unknown path", "GET /etc/passwd HTTP/1.1\r\nHost: x\r\n\r\n", "HTTP/1.1 404 Not Found"},
      {"path traversal", "GET /../metrics HTTP/1.1\r\nHost: x\r\n\r\n", "HTTP/1.1 404 Not Found"},
  };
  for (const auto& c : cases) {
    Raw s(server.port());
    s.send(c.request);  // may fail half-way once the server has answered and closed
    const std::string got = s.read_to_close(3000ms);
    EXPECT_EQ(status_line(got), c.status) << c.name << ": " << got.substr(0, 200);
    EXPECT_TRUE(s.closed_by_server(0ms)) << c.name;
  }
  Timed t = get_metrics(server.port());
  EXPECT_EQ(t.status, 200);
  EXPECT_NE(t.body.find(kSample), std::string::npos);
}

TEST(WebServer, KeepAliveAndPipelinedRequestsAreAnsweredInOrder) {
  std::atomic<int> handled{0};
  Routes routes;
  for (std::string p : {"/a", "/b", "/c"}) {
    routes.get(p, [p, &handled](const Request& req) {
      ++handled;
      return Response::text(200, p + " " + req.arg("n").value_or("-"));
    });
  }
  Server server(on_any_port(), routes);
  Raw s(server.port());
  // Three requests in one write, then one more after the answers, all on one connection.
  ASSERT_TRUE(
      s.send("GET /c?n=1 HTTP/1.1\r\nHost: x\r\n\r\nGET /a?n=2 HTTP/1.1\r\nHost: x\r\n\r\n"
             "HEAD /b HTTP/1.1\r\nHost: x\r\n\r\n"));
  for (const char* want : {"/c 1", "/a 2"}) {
    auto r = s.reply();
    ASSERT_TRUE(r) << want;
    EXPECT_EQ(r->status, 200);
    EXPECT_EQ(r->body, want);
  }
  auto head = s.reply(5000ms, true);  // HEAD: the GET handler's headers, no body
  ASSERT_TRUE(head);
  EXPECT_EQ(head->status, 200);
  EXPECT_EQ(head->headers["content-length"], "4");
  ASSERT_TRUE(s.send("GET /b?n=4 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"));
  auto last = s.reply();
  ASSERT_TRUE(last);
  EXPECT_EQ(last->body, "/b 4");
  EXPECT_EQ(last->headers["connection"], "close");
  EXPECT_TRUE(s.closed_by_server(2000ms));
  EXPECT_EQ(handled.load(), 4);
}

TEST(WebServer, TheConnectionLimitHoldsFurtherClientsBack) {
  std::atomic<int> handled{0};
  Routes routes;
  routes.get("/n",
             [&handled](const Request&) { return Response::text(200, std::to_string(++handled)); });
  ServerOptions o = on_any_port();
  o.max_connections = 4;
  Server server(o, routes);
  // Four kept-alive connections, each answered once, so all four are in.
  std::vector<std::unique_ptr<Raw>> held;
  for (int i = 0; i < 4; ++i) {
    held.push_back(std::make_unique<Raw>(server.port()));
    ASSERT_TRUE(held.back()->send("GET /n HTTP/1.1\r\nHost: x\r\n\r\n"));
    auto r = held.back()->reply();
    ASSERT_TRUE(r) << i;
    EXPECT_EQ(r->status, 200);
  }
  ASSERT_EQ(handled.load(), 4);
  Raw fifth(server.port());  // the kernel completes the handshake; the server does not accept
  ASSERT_TRUE(fifth.send("GET /n HTTP/1.1\r\nHost: x\r\n\r\n"));
  EXPECT_FALSE(fifth.reply(700ms)) << "a fifth connection was served";
  EXPECT_EQ(handled.load(), 4);
  held.front()->close();  // a slot frees: the fifth is served now
  auto r = fifth.reply(5000ms);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->body, "5");
}

TEST(WebServer, BasicAuthGuardsEveryPage) {
  ServerOptions o = on_any_port();
  o.auth_user = "prometheus";
  o.auth_password = "s3cr\xc3\xa9t:with colon";
  Server server(o, pages());
  httplib::Client client("127.0.0.1", server.port());
  for (const char* path : {"/metrics", "/", "/nothing"}) {
    auto res = client.Get(path);
    ASSERT_TRUE(res) << path;
    EXPECT_EQ(res->status, 401) << path;
    EXPECT_EQ(res->get_header_value("WWW-Authenticate"),
              "Basic realm=\"kamstrup\", charset=\"UTF-8\"");
    EXPECT_EQ(res->body.find("kamstrup_"), std::string::npos);
  }
  client.set_basic_auth("prometheus", "s3cr\xc3\xa9t:with colo");
  EXPECT_EQ(client.Get("/metrics")->status, 401);
  client.set_basic_auth("Prometheus", "s3cr\xc3\xa9t:with colon");
  EXPECT_EQ(client.Get("/metrics")->status, 401);
  client.set_basic_auth("prometheus", "s3cr\xc3\xa9t:with colon");
  auto res = client.Get("/metrics");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 200);
  EXPECT_NE(res->body.find(kSample), std::string::npos);
  // The scheme name is case-insensitive (RFC 9110).
  Raw s(server.port());
  ASSERT_TRUE(
      s.send("GET /metrics HTTP/1.1\r\nHost: x\r\nAuthorization: basic "
             "cHJvbWV0aGV1czpzM2Ncqdq0OndpdGggY29sb24=\r\n\r\n"));
  // (that is not the right base64: 401)
  auto wrong = s.reply();
  ASSERT_TRUE(wrong);
  EXPECT_EQ(wrong->status, 401);
  ASSERT_TRUE(
      s.send("GET /metrics HTTP/1.1\r\nHost: x\r\nAuthorization: basic "
             "cHJvbWV0aGV1czpzM2Nyw6l0OndpdGggY29sb24=\r\n\r\n"));
  auto right = s.reply();
  ASSERT_TRUE(right);
  EXPECT_EQ(right->status, 200);
}

TEST(WebServer, RefusesUnusableCredentials) {
  ServerOptions o = on_any_port();
  o.auth_user = "a:b";
  o.auth_password = "x";
  EXPECT_THROW(Server(o, Routes{}), std::invalid_argument);
  o.auth_user = "prometheus";
  o.auth_password = "";
  EXPECT_THROW(Server(o, Routes{}), std::invalid_argument);
}

TEST(WebServer, ListensOnLoopbackByDefault) {
  EXPECT_EQ(ServerOptions{}.host, "127.0.0.1");
  Server local(on_any_port(), pages());
  EXPECT_TRUE(local.loopback());
  ServerOptions any = on_any_port();
  any.host = "0.0.0.0";
  Server wide(any, pages());
  EXPECT_FALSE(wide.loopback());
  EXPECT_EQ(get_metrics(wide.port()).status, 200);
}

// A streamed body (the shape of /api/live): chunks pushed from another thread arrive in order,
// the request deadline does not cut the stream, and stop() ends a stream that is still open.
TEST(WebServer, StreamsChunksPushedFromAnotherThread) {
  std::shared_ptr<Stream> live;
  std::mutex mu;
  std::condition_variable cv;
  Routes routes;
  routes.get("/live", [&](const Request&) {
    Response r;
    r.content_type = "text/event-stream";
    r.headers.emplace_back("Cache-Control", "no-cache");
    r.stream = std::make_shared<Stream>();
    std::lock_guard lock(mu);
    live = r.stream;
    cv.notify_all();
    return r;
  });
  ServerOptions o = on_any_port();
  o.request_timeout = 500ms;
  Server server(o, routes);

  Raw s(server.port());
  ASSERT_TRUE(s.send("GET /live HTTP/1.1\r\nHost: x\r\n\r\n"));
  std::shared_ptr<Stream> stream;
  {
    std::unique_lock lock(mu);
    ASSERT_TRUE(cv.wait_for(lock, 5s, [&] { return live != nullptr; }));
    stream = live;
  }
  EXPECT_TRUE(stream->push("data: 1\n\n"));
  std::this_thread::sleep_for(1200ms);  // past the request deadline: streams are exempt
  EXPECT_TRUE(stream->push("data: 2\n\n"));
  EXPECT_TRUE(stream->push("data: 3\n\n"));
  stream->close();
  EXPECT_FALSE(stream->push("late"));
  auto r = s.reply();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->headers["content-type"], "text/event-stream");
  EXPECT_EQ(r->headers["transfer-encoding"], "chunked");
  EXPECT_EQ(r->body, "data: 1\n\ndata: 2\n\ndata: 3\n\n");

  // A second stream left open (suspended, nothing queued) when the server stops.
  Raw s2(server.port());
  {
    std::lock_guard lock(mu);
    live = nullptr;
  }
  ASSERT_TRUE(s2.send("GET /live HTTP/1.1\r\nHost: x\r\n\r\n"));
  {
    std::unique_lock lock(mu);
    ASSERT_TRUE(cv.wait_for(lock, 5s, [&] { return live != nullptr; }));
    stream = live;
  }
  EXPECT_TRUE(stream->push("data: x\n\n"));
  std::this_thread::sleep_for(200ms);
  server.stop();
  EXPECT_FALSE(stream->open());
  EXPECT_FALSE(stream->push("data: y\n\n"));
  EXPECT_TRUE(s2.closed_by_server(2000ms));
}

// A client that reads nothing of a stream is dropped once it is max_queued bytes behind (after
// the socket buffers are full), instead of the server buffering without bound; it sees a cut
// body, not a finished one.
TEST(WebServer, AStreamWhoseClientDoesNotReadIsCutOff) {
  std::shared_ptr<Stream> live;
  std::mutex mu;
  std::condition_variable cv;
  Routes routes;
  routes.get("/live", [&](const Request&) {
    Response r;
    r.stream = std::make_shared<Stream>(64 * 1024);
    std::lock_guard lock(mu);
    live = r.stream;
    cv.notify_all();
    return r;
  });
  Server server(on_any_port(), routes);
  Raw s(server.port());
  ASSERT_TRUE(s.send("GET /live HTTP/1.1\r\nHost: x\r\n\r\n"));
  std::shared_ptr<Stream> stream;
  {
    std::unique_lock lock(mu);
    ASSERT_TRUE(cv.wait_for(lock, 5s, [&] { return live != nullptr; }));
    stream = live;
  }
  const std::string chunk(16 * 1024, 'x');
  std::size_t pushed = 0;
  while (pushed < (256u << 20) && stream->push(chunk)) {
    pushed += chunk.size();
    if (pushed % (1u << 20) == 0) std::this_thread::sleep_for(10ms);  // let the server send
  }
  EXPECT_FALSE(stream->open());
  EXPECT_LT(pushed, 256u << 20) << "never cut off";
  const std::string got = s.read_to_close(10000ms);
  EXPECT_TRUE(s.closed_by_server(0ms));
  EXPECT_EQ(got.rfind("HTTP/1.1 200 OK\r\n", 0), 0u);
  EXPECT_LT(got.size(), pushed + 4096) << "more arrived than was pushed";
  EXPECT_EQ(got.find("\r\n0\r\n\r\n"), std::string::npos) << "the body was finished, not cut";
}

TEST(WebServer, AStreamRefusesMoreThanItsQueueHolds) {
  auto stream = std::make_shared<Stream>(1000);
  EXPECT_TRUE(stream->push(std::string(600, 'a')));
  EXPECT_FALSE(stream->push(std::string(600, 'b')));
  EXPECT_FALSE(stream->open());
  EXPECT_FALSE(stream->push("c"));
}

}  // namespace
