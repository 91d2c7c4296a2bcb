#include "sinks/influxdb.hpp"

#include <algorithm>
#include <cctype>
#include <optional>
#include <stdexcept>
#include <utility>
#include <vector>

#include "text/text.hpp"

namespace kamstrup::sinks {

namespace {

// Escapes `specials` with a backslash; newlines (unescapable in keys and tags) become spaces.
std::string escape(const std::string& s, std::string_view specials) {
  std::string out;
  out.reserve(s.size() + 4);
  for (char c : s) {
    if (c == '\n' || c == '\r') c = ' ';
    if (specials.find(c) != std::string_view::npos) out.push_back('\\');
    out.push_back(c);
  }
  return out;
}

std::string escape_measurement(const std::string& s) {
  return escape(s, ", ");
}
std::string escape_key(const std::string& s) {
  return escape(s, ",= ");
}

std::string quote_string_field(const std::string& s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') out.push_back('\\');
    out.push_back(c);
  }
  return out + "\"";
}

}  // namespace

std::string influx_line(const store::Poll& poll, const std::string& measurement,
                        const std::string& serial) {
  std::string fields;
  auto add_field = [&](const std::string& key, const std::string& value) {
    if (!fields.empty()) fields += ',';
    fields += escape_key(key);
    fields += '=';
    fields += value;
  };
  for (const auto& v : poll.values) {
    // A value that is not a plain decimal cannot come from the meter layer; skip it rather
    // than have the server reject the whole batch forever.
    if (!v.value.empty() && text::is_decimal(v.value)) add_field(v.name, v.value);
    if (!v.text.empty()) add_field(v.name + "_text", quote_string_field(v.text));
  }
  if (fields.empty()) return "";

  std::string line = escape_measurement(measurement);
  auto add_tag = [&](const std::string& key, const std::string& value) {
    if (value.empty()) return;  // InfluxDB rejects empty tag values
    line += ',';
    line += escape_key(key);
    line += '=';
    line += escape_key(value);
  };
  // Sorted by key, as InfluxDB prefers.
  add_tag("meter", poll.meter);
  add_tag("serial", serial);
  add_tag("source", poll.source);
  line += ' ';
  line += fields;
  line += ' ';
  line += std::to_string(poll.time_ms);
  return line;
}

InfluxSink::InfluxSink(InfluxConfig config) : cfg_(std::move(config)), client_(cfg_.http) {
  if (cfg_.measurement.empty()) throw std::invalid_argument("influxdb: measurement is empty");
  std::string base = http::trim_base_url(cfg_.url);
  if (!cfg_.bucket.empty()) {
    if (cfg_.org.empty()) throw std::invalid_argument("influxdb: bucket given but no org (v2)");
    write_url_ = base + "/api/v2/write?org=" + http::url_encode(cfg_.org) +
                 "&bucket=" + http::url_encode(cfg_.bucket) + "&precision=ms";
  } else {
    if (cfg_.database.empty())
      throw std::invalid_argument("influxdb: needs a database (v1) or an org and bucket (v2)");
    write_url_ = base + "/write?db=" + http::url_encode(cfg_.database) + "&precision=ms";
  }
  if (cfg_.batch == 0) cfg_.batch = 1;
}

void InfluxSink::meter_info(const MeterInfo& info) {
  if (!info.serial.empty()) serials_[info.name] = info.serial;
}

void InfluxSink::deliver(std::span<const store::Poll> polls) {
  std::vector<std::string> headers = {"Content-Type: text/plain; charset=utf-8"};
  std::optional<http::BasicAuth> auth;
  if (!cfg_.bucket.empty()) {
    headers.push_back("Authorization: Token " + cfg_.token.value);
  } else if (!cfg_.username.empty()) {
    auth = http::BasicAuth{cfg_.username, cfg_.password.value};
  }

  for (std::size_t start = 0; start < polls.size(); start += cfg_.batch) {
    auto chunk = polls.subspan(start, std::min(cfg_.batch, polls.size() - start));
    std::string body;
    for (const auto& p : chunk) {
      auto it = serials_.find(p.meter);
      std::string line =
          influx_line(p, cfg_.measurement, it == serials_.end() ? std::string() : it->second);
      if (line.empty()) continue;
      body += line;
      body += '\n';
    }
    if (body.empty()) continue;

    http::Response r;
    try {
      r = client_.request("POST", write_url_, headers, body, auth);
    } catch (const http::HttpError& e) {
      throw SinkError(std::string("influxdb: ") + e.what());
    }
    http::check_status("influxdb: POST " + http::redact_url(write_url_) + ": ", r);
  }
}

const config::Table<InfluxConfig>& influx_keys() {
  using C = InfluxConfig;
  using namespace config;
  static const Table<C> t = http::with_client_keys(Table<C>{
      "influxdb",
      "InfluxDB 1 (`database`) or 2 (`org`, `bucket`, `token`), line protocol over HTTP. The read "
      "time is each point's timestamp, so a replay after an outage is idempotent.",
      {
          url<C>("url", &C::url, {"http", "https"}, "the server", "https://influx.example:8086"),
          str<C>("database", &C::database, "InfluxDB 1: the database", "kamstrup"),
          str<C>("username", &C::username, "InfluxDB 1: user (HTTP basic auth)", "writer"),
          secret<C>("password", &C::password, "InfluxDB 1: password"),
          str<C>("org", &C::org, "InfluxDB 2: organisation", "home"),
          str<C>("bucket", &C::bucket, "InfluxDB 2: bucket", "heat"),
          secret<C>("token", &C::token, "InfluxDB 2: API token with write access"),
          str<C>("measurement", &C::measurement, "measurement name", "district_heating",
                 [](const std::string& v, const std::string& path) {
                   if (v.empty()) fail(path, "must not be empty");
                 }),
          integer<C>("batch", &C::batch, 1, 100000, "polls per write request", "50"),
      },
      [](C& c, const std::string& path, Context&) {
        const bool v1 = !c.database.empty();
        const bool v2 = !c.bucket.empty() || !c.org.empty() || !c.token.empty();
        if (v1 && v2)
          fail(path,
               "give either database (InfluxDB 1) or org, bucket and token (InfluxDB 2), not both");
        if (!v1 && !v2)
          fail(path, "needs database (InfluxDB 1) or org, bucket and token (InfluxDB 2)");
        if (v2 && (c.org.empty() || c.bucket.empty() || c.token.empty()))
          fail(path, "InfluxDB 2 needs all of org, bucket and token");
        if (v1 && c.password.source != Secret::Source::None && c.username.empty())
          fail(join(path, "password"), "a password needs a username");
      }});
  return t;
}

}  // namespace kamstrup::sinks
