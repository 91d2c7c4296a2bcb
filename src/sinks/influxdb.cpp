#include "sinks/influxdb.hpp"

#include <algorithm>
#include <cctype>
#include <optional>
#include <stdexcept>
#include <utility>
#include <vector>

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

// -?digits(.digits)?: what kmp::Decimal prints, and a valid line-protocol float.
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
    if (!v.value.empty() && plain_decimal(v.value)) add_field(v.name, v.value);
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

InfluxSink::InfluxSink(InfluxConfig config)
    : cfg_(std::move(config)), client_(http::ClientOptions{.timeout = cfg_.timeout}) {
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
    headers.push_back("Authorization: Token " + cfg_.token);
  } else if (!cfg_.username.empty()) {
    auth = http::BasicAuth{cfg_.username, cfg_.password};
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

}  // namespace kamstrup::sinks
