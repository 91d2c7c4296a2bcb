#include "daemon/http.hpp"

#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <deque>
#include <functional>
#include <map>
#include <set>
#include <stdexcept>

#include "sinks/format.hpp"

namespace kamstrup::daemon {

namespace {

// Label values escape backslash, double quote and newline (exposition format).
std::string label(const std::string& v) {
  std::string out;
  for (char c : v) {
    if (c == '\\' || c == '"') out.push_back('\\');
    if (c == '\n') {
      out += "\\n";
      continue;
    }
    out.push_back(c);
  }
  return out;
}

struct Family {
  std::string name, type, help;
  std::vector<std::string> samples;
};

}  // namespace

std::string prometheus_metrics(const std::vector<MeterStatus>& meters,
                               const std::vector<SinkHealth>& sinks) {
  std::deque<Family> f;  // a deque: the references handed out below must stay valid
  auto family = [&](const std::string& name, const std::string& type,
                    const std::string& help) -> Family& {
    f.push_back({name, type, help, {}});
    return f.back();
  };
  Family& value =
      family("kamstrup_register_value", "gauge",
             "Latest register value as the meter sent it, in the unit of the unit label.");
  Family& up = family("kamstrup_meter_up", "gauge", "1 when the last poll got a valid answer.");
  Family& last = family("kamstrup_last_success_timestamp_seconds", "gauge",
                        "Unix time of the last successful poll.");
  Family& polls = family("kamstrup_polls_total", "counter", "Polls by result.");
  Family& backfilled = family("kamstrup_backfilled_records_total", "counter",
                              "Records read back from the meter's own logger and stored.");
  Family& frames = family("kamstrup_frames_sent_total", "counter", "Request frames sent.");
  Family& replies = family("kamstrup_replies_total", "counter", "Valid replies received.");
  Family& timeouts = family("kamstrup_timeouts_total", "counter",
                            "Exchanges that ended without a valid reply in time.");
  Family& crc =
      family("kamstrup_crc_errors_total", "counter", "Reply frames that failed their CRC.");
  Family& bad = family("kamstrup_bad_frames_total", "counter", "Other invalid reply frames.");
  Family& retries = family("kamstrup_retries_total", "counter", "Retried exchanges.");
  Family& bytes =
      family("kamstrup_bytes_total", "counter", "Bytes on the optical line by direction.");
  Family& backlog = family("kamstrup_output_backlog_polls", "gauge",
                           "Polls in the store not yet delivered to the output.");
  Family& delivered = family("kamstrup_output_delivered_total", "counter",
                             "Polls delivered to the output since start.");
  Family& failures =
      family("kamstrup_output_failures_total", "counter", "Failed delivery attempts since start.");
  Family& rejected = family("kamstrup_output_rejected_total", "counter",
                            "Polls the output's target refused (HTTP 4xx for the data) and that "
                            "were skipped, since start.");
  Family& out_up =
      family("kamstrup_output_up", "gauge", "1 when the output's last delivery attempt succeeded.");

  for (const auto& m : meters) {
    std::string ml = "meter=\"" + label(m.name) + "\"";
    for (const auto& v : m.last_poll.values) {
      if (v.value.empty()) continue;  // text-only registers have no sample
      value.samples.push_back("kamstrup_register_value{" + ml + ",register=\"" + label(v.name) +
                              "\",id=\"" + std::to_string(v.register_id) + "\",unit=\"" +
                              label(v.unit) + "\"} " + v.value);
    }
    up.samples.push_back("kamstrup_meter_up{" + ml + "} " + (m.up ? "1" : "0"));
    if (m.last_success_ms > 0) {
      last.samples.push_back("kamstrup_last_success_timestamp_seconds{" + ml + "} " +
                             std::to_string(m.last_success_ms / 1000) + "." +
                             std::to_string(1000 + m.last_success_ms % 1000).substr(1));
    }
    polls.samples.push_back("kamstrup_polls_total{" + ml + ",result=\"ok\"} " +
                            std::to_string(m.polls_ok));
    polls.samples.push_back("kamstrup_polls_total{" + ml + ",result=\"failed\"} " +
                            std::to_string(m.polls_failed));
    backfilled.samples.push_back("kamstrup_backfilled_records_total{" + ml + "} " +
                                 std::to_string(m.backfilled));
    frames.samples.push_back("kamstrup_frames_sent_total{" + ml + "} " +
                             std::to_string(m.stats.frames_sent));
    replies.samples.push_back("kamstrup_replies_total{" + ml + "} " +
                              std::to_string(m.stats.replies));
    timeouts.samples.push_back("kamstrup_timeouts_total{" + ml + "} " +
                               std::to_string(m.stats.timeouts));
    crc.samples.push_back("kamstrup_crc_errors_total{" + ml + "} " +
                          std::to_string(m.stats.crc_errors));
    bad.samples.push_back("kamstrup_bad_frames_total{" + ml + "} " +
                          std::to_string(m.stats.bad_frames));
    retries.samples.push_back("kamstrup_retries_total{" + ml + "} " +
                              std::to_string(m.stats.retries));
    bytes.samples.push_back("kamstrup_bytes_total{" + ml + ",direction=\"sent\"} " +
                            std::to_string(m.stats.bytes_sent));
    bytes.samples.push_back("kamstrup_bytes_total{" + ml + ",direction=\"received\"} " +
                            std::to_string(m.stats.bytes_received));
  }
  for (const auto& s : sinks) {
    std::string sl = "output=\"" + label(s.id) + "\"";
    backlog.samples.push_back("kamstrup_output_backlog_polls{" + sl + "} " +
                              std::to_string(s.backlog));
    delivered.samples.push_back("kamstrup_output_delivered_total{" + sl + "} " +
                                std::to_string(s.delivered));
    failures.samples.push_back("kamstrup_output_failures_total{" + sl + "} " +
                               std::to_string(s.failures));
    rejected.samples.push_back("kamstrup_output_rejected_total{" + sl + "} " +
                               std::to_string(s.rejected));
    out_up.samples.push_back("kamstrup_output_up{" + sl + "} " +
                             (s.last_error.empty() ? "1" : "0"));
  }
  std::string out;
  for (const auto& fam : f) {
    if (fam.samples.empty()) continue;
    out += "# HELP " + fam.name + " " + fam.help + "\n# TYPE " + fam.name + " " + fam.type + "\n";
    for (const auto& s : fam.samples) out += s + "\n";
  }
  return out;
}

namespace {

struct Page {
  std::string type, body;
};

std::string reason_phrase(int status) {
  switch (status) {
    case 200:
      return "OK";
    case 400:
      return "Bad Request";
    case 404:
      return "Not Found";
    case 405:
      return "Method Not Allowed";
    case 408:
      return "Request Timeout";
    default:
      return "Error";
  }
}

void send_all(int fd, std::string_view data) {
  while (!data.empty()) {
    ssize_t n = ::send(fd, data.data(), data.size(), MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;  // the client went away or timed out (SO_SNDTIMEO): nothing to do
    data.remove_prefix(static_cast<std::size_t>(n));
  }
}

}  // namespace

struct HttpServer::Impl {
  int listen_fd = -1;
  int wake[2] = {-1, -1};  // a byte on wake[1] stops the accept loop
  std::map<std::string, std::function<Page()>> routes;

  ~Impl() {
    for (int fd : {listen_fd, wake[0], wake[1]})
      if (fd >= 0) ::close(fd);
  }

  void serve() {
    for (;;) {
      pollfd p[2] = {{listen_fd, POLLIN, 0}, {wake[0], POLLIN, 0}};
      if (::poll(p, 2, -1) < 0) {
        if (errno == EINTR) continue;
        return;
      }
      if (p[1].revents != 0) return;
      if ((p[0].revents & POLLIN) == 0) continue;
      int fd = ::accept4(listen_fd, nullptr, nullptr, SOCK_CLOEXEC);
      if (fd < 0) continue;
      handle(fd);
      ::close(fd);
    }
  }

  // One request, one answer, then the connection is closed.
  void handle(int fd) {
    timeval tv{5, 0};
    ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    std::string req;
    char buf[4096];
    while (req.find("\r\n\r\n") == std::string::npos && req.find("\n\n") == std::string::npos) {
      if (req.size() > 16384) return answer(fd, 400, {"text/plain", "request too large\n"}, false);
      ssize_t n = ::recv(fd, buf, sizeof buf, 0);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) return answer(fd, 408, {"text/plain", "timeout\n"}, false);
      if (n == 0) return;
      req.append(buf, static_cast<std::size_t>(n));
    }
    // METHOD SP target SP HTTP/x.y
    auto sp1 = req.find(' ');
    auto sp2 = sp1 == std::string::npos ? sp1 : req.find(' ', sp1 + 1);
    auto eol = req.find_first_of("\r\n");
    if (sp2 == std::string::npos || sp2 > eol)
      return answer(fd, 400, {"text/plain", "bad request\n"}, false);
    std::string method = req.substr(0, sp1);
    std::string target = req.substr(sp1 + 1, sp2 - sp1 - 1);
    std::string path = target.substr(0, target.find_first_of("?#"));
    const bool head = method == "HEAD";
    if (method != "GET" && !head)
      return answer(fd, 405, {"text/plain", "only GET and HEAD\n"}, false);
    auto it = routes.find(path);
    if (it == routes.end()) return answer(fd, 404, {"text/plain", "not found\n"}, head);
    Page page;
    try {
      page = it->second();
    } catch (const std::exception& e) {
      return answer(fd, 500, {"text/plain", std::string(e.what()) + "\n"}, head);
    }
    answer(fd, 200, page, head);
  }

  static void answer(int fd, int status, const Page& page, bool head) {
    std::string out = "HTTP/1.1 " + std::to_string(status) + " " + reason_phrase(status) +
                      "\r\nContent-Type: " + page.type +
                      "\r\nContent-Length: " + std::to_string(page.body.size()) +
                      "\r\nConnection: close\r\n\r\n";
    if (!head) out += page.body;
    send_all(fd, out);
    ::shutdown(fd, SHUT_WR);
  }
};

HttpServer::HttpServer(const HttpConfig& cfg, Status& status, Fanout& fanout, store::Store& store)
    : impl_(std::make_unique<Impl>()) {
  auto& routes = impl_->routes;
  routes["/metrics"] = [&status, &fanout] {
    return Page{"text/plain; version=0.0.4; charset=utf-8",
                prometheus_metrics(status.meters(), fanout.health())};
  };
  routes["/api/meters"] = [&status] {
    std::string body = "[";
    bool first = true;
    for (const auto& m : status.meters()) {
      body += first ? "" : ", ";
      first = false;
      body +=
          "{\"name\": " + text::json_quote(m.name) + ", \"port\": " + text::json_quote(m.port) +
          ", \"up\": " + (m.up ? "true" : "false") + ", \"state\": " + text::json_quote(m.state) +
          ", \"serial\": " + text::json_quote(m.info.serial) +
          ", \"model\": " + text::json_quote(m.info.model) + ", \"last\": " +
          (m.last_poll.values.empty() ? std::string("null") : sinks::poll_json(m.last_poll)) + "}";
    }
    return Page{"application/json", body + "]\n"};
  };
  routes["/api/outputs"] = [&fanout] {
    std::string body = "[";
    bool first = true;
    for (const auto& s : fanout.health()) {
      body += first ? "" : ", ";
      first = false;
      body += "{\"id\": " + text::json_quote(s.id) + ", \"cursor\": " + std::to_string(s.cursor) +
              ", \"backlog\": " + std::to_string(s.backlog) +
              ", \"delivered\": " + std::to_string(s.delivered) +
              ", \"failures\": " + std::to_string(s.failures) +
              ", \"rejected\": " + std::to_string(s.rejected) +
              ", \"last_error\": " + text::json_quote(s.last_error) +
              ", \"last_rejection\": " + text::json_quote(s.last_rejection) + "}";
    }
    return Page{"application/json", body + "]\n"};
  };
  routes["/"] = [&status] {
    std::string body =
        "<!doctype html><meta charset=utf-8><title>kamstrup</title><h1>kamstrup</h1>";
    for (const auto& m : status.meters()) {
      body += "<h2>" + m.name + (m.up ? " &#10003;" : " &#10007;") + "</h2><p>" + m.state +
              "</p><table>";
      for (const auto& v : m.last_poll.values) {
        body += "<tr><td>" + v.name + "<td style='text-align:right'>" +
                (v.text.empty() ? v.value : v.text) + "<td>" + v.unit;
      }
      body += "</table>";
    }
    body +=
        "<p><a href=/metrics>/metrics</a> &middot; <a href=/api/meters>/api/meters</a> &middot; <a "
        "href=/api/outputs>/api/outputs</a>";
    return Page{"text/html; charset=utf-8", body};
  };
  (void)store;

  const std::string where = cfg.host + ":" + std::to_string(cfg.port);
  auto cannot = [&](const std::string& why) {
    return std::runtime_error("http.listen: cannot listen on " + where + " (" + why + ")");
  };
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
  addrinfo* res = nullptr;
  int rc = getaddrinfo(cfg.host.empty() ? nullptr : cfg.host.c_str(),
                       std::to_string(cfg.port).c_str(), &hints, &res);
  if (rc != 0) throw cannot(gai_strerror(rc));
  std::string why = "no address";
  for (addrinfo* ai = res; ai != nullptr && impl_->listen_fd < 0; ai = ai->ai_next) {
    int fd = ::socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
    if (fd < 0) continue;
    int one = 1;
    ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (::bind(fd, ai->ai_addr, ai->ai_addrlen) == 0 && ::listen(fd, 16) == 0) {
      impl_->listen_fd = fd;
    } else {
      why = std::strerror(errno);
      ::close(fd);
    }
  }
  freeaddrinfo(res);
  if (impl_->listen_fd < 0) throw cannot(why + "; address in use or not local?");
  if (::pipe2(impl_->wake, O_CLOEXEC) != 0) throw cannot(std::strerror(errno));
  thread_ = std::thread([this] { impl_->serve(); });
}

HttpServer::~HttpServer() {
  stop();
}

void HttpServer::stop() {
  if (impl_ && impl_->wake[1] >= 0 && thread_.joinable()) {
    char b = 1;
    while (::write(impl_->wake[1], &b, 1) < 0 && errno == EINTR) {
    }
  }
  if (thread_.joinable()) thread_.join();
  if (impl_ && impl_->listen_fd >= 0) {  // refuse connections from now on
    ::close(impl_->listen_fd);
    impl_->listen_fd = -1;
  }
}

}  // namespace kamstrup::daemon
