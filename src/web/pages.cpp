#include "web/pages.hpp"

#include "sinks/format.hpp"
#include "text/text.hpp"
#include "web/assets.hpp"
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
  add_dashboard(routes);
}

void add_dashboard(Routes& routes) {
  const std::string prefix = "/static/" + std::string(assets_version()) + "/";
  for (const Asset& a : assets()) {
    // The files stay in the binary's read-only data; each answer copies one (the page and its
    // scripts are fetched once per visit).
    if (a.name == "index.html") {
      // Always asked again, so a new build's page (and with it new asset URLs) shows at once.
      routes.get("/", [a](const Request&) {
        Response r = page(std::string(a.content_type), std::string(a.bytes));
        r.headers.emplace_back("Cache-Control", "no-cache");
        return r;
      });
    } else {
      // The URL changes with the content (assets_version), so it can be kept for good.
      routes.get(prefix + std::string(a.name), [a](const Request&) {
        Response r = page(std::string(a.content_type), std::string(a.bytes));
        r.headers.emplace_back("Cache-Control", "public, max-age=31536000, immutable");
        return r;
      });
    }
  }
}

}  // namespace kamstrup::web
