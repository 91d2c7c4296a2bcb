// A small HTTP/1.1 client for the HTTP outputs (InfluxDB, Domoticz, emoncms): one request at a
// time, status + body back, a typed error when no HTTP answer came at all. Plain sockets, and
// OpenSSL (already mapped for MQTT) for https://, initialised on the first https request only.
// Not libcurl: libcurl and the ~25 libraries it drags in (GnuTLS, Kerberos, LDAP, ssh2, ...)
// cost the daemon ~4 MB of RSS; nor cpp-httplib's client, whose library initialises all of
// OpenSSL's error strings and ciphers when it is loaded (~1.7 MB more; docs/performance.md).
// Answers: Content-Length, chunked, or to the end of the stream; redirects are not followed.
//
// Thread-compatible: each HttpClient is used from one thread at a time (each output owns one and
// calls it from its delivery thread); different clients may run concurrently. One client keeps
// its connection alive between requests to the same scheme://host:port.
//
// URLs: http:// and https://, host names, IPv4 and [IPv6] literals, user:password@ userinfo (sent
// as HTTP basic auth unless `auth` is given). Proxies: none (http_proxy and friends are not
// read). TLS (https://): OpenSSL with the system CA store, peer and host name verification on.
#pragma once

#include <chrono>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace kamstrup::sinks::http {

// No HTTP answer: connection refused, DNS failure, timeout, TLS failure, malformed URL.
// The message is "<METHOD> <url with secrets redacted>: <reason>".
class HttpError : public std::runtime_error {
 public:
  HttpError(const std::string& what, std::string reason)
      : std::runtime_error(what), reason_(std::move(reason)) {}
  // The reason alone ("cannot connect to 127.0.0.1:8086: Connection refused").
  [[nodiscard]] const std::string& reason() const { return reason_; }

 private:
  std::string reason_;
};

struct BasicAuth {
  std::string username;
  std::string password;
};

struct Response {
  long status = 0;   // HTTP status code
  std::string body;  // at most kMaxBody bytes (the rest is dropped)
};

class HttpClient {
 public:
  static constexpr std::chrono::milliseconds kDefaultTimeout{10000};
  static constexpr std::size_t kMaxBody = 1 << 20;

  // `timeout` bounds each whole request (resolve + connect + TLS + send + receive).
  explicit HttpClient(std::chrono::milliseconds timeout = kDefaultTimeout);
  ~HttpClient();
  HttpClient(const HttpClient&) = delete;
  HttpClient& operator=(const HttpClient&) = delete;

  // method: "GET" or "POST" (any other verb is sent as such, with the body).
  // headers: complete lines, "Authorization: Token abc". Any HTTP status is returned as a
  // Response; only a missing answer throws HttpError.
  Response request(const std::string& method, const std::string& url,
                   const std::vector<std::string>& headers = {}, const std::string& body = {},
                   const std::optional<BasicAuth>& auth = std::nullopt);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Whether an HTTP status means "the target refuses this data; sending it again cannot help": a
// 4xx other than 401/403/407 (credentials), 404 (wrong endpoint or database: a configuration
// fix must not cost the backlog), 408 (timeout) and 429 (throttled). The HTTP outputs throw
// SinkRejected for these.
bool rejects_data(long status);

// Percent-encodes everything but RFC 3986 unreserved characters (A-Z a-z 0-9 - . _ ~).
std::string url_encode(std::string_view s);

// The URL with the values of secret-looking query parameters (apikey, api_key, token, password,
// passwd, p, u) replaced by "***", and any user:password@ userinfo removed: safe for logs.
std::string redact_url(const std::string& url);

// The URL without trailing slashes ("http://h:8086/" → "http://h:8086").
std::string trim_base_url(std::string url);

// At most `max` bytes of `body`, newlines folded to spaces, for error messages.
std::string body_excerpt(const std::string& body, std::size_t max = 300);

}  // namespace kamstrup::sinks::http
