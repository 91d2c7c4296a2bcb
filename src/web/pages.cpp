#include "web/pages.hpp"

#include <optional>

#include "sinks/format.hpp"
#include "text/text.hpp"
#include "text/time.hpp"
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

std::string names_json(const std::vector<std::string>& names) {
  std::string out = "[";
  for (const auto& n : names) out += (out.size() > 1 ? ", " : "") + text::json_quote(n);
  return out + "]";
}

std::string since_json(std::int64_t ms) {
  return ms > 0 ? text::json_quote(text::utc_text(ms)) : std::string("null");
}

// What the meter's latest answer said beyond its values: the configured registers it lacks, the
// table naming its info-code flags and the flags set (null: no info code in the answer).
std::string answer_json(const MeterStatus& m) {
  std::string flags = "null";
  if (m.info_flags) {
    std::vector<std::string> names;
    for (const auto& f : *m.info_flags) names.push_back(f.name);
    flags = names_json(names);
  }
  return ", \"unsupported\": " + names_json(m.unsupported) +
         ", \"info_codes\": " + text::json_quote(kmp::info_codes_name(m.info_codes)) +
         ", \"info_flags\": " + flags;
}

// The store as one meter sees it: whether it can be written and how many of this meter's polls
// wait in memory for it.
std::string meter_store_json(const StoreHealth& s, std::size_t held) {
  return "{\"ok\": " + std::string(s.ok ? "true" : "false") +
         ", \"state\": " + text::json_quote(s.state) + ", \"since\": " + since_json(s.since_ms) +
         ", \"errors\": " + std::to_string(s.errors) + ", \"held\": " + std::to_string(held) + "}";
}

std::string store_json(const StoreHealth& s) {
  return "{\"path\": " + text::json_quote(s.path) + ", \"ok\": " + (s.ok ? "true" : "false") +
         ", \"state\": " + text::json_quote(s.state) + ", \"since\": " + since_json(s.since_ms) +
         ", \"errors\": " + std::to_string(s.errors) + ", \"held\": " + std::to_string(s.held) +
         ", \"queue\": " + std::to_string(s.queue) + ", \"dropped\": " + std::to_string(s.dropped) +
         "}\n";
}

std::string meters_json(const std::vector<MeterStatus>& meters,
                        const std::optional<StoreHealth>& store) {
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
            answer_json(m) + (store ? ", \"store\": " + meter_store_json(*store, m.held) : "") +
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
  auto store = [health]() -> std::optional<StoreHealth> {
    if (!health.store) return std::nullopt;
    return health.store();
  };
  routes.get("/metrics", [health, store](const Request&) {
    return page("text/plain; version=0.0.4; charset=utf-8",
                prometheus_metrics(health.meters(), health.outputs(), store()));
  });
  routes.get("/api/meters", [health, store](const Request&) {
    return page("application/json", meters_json(health.meters(), store()));
  });
  if (health.store) {
    routes.get("/api/store", [health](const Request&) {
      return page("application/json", store_json(health.store()));
    });
  }
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
