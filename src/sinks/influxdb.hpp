// InfluxDB output: line protocol over HTTP, InfluxDB 1.x (/write) or 2.x (/api/v2/write).
//
//   kamstrup,meter=heat,serial=6543210,source=poll heat_energy=55.006,volume=1875.56 1795443900123
//
// - One point per poll, timestamp = the poll's read time in ms (precision=ms). A replay after an
//   outage writes the same series + timestamp again, which InfluxDB treats as an overwrite, so
//   at-least-once delivery never duplicates points.
// - Tags: meter (configured name), serial (from meter_info(); omitted only while no serial has
//   ever been learnt for the meter), source (poll | logger).
// - Fields: <register>=<exact decimal> for each register with a number, written as the exact
//   decimal text, which is a valid line-protocol float literal (never through a double, no "i"
//   suffix: every numeric field is a float, so the field type never changes between polls);
//   <register>_text="..." (string field) for each register with a text (dates, times, ASCII).
//   A poll without any number or text writes nothing.
// - Escaping per the line protocol: measurement "," and " "; tag keys/values and field keys
//   ",", "=" and " "; string values "\"" and "\\". Newlines cannot be escaped in keys or tag
//   values and become spaces there (meter and register names never contain any).
// - Batches of at most `batch` polls per request. 2xx = accepted. A 4xx that refuses the data
//   (400 bad line, 413, 422: http::rejects_data) → SinkRejected (the fan-out isolates and skips
//   the refused poll); any other status (401/403 auth, 404 unknown database, 429, 5xx) or no
//   answer → SinkError (retried). Both name the endpoint and carry the server's message.
//   Serial tags for polls replayed after a restart come from the meter info the fan-out hands
//   over from the store before it replays (Store::meter_infos).
#pragma once

#include <chrono>
#include <cstddef>
#include <map>
#include <string>

#include "config/keys.hpp"
#include "sinks/http_client.hpp"
#include "sinks/sink.hpp"

namespace kamstrup::sinks {

// The `influxdb:` section. API version: `bucket` set → 2.x (org, bucket, token); otherwise 1.x
// (database, optional username/password as HTTP basic auth).
struct InfluxConfig {
  std::string url = "http://127.0.0.1:8086";
  std::string database;  // v1
  std::string username;  // v1 (optional)
  config::Secret password;
  std::string org, bucket;  // v2
  config::Secret token;
  std::string measurement = "kamstrup";
  std::size_t batch = 500;  // polls per request; 0 = 1
  std::chrono::milliseconds timeout{10000};
  bool operator==(const InfluxConfig&) const = default;
};

const config::Table<InfluxConfig>& influx_keys();

class InfluxSink : public Sink {
 public:
  // Throws std::invalid_argument when neither a v1 database nor a v2 bucket+org is given.
  explicit InfluxSink(InfluxConfig config);
  [[nodiscard]] std::string id() const override { return "influxdb"; }
  [[nodiscard]] std::string probe_url() const override { return cfg_.url; }
  void deliver(std::span<const store::Poll> polls) override;
  void meter_info(const MeterInfo& info) override;

  // The write endpoint (with query string), e.g. "http://h:8086/write?db=k&precision=ms".
  [[nodiscard]] const std::string& write_url() const { return write_url_; }

 private:
  InfluxConfig cfg_;
  std::string write_url_;
  http::HttpClient client_;
  std::map<std::string, std::string> serials_;  // meter name → serial
};

// One poll as one line of line protocol (no trailing newline), or "" when the poll has no field.
// `serial` "" omits the serial tag.
std::string influx_line(const store::Poll& poll, const std::string& measurement,
                        const std::string& serial);

}  // namespace kamstrup::sinks
