// The HTTP outputs' client (src/sinks/http_client.cpp, on libcurl), against real servers started
// by each test: the cpp-httplib recording server (plain HTTP, IPv4 and IPv6), cpp-httplib's TLS
// server with a CA and certificates made by openssl, tinyproxy (Debian package) as the HTTP
// proxy, and raw sockets for the servers that misbehave (never answer, never accept, hang up
// mid-request). Each TEST runs in its own process (ctest), so the proxy environment variables
// one of them sets reach no other.
#include <arpa/inet.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <httplib.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "../support/http_recorder.hpp"
#include "../support/servers.hpp"
#include "sinks/http_client.hpp"
#include "sinks/influxdb.hpp"

namespace http = kamstrup::sinks::http;
using kamstrup::test::Recorder;
using kamstrup::test::support::free_port;
using kamstrup::test::support::slurp;
using kamstrup::test::support::TempDir;
using kamstrup::test::support::Tinyproxy;
using Clock = std::chrono::steady_clock;

namespace {

// Sets (or, with nullopt, removes) an environment variable for the test's scope.
class EnvVar {
 public:
  EnvVar(const char* name, const std::optional<std::string>& value) : name_(name) {
    if (const char* old = std::getenv(name)) old_ = old;
    if (value) {
      ::setenv(name, value->c_str(), 1);
    } else {
      ::unsetenv(name);
    }
  }
  ~EnvVar() {
    if (old_) {
      ::setenv(name_, old_->c_str(), 1);
    } else {
      ::unsetenv(name_);
    }
  }
  EnvVar(const EnvVar&) = delete;
  EnvVar& operator=(const EnvVar&) = delete;

 private:
  const char* name_;
  std::optional<std::string> old_;
};

// No proxy from the environment this test process inherited.
struct NoProxyEnv {
  EnvVar a{"http_proxy", std::nullopt}, b{"HTTP_PROXY", std::nullopt},
      c{"https_proxy", std::nullopt}, d{"HTTPS_PROXY", std::nullopt}, e{"all_proxy", std::nullopt},
      f{"ALL_PROXY", std::nullopt}, g{"no_proxy", std::nullopt}, h{"NO_PROXY", std::nullopt};
};

int listening_socket(int backlog, int& port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 || ::listen(fd, backlog) != 0)
    throw std::runtime_error("cannot listen");
  socklen_t len = sizeof a;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  port = ntohs(a.sin_port);
  return fd;
}

// A server that accepts connections (the kernel completes the handshake into the listen queue)
// and never answers anything.
class SilentServer {
 public:
  SilentServer() : fd_(listening_socket(16, port_)) {}
  ~SilentServer() { ::close(fd_); }
  SilentServer(const SilentServer&) = delete;
  SilentServer& operator=(const SilentServer&) = delete;
  [[nodiscard]] int port() const { return port_; }

 private:
  int port_ = 0;
  int fd_;
};

// An address whose SYNs go unanswered: a listener whose accept queue is full (backlog 0, filled
// by connections nobody accepts). The kernel drops further SYNs, so a connect() hangs as it
// would towards a host that is down or a firewall that drops.
class UnansweringAddress {
 public:
  UnansweringAddress() : fd_(listening_socket(0, port_)) {
    for (int i = 0; i < 64 && !full_; ++i) {
      const int c = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
      sockaddr_in a{};
      a.sin_family = AF_INET;
      a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
      a.sin_port = htons(static_cast<std::uint16_t>(port_));
      ::connect(c, reinterpret_cast<sockaddr*>(&a), sizeof a);
      fillers_.push_back(c);
      pollfd p{c, POLLOUT, 0};
      full_ = ::poll(&p, 1, 300) == 0;  // still connecting after 300 ms: the queue is full
    }
  }
  ~UnansweringAddress() {
    for (int c : fillers_) ::close(c);
    ::close(fd_);
  }
  UnansweringAddress(const UnansweringAddress&) = delete;
  UnansweringAddress& operator=(const UnansweringAddress&) = delete;
  [[nodiscard]] bool works() const { return full_; }
  [[nodiscard]] int port() const { return port_; }

 private:
  int port_ = 0;
  int fd_;
  bool full_ = false;
  std::vector<int> fillers_;
};

std::string reason_of(http::HttpClient& c, const std::string& method, const std::string& url,
                      const std::string& body = {}) {
  try {
    auto r = c.request(method, url, {}, body);
    return "(no HttpError: HTTP " + std::to_string(r.status) + ")";
  } catch (const http::HttpError& e) {
    return e.reason();
  }
}

bool contains(const std::string& s, const std::string& part) {
  return s.find(part) != std::string::npos;
}

}  // namespace

// ---------------------------------------------------------------- the one status rule

TEST(HttpClient, OnlyA4xxAboutTheDataRejectsIt) {
  for (long st : {200L, 201L, 204L, 299L})
    EXPECT_EQ(http::classify(st), http::Verdict::Accepted) << st;
  for (long st : {400L, 405L, 409L, 413L, 415L, 422L})
    EXPECT_EQ(http::classify(st), http::Verdict::Reject) << st;
  for (long st : {0L, 100L, 301L, 304L, 401L, 403L, 404L, 407L, 408L, 429L, 500L, 503L})
    EXPECT_EQ(http::classify(st), http::Verdict::Retry) << st;
}

TEST(HttpClient, CheckStatusThrowsTheVerdict) {
  EXPECT_NO_THROW(http::check_status("x: ", http::Response{204, ""}));
  try {
    http::check_status("x: ", http::Response{422, "bad\nline"});
    ADD_FAILURE() << "422 accepted";
  } catch (const kamstrup::sinks::SinkRejected& e) {
    EXPECT_STREQ(e.what(), "x: HTTP 422 (the server rejected the data): bad line");
  }
  try {
    http::check_status("x: ", http::Response{401, ""});
    ADD_FAILURE() << "401 accepted";
  } catch (const kamstrup::sinks::SinkRejected&) {
    ADD_FAILURE() << "401 rejects the data";
  } catch (const kamstrup::sinks::SinkError& e) {
    EXPECT_STREQ(e.what(), "x: HTTP 401 (authentication failed): (empty body)");
  }
}

TEST(HttpClient, UrlEncodeAndRedact) {
  EXPECT_EQ(http::url_encode("a b/c?d=e&f~g_h.i-j{\"x\":1}"),
            "a%20b%2Fc%3Fd%3De%26f~g_h.i-j%7B%22x%22%3A1%7D");
  EXPECT_EQ(http::url_encode("m³"), "m%C2%B3");
  EXPECT_EQ(http::redact_url("http://u:pw@h:1/x?apikey=abc&node=1&token=t&u=me&p=pw"),
            "http://h:1/x?apikey=***&node=1&token=***&u=***&p=***");
  EXPECT_EQ(http::redact_url("http://h/x"), "http://h/x");
  EXPECT_EQ(http::trim_base_url("http://h:8086//"), "http://h:8086");
}

// ---------------------------------------------------------------- plain HTTP

TEST(HttpClient, SendsMethodHeadersBodyAndAuthAndReturnsStatusAndBody) {
  NoProxyEnv env;
  Recorder rec;
  rec.answer(201, "created!", "text/plain");
  http::HttpClient c;
  auto r = c.request("POST", rec.url() + "/p?x=1", {"X-Test: yes", "X-Empty:"}, "the body",
                     http::BasicAuth{"user", "pass"});
  EXPECT_EQ(r.status, 201);
  EXPECT_EQ(r.body, "created!");
  auto r2 = c.request("GET", rec.url() + "/g");
  EXPECT_EQ(r2.status, 201);
  auto r3 = c.request("PUT", "http://who:pw@127.0.0.1:" + std::to_string(rec.port()) + "/u", {},
                      "put body");
  EXPECT_EQ(r3.status, 201);
  auto reqs = rec.requests();
  ASSERT_EQ(reqs.size(), 3U);
  EXPECT_EQ(reqs[0].method, "POST");
  EXPECT_EQ(reqs[0].path, "/p");
  EXPECT_EQ(reqs[0].param("x"), "1");
  EXPECT_EQ(reqs[0].header("X-Test"), "yes");
  EXPECT_EQ(reqs[0].header("X-Empty"), "(none)");
  EXPECT_EQ(reqs[0].header("Authorization"), "Basic dXNlcjpwYXNz");  // user:pass
  EXPECT_EQ(reqs[0].header("User-Agent"), "kamstrup-reader/" KAMSTRUP_VERSION);
  EXPECT_EQ(http::default_user_agent(), "kamstrup-reader/" KAMSTRUP_VERSION);
  EXPECT_EQ(reqs[0].header("Content-Type"), "(none)");  // not libcurl's form default
  EXPECT_EQ(reqs[0].header("Expect"), "(none)");        // no 100-continue round trip
  EXPECT_EQ(reqs[0].body, "the body");
  EXPECT_EQ(reqs[1].method, "GET");
  EXPECT_EQ(reqs[1].header("Authorization"), "(none)");  // the previous request's auth is gone
  EXPECT_EQ(reqs[1].body, "");
  EXPECT_EQ(reqs[2].method, "PUT");
  EXPECT_EQ(reqs[2].body, "put body");
  EXPECT_EQ(reqs[2].header("Authorization"), "Basic d2hvOnB3");  // who:pw from the URL
}

TEST(HttpClient, KeepsOneConnectionAliveAcrossRequests) {
  NoProxyEnv env;
  Recorder rec;
  rec.answer(204, "");
  http::HttpClient c;
  for (int i = 0; i < 10; ++i) {
    auto r = i % 2 == 0 ? c.request("POST", rec.url() + "/write", {}, "line " + std::to_string(i))
                        : c.request("GET", rec.url() + "/json.htm?i=" + std::to_string(i));
    ASSERT_EQ(r.status, 204) << i;
  }
  EXPECT_EQ(rec.requests().size(), 10U);
  EXPECT_EQ(rec.connections(), 1U);  // counted by the server: one client port

  http::HttpClient other;  // each output has its own connection
  other.request("GET", rec.url() + "/x");
  EXPECT_EQ(rec.connections(), 2U);
}

TEST(HttpClient, ReconnectsWhenTheServerClosesTheConnection) {
  NoProxyEnv env;
  Recorder rec;
  rec.set([](const httplib::Request&, httplib::Response& res) {
    res.status = 204;
    res.set_header("Connection", "close");
  });
  http::HttpClient c;
  for (int i = 0; i < 3; ++i) EXPECT_EQ(c.request("GET", rec.url() + "/x").status, 204);
  EXPECT_EQ(rec.requests().size(), 3U);
  EXPECT_EQ(rec.connections(), 3U);
}

TEST(HttpClient, BodyIsCappedAndTheRestDropped) {
  NoProxyEnv env;
  Recorder rec;
  rec.answer(200, std::string(3 * http::HttpClient::kMaxBody, 'x'), "text/plain");
  http::HttpClient c;
  auto r = c.request("GET", rec.url() + "/big");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body.size(), http::HttpClient::kMaxBody);
  rec.answer(200, "small", "text/plain");
  EXPECT_EQ(c.request("GET", rec.url() + "/small").body, "small");  // the connection is fine
}

TEST(HttpClient, ConnectionRefusedIsAnHttpErrorWithTheRedactedUrl) {
  NoProxyEnv env;
  http::HttpClient c;
  std::string url = "http://127.0.0.1:" + std::to_string(free_port()) + "/x?apikey=secret";
  try {
    c.request("GET", url);
    FAIL() << "expected HttpError";
  } catch (const http::HttpError& e) {
    std::string what = e.what();
    EXPECT_TRUE(contains(what, "GET http://127.0.0.1:")) << what;
    EXPECT_TRUE(contains(what, "apikey=***")) << what;
    EXPECT_FALSE(contains(what, "secret")) << what;
    EXPECT_TRUE(contains(e.reason(), "cannot connect")) << e.reason();
  }
}

TEST(HttpClient, OnlyHttpAndHttpsUrls) {
  NoProxyEnv env;
  http::HttpClient c;
  EXPECT_TRUE(contains(reason_of(c, "GET", "ftp://127.0.0.1/x"), "unsupported URL"));
  EXPECT_TRUE(contains(reason_of(c, "GET", "file:///etc/passwd"), "unsupported URL"));
}

// ---------------------------------------------------------------- deadlines

// The request timeout bounds a server that accepts the connection and never answers.
TEST(HttpClient, RequestTimeoutAgainstASilentServer) {
  NoProxyEnv env;
  SilentServer silent;
  http::ClientOptions o;
  o.timeout = std::chrono::milliseconds(300);
  http::HttpClient c(o);
  const auto t0 = Clock::now();
  const std::string reason =
      reason_of(c, "POST", "http://127.0.0.1:" + std::to_string(silent.port()) + "/write", "x");
  const auto took = Clock::now() - t0;
  EXPECT_TRUE(contains(reason, "no complete answer within the timeout (300 ms)")) << reason;
  EXPECT_LT(took, std::chrono::seconds(10));  // loose: the 300 ms, not libcurl's defaults
}

// The same on a kept-alive connection: the second answer never comes in time.
TEST(HttpClient, RequestTimeoutOnAReusedConnection) {
  NoProxyEnv env;
  Recorder rec;
  int n = 0;
  rec.set([&n](const httplib::Request&, httplib::Response& res) {
    if (++n == 2) std::this_thread::sleep_for(std::chrono::milliseconds(1000));
    res.status = 204;
  });
  http::ClientOptions o;
  o.timeout = std::chrono::milliseconds(300);
  http::HttpClient c(o);
  EXPECT_EQ(c.request("GET", rec.url() + "/fast").status, 204);
  const std::string reason = reason_of(c, "GET", rec.url() + "/slow");
  EXPECT_TRUE(contains(reason, "no complete answer within the timeout (300 ms)")) << reason;
  EXPECT_EQ(rec.connections(), 1U);
}

// The connect deadline bounds an address that never answers the SYN, whatever the request
// timeout is.
TEST(HttpClient, ConnectDeadlineAgainstAnAddressThatNeverAnswers) {
  NoProxyEnv env;
  UnansweringAddress nowhere;
  ASSERT_TRUE(nowhere.works()) << "could not fill a listen queue here";
  http::ClientOptions o;
  o.connect_timeout = std::chrono::milliseconds(300);
  o.timeout = std::chrono::seconds(60);
  http::HttpClient c(o);
  const auto t0 = Clock::now();
  const std::string reason =
      reason_of(c, "GET", "http://127.0.0.1:" + std::to_string(nowhere.port()) + "/");
  const auto took = Clock::now() - t0;
  EXPECT_TRUE(contains(reason, "timed out connecting (connect_timeout 300 ms)")) << reason;
  EXPECT_LT(took, std::chrono::seconds(10));  // loose: far below the 60 s request timeout
}

// A TLS handshake that never completes is part of connecting.
TEST(HttpClient, AStalledTlsHandshakeCountsToTheConnectDeadline) {
  NoProxyEnv env;
  SilentServer silent;
  http::ClientOptions o;
  o.connect_timeout = std::chrono::milliseconds(300);
  o.timeout = std::chrono::seconds(60);
  http::HttpClient c(o);
  const auto t0 = Clock::now();
  const std::string reason =
      reason_of(c, "GET", "https://127.0.0.1:" + std::to_string(silent.port()) + "/");
  EXPECT_TRUE(contains(reason, "timed out connecting (connect_timeout 300 ms)")) << reason;
  EXPECT_LT(Clock::now() - t0, std::chrono::seconds(10));  // loose
}

TEST(HttpClient, TimeoutIsAnHttpErrorAndTheSinksRetry) {
  NoProxyEnv env;
  SilentServer silent;
  kamstrup::sinks::InfluxConfig ic;
  ic.url = "http://127.0.0.1:" + std::to_string(silent.port());
  ic.database = "k";
  ic.http.timeout = std::chrono::milliseconds(200);
  kamstrup::sinks::InfluxSink sink(ic);
  kamstrup::store::Poll p;
  p.meter = "heat";
  p.values = {kamstrup::store::Value{60, "heat_energy", "1", "", "MWh"}};
  std::vector<kamstrup::store::Poll> polls{p};
  try {
    sink.deliver(polls);
    ADD_FAILURE() << "delivered to a silent server";
  } catch (const kamstrup::sinks::SinkRejected& e) {
    ADD_FAILURE() << "a timeout must be retried: " << e.what();
  } catch (const kamstrup::sinks::SinkError& e) {
    EXPECT_TRUE(contains(e.what(), "no complete answer within the timeout (200 ms)")) << e.what();
  }
}

// A server that reads a little of a large request and hangs up (RST): an HttpError naming the
// reset. (libcurl writes with MSG_NOSIGNAL, also under TLS, so a write to a closed connection
// cannot raise SIGPIPE in the daemon either.)
TEST(HttpClient, ServerHangingUpMidRequestIsAnHttpError) {
  NoProxyEnv env;
  int port = 0;
  const int lfd = listening_socket(4, port);
  std::thread server([lfd] {
    const int c = ::accept(lfd, nullptr, nullptr);
    if (c < 0) return;
    char buf[4096];
    (void)::recv(c, buf, sizeof buf, 0);
    linger lg{1, 0};  // RST, so the client's writes fail at once
    ::setsockopt(c, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
    ::close(c);
  });
  http::HttpClient c;
  const std::string reason = reason_of(c, "POST", "http://127.0.0.1:" + std::to_string(port) + "/w",
                                       std::string(32 << 20, 'x'));
  server.join();
  ::close(lfd);
  EXPECT_TRUE(contains(reason, "Connection reset by peer")) << reason;
}

// ---------------------------------------------------------------- redirects

TEST(HttpClient, FollowsA307WithTheSameMethodBodyAndHeaders) {
  NoProxyEnv env;
  Recorder rec;
  rec.set([](const httplib::Request& req, httplib::Response& res) {
    if (req.path == "/old") {
      res.status = 307;
      res.set_header("Location", "/new?db=k");
      res.set_content("moved", "text/plain");
    } else {
      res.status = 204;
    }
  });
  http::HttpClient c;
  auto r = c.request("POST", rec.url() + "/old?db=k", {"Content-Type: text/plain"}, "points",
                     http::BasicAuth{"u", "p"});
  EXPECT_EQ(r.status, 204);
  EXPECT_EQ(r.body, "");  // the 307's own body is not the answer
  auto reqs = rec.requests();
  ASSERT_EQ(reqs.size(), 2U);
  EXPECT_EQ(reqs[1].method, "POST");
  EXPECT_EQ(reqs[1].target, "/new?db=k");
  EXPECT_EQ(reqs[1].body, "points");
  EXPECT_EQ(reqs[1].header("Content-Type"), "text/plain");
  EXPECT_EQ(reqs[1].header("Authorization"), "Basic dTpw");  // same host: credentials kept
}

TEST(HttpClient, APostStaysAPostAcrossA301) {
  NoProxyEnv env;
  Recorder rec;
  rec.set([](const httplib::Request& req, httplib::Response& res) {
    res.status = req.path == "/old" ? 301 : 204;
    if (req.path == "/old") res.set_header("Location", "/new");
  });
  http::HttpClient c;
  EXPECT_EQ(c.request("POST", rec.url() + "/old", {}, "data").status, 204);
  auto reqs = rec.requests();
  ASSERT_EQ(reqs.size(), 2U);
  EXPECT_EQ(reqs[1].method, "POST");
  EXPECT_EQ(reqs[1].body, "data");
}

TEST(HttpClient, RedirectsAreBounded) {
  NoProxyEnv env;
  Recorder rec;
  rec.set([](const httplib::Request& req, httplib::Response& res) {
    res.status = 302;
    res.set_header("Location", req.path == "/a" ? "/b" : "/a");
  });
  http::HttpClient c;
  EXPECT_TRUE(contains(reason_of(c, "GET", rec.url() + "/a"), "more than 5 redirects"));
  EXPECT_EQ(rec.requests().size(), 6U);  // the request and 5 redirects

  rec.clear();
  http::ClientOptions o;
  o.max_redirects = 0;
  http::HttpClient no_follow(o);
  EXPECT_EQ(no_follow.request("GET", rec.url() + "/a").status, 302);  // returned, not followed
  EXPECT_EQ(rec.requests().size(), 1U);

  // Nowhere but http(s) after a redirect either.
  rec.set([](const httplib::Request&, httplib::Response& res) {
    res.status = 302;
    res.set_header("Location", "file:///etc/passwd");
  });
  EXPECT_FALSE(contains(reason_of(c, "GET", rec.url() + "/a"), "no HttpError"));
}

// ---------------------------------------------------------------- IPv6 and fallback

TEST(HttpClient, Ipv6LiteralUrl) {
  NoProxyEnv env;
  Recorder rec("::1");
  rec.answer(204, "");
  http::HttpClient c;
  EXPECT_EQ(rec.url(), "http://[::1]:" + std::to_string(rec.port()));
  EXPECT_EQ(c.request("POST", rec.url() + "/write", {}, "x").status, 204);
  auto reqs = rec.requests();
  ASSERT_EQ(reqs.size(), 1U);
  EXPECT_EQ(reqs[0].remote_addr, "::1");
  EXPECT_EQ(reqs[0].header("Host"), "[::1]:" + std::to_string(rec.port()));
}

// "localhost" is ::1 and 127.0.0.1; with only one of them listening, the other is tried.
TEST(HttpClient, LocalhostFallsBackToTheAddressThatListens) {
  NoProxyEnv env;
  for (const char* host : {"::1", "127.0.0.1"}) {
    SCOPED_TRACE(host);
    Recorder rec(host);
    rec.answer(204, "");
    http::HttpClient c;
    const std::string url = "http://localhost:" + std::to_string(rec.port()) + "/write";
    for (int i = 0; i < 2; ++i) EXPECT_EQ(c.request("POST", url, {}, "x").status, 204);
    auto reqs = rec.requests();
    ASSERT_EQ(reqs.size(), 2U);
    EXPECT_EQ(reqs[0].remote_addr, host);
    EXPECT_EQ(rec.connections(), 1U);
  }
}

// ---------------------------------------------------------------- proxies

TEST(HttpClient, HonoursHttpProxyAndNoProxyFromTheEnvironment) {
  NoProxyEnv env;
  Tinyproxy proxy;
  Recorder rec;
  rec.answer(204, "");
  auto via = [&rec] {
    auto reqs = rec.requests();
    return reqs.empty() ? std::string("(no request)") : reqs.back().header("Via");
  };
  {
    EnvVar p("http_proxy", proxy.url());
    http::HttpClient c;
    EXPECT_EQ(c.request("POST", rec.url() + "/write", {}, "x").status, 204);
    EXPECT_TRUE(contains(via(), "tinyproxy")) << via();
    EXPECT_TRUE(contains(proxy.log(), "GET http://127.0.0.1:") ||
                contains(proxy.log(), "POST http://127.0.0.1:"))
        << proxy.log();
    {
      EnvVar np("no_proxy", "localhost,127.0.0.1");
      EXPECT_EQ(c.request("POST", rec.url() + "/write", {}, "x").status, 204);
      EXPECT_EQ(via(), "(none)");
    }
    // The options override the environment: "" is no proxy.
    http::ClientOptions direct;
    direct.proxy = "";
    http::HttpClient d(direct);
    EXPECT_EQ(d.request("GET", rec.url() + "/x").status, 204);
    EXPECT_EQ(via(), "(none)");
  }
  // A proxy from the options, none in the environment.
  http::ClientOptions o;
  o.proxy = proxy.url();
  http::HttpClient c(o);
  EXPECT_EQ(c.request("GET", rec.url() + "/x").status, 204);
  EXPECT_TRUE(contains(via(), "tinyproxy")) << via();
  EXPECT_EQ(rec.requests().size(), 4U);
}

TEST(HttpClient, TheSinksUseTheProxyAndADeadProxyIsRetried) {
  NoProxyEnv env;
  Tinyproxy proxy;
  Recorder rec;
  rec.answer(204, "");
  kamstrup::sinks::InfluxConfig ic;
  ic.url = rec.url();
  ic.database = "k";
  kamstrup::store::Poll p;
  p.meter = "heat";
  p.values = {kamstrup::store::Value{60, "heat_energy", "1", "", "MWh"}};
  std::vector<kamstrup::store::Poll> polls{p};
  {
    EnvVar e("http_proxy", proxy.url());
    kamstrup::sinks::InfluxSink sink(ic);
    sink.deliver(polls);
    ASSERT_EQ(rec.requests().size(), 1U);
    EXPECT_TRUE(contains(rec.requests()[0].header("Via"), "tinyproxy"));
  }
  EnvVar e("http_proxy", "http://127.0.0.1:" + std::to_string(free_port()));
  kamstrup::sinks::InfluxSink sink(ic);
  try {
    sink.deliver(polls);
    ADD_FAILURE() << "delivered through a dead proxy";
  } catch (const kamstrup::sinks::SinkRejected& ex) {
    ADD_FAILURE() << "a dead proxy must be retried: " << ex.what();
  } catch (const kamstrup::sinks::SinkError& ex) {
    EXPECT_TRUE(contains(ex.what(), "cannot connect")) << ex.what();
  }
  EXPECT_EQ(rec.requests().size(), 1U);
}

// ---------------------------------------------------------------- TLS

namespace {

// A CA, a server certificate it signed for IP 127.0.0.1 (so "localhost" does not match), and a
// self-signed certificate no CA vouches for; TLS servers on 127.0.0.1 with each.
class Tls : public ::testing::Test {
 protected:
  void SetUp() override {
    std::ofstream(dir_ / "san.ext") << "subjectAltName=IP:127.0.0.1\n";
    const std::string d = dir_ / "";
    const std::string cmd =
        "cd '" + d + "' && " +
        "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout ca.key "
        "-out ca.pem -days 2 "
        "-subj '/CN=kamstrup test CA' && "
        "openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout srv.key -out "
        "srv.csr -subj '/CN=127.0.0.1' "
        "&& openssl x509 -req -in srv.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out srv.pem "
        "-days 2 -extfile san.ext && "
        "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout "
        "other.key -out other.pem -days 2 "
        "-subj '/CN=127.0.0.1' -addext subjectAltName=IP:127.0.0.1";
    ASSERT_EQ(std::system(("(" + cmd + ") >'" + d + "openssl.log' 2>&1").c_str()), 0)
        << slurp(dir_ / "openssl.log");
    good_ = std::make_unique<httplib::SSLServer>((dir_ / "srv.pem").c_str(),
                                                 (dir_ / "srv.key").c_str());
    untrusted_ = std::make_unique<httplib::SSLServer>((dir_ / "other.pem").c_str(),
                                                      (dir_ / "other.key").c_str());
    ASSERT_TRUE(good_->is_valid());
    ASSERT_TRUE(untrusted_->is_valid());
    good_port_ = serve(*good_, good_thread_);
    untrusted_port_ = serve(*untrusted_, untrusted_thread_);
  }
  void TearDown() override {
    for (auto* s : {good_.get(), untrusted_.get()})
      if (s != nullptr) s->stop();
    if (good_thread_.joinable()) good_thread_.join();
    if (untrusted_thread_.joinable()) untrusted_thread_.join();
  }

  int serve(httplib::SSLServer& svr, std::thread& t) {
    svr.set_keep_alive_max_count(1000);
    svr.Post("/write", [this](const httplib::Request& req, httplib::Response& res) {
      std::lock_guard lock(mu_);
      ports_.push_back(req.remote_port);
      bodies_.push_back(req.body);
      res.status = 204;
    });
    const int port = svr.bind_to_any_port("127.0.0.1");
    t = std::thread([&svr] { svr.listen_after_bind(); });
    for (int i = 0; i < 5000 && !svr.is_running(); ++i)
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    return port;
  }
  [[nodiscard]] std::string good(const std::string& host = "127.0.0.1") const {
    return "https://" + host + ":" + std::to_string(good_port_) + "/write";
  }
  [[nodiscard]] std::string untrusted() const {
    return "https://127.0.0.1:" + std::to_string(untrusted_port_) + "/write";
  }
  [[nodiscard]] std::string ca() const { return dir_ / "ca.pem"; }
  std::vector<std::string> bodies() {
    std::lock_guard lock(mu_);
    return bodies_;
  }
  std::size_t connections() {
    std::lock_guard lock(mu_);
    return std::set<int>(ports_.begin(), ports_.end()).size();
  }

  NoProxyEnv env_;
  TempDir dir_;
  std::unique_ptr<httplib::SSLServer> good_, untrusted_;
  int good_port_ = 0, untrusted_port_ = 0;
  std::thread good_thread_, untrusted_thread_;
  std::mutex mu_;
  std::vector<int> ports_;
  std::vector<std::string> bodies_;
};

}  // namespace

TEST_F(Tls, TheCaFromCaFileIsTrustedAndTheConnectionKeptAlive) {
  http::ClientOptions o;
  o.ca_file = ca();
  http::HttpClient c(o);
  for (int i = 0; i < 5; ++i)
    EXPECT_EQ(c.request("POST", good(), {}, "line " + std::to_string(i)).status, 204);
  EXPECT_EQ(bodies().size(), 5U);
  EXPECT_EQ(bodies().back(), "line 4");
  EXPECT_EQ(connections(), 1U);  // one TLS connection for the five
}

TEST_F(Tls, WithoutCaFileAPrivateCaFailsVerificationAndIsRetried) {
  http::HttpClient c;  // the system CA store only
  const std::string reason = reason_of(c, "POST", good(), "x");
  EXPECT_TRUE(contains(reason, "TLS: the server's certificate failed verification")) << reason;
  EXPECT_TRUE(contains(reason, "trusted: the system CA store; for a private CA set ca_file"))
      << reason;
  EXPECT_TRUE(bodies().empty());

  // In an output: a SinkError (retried), not a rejection of the data.
  kamstrup::sinks::InfluxConfig ic;
  ic.url = "https://127.0.0.1:" + std::to_string(good_port_);
  ic.database = "k";
  kamstrup::sinks::InfluxSink sink(ic);
  kamstrup::store::Poll p;
  p.meter = "heat";
  p.values = {kamstrup::store::Value{60, "heat_energy", "1", "", "MWh"}};
  std::vector<kamstrup::store::Poll> polls{p};
  try {
    sink.deliver(polls);
    ADD_FAILURE() << "delivered over an unverified connection";
  } catch (const kamstrup::sinks::SinkRejected& e) {
    ADD_FAILURE() << "a TLS failure must be retried: " << e.what();
  } catch (const kamstrup::sinks::SinkError& e) {
    EXPECT_TRUE(contains(e.what(), "influxdb: POST https://127.0.0.1:")) << e.what();
    EXPECT_TRUE(contains(e.what(), "certificate failed verification")) << e.what();
  }
  EXPECT_TRUE(bodies().empty());
}

TEST_F(Tls, CaFileStillChecksTheHostNameAndOtherCertificates) {
  http::ClientOptions o;
  o.ca_file = ca();
  http::HttpClient c(o);
  // The certificate is for 127.0.0.1, not localhost.
  std::string reason = reason_of(c, "POST", good("localhost"), "x");
  EXPECT_TRUE(contains(reason, "certificate failed verification")) << reason;
  EXPECT_TRUE(contains(reason, "localhost")) << reason;
  // A certificate the CA did not sign.
  reason = reason_of(c, "POST", untrusted(), "x");
  EXPECT_TRUE(contains(reason, "certificate failed verification")) << reason;
  // Plain HTTP to a TLS port is no answer either.
  reason = reason_of(c, "POST", "http://127.0.0.1:" + std::to_string(good_port_) + "/write", "x");
  EXPECT_FALSE(contains(reason, "no HttpError")) << reason;
  EXPECT_TRUE(bodies().empty());
}

TEST_F(Tls, TlsInsecureAcceptsANameMismatchAndAnUnknownCa) {
  http::ClientOptions o;
  o.tls_insecure = true;
  http::HttpClient c(o);
  EXPECT_EQ(c.request("POST", good("localhost"), {}, "a").status, 204);
  EXPECT_EQ(c.request("POST", untrusted(), {}, "b").status, 204);
  EXPECT_EQ(bodies(), (std::vector<std::string>{"a", "b"}));
}

TEST_F(Tls, AnUnreadableCaFileIsNamed) {
  http::ClientOptions o;
  o.ca_file = dir_ / "missing.pem";
  http::HttpClient c(o);
  const std::string reason = reason_of(c, "POST", good(), "x");
  EXPECT_TRUE(contains(reason, "missing.pem")) << reason;
  EXPECT_TRUE(bodies().empty());
}
