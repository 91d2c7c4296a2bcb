#include "sinks/http_client.hpp"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <mutex>

namespace kamstrup::sinks::http {

namespace {

bool secret_param(std::string_view key) {
  std::string k;
  for (char c : key) k.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(c))));
  return k == "apikey" || k == "api_key" || k == "token" || k == "password" || k == "passwd" ||
         k == "p" || k == "u";
}

std::string lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

int hex_digit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;
}

std::string percent_decode(std::string_view s) {
  std::string out;
  for (std::size_t i = 0; i < s.size(); ++i) {
    int hi = 0, lo = 0;
    if (s[i] == '%' && i + 2 < s.size() && (hi = hex_digit(s[i + 1])) >= 0 &&
        (lo = hex_digit(s[i + 2])) >= 0) {
      out.push_back(static_cast<char>(hi * 16 + lo));
      i += 2;
    } else {
      out.push_back(s[i]);
    }
  }
  return out;
}

// scheme://[user[:password]@]host[:port][/path][?query][#fragment]
struct Url {
  bool https = false;
  std::string host;  // without the brackets of an IPv6 literal
  int port = 0;
  std::string target;  // path and query, "/" at least
  std::optional<BasicAuth> userinfo;
};

// Throws std::invalid_argument with the reason.
Url parse_url(const std::string& url) {
  Url u;
  auto sep = url.find("://");
  if (sep == std::string::npos) throw std::invalid_argument("not an absolute http(s) URL");
  std::string scheme = lower(url.substr(0, sep));
  if (scheme == "https") {
    u.https = true;
  } else if (scheme != "http") {
    throw std::invalid_argument("unsupported scheme \"" + scheme + "\" (http or https)");
  }
  std::string_view rest(url);
  rest.remove_prefix(sep + 3);
  auto auth_end = rest.find_first_of("/?#");
  std::string_view authority = rest.substr(0, auth_end);
  std::string_view target = auth_end == std::string_view::npos ? "" : rest.substr(auth_end);
  if (auto hash = target.find('#'); hash != std::string_view::npos) target = target.substr(0, hash);
  u.target =
      target.empty() || target.front() != '/' ? "/" + std::string(target) : std::string(target);
  if (auto at = authority.rfind('@'); at != std::string_view::npos) {
    std::string_view info = authority.substr(0, at);
    authority.remove_prefix(at + 1);
    auto colon = info.find(':');
    u.userinfo = BasicAuth{
        percent_decode(info.substr(0, colon)),
        colon == std::string_view::npos ? std::string() : percent_decode(info.substr(colon + 1))};
  }
  std::string_view port;
  if (!authority.empty() && authority.front() == '[') {
    auto close = authority.find(']');
    if (close == std::string_view::npos) throw std::invalid_argument("unterminated [IPv6] host");
    u.host = std::string(authority.substr(1, close - 1));
    std::string_view after = authority.substr(close + 1);
    if (!after.empty()) {
      if (after.front() != ':') throw std::invalid_argument("junk after the [IPv6] host");
      port = after.substr(1);
    }
  } else {
    auto colon = authority.find(':');
    u.host = std::string(authority.substr(0, colon));
    if (colon != std::string_view::npos) port = authority.substr(colon + 1);
  }
  if (u.host.empty()) throw std::invalid_argument("no host");
  u.port = u.https ? 443 : 80;
  if (!port.empty()) {
    int p = 0;
    for (char c : port) {
      if (std::isdigit(static_cast<unsigned char>(c)) == 0 || p > 65535)
        throw std::invalid_argument("bad port \"" + std::string(port) + "\"");
      p = p * 10 + (c - '0');
    }
    if (p < 1 || p > 65535) throw std::invalid_argument("bad port \"" + std::string(port) + "\"");
    u.port = p;
  }
  return u;
}

std::string base64(std::string_view in) {
  static constexpr char kB64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  std::size_t i = 0;
  auto byte = [&](std::size_t k) {
    return static_cast<unsigned>(static_cast<unsigned char>(in[k]));
  };
  for (; i + 2 < in.size(); i += 3) {
    unsigned n = byte(i) << 16U | byte(i + 1) << 8U | byte(i + 2);
    for (int k = 18; k >= 0; k -= 6) out += kB64[(n >> static_cast<unsigned>(k)) & 63U];
  }
  if (i < in.size()) {
    unsigned n = byte(i) << 16U;
    if (i + 1 < in.size()) n |= byte(i + 1) << 8U;
    out += kB64[(n >> 18U) & 63U];
    out += kB64[(n >> 12U) & 63U];
    out += i + 1 < in.size() ? kB64[(n >> 6U) & 63U] : '=';
    out += '=';
  }
  return out;
}

// ---------------------------------------------------------------- one connection

using Clock = std::chrono::steady_clock;

// A failure before a complete answer; `reason` is what HttpError::reason() says.
struct Failure {
  std::string reason;
  bool before_any_byte = false;  // the peer closed or failed before answering anything
};

int ms_left(Clock::time_point deadline) {
  auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
  return left.count() <= 0 ? 0 : static_cast<int>(std::min<std::int64_t>(left.count(), 1 << 30));
}

bool ip_literal(const std::string& host) {
  in6_addr a6{};
  in_addr a4{};
  return inet_pton(AF_INET, host.c_str(), &a4) == 1 || inet_pton(AF_INET6, host.c_str(), &a6) == 1;
}

// The process's TLS client context, made on the first https:// request (a daemon without
// https outputs never initialises OpenSSL for HTTP). System CA store, peer verification on.
SSL_CTX* tls_context() {
  static std::once_flag once;
  static SSL_CTX* ctx = nullptr;
  std::call_once(once, [] {
    SSL_CTX* c = SSL_CTX_new(TLS_client_method());
    if (c == nullptr) return;
    SSL_CTX_set_min_proto_version(c, TLS1_2_VERSION);
    SSL_CTX_set_verify(c, SSL_VERIFY_PEER, nullptr);
    if (SSL_CTX_set_default_verify_paths(c) != 1) {
      SSL_CTX_free(c);
      return;
    }
    ctx = c;
  });
  return ctx;
}

std::string tls_error(SSL* ssl) {
  std::string out;
  if (ssl != nullptr) {
    long v = SSL_get_verify_result(ssl);
    if (v != X509_V_OK) out = std::string("certificate: ") + X509_verify_cert_error_string(v);
  }
  if (out.empty()) {
    unsigned long e = ERR_peek_last_error();
    char buf[256] = {};
    if (e != 0) ERR_error_string_n(e, buf, sizeof buf);
    out = e != 0 ? std::string(buf) : std::string("handshake failed");
  }
  ERR_clear_error();
  return out;
}

// SSL_write writes with write(2), which raises SIGPIPE on a connection the server has closed:
// blocked in this thread for the call, and a SIGPIPE it raised is swallowed.
template <typename F>
auto without_sigpipe(F f) {
  sigset_t pipe_set, old, pending;
  sigemptyset(&pipe_set);
  sigaddset(&pipe_set, SIGPIPE);
  pthread_sigmask(SIG_BLOCK, &pipe_set, &old);
  sigpending(&pending);
  const bool was_pending = sigismember(&pending, SIGPIPE) == 1;
  auto r = f();
  const int err = errno;
  sigpending(&pending);
  if (!was_pending && sigismember(&pending, SIGPIPE) == 1) {
    timespec zero{};
    while (sigtimedwait(&pipe_set, nullptr, &zero) < 0 && errno == EINTR) {
    }
  }
  pthread_sigmask(SIG_SETMASK, &old, nullptr);
  errno = err;
  return r;
}

class Connection {
 public:
  Connection() = default;
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;
  ~Connection() { close(); }

  [[nodiscard]] bool open() const { return fd_ >= 0; }
  void close() {
    if (ssl_ != nullptr) {
      SSL_free(ssl_);
      ssl_ = nullptr;
    }
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
    buf_.clear();
  }

  // Whether an idle kept-alive connection can take another request: nothing arrived on it
  // (no EOF, no stray bytes) since the last answer.
  [[nodiscard]] bool idle_and_alive() const {
    if (fd_ < 0 || !buf_.empty()) return false;
    if (ssl_ != nullptr && SSL_pending(ssl_) > 0) return false;
    pollfd p{fd_, POLLIN, 0};
    return ::poll(&p, 1, 0) == 0;
  }

  void connect(const Url& u, Clock::time_point deadline) {
    close();
    const std::string where = u.host + ":" + std::to_string(u.port);
    addrinfo hints{};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    addrinfo* res = nullptr;
    int rc = getaddrinfo(u.host.c_str(), std::to_string(u.port).c_str(), &hints, &res);
    if (rc != 0) throw Failure{"cannot resolve " + u.host + ": " + gai_strerror(rc)};
    std::unique_ptr<addrinfo, decltype(&freeaddrinfo)> guard(res, &freeaddrinfo);
    std::string last = "no address";
    for (addrinfo* ai = res; ai != nullptr; ai = ai->ai_next) {
      int fd =
          ::socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK, ai->ai_protocol);
      if (fd < 0) {
        last = std::strerror(errno);
        continue;
      }
      if (::connect(fd, ai->ai_addr, ai->ai_addrlen) != 0 && errno != EINPROGRESS) {
        last = std::strerror(errno);
        ::close(fd);
        continue;
      }
      pollfd p{fd, POLLOUT, 0};
      int n = 0;
      while ((n = ::poll(&p, 1, ms_left(deadline))) < 0 && errno == EINTR) {
      }
      if (n == 0) {
        ::close(fd);
        throw Failure{"timed out connecting to " + where};
      }
      int err = 0;
      socklen_t len = sizeof err;
      ::getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len);
      if (n < 0 || err != 0) {
        last = std::strerror(n < 0 ? errno : err);
        ::close(fd);
        continue;
      }
      fd_ = fd;
      break;
    }
    if (fd_ < 0) throw Failure{"cannot connect to " + where + ": " + last};
    int one = 1;
    ::setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (u.https) start_tls(u, deadline);
  }

  void send_all(std::string_view data, Clock::time_point deadline) {
    while (!data.empty()) {
      if (!wait(POLLOUT, deadline)) throw Failure{"timed out sending the request"};
      ssize_t n = 0;
      if (ssl_ != nullptr) {
        ERR_clear_error();
        int w = without_sigpipe(
            [&] { return SSL_write(ssl_, data.data(), static_cast<int>(data.size())); });
        if (w <= 0) {
          int e = SSL_get_error(ssl_, w);
          if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) continue;
          throw Failure{"cannot send the request: " + tls_error(nullptr), true};
        }
        n = w;
      } else {
        n = ::send(fd_, data.data(), data.size(), MSG_NOSIGNAL);
        if (n < 0) {
          if (errno == EAGAIN || errno == EINTR) continue;
          throw Failure{std::string("cannot send the request: ") + std::strerror(errno), true};
        }
      }
      data.remove_prefix(static_cast<std::size_t>(n));
    }
  }

  // Appends what arrives to the buffer; false at an orderly end of the stream.
  bool fill(Clock::time_point deadline) {
    char tmp[16384];
    for (;;) {
      if (ssl_ != nullptr) {
        ERR_clear_error();
        int r = SSL_read(ssl_, tmp, sizeof tmp);
        if (r > 0) {
          buf_.append(tmp, static_cast<std::size_t>(r));
          return true;
        }
        int e = SSL_get_error(ssl_, r);
        if (e == SSL_ERROR_ZERO_RETURN) return false;
        if (e == SSL_ERROR_SYSCALL && ERR_peek_error() == 0) return false;  // EOF without notify
        if (e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE)
          throw Failure{"TLS: " + tls_error(nullptr)};
        if (!wait(e == SSL_ERROR_WANT_READ ? POLLIN : POLLOUT, deadline))
          throw Failure{"timed out waiting for the answer"};
      } else {
        ssize_t n = ::recv(fd_, tmp, sizeof tmp, 0);
        if (n > 0) {
          buf_.append(tmp, static_cast<std::size_t>(n));
          return true;
        }
        if (n == 0) return false;
        if (errno == EINTR) continue;
        if (errno != EAGAIN)
          throw Failure{std::string("cannot read the answer: ") + std::strerror(errno)};
        if (!wait(POLLIN, deadline)) throw Failure{"timed out waiting for the answer"};
      }
    }
  }

  std::string& buffer() { return buf_; }

 private:
  bool wait(short events, Clock::time_point deadline) const {
    pollfd p{fd_, events, 0};
    int n = 0;
    while ((n = ::poll(&p, 1, ms_left(deadline))) < 0 && errno == EINTR) {
    }
    return n > 0;
  }

  void start_tls(const Url& u, Clock::time_point deadline) {
    const std::string where = u.host + ":" + std::to_string(u.port);
    SSL_CTX* ctx = tls_context();
    if (ctx == nullptr) throw Failure{"TLS: cannot set up OpenSSL with the system CA store"};
    ssl_ = SSL_new(ctx);
    if (ssl_ == nullptr) throw Failure{"TLS: out of memory"};
    SSL_set_fd(ssl_, fd_);
    if (ip_literal(u.host)) {
      X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl_), u.host.c_str());
    } else {
      SSL_set_tlsext_host_name(ssl_, u.host.c_str());
      SSL_set1_host(ssl_, u.host.c_str());
    }
    for (;;) {
      ERR_clear_error();
      int r = without_sigpipe([&] { return SSL_connect(ssl_); });
      if (r == 1) return;
      int e = SSL_get_error(ssl_, r);
      if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
        if (!wait(e == SSL_ERROR_WANT_READ ? POLLIN : POLLOUT, deadline))
          throw Failure{"timed out in the TLS handshake with " + where};
        continue;
      }
      throw Failure{"TLS handshake with " + where + " failed: " + tls_error(ssl_)};
    }
  }

  int fd_ = -1;
  SSL* ssl_ = nullptr;
  std::string buf_;
};

// ---------------------------------------------------------------- one exchange

std::string trim_ws(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r'))
    s.remove_suffix(1);
  return std::string(s);
}

constexpr std::size_t kMaxHead = 64 * 1024;

// Reads one response from `c` into `resp` (body capped at kMaxBody, the rest read and dropped).
// Returns whether the connection may carry another request.
bool read_response(Connection& c, Response& resp, bool head_only, Clock::time_point deadline) {
  std::string& b = c.buffer();
  std::size_t end = 0;
  for (;;) {
    end = b.find("\r\n\r\n");
    if (end != std::string::npos) break;
    if (b.size() > kMaxHead) throw Failure{"the answer's header is too large"};
    const bool nothing_yet = b.empty();
    if (!c.fill(deadline)) throw Failure{"the connection closed before an answer", nothing_yet};
  }
  std::string head = b.substr(0, end);
  b.erase(0, end + 4);
  // HTTP/1.x NNN reason
  if (head.size() < 12 || head.compare(0, 5, "HTTP/") != 0)
    throw Failure{"not an HTTP answer: " + body_excerpt(head, 80)};
  const bool http10 = head.compare(5, 3, "1.0") == 0;
  long status = 0;
  for (std::size_t i = 9; i < 12; ++i) {
    if (std::isdigit(static_cast<unsigned char>(head[i])) == 0)
      throw Failure{"not an HTTP answer: " + body_excerpt(head, 80)};
    status = status * 10 + (head[i] - '0');
  }
  resp.status = status;

  std::optional<std::size_t> length;
  bool chunked = false;
  bool keep = !http10;
  std::size_t pos = head.find("\r\n");
  while (pos != std::string::npos) {
    std::size_t next = head.find("\r\n", pos + 2);
    std::string_view line(head.data() + pos + 2,
                          (next == std::string::npos ? head.size() : next) - pos - 2);
    pos = next;
    auto colon = line.find(':');
    if (colon == std::string_view::npos) continue;
    std::string name = lower(std::string(line.substr(0, colon)));
    std::string value = trim_ws(line.substr(colon + 1));
    if (name == "content-length") {
      std::size_t n = 0;
      for (char ch : value) {
        if (std::isdigit(static_cast<unsigned char>(ch)) == 0 || n > (std::size_t{1} << 40))
          throw Failure{"bad Content-Length: " + value};
        n = n * 10 + static_cast<std::size_t>(ch - '0');
      }
      length = n;
    } else if (name == "transfer-encoding") {
      chunked = lower(value).find("chunked") != std::string::npos;
    } else if (name == "connection") {
      std::string v = lower(value);
      if (v.find("close") != std::string::npos) keep = false;
      if (v.find("keep-alive") != std::string::npos) keep = true;
    }
  }

  auto take = [&](std::size_t n) {  // n bytes of the buffer into the body
    if (resp.body.size() < HttpClient::kMaxBody)
      resp.body.append(b, 0, std::min(n, HttpClient::kMaxBody - resp.body.size()));
    b.erase(0, n);
  };
  if (head_only || status == 204 || status == 304 || (status >= 100 && status < 200)) {
    return keep;
  }
  if (chunked) {
    for (;;) {
      std::size_t eol;
      while ((eol = b.find("\r\n")) == std::string::npos) {
        if (b.size() > 1024) throw Failure{"bad chunk header"};
        if (!c.fill(deadline)) throw Failure{"the connection closed in the middle of the answer"};
      }
      std::size_t n = 0;
      std::size_t i = 0;
      for (; i < eol; ++i) {
        int d = hex_digit(b[i]);
        if (d < 0) break;
        if (n > (std::size_t{1} << 40)) throw Failure{"bad chunk size"};
        n = n * 16 + static_cast<std::size_t>(d);
      }
      if (i == 0) throw Failure{"bad chunk header"};
      b.erase(0, eol + 2);
      if (n == 0) {
        // Trailers, up to the empty line.
        for (;;) {
          while ((eol = b.find("\r\n")) == std::string::npos) {
            if (b.size() > kMaxHead) throw Failure{"bad chunk trailer"};
            if (!c.fill(deadline))
              throw Failure{"the connection closed in the middle of the answer"};
          }
          b.erase(0, eol + 2);
          if (eol == 0) return keep;
        }
      }
      // Consume n bytes of data (reading as needed), then the CRLF.
      std::size_t remaining = n;
      for (;;) {
        std::size_t have = std::min(remaining, b.size());
        take(have);
        remaining -= have;
        if (remaining == 0) break;
        if (!c.fill(deadline)) throw Failure{"the connection closed in the middle of the answer"};
      }
      while (b.size() < 2) {
        if (!c.fill(deadline)) throw Failure{"the connection closed in the middle of the answer"};
      }
      b.erase(0, 2);
    }
  }
  if (length) {
    std::size_t remaining = *length;
    for (;;) {
      std::size_t have = std::min(remaining, b.size());
      take(have);
      remaining -= have;
      if (remaining == 0) return keep;
      if (!c.fill(deadline)) throw Failure{"the connection closed in the middle of the answer"};
    }
  }
  // No length: the body runs to the end of the stream.
  for (;;) {
    take(b.size());
    if (!c.fill(deadline)) return false;
  }
}

}  // namespace

struct HttpClient::Impl {
  std::chrono::milliseconds timeout;
  std::string origin;  // scheme://host:port of the open connection
  Connection conn;
};

HttpClient::HttpClient(std::chrono::milliseconds timeout) : impl_(std::make_unique<Impl>()) {
  impl_->timeout = timeout;
}

HttpClient::~HttpClient() = default;

Response HttpClient::request(const std::string& method, const std::string& url,
                             const std::vector<std::string>& headers, const std::string& body,
                             const std::optional<BasicAuth>& auth) {
  auto fail = [&](const std::string& reason) -> HttpError {
    return HttpError(method + " " + redact_url(url) + ": " + reason, reason);
  };
  Url u;
  try {
    u = parse_url(url);
  } catch (const std::invalid_argument& e) {
    throw fail(std::string("malformed URL: ") + e.what());
  }

  const bool default_port = u.port == (u.https ? 443 : 80);
  std::string host_header = u.host.find(':') != std::string::npos ? "[" + u.host + "]" : u.host;
  if (!default_port) host_header += ":" + std::to_string(u.port);
  std::string req = method + " " + u.target + " HTTP/1.1\r\nHost: " + host_header +
                    "\r\nUser-Agent: kamstrup-reader\r\nAccept: */*\r\n";
  for (const auto& line : headers) {
    auto colon = line.find(':');
    if (colon == std::string::npos) continue;
    std::string value = trim_ws(std::string_view(line).substr(colon + 1));
    if (value.empty()) continue;  // "Name:" with no value: nothing to send
    req += line.substr(0, colon) + ": " + value + "\r\n";
  }
  if (auth || u.userinfo) {
    const BasicAuth& a = auth ? *auth : *u.userinfo;
    req += "Authorization: Basic " + base64(a.username + ":" + a.password) + "\r\n";
  }
  if (method != "GET" || !body.empty())
    req += "Content-Length: " + std::to_string(body.size()) + "\r\n";
  req += "\r\n";
  req += body;

  const std::string origin =
      (u.https ? "https://" : "http://") + u.host + ":" + std::to_string(u.port);
  Connection& c = impl_->conn;
  // A kept-alive connection may have been closed by the server in the meantime: one more try
  // on a fresh connection when a reused one fails before any byte of the answer.
  for (int attempt = 0;; ++attempt) {
    const auto deadline = Clock::now() + impl_->timeout;
    const bool reused = impl_->origin == origin && c.idle_and_alive();
    try {
      if (!reused) {
        impl_->origin.clear();
        c.connect(u, deadline);
        impl_->origin = origin;
      }
      c.send_all(req, deadline);
      Response resp;
      const bool keep = read_response(c, resp, method == "HEAD", deadline);
      if (!keep) {
        c.close();
        impl_->origin.clear();
      }
      return resp;
    } catch (const Failure& f) {
      c.close();
      impl_->origin.clear();
      if (reused && f.before_any_byte && attempt == 0) continue;
      throw fail(f.reason);
    }
  }
}

bool rejects_data(long status) {
  return status >= 400 && status < 500 && status != 401 && status != 403 && status != 404 &&
         status != 407 && status != 408 && status != 429;
}

std::string url_encode(std::string_view s) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(s.size() * 3);
  for (char ch : s) {
    auto c = static_cast<unsigned char>(ch);
    if (std::isalnum(c) != 0 || c == '-' || c == '.' || c == '_' || c == '~') {
      out.push_back(ch);
    } else {
      out.push_back('%');
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 0x0F]);
    }
  }
  return out;
}

std::string redact_url(const std::string& url) {
  std::string out = url;
  // userinfo: scheme://user:pass@host → scheme://host
  auto scheme = out.find("://");
  if (scheme != std::string::npos) {
    auto auth_start = scheme + 3;
    auto auth_end = out.find_first_of("/?#", auth_start);
    auto at = out.rfind('@', auth_end == std::string::npos ? out.size() : auth_end);
    if (at != std::string::npos && at >= auth_start) out.erase(auth_start, at + 1 - auth_start);
  }
  auto q = out.find('?');
  if (q == std::string::npos) return out;
  std::string result = out.substr(0, q + 1);
  std::string_view query(out);
  query.remove_prefix(q + 1);
  bool first = true;
  while (true) {
    auto amp = query.find('&');
    std::string_view part = query.substr(0, amp);
    if (!first) result += '&';
    first = false;
    auto eq = part.find('=');
    if (eq != std::string_view::npos && secret_param(part.substr(0, eq))) {
      result.append(part.substr(0, eq + 1));
      result += "***";
    } else {
      result.append(part);
    }
    if (amp == std::string_view::npos) break;
    query.remove_prefix(amp + 1);
  }
  return result;
}

std::string trim_base_url(std::string url) {
  while (!url.empty() && url.back() == '/') url.pop_back();
  return url;
}

std::string body_excerpt(const std::string& body, std::size_t max) {
  std::string out;
  for (char c : body) {
    if (out.size() >= max) {
      out += "...";
      break;
    }
    out.push_back(c == '\n' || c == '\r' ? ' ' : c);
  }
  while (!out.empty() && out.back() == ' ') out.pop_back();
  return out.empty() ? "(empty body)" : out;
}

}  // namespace kamstrup::sinks::http
