// The HTTP client of the HTTP outputs (InfluxDB, Domoticz, emoncms), on libcurl: one request at
// a time, status + body back, a typed error when no HTTP answer came at all.
//
// What libcurl gives every output (ClientOptions below):
// - http:// and https:// (only these, also after a redirect); TLS through OpenSSL with the
//   system CA store (or `ca_file` instead), peer and host name verified unless `tls_insecure`.
// - Proxies from the environment as libcurl reads them: http_proxy (lower case only),
//   https_proxy / HTTPS_PROXY, all_proxy, no_proxy / NO_PROXY; or the ones in the options.
// - Redirects followed, at most `max_redirects`; a POST stays a POST with its body on 301, 302,
//   307 and 308 (so data never turns into a GET that "succeeds" without it), a 303 becomes a GET
//   as RFC 9110 says. Credentials are not sent to another host.
// - Every address of a name tried in turn, IPv6 and IPv4 raced ("happy eyeballs"), within the
//   `connect_timeout` deadline (name lookup + TCP connect + TLS handshake); `timeout` bounds the
//   whole request.
// - Keep-alive: each HttpClient owns one libcurl easy handle, so consecutive requests to the
//   same server reuse one connection (a connection the server has closed is replaced).
//
// Thread-compatible: each HttpClient is used from one thread at a time (each output owns one and
// calls it from its delivery thread); different clients may run concurrently. libcurl's global
// state is set up with the first HttpClient and released with the last.
#pragma once

#include <chrono>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "config/keys.hpp"

namespace kamstrup::sinks::http {

// No HTTP answer: connection refused, DNS failure, timeout, TLS failure, malformed URL, too many
// redirects. The message is "<METHOD> <url with secrets redacted>: <reason>".
class HttpError : public std::runtime_error {
 public:
  HttpError(const std::string& what, std::string reason)
      : std::runtime_error(what), reason_(std::move(reason)) {}
  // The reason alone ("cannot connect: Failed to connect to 127.0.0.1 port 8086 ...").
  [[nodiscard]] const std::string& reason() const { return reason_; }

 private:
  std::string reason_;
};

struct BasicAuth {
  std::string username;
  std::string password;
};

struct Response {
  long status = 0;   // HTTP status code of the final answer (after redirects)
  std::string body;  // at most HttpClient::kMaxBody bytes (the rest is dropped)
};

// "kamstrup-reader/<version>", the version from CMake's project().
const std::string& default_user_agent();

// Per output. Defaults suit a server on the LAN.
struct ClientOptions {
  std::chrono::milliseconds timeout{10000};         // the whole request, redirects included
  std::chrono::milliseconds connect_timeout{5000};  // name lookup + connect + TLS handshake
  std::string ca_file{};  // PEM file of the CAs to trust instead of the system store; "" = system
  bool tls_insecure = false;  // true: no certificate or host name check (self-signed test servers)
  long max_redirects = 5;     // 0: a 3xx is returned as the answer, not followed
  // Unset: the environment decides (http_proxy, https_proxy, no_proxy, ... as libcurl reads
  // them). "": no proxy whatever the environment says. Otherwise "[scheme://][user:pw@]host:port".
  std::optional<std::string> proxy{};
  // Unset: no_proxy / NO_PROXY from the environment. Otherwise libcurl's list ("*" = everything;
  // host names, domains, IP addresses or CIDR ranges, comma separated).
  std::optional<std::string> no_proxy{};
  std::string user_agent = default_user_agent();
  bool operator==(const ClientOptions&) const = default;
};

// The configuration keys every HTTP output has, read into its ClientOptions (the same rows in
// the influxdb, domoticz and emoncms tables): timeout, connect_timeout, ca_file, tls_insecure,
// proxy, no_proxy.
template <class C>
std::vector<config::Key<C>> client_keys(ClientOptions C::*field);
// `t` with client_keys(&C::http) appended.
template <class C>
config::Table<C> with_client_keys(config::Table<C> t) {
  auto keys = client_keys<C>(&C::http);
  t.keys.insert(t.keys.end(), keys.begin(), keys.end());
  return t;
}

class HttpClient {
 public:
  static constexpr std::size_t kMaxBody = 1 << 20;

  // Throws std::runtime_error when libcurl cannot be initialised (out of memory).
  explicit HttpClient(ClientOptions options = {});
  // The default options with another whole-request timeout.
  explicit HttpClient(std::chrono::milliseconds timeout);
  ~HttpClient();
  HttpClient(const HttpClient&) = delete;
  HttpClient& operator=(const HttpClient&) = delete;

  // method: "GET", "POST", "HEAD" (any other verb is sent as such, with the body).
  // headers: complete lines, "Authorization: Token abc"; a line without a value is not sent.
  // auth: HTTP basic auth; without it, user:password@ in the URL is used. Any HTTP status is
  // returned as a Response; only a missing answer throws HttpError.
  Response request(const std::string& method, const std::string& url,
                   const std::vector<std::string>& headers = {}, const std::string& body = {},
                   const std::optional<BasicAuth>& auth = std::nullopt);

  [[nodiscard]] const ClientOptions& options() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// The one rule of every HTTP output for what an answer's status means:
// - Accepted: 2xx (the output may still check the body, as Domoticz and emoncms do).
// - Reject: "the target refuses this data; sending it again cannot help": a 4xx other than
//   401/403/407 (credentials), 404 (wrong endpoint or database: a configuration fix must not
//   cost the backlog), 408 (timeout) and 429 (throttled). The output throws SinkRejected and
//   the fan-out skips the data.
// - Retry: everything else (1xx/3xx left over, the 4xx above, 5xx). The output throws SinkError
//   and the fan-out sends the data again later. No answer at all (HttpError) is a Retry too.
enum class Verdict { Accepted, Retry, Reject };
Verdict classify(long status);

// Throws for a status that is not Accepted: SinkRejected (Reject) or SinkError (Retry), with
// the message "<where>HTTP <status>[ (authentication failed)][ (the server rejected the data)]:
// <body excerpt>". `where` names the output and endpoint ("influxdb: POST http://h/write: ").
void check_status(const std::string& where, const Response& response);

// Percent-encodes everything but RFC 3986 unreserved characters (A-Z a-z 0-9 - . _ ~).
std::string url_encode(std::string_view s);

// The URL with the values of secret-looking query parameters (apikey, api_key, token, password,
// passwd, p, u) replaced by "***", and any user:password@ userinfo removed: safe for logs.
std::string redact_url(const std::string& url);

// The URL without trailing slashes ("http://h:8086/" → "http://h:8086").
std::string trim_base_url(std::string url);

// At most `max` bytes of `body`, newlines folded to spaces, for error messages.
std::string body_excerpt(const std::string& body, std::size_t max = 300);

template <class C>
std::vector<config::Key<C>> client_keys(ClientOptions C::*field) {
  using namespace config;
  auto duration_key = [field](std::string name, std::chrono::milliseconds ClientOptions::*f,
                              std::chrono::milliseconds max, std::string doc, std::string example) {
    return custom<C>(
        {name, KeyKind::Duration, std::move(doc), std::move(example), false, ""},
        [field, f, max](const Node& n, const std::string& path, C& out, Context&) {
          (out.*field).*f = parse_duration_at(n, path, {std::chrono::milliseconds(100), max});
        },
        [field, f](const C& c) { return Node::text(format_duration((c.*field).*f)); });
  };
  auto optional_text = [field](std::string name, std::optional<std::string> ClientOptions::*f,
                               std::string doc, std::string example) {
    return custom<C>(
        {name, KeyKind::Text, std::move(doc), std::move(example), false, "from the environment"},
        [field, f](const Node& n, const std::string& path, C& out, Context&) {
          (out.*field).*f = scalar(n, path, "a text");
        },
        [field, f](const C& c) {
          const auto& v = (c.*field).*f;
          return v ? Node::text(*v) : Node();
        });
  };
  return {
      duration_key("timeout", &ClientOptions::timeout, std::chrono::minutes(10),
                   "a request that takes longer fails (and is retried)", "30s"),
      duration_key("connect_timeout", &ClientOptions::connect_timeout, std::chrono::minutes(5),
                   "name lookup, TCP connect and TLS handshake must finish within this (every "
                   "address of the name is tried, IPv6 and IPv4)",
                   "3s"),
      custom<C>(
          {"ca_file", KeyKind::Path,
           "PEM file of the CAs to trust instead of the system's (a private CA)",
           "/etc/kamstrup/ca.pem", false, ""},
          [field](const Node& n, const std::string& path, C& out, Context&) {
            (out.*field).ca_file = scalar(n, path, "a file name");
            if (!(out.*field).ca_file.empty())
              check_path((out.*field).ca_file, path, PathRule::ExistingFile);
          },
          [field](const C& c) { return Node::text((c.*field).ca_file); }),
      custom<C>(
          {"tls_insecure", KeyKind::Bool,
           "no certificate or host name check at all (a self-signed test server only)", "true",
           false, ""},
          [field](const Node& n, const std::string& path, C& out, Context&) {
            (out.*field).tls_insecure = parse_bool(n, path);
          },
          [field](const C& c) { return Node::text((c.*field).tls_insecure ? "true" : "false"); }),
      optional_text("proxy", &ClientOptions::proxy,
                    "`[scheme://][user:pw@]host:port`, or `\"\"` for none; unset: "
                    "`http_proxy`/`https_proxy` from the environment",
                    "http://proxy.lan:3128"),
      optional_text("no_proxy", &ClientOptions::no_proxy,
                    "hosts, domains, addresses or CIDR ranges reached without the proxy (comma "
                    "separated, `*` = all); unset: `no_proxy` from the environment",
                    "localhost,.lan"),
  };
}

}  // namespace kamstrup::sinks::http
