// A small libcurl wrapper for the HTTP outputs (InfluxDB, Domoticz, emoncms): one request at a
// time, status + body back, a typed error when no HTTP answer came at all.
//
// Thread-compatible: each HttpClient is used from one thread at a time (each output owns one and
// calls it from its delivery thread); different clients may run concurrently. One client keeps
// its connection alive between requests.
//
// Proxies: libcurl honours the usual http_proxy / https_proxy / no_proxy environment variables.
// TLS: libcurl's defaults (the system CA store, peer and host verification on).
#pragma once

#include <chrono>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace kamstrup::sinks::http {

// No HTTP answer: connection refused, DNS failure, timeout, TLS failure, malformed URL.
// The message is "<METHOD> <url with secrets redacted>: <libcurl's reason>".
class HttpError : public std::runtime_error {
 public:
  HttpError(const std::string& what, std::string reason)
      : std::runtime_error(what), reason_(std::move(reason)) {}
  // libcurl's reason alone ("Failed to connect to 127.0.0.1 port 8086 ...: Connection refused").
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

  // `timeout` bounds each whole request (connect + send + receive).
  explicit HttpClient(std::chrono::milliseconds timeout = kDefaultTimeout);
  ~HttpClient();
  HttpClient(const HttpClient&) = delete;
  HttpClient& operator=(const HttpClient&) = delete;

  // method: "GET" or "POST" (any other verb is sent as a custom request with the body).
  // headers: complete lines, "Authorization: Token abc". Any HTTP status is returned as a
  // Response; only a missing answer throws HttpError.
  Response request(const std::string& method, const std::string& url,
                   const std::vector<std::string>& headers = {}, const std::string& body = {},
                   const std::optional<BasicAuth>& auth = std::nullopt);

 private:
  void* curl_;  // CURL*
  std::chrono::milliseconds timeout_;
};

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
