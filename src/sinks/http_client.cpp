#include "sinks/http_client.hpp"

#include <curl/curl.h>

#include <algorithm>
#include <cctype>
#include <mutex>

namespace kamstrup::sinks::http {

namespace {

void global_init() {
  // curl_global_init is not thread-safe on every libcurl build; do it exactly once, before the
  // first handle exists. Never cleaned up: it lives as long as the process.
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

std::size_t on_body(char* data, std::size_t size, std::size_t nmemb, void* user) {
  auto* body = static_cast<std::string*>(user);
  std::size_t n = size * nmemb;
  if (body->size() < HttpClient::kMaxBody)
    body->append(data, std::min(n, HttpClient::kMaxBody - body->size()));
  return n;  // keep reading (and dropping) the rest so the connection stays reusable
}

struct HeaderList {
  curl_slist* list = nullptr;
  ~HeaderList() { curl_slist_free_all(list); }
  void add(const std::string& line) {
    curl_slist* next = curl_slist_append(list, line.c_str());
    if (next == nullptr) throw HttpError("out of memory building HTTP headers", "out of memory");
    list = next;
  }
};

bool secret_param(std::string_view key) {
  std::string k;
  for (char c : key) k.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(c))));
  return k == "apikey" || k == "api_key" || k == "token" || k == "password" || k == "passwd" ||
         k == "p" || k == "u";
}

}  // namespace

HttpClient::HttpClient(std::chrono::milliseconds timeout) : curl_(nullptr), timeout_(timeout) {
  global_init();
  curl_ = curl_easy_init();
  if (curl_ == nullptr) throw HttpError("cannot initialise libcurl", "cannot initialise libcurl");
}

HttpClient::~HttpClient() {
  curl_easy_cleanup(static_cast<CURL*>(curl_));
}

Response HttpClient::request(const std::string& method, const std::string& url,
                             const std::vector<std::string>& headers, const std::string& body,
                             const std::optional<BasicAuth>& auth) {
  CURL* c = static_cast<CURL*>(curl_);
  // Resets the options but keeps the live connection, so a batch of requests reuses it.
  curl_easy_reset(c);

  Response resp;
  char errbuf[CURL_ERROR_SIZE] = {};
  HeaderList hl;
  for (const auto& h : headers) hl.add(h);
  hl.add("Expect:");  // no 100-continue round trip for larger bodies

  curl_easy_setopt(c, CURLOPT_URL, url.c_str());
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);  // timeouts without SIGALRM (we run in threads)
  curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, static_cast<long>(timeout_.count()));
  curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, static_cast<long>(timeout_.count()));
  curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, &on_body);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, &resp.body);
  curl_easy_setopt(c, CURLOPT_HTTPHEADER, hl.list);
  curl_easy_setopt(c, CURLOPT_USERAGENT, "kamstrup-reader");
#if LIBCURL_VERSION_NUM >= 0x075500
  curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
#endif
  if (auth) {
    curl_easy_setopt(c, CURLOPT_HTTPAUTH, static_cast<long>(CURLAUTH_BASIC));
    curl_easy_setopt(c, CURLOPT_USERNAME, auth->username.c_str());
    curl_easy_setopt(c, CURLOPT_PASSWORD, auth->password.c_str());
  }
  if (method == "GET") {
    curl_easy_setopt(c, CURLOPT_HTTPGET, 1L);
  } else {
    curl_easy_setopt(c, CURLOPT_POST, 1L);
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, body.data());
    curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(body.size()));
    if (method != "POST") curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method.c_str());
  }

  CURLcode rc = curl_easy_perform(c);
  // The options point at locals; never leave them dangling in the handle.
  curl_easy_setopt(c, CURLOPT_HTTPHEADER, nullptr);
  curl_easy_setopt(c, CURLOPT_ERRORBUFFER, nullptr);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, nullptr);
  if (rc != CURLE_OK) {
    std::string reason = errbuf[0] != '\0' ? errbuf : curl_easy_strerror(rc);
    throw HttpError(method + " " + redact_url(url) + ": " + reason, reason);
  }
  curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &resp.status);
  return resp;
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
