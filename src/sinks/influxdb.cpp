#include "sinks/influxdb.hpp"

#include <algorithm>
#include <cctype>
#include <optional>
#include <stdexcept>
#include <utility>
#include <vector>

#include "kmp/catalogue.hpp"
#include "kmp/units.hpp"
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

std::string unit_suffix(std::string_view unit) {
  std::string out;
  for (std::size_t i = 0; i < unit.size(); ++i) {
    const auto c = static_cast<unsigned char>(unit[i]);
    if (unit.substr(i, 2) == "³") {  // UTF-8 superscript three
      out += '3';
      ++i;
    } else if (unit.substr(i, 2) == "°") {
      out += "deg";
      ++i;
    } else if (unit.substr(i, 2) == "×") {
      out += 'x';
      ++i;
    } else if (c == '/') {
      out += "_per_";
    } else if (std::isalnum(c) != 0) {
      out += static_cast<char>(std::tolower(c));
    } else if (!out.empty() && out.back() != '_') {
      out += '_';
    }
  }
  while (!out.empty() && out.back() == '_') out.pop_back();
  return out;
}

std::string influx_line(const store::Poll& poll, const InfluxLine& o) {
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
    if (!v.value.empty() && text::is_decimal(v.value)) {
      std::string value = v.value;
      std::string unit = v.unit;
      const kmp::RegisterDef* def = kmp::find_register(std::string_view(v.name));
      if (!o.energy_unit.empty() && def != nullptr && def->quantity == kmp::Quantity::Energy) {
        // Exact only (MWh -> kWh); a GJ meter keeps its unit, which the field name then says.
        if (auto d = kmp::Decimal::parse(v.value)) {
          if (auto c = kmp::convert_exact(*d, v.unit, o.energy_unit)) {
            value = c->to_string();
            unit = o.energy_unit;
          }
        }
      }
      const std::string suffix = o.unit_in_field ? unit_suffix(unit) : std::string();
      add_field(suffix.empty() ? v.name : v.name + "_" + suffix, value);
    }
    if (!v.text.empty()) add_field(v.name + "_text", quote_string_field(v.text));
  }
  if (fields.empty()) return "";

  // Tags sorted by key, as InfluxDB prefers (it sorts them itself otherwise).
  std::vector<std::pair<std::string, std::string>> tags = {
      {"meter", poll.meter}, {"serial", o.serial}, {"source", poll.source}};
  if (o.tags != nullptr) tags.insert(tags.end(), o.tags->begin(), o.tags->end());
  std::stable_sort(tags.begin(), tags.end(),
                   [](const auto& a, const auto& b) { return a.first < b.first; });
  std::string line = escape_measurement(o.measurement);
  for (const auto& [key, value] : tags) {
    if (value.empty()) continue;  // InfluxDB rejects empty tag values
    line += ',';
    line += escape_key(key);
    line += '=';
    line += escape_key(value);
  }
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

std::vector<std::pair<std::string, std::string>> InfluxSink::tags_for(
    const std::string& meter) const {
  auto tags = cfg_.tags;
  for (const auto& [m, extra] : cfg_.meter_tags) {
    if (m != meter) continue;
    for (const auto& tag : extra) {
      // Not a structured binding: clang 14 cannot capture one in the lambda.
      auto same = std::find_if(tags.begin(), tags.end(),
                               [&](const auto& t) { return t.first == tag.first; });
      if (same != tags.end()) {
        same->second = tag.second;  // the meter's own value wins over the output's
      } else {
        tags.emplace_back(tag.first, tag.second);
      }
    }
  }
  return tags;
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
      InfluxLine o;
      o.measurement = cfg_.measurement;
      o.serial = it == serials_.end() ? std::string() : it->second;
      o.unit_in_field = cfg_.field_names == InfluxFieldNames::RegisterUnit;
      o.energy_unit = cfg_.energy_unit;
      const auto tags = tags_for(p.meter);
      o.tags = &tags;
      std::string line = influx_line(p, o);
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

namespace {

void no_backslash(const std::string& v, const std::string& path) {
  if (v.find('\\') != std::string::npos) {
    config::fail(path,
                 "a backslash cannot be written in line protocol safely (InfluxDB 1.x takes "
                 "\"\\,\" for an escaped comma and swallows what follows): use another character");
  }
}

void tag_check(const std::string& key, const std::string& value, const std::string& path) {
  static const std::vector<std::string> reserved = {"meter", "serial", "source"};
  if (std::find(reserved.begin(), reserved.end(), key) != reserved.end())
    config::fail(path, "'" + key + "' is a tag the output sets itself (meter, serial, source)");
  if (key.empty()) config::fail(path, "a tag needs a name");
  if (value.empty()) config::fail(path, "a tag needs a value (InfluxDB rejects empty ones)");
  no_backslash(key, path);
  no_backslash(value, path);
}

void parse_meter_tags(const config::Node& n, const std::string& path, InfluxConfig& out,
                      config::Context& ctx) {
  using namespace config;
  if (!n.is_map()) fail(path, "expected {<meter>: {<key>: <value>}}");
  out.meter_tags.clear();
  for (const auto& [meter, tags] : n.entries) {
    const std::string mpath = join(path, meter);
    if (ctx.meter(meter) == nullptr) fail(mpath, "no meter is named '" + meter + "'");
    if (!tags.is_map()) fail(mpath, "expected {<key>: <value>}");
    std::vector<std::pair<std::string, std::string>> kv;
    for (const auto& [k, v] : tags.entries) {
      std::string value = scalar(v, join(mpath, k), "a text");
      tag_check(k, value, join(mpath, k));
      kv.emplace_back(k, std::move(value));
    }
    out.meter_tags.emplace_back(meter, std::move(kv));
  }
}

config::Node dump_meter_tags(const InfluxConfig& c) {
  config::Node n = config::Node::map();
  for (const auto& [meter, tags] : c.meter_tags) {
    config::Node m = config::Node::map();
    for (const auto& [k, v] : tags) m.add(k, config::Node::text(v));
    n.add(meter, std::move(m));
  }
  return n;
}

}  // namespace

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
                   no_backslash(v, path);
                 }),
          choice<C, InfluxFieldNames>(
              "field_names", &C::field_names,
              {{"register_unit", InfluxFieldNames::RegisterUnit},
               {"register", InfluxFieldNames::Register}},
              "`register_unit`: fields named with their unit (`heat_energy_mwh`, `volume_m3`, "
              "`temp1_degc`), so one field never mixes units; `register`: the unit nowhere "
              "(`heat_energy`), the layout of databases written before the unit was in the name",
              "register"),
          choice<C, std::string>("energy_unit", &C::energy_unit, {{"kWh", "kWh"}, {"MWh", "MWh"}},
                                 "convert energy registers exactly (only between Wh, kWh, MWh "
                                 "and GWh; GJ stays GJ); unset = the meter's unit"),
          text_map<C>("tags", &C::tags, "static tags on every point, `{<key>: <value>}`",
                      "{location: home, site: north}", tag_check),
          custom<C>({"meter_tags", KeyKind::Map,
                     "static tags per meter, `{<meter>: {<key>: <value>}}` (a meter's value wins "
                     "over `tags`)",
                     "{heat: {room: cellar}}", false, "none"},
                    parse_meter_tags, dump_meter_tags),
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
