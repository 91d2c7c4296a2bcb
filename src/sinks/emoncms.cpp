#include "sinks/emoncms.hpp"

#include <nlohmann/json.hpp>

#include <cctype>
#include <utility>

#include "sinks/format.hpp"

namespace kamstrup::sinks {

namespace {

// -?digits(.digits)?: what kmp::Decimal prints, and a valid JSON number token.
bool plain_decimal(const std::string& s) {
  std::size_t i = 0;
  if (i < s.size() && s[i] == '-') ++i;
  std::size_t digits = 0;
  while (i < s.size() && std::isdigit(static_cast<unsigned char>(s[i])) != 0) ++i, ++digits;
  if (digits == 0) return false;
  if (i == s.size()) return true;
  if (s[i] != '.') return false;
  ++i;
  digits = 0;
  while (i < s.size() && std::isdigit(static_cast<unsigned char>(s[i])) != 0) ++i, ++digits;
  return digits > 0 && i == s.size();
}

std::string trim(const std::string& s) {
  std::size_t b = 0, e = s.size();
  while (b < e && std::isspace(static_cast<unsigned char>(s[b])) != 0) ++b;
  while (e > b && std::isspace(static_cast<unsigned char>(s[e - 1])) != 0) --e;
  return s.substr(b, e - b);
}

bool accepted(const std::string& body) {
  std::string t = trim(body);
  if (t == "ok") return true;
  auto json = nlohmann::json::parse(t, nullptr, /*allow_exceptions=*/false);
  return json.is_object() && json.contains("success") && json["success"] == true;
}

}  // namespace

std::string emoncms_fulljson(const store::Poll& poll) {
  std::string out;
  for (const auto& v : poll.values) {
    if (v.value.empty() || !plain_decimal(v.value)) continue;
    out += out.empty() ? "{" : ",";
    out += meter::json_quote(v.name) + ":" + v.value;
  }
  return out.empty() ? out : out + "}";
}

EmoncmsSink::EmoncmsSink(EmoncmsConfig config)
    : cfg_(std::move(config)),
      base_(http::trim_base_url(cfg_.url)),
      client_(http::ClientOptions{.timeout = cfg_.timeout}) {}

std::string EmoncmsSink::node_for(const std::string& meter) const {
  return cfg_.per_meter_node ? cfg_.node + "_" + meter : cfg_.node;
}

void EmoncmsSink::deliver(std::span<const store::Poll> polls) {
  for (const auto& p : polls) {
    std::string json = emoncms_fulljson(p);
    if (json.empty()) continue;
    std::int64_t secs = p.time_ms / 1000 - (p.time_ms % 1000 < 0 ? 1 : 0);
    std::string url = base_ + "/input/post?node=" + http::url_encode(node_for(p.meter)) +
                      "&time=" + std::to_string(secs) + "&fulljson=" + http::url_encode(json) +
                      "&apikey=" + http::url_encode(cfg_.apikey);
    // The URL carries the whole JSON: name the endpoint, node and time instead.
    std::string where = "emoncms: GET " + http::redact_url(base_) + "/input/post (node " +
                        node_for(p.meter) + ", time " + std::to_string(secs) + "): ";
    http::Response r;
    try {
      r = client_.request("GET", url);
    } catch (const http::HttpError& e) {
      throw SinkError(where + e.reason());
    }
    http::check_status(where, r);
    if (!accepted(r.body)) throw SinkError(where + "not accepted: " + http::body_excerpt(r.body));
  }
}

}  // namespace kamstrup::sinks
