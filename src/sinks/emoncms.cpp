#include "sinks/emoncms.hpp"

#include <nlohmann/json.hpp>

#include <cctype>
#include <functional>
#include <utility>

#include "sinks/format.hpp"

#include "text/text.hpp"

namespace kamstrup::sinks {

namespace {

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
    if (v.value.empty() || !text::is_decimal(v.value)) continue;
    out += out.empty() ? "{" : ",";
    out += text::json_quote(v.name) + ":" + v.value;
  }
  return out.empty() ? out : out + "}";
}

EmoncmsSink::EmoncmsSink(EmoncmsConfig config)
    : cfg_(std::move(config)), base_(http::trim_base_url(cfg_.url)), client_(cfg_.http) {}

std::string EmoncmsSink::node_for(const std::string& meter) const {
  for (const auto& [m, node] : cfg_.nodes) {
    if (m == meter) return node;
  }
  return meter == cfg_.first_meter ? cfg_.node : cfg_.node + "_" + meter;
}

namespace {

std::int64_t unix_seconds(std::int64_t ms) {
  return ms / 1000 - (ms % 1000 < 0 ? 1 : 0);
}

}  // namespace

std::string emoncms_bulk(std::span<const store::Poll> polls,
                         const std::function<std::string(const std::string&)>& node_for) {
  std::string out;
  for (const auto& p : polls) {
    std::string item;
    for (const auto& v : p.values) {
      if (v.value.empty() || !text::is_decimal(v.value)) continue;
      // One object per input: emoncms takes only the first key of each object.
      item += ",{" + text::json_quote(v.name) + ":" + v.value + "}";
    }
    if (item.empty()) continue;
    out += out.empty() ? "[" : ",";
    out += "[" + std::to_string(unix_seconds(p.time_ms)) + "," +
           text::json_quote(node_for(p.meter)) + item + "]";
  }
  return out.empty() ? out : out + "]";
}

void EmoncmsSink::send(const std::string& method, const std::string& path, const std::string& query,
                       const std::string& body, const std::string& what) {
  // The key goes in the Authorization header (RFC 6750 bearer, which emoncms reads), never in
  // the URL: URLs end up in proxy and server logs.
  const std::vector<std::string> headers = {
      "Authorization: Bearer " + cfg_.apikey.value,
      body.empty() ? std::string() : "Content-Type: application/x-www-form-urlencoded"};
  const std::string where =
      "emoncms: " + method + " " + http::redact_url(base_) + path + " (" + what + "): ";
  http::Response r;
  try {
    r = client_.request(method, base_ + path + query, headers, body);
  } catch (const http::HttpError& e) {
    throw SinkError(where + e.reason());
  }
  http::check_status(where, r);
  if (!accepted(r.body)) throw SinkError(where + "not accepted: " + http::body_excerpt(r.body));
}

void EmoncmsSink::deliver(std::span<const store::Poll> polls) {
  if (polls.size() > 1) {
    // A backlog: one input/bulk request with every poll at its own time.
    const std::string data =
        emoncms_bulk(polls, [this](const std::string& m) { return node_for(m); });
    if (data.empty()) return;
    send("POST", "/input/bulk", "", "data=" + http::url_encode(data) + "&time=0",
         std::to_string(polls.size()) + " polls");
    return;
  }
  for (const auto& p : polls) {
    const std::string json = emoncms_fulljson(p);
    if (json.empty()) continue;
    const std::string secs = std::to_string(unix_seconds(p.time_ms));
    const std::string node = node_for(p.meter);
    send(
        "GET", "/input/post",
        "?node=" + http::url_encode(node) + "&time=" + secs + "&fulljson=" + http::url_encode(json),
        "", "node " + node + ", time " + secs);
  }
}

const config::Table<EmoncmsConfig>& emoncms_keys() {
  using C = EmoncmsConfig;
  using namespace config;
  auto node_name = [](const std::string& v, const std::string& path) {
    if (v.empty() || v.find_first_of(" /?&#") != std::string::npos)
      fail(path, "expected an emoncms node name (no spaces, / ? & #), got '" + v + "'");
  };
  static const Table<C> t = http::with_client_keys(
      Table<C>{"emoncms",
               "emoncms inputs: `/input/post` with `fulljson` for a poll, `/input/bulk` for a "
               "backlog, each at its read time; the API key in an `Authorization: Bearer` "
               "header, never in the URL.",
               {
                   required(url<C>("url", &C::url, {"http", "https"}, "emoncms, with its path",
                                   "https://emoncms.org")),
                   secret<C>("apikey", &C::apikey, "the write API key (required)"),
                   str<C>("node", &C::node,
                          "node of the first meter; the others' inputs go to `<node>_<meter>`",
                          "heat", node_name),
                   text_map<C>("nodes", &C::nodes, "explicit node per meter, `{<meter>: <node>}`",
                               "{heat: house_heat}",
                               [node_name](const std::string&, const std::string& v,
                                           const std::string& path) { node_name(v, path); }),
               },
               [](C& c, const std::string& path, Context& ctx) {
                 if (c.apikey.empty()) fail(join(path, "apikey"), "the write API key is required");
                 for (const auto& [meter, node] : c.nodes) {
                   if (ctx.meter(meter) == nullptr)
                     fail(join(join(path, "nodes"), meter), "no meter is named '" + meter + "'");
                 }
                 c.first_meter = ctx.meters.empty() ? "" : ctx.meters.front().name;
               }});
  return t;
}

}  // namespace kamstrup::sinks
