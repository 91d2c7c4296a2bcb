// InfluxDB output: line protocol over HTTP, InfluxDB 1.x (/write) or 2.x (/api/v2/write).
//
//   kamstrup,location=home,meter=heat,serial=6543210,source=poll heat_energy_mwh=55.006,
//       volume_m3=1875.56,temp1_degc=70.00 1795443900123
//
// - One point per poll, timestamp = the poll's read time in ms (precision=ms). A replay after an
//   outage writes the same series + timestamp again, which InfluxDB treats as an overwrite, so
//   at-least-once delivery never duplicates points.
// - Tags: meter (configured name), serial (from meter_info(); omitted only while no serial has
//   ever been learnt for the meter), source (poll | logger), plus the static `tags` of the
//   output and `meter_tags` of the meter (the meter's win over the output's); sorted by key.
// - Fields: one per register with a number, the exact decimal text (a valid line-protocol float
//   literal; never through a double, no "i" suffix, so the field type never changes). Its name
//   carries the unit (`field_names: register_unit`, the default): <register>_<unit> with the
//   unit in lower-case ASCII (MWh → mwh, m³ → m3, °C → degc, l/h → l_per_h, none → no suffix),
//   so a meter that changes unit starts a new field instead of mixing units in one;
//   `field_names: register` keeps the pre-0.2 layout (<register>, the unit nowhere) for existing
//   databases. `energy_unit` converts energy registers exactly (MWh → kWh); a GJ meter keeps GJ.
//   <register>_text="..." (string field) for each register with a text (dates, times, ASCII).
//   A poll without any number or text writes nothing.
// - Escaping per the line protocol: measurement "," and " "; tag keys/values and field keys
//   ",", "=" and " "; string values "\"" and "\\". A backslash in a measurement, tag or field
//   key cannot be written safely (InfluxDB 1.x reads "\," as an escaped comma even after another
//   backslash, and a measurement ending in "\" swallows its tags), so the configuration refuses
//   one in `measurement` and `tags`; meter and register names never contain any. Newlines
//   cannot be escaped in keys or tag values and become spaces there.
// - Batches of at most `batch` polls per request. 2xx = accepted. A 4xx that refuses the data
//   (400 bad line, 413, 422: http::classify) → SinkRejected (the fan-out isolates and skips
//   the refused poll); any other status (401/403 auth, 404 unknown database, 429, 5xx) or no
//   answer → SinkError (retried). Both name the endpoint and carry the server's message.
//   Serial tags for polls replayed after a restart come from the meter info the fan-out hands
//   over from the store before it replays (Store::meter_infos).
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "config/keys.hpp"
#include "sinks/http_client.hpp"
#include "sinks/sink.hpp"

namespace kamstrup::sinks {

enum class InfluxFieldNames : std::uint8_t {
  RegisterUnit,  // heat_energy_mwh (default)
  Register,      // heat_energy (the layout before the unit was in the name)
};

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
  InfluxFieldNames field_names = InfluxFieldNames::RegisterUnit;
  std::string energy_unit;                                // "" | kWh | MWh
  std::vector<std::pair<std::string, std::string>> tags;  // static, every point
  // meter → its own static tags
  std::vector<std::pair<std::string, std::vector<std::pair<std::string, std::string>>>> meter_tags;
  std::size_t batch = 500;   // polls per request; 0 = 1
  http::ClientOptions http;  // timeout, connect_timeout, ca_file, tls_insecure, proxy, no_proxy
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
  [[nodiscard]] std::vector<std::pair<std::string, std::string>> tags_for(
      const std::string& meter) const;

  InfluxConfig cfg_;
  std::string write_url_;
  http::HttpClient client_;
  std::map<std::string, std::string> serials_;  // meter name → serial
};

// How influx_line writes a poll.
struct InfluxLine {
  std::string measurement = "kamstrup";
  std::string serial;  // "" omits the serial tag
  bool unit_in_field = true;
  std::string energy_unit;                                                 // "" = the meter's
  const std::vector<std::pair<std::string, std::string>>* tags = nullptr;  // static tags
};

// One poll as one line of line protocol (no trailing newline), or "" when the poll has no field.
std::string influx_line(const store::Poll& poll, const InfluxLine& options);

// A unit as a field-name suffix: "MWh" → "mwh", "m³" → "m3", "°C" → "degc", "l/h" → "l_per_h".
std::string unit_suffix(std::string_view unit);

}  // namespace kamstrup::sinks
