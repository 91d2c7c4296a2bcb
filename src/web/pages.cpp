#include "web/pages.hpp"

#include "sinks/format.hpp"
#include "text/text.hpp"
#include "web/metrics.hpp"

namespace kamstrup::web {

namespace {

Response page(std::string type, std::string body) {
  Response r;
  r.content_type = std::move(type);
  r.body = std::move(body);
  return r;
}

std::string meters_json(const std::vector<MeterStatus>& meters) {
  std::string body = "[";
  bool first = true;
  for (const auto& m : meters) {
    body += first ? "" : ", ";
    first = false;
    body += "{\"name\": " + text::json_quote(m.name) + ", \"port\": " + text::json_quote(m.port) +
            ", \"up\": " + (m.up ? "true" : "false") + ", \"state\": " + text::json_quote(m.state) +
            ", \"serial\": " + text::json_quote(m.info.serial) +
            ", \"model\": " + text::json_quote(m.info.model) + ", \"last\": " +
            (m.last_poll.values.empty() ? std::string("null") : sinks::poll_json(m.last_poll)) +
            "}";
  }
  return body + "]\n";
}

std::string outputs_json(const std::vector<SinkHealth>& outputs) {
  std::string body = "[";
  bool first = true;
  for (const auto& s : outputs) {
    body += first ? "" : ", ";
    first = false;
    body += "{\"id\": " + text::json_quote(s.id) + ", \"cursor\": " + std::to_string(s.cursor) +
            ", \"backlog\": " + std::to_string(s.backlog) +
            ", \"delivered\": " + std::to_string(s.delivered) +
            ", \"failures\": " + std::to_string(s.failures) +
            ", \"rejected\": " + std::to_string(s.rejected) +
            ", \"last_error\": " + text::json_quote(s.last_error) +
            ", \"last_rejection\": " + text::json_quote(s.last_rejection) +
            ", \"refused_values\": " + std::to_string(s.refused_values) +
            ", \"last_refusal\": " + text::json_quote(s.last_refusal) + "}";
  }
  return body + "]\n";
}

std::string status_html(const std::vector<MeterStatus>& meters) {
  std::string body = "<!doctype html><meta charset=utf-8><title>kamstrup</title><h1>kamstrup</h1>";
  for (const auto& m : meters) {
    body +=
        "<h2>" + m.name + (m.up ? " &#10003;" : " &#10007;") + "</h2><p>" + m.state + "</p><table>";
    for (const auto& v : m.last_poll.values) {
      body += "<tr><td>" + v.name + "<td style='text-align:right'>" +
              (v.text.empty() ? v.value : v.text) + "<td>" + v.unit;
    }
    body += "</table>";
  }
  body +=
      "<p><a href=/metrics>/metrics</a> &middot; <a href=/api/meters>/api/meters</a> &middot; <a "
      "href=/api/outputs>/api/outputs</a>";
  return body;
}

}  // namespace

void add_status_pages(Routes& routes, HealthSource health) {
  routes.get("/metrics", [health](const Request&) {
    return page("text/plain; version=0.0.4; charset=utf-8",
                prometheus_metrics(health.meters(), health.outputs()));
  });
  routes.get("/api/meters", [health](const Request&) {
    return page("application/json", meters_json(health.meters()));
  });
  routes.get("/api/outputs", [health](const Request&) {
    return page("application/json", outputs_json(health.outputs()));
  });
  routes.get("/", [health](const Request&) {
    return page("text/html; charset=utf-8", status_html(health.meters()));
  });
}

}  // namespace kamstrup::web
