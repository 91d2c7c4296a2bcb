#include "sinks/http_client.hpp"

#include <curl/curl.h>

#include <algorithm>
#include <cctype>
#include <mutex>
#include <new>

#include "sinks/sink.hpp"

#ifndef KAMSTRUP_VERSION
#error "KAMSTRUP_VERSION must be defined (src/sinks/CMakeLists.txt passes CMake's project version)"
#endif

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

// libcurl's global state (OpenSSL set-up, the resolver) lives while any client does: made with
// the first, released with the last, so a daemon without HTTP outputs never sets it up and a
// test process ends with nothing left behind. Counted under a lock: outputs are built and torn
// down on different threads.
std::mutex g_mutex;
int g_clients = 0;

void acquire_global() {
  std::lock_guard lock(g_mutex);
  if (g_clients == 0) {
    CURLcode rc = curl_global_init(CURL_GLOBAL_DEFAULT);
    if (rc != CURLE_OK)
      throw std::runtime_error(std::string("libcurl: cannot initialise: ") +
                               curl_easy_strerror(rc));
  }
  ++g_clients;
}

void release_global() {
  std::lock_guard lock(g_mutex);
  if (--g_clients == 0) curl_global_cleanup();
}

std::size_t collect_body(char* data, std::size_t size, std::size_t n, void* user) {
  auto* body = static_cast<std::string*>(user);
  const std::size_t len = size * n;
  if (body->size() < HttpClient::kMaxBody)
    body->append(data, std::min(len, HttpClient::kMaxBody - body->size()));
  return len;  // the rest of an over-long body is read and dropped, not an error
}

struct SlistDeleter {
  void operator()(curl_slist* l) const { curl_slist_free_all(l); }
};
using Slist = std::unique_ptr<curl_slist, SlistDeleter>;

void append(Slist& list, const std::string& line) {
  curl_slist* l = curl_slist_append(list.get(), line.c_str());
  if (l == nullptr) throw std::bad_alloc();
  (void)list.release();
  list.reset(l);
}

bool has_header(const std::vector<std::string>& headers, const std::string& name) {
  for (const auto& h : headers) {
    auto colon = h.find(':');
    if (colon != std::string::npos && lower(h.substr(0, colon)) == lower(name)) return true;
  }
  return false;
}

std::string ms_text(std::chrono::milliseconds ms) {
  return std::to_string(ms.count()) + " ms";
}

// What HttpError::reason() says for a transfer that got no answer: libcurl's own message
// (errbuf names the host, port and cause), led by what it means for the output's settings.
std::string failure_reason(CURLcode rc, const char* errbuf, CURL* h, const ClientOptions& o) {
  std::string detail = errbuf[0] != '\0' ? std::string(errbuf) : curl_easy_strerror(rc);
  switch (rc) {
    case CURLE_UNSUPPORTED_PROTOCOL:
    case CURLE_URL_MALFORMAT:
      return "malformed or unsupported URL (http:// or https://): " + detail;
    case CURLE_COULDNT_RESOLVE_HOST:
      return "cannot resolve the host name: " + detail;
    case CURLE_COULDNT_RESOLVE_PROXY:
      return "cannot resolve the proxy's host name: " + detail;
    case CURLE_COULDNT_CONNECT:
      return "cannot connect: " + detail;
    case CURLE_OPERATION_TIMEDOUT: {
      // Whether the request went out tells the two deadlines apart: before it, the connect
      // deadline (lookup, connect, proxy tunnel, TLS handshake) ran out. The connect times do
      // not: they are 0 both for a connection never made and for a reused one.
      curl_off_t pretransfer = 0;
      long sent = 0;
      curl_easy_getinfo(h, CURLINFO_PRETRANSFER_TIME_T, &pretransfer);
      curl_easy_getinfo(h, CURLINFO_REQUEST_SIZE, &sent);
      if (pretransfer == 0 && sent == 0)
        return "timed out connecting (connect_timeout " + ms_text(o.connect_timeout) +
               "): " + detail;
      return "no complete answer within the timeout (" + ms_text(o.timeout) + "): " + detail;
    }
    case CURLE_PEER_FAILED_VERIFICATION:
      return "TLS: the server's certificate failed verification: " + detail + " (trusted: " +
             (o.ca_file.empty() ? std::string("the system CA store") : "ca_file " + o.ca_file) +
             "; for a private CA set ca_file, use a host name the certificate names, or "
             "tls_insecure to turn the checks off)";
    case CURLE_SSL_CACERT_BADFILE:
      return "TLS: cannot use ca_file " + o.ca_file + ": " + detail;
    case CURLE_SSL_CONNECT_ERROR:
      return "TLS handshake failed: " + detail;
    case CURLE_TOO_MANY_REDIRECTS:
      return "more than " + std::to_string(o.max_redirects) + " redirects: " + detail;
    case CURLE_GOT_NOTHING:
      return "the server closed the connection without an answer";
    default:
      return detail;
  }
}

}  // namespace

const std::string& default_user_agent() {
  static const std::string ua = "kamstrup-reader/" KAMSTRUP_VERSION;
  return ua;
}

struct HttpClient::Impl {
  ClientOptions options;
  CURL* handle = nullptr;
  char errbuf[CURL_ERROR_SIZE] = {};
};

HttpClient::HttpClient(std::chrono::milliseconds timeout)
    : HttpClient([timeout] {
        ClientOptions o;
        o.timeout = timeout;
        return o;
      }()) {}

HttpClient::HttpClient(ClientOptions options) : impl_(std::make_unique<Impl>()) {
  impl_->options = std::move(options);
  acquire_global();
  CURL* h = curl_easy_init();
  if (h == nullptr) {
    release_global();
    throw std::runtime_error("libcurl: cannot create a handle");
  }
  impl_->handle = h;
  const ClientOptions& o = impl_->options;
  // The options that stay for the client's life; request() sets the per-request ones.
  curl_easy_setopt(h, CURLOPT_ERRORBUFFER, impl_->errbuf);
  curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);  // threads: no SIGALRM for resolver timeouts
  curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(h, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, o.max_redirects > 0 ? 1L : 0L);
  curl_easy_setopt(h, CURLOPT_MAXREDIRS, o.max_redirects);
  curl_easy_setopt(h, CURLOPT_POSTREDIR,
                   static_cast<long>(CURL_REDIR_POST_301 | CURL_REDIR_POST_302));
  curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, static_cast<long>(o.timeout.count()));
  curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, static_cast<long>(o.connect_timeout.count()));
  curl_easy_setopt(h, CURLOPT_USERAGENT, o.user_agent.c_str());
  curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, &collect_body);
  // One output talks to one server (two after a redirect elsewhere): no more idle connections.
  curl_easy_setopt(h, CURLOPT_MAXCONNECTS, 2L);
  if (!o.ca_file.empty()) curl_easy_setopt(h, CURLOPT_CAINFO, o.ca_file.c_str());
  if (o.tls_insecure) {
    curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 0L);
    curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 0L);
  }
  if (o.proxy) curl_easy_setopt(h, CURLOPT_PROXY, o.proxy->c_str());
  if (o.no_proxy) curl_easy_setopt(h, CURLOPT_NOPROXY, o.no_proxy->c_str());
}

HttpClient::~HttpClient() {
  curl_easy_cleanup(impl_->handle);
  release_global();
}

const ClientOptions& HttpClient::options() const {
  return impl_->options;
}

Response HttpClient::request(const std::string& method, const std::string& url,
                             const std::vector<std::string>& headers, const std::string& body,
                             const std::optional<BasicAuth>& auth) {
  CURL* h = impl_->handle;
  curl_easy_setopt(h, CURLOPT_URL, url.c_str());

  // The method. The handle is reused, so every request sets all of these.
  curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, nullptr);
  curl_easy_setopt(h, CURLOPT_NOBODY, 0L);
  const bool has_body = !(method == "GET" && body.empty()) && method != "HEAD";
  if (method == "HEAD") {
    curl_easy_setopt(h, CURLOPT_NOBODY, 1L);
  } else if (!has_body) {
    curl_easy_setopt(h, CURLOPT_HTTPGET, 1L);
  } else {
    curl_easy_setopt(h, CURLOPT_POST, 1L);
    curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(body.size()));
    curl_easy_setopt(h, CURLOPT_POSTFIELDS, body.data());
    if (method != "POST") curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method.c_str());
  }

  Slist list;
  for (const auto& line : headers) {
    auto colon = line.find(':');
    if (colon == std::string::npos) continue;
    if (line.find_first_not_of(" \t\r", colon + 1) == std::string::npos) continue;
    append(list, line);
  }
  // "Name:" removes a header libcurl would add: no Expect: 100-continue (a second round trip,
  // and a 1 s stall on servers that ignore it) and no form Content-Type the caller did not ask for.
  append(list, "Expect:");
  if (has_body && !has_header(headers, "Content-Type")) append(list, "Content-Type:");
  curl_easy_setopt(h, CURLOPT_HTTPHEADER, list.get());

  if (auth) {
    curl_easy_setopt(h, CURLOPT_HTTPAUTH, static_cast<long>(CURLAUTH_BASIC));
    curl_easy_setopt(h, CURLOPT_USERNAME, auth->username.c_str());
    curl_easy_setopt(h, CURLOPT_PASSWORD, auth->password.c_str());
  } else {
    curl_easy_setopt(h, CURLOPT_USERNAME, nullptr);  // userinfo in the URL, if any, applies
    curl_easy_setopt(h, CURLOPT_PASSWORD, nullptr);
  }

  Response resp;
  curl_easy_setopt(h, CURLOPT_WRITEDATA, &resp.body);
  impl_->errbuf[0] = '\0';
  const CURLcode rc = curl_easy_perform(h);
  // Nothing of this request may outlive it in the handle: the list and the body are freed now.
  curl_easy_setopt(h, CURLOPT_HTTPHEADER, nullptr);
  curl_easy_setopt(h, CURLOPT_POSTFIELDS, nullptr);
  curl_easy_setopt(h, CURLOPT_WRITEDATA, nullptr);
  if (rc != CURLE_OK) {
    std::string reason = failure_reason(rc, impl_->errbuf, h, impl_->options);
    throw HttpError(method + " " + redact_url(url) + ": " + reason, reason);
  }
  curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &resp.status);
  return resp;
}

Verdict classify(long status) {
  if (status >= 200 && status < 300) return Verdict::Accepted;
  if (status >= 400 && status < 500 && status != 401 && status != 403 && status != 404 &&
      status != 407 && status != 408 && status != 429)
    return Verdict::Reject;
  return Verdict::Retry;
}

void check_status(const std::string& where, const Response& response) {
  const Verdict v = classify(response.status);
  if (v == Verdict::Accepted) return;
  std::string what = where + "HTTP " + std::to_string(response.status);
  if (response.status == 401 || response.status == 403 || response.status == 407)
    what += " (authentication failed)";
  if (v == Verdict::Reject)
    throw SinkRejected(what + " (the server rejected the data): " + body_excerpt(response.body));
  throw SinkError(what + ": " + body_excerpt(response.body));
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
