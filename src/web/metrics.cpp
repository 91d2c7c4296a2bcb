#include "web/metrics.hpp"

#include <array>
#include <charconv>
#include <deque>
#include <map>
#include <optional>
#include <set>

#include "kmp/catalogue.hpp"
#include "kmp/units.hpp"
#include "version/version.hpp"

namespace kamstrup::web {

namespace {

// Label values escape backslash, double quote and newline (exposition format).
std::string label(const std::string& v) {
  std::string out;
  for (char c : v) {
    if (c == '\\' || c == '"') out.push_back('\\');
    if (c == '\n') {
      out += "\\n";
      continue;
    }
    out.push_back(c);
  }
  return out;
}

struct Family {
  std::string name, type, help;
  std::vector<std::string> samples;
};

// Prometheus' names for the base units of kmp/units.hpp.
std::string_view unit_word(kmp::Quantity q) {
  using Q = kmp::Quantity;
  switch (q) {
    case Q::Energy:
      return "joules";
    case Q::ReactiveEnergy:
      return "var_hours";
    case Q::ApparentEnergy:
      return "volt_ampere_hours";
    case Q::Power:
      return "watts";
    case Q::ReactivePower:
      return "vars";
    case Q::ApparentPower:
      return "volt_amperes";
    case Q::Volume:
      return "cubic_meters";
    case Q::Flow:
      return "cubic_meters_per_second";
    case Q::Mass:
      return "kilograms";
    case Q::MassFlow:
      return "kilograms_per_second";
    case Q::Temperature:
      return "celsius";
    case Q::TemperatureDifference:
      return "kelvin";
    case Q::Pressure:
      return "pascals";
    case Q::Voltage:
      return "volts";
    case Q::Current:
      return "amperes";
    case Q::Duration:
      return "seconds";
    case Q::Frequency:
      return "hertz";
    default:
      return {};
  }
}

// The shortest text that reads back as the same double; plain digits for everyday magnitudes
// (198021600000 rather than 1.980216e+11), exponent notation only for the very small or large.
std::string number(double v) {
  std::array<char, 64> buf{};
  const double mag = v < 0 ? -v : v;
  const auto format = (mag == 0 || (mag >= 1e-4 && mag < 1e15)) ? std::chars_format::fixed
                                                                : std::chars_format::general;
  auto [end, ec] = std::to_chars(buf.data(), buf.data() + buf.size(), v, format);
  return ec == std::errc() ? std::string(buf.data(), end) : std::string("NaN");
}

// The base-unit sample of one reading: which family it belongs to and its value.
//   counters (the catalogue's total_increasing registers) get a family each, named after the
//     register: kamstrup_heat_energy_joules_total, kamstrup_volume_cubic_meters_total,
//     kamstrup_operating_time_seconds_total (adding heat and cooling energy would mean nothing);
//   gauges share a family per quantity, the register as a label: kamstrup_temperature_celsius
//     {register="temp1"}, kamstrup_power_watts, kamstrup_flow_cubic_meters_per_second.
// Readings whose unit measures another quantity than the catalogue says, or that has no base
// unit (counts, dates, m³×°C), have only the exact raw gauge.
struct BaseSample {
  std::string family;
  bool counter = false;
  std::string help;
  std::string value;
};

// A counter's family is named after its register, but a name with "counter" in it is one
// Prometheus' conventions reject (promtool: "should not include type 'counter'").
std::string counter_stem(std::string_view register_name) {
  if (register_name == "hour_counter") return "operating_time";
  if (register_name == "error_hour_counter") return "error_time";
  return std::string(register_name);
}

std::optional<BaseSample> base_sample(const store::Value& v) {
  const kmp::RegisterDef* def = kmp::find_register(std::string_view(v.name));
  if (def == nullptr || v.value.empty()) return std::nullopt;
  const std::string_view word = unit_word(def->quantity);
  auto exact = kmp::Decimal::parse(v.value);
  if (word.empty() || !exact) return std::nullopt;
  auto base = kmp::to_base(*exact, v.unit);
  if (!base || base->quantity != def->quantity) return std::nullopt;
  BaseSample s;
  s.counter = def->state_class == "total_increasing";
  if (s.counter) {
    s.family = "kamstrup_" + counter_stem(def->name) + "_" + std::string(word) + "_total";
    s.help = std::string(def->description) + ", in " + std::string(base->unit) + ".";
  } else {
    s.family =
        "kamstrup_" + std::string(kmp::quantity_name(def->quantity)) + "_" + std::string(word);
    s.help = "Latest " + std::string(kmp::quantity_name(def->quantity)) + " readings in " +
             std::string(base->unit) + ", by register.";
  }
  s.value = number(base->value);
  return s;
}

// Which registers the meter has, once it answered: 1 for each that came with its latest values,
// 0 for each configured one it lacks (a KMP meter says so per register; MeterStatus).
void add_supported(const MeterStatus& m, const std::string& ml, Family& supported) {
  if (m.polls_ok == 0) return;  // not answered yet: nothing known
  std::set<std::string> said(m.unsupported.begin(), m.unsupported.end());
  for (const auto& v : m.last_poll.values) {
    if (!said.insert(v.name).second) continue;
    supported.samples.push_back("kamstrup_register_supported{" + ml + ",register=\"" +
                                label(v.name) + "\"} 1");
  }
  for (const auto& name : m.unsupported) {
    supported.samples.push_back("kamstrup_register_supported{" + ml + ",register=\"" + label(name) +
                                "\"} 0");
  }
}

// The raw info code (every set bit, so an undocumented one stays visible) and a 0/1 per flag the
// meter's table documents; nothing when the latest answer carried no info code.
void add_info(const MeterStatus& m, const std::string& ml, Family& code, Family& flag) {
  if (!m.info_flags) return;
  std::uint64_t raw = 0;
  std::set<unsigned> set_bits;
  for (const auto& f : *m.info_flags) {
    raw |= std::uint64_t{1} << f.bit;
    set_bits.insert(f.bit);
  }
  code.samples.push_back("kamstrup_info_code{" + ml + "} " + std::to_string(raw));
  for (const auto& def : kmp::info_flag_table(m.info_codes)) {
    flag.samples.push_back("kamstrup_info_flag{" + ml + ",flag=\"" + label(std::string(def.name)) +
                           "\"} " + (set_bits.contains(def.bit) ? "1" : "0"));
  }
}

template <typename MakeFamily>
void add_store(const StoreHealth& s, MakeFamily& family) {
  family("kamstrup_store_up", "gauge",
         "1 while the history store can be written, 0 while writing fails (polls are then held "
         "in memory).")
      .samples.push_back(std::string("kamstrup_store_up ") + (s.ok ? "1" : "0"));
  family("kamstrup_store_errors_total", "counter", "Failed store operations since start.")
      .samples.push_back("kamstrup_store_errors_total " + std::to_string(s.errors));
  family("kamstrup_store_held_polls", "gauge",
         "Polls held in memory, waiting to be written to the store.")
      .samples.push_back("kamstrup_store_held_polls " + std::to_string(s.held));
  family("kamstrup_store_queue_size", "gauge",
         "How many polls may be held in memory while the store fails (store.queue).")
      .samples.push_back("kamstrup_store_queue_size " + std::to_string(s.queue));
  family("kamstrup_store_dropped_polls_total", "counter",
         "Held polls dropped since start because the queue was full.")
      .samples.push_back("kamstrup_store_dropped_polls_total " + std::to_string(s.dropped));
}

}  // namespace

std::string prometheus_metrics(const std::vector<MeterStatus>& meters,
                               const std::vector<SinkHealth>& sinks,
                               const std::optional<StoreHealth>& store) {
  std::deque<Family> f;  // a deque: the references handed out below must stay valid
  auto family = [&](const std::string& name, const std::string& type,
                    const std::string& help) -> Family& {
    f.push_back({name, type, help, {}});
    return f.back();
  };
  Family& value =
      family("kamstrup_register_value", "gauge",
             "Latest register value as the meter sent it, in the unit of the unit label.");
  Family& up = family("kamstrup_meter_up", "gauge", "1 when the last poll got a valid answer.");
  Family& last = family("kamstrup_last_success_timestamp_seconds", "gauge",
                        "Unix time of the last successful poll.");
  Family& polls = family("kamstrup_polls_total", "counter", "Polls by result.");
  Family& backfilled = family("kamstrup_backfilled_records_total", "counter",
                              "Records read back from the meter's own logger and stored.");
  Family& frames = family("kamstrup_frames_sent_total", "counter", "Request frames sent.");
  Family& replies = family("kamstrup_replies_total", "counter", "Valid replies received.");
  Family& timeouts = family("kamstrup_timeouts_total", "counter",
                            "Exchanges that ended without a valid reply in time.");
  Family& crc =
      family("kamstrup_crc_errors_total", "counter", "Reply frames that failed their CRC.");
  Family& bad = family("kamstrup_bad_frames_total", "counter", "Other invalid reply frames.");
  Family& retries = family("kamstrup_retries_total", "counter", "Retried exchanges.");
  Family& bytes =
      family("kamstrup_bytes_total", "counter", "Bytes on the optical line by direction.");
  Family& backlog = family("kamstrup_output_backlog_polls", "gauge",
                           "Polls in the store not yet delivered to the output.");
  Family& delivered = family("kamstrup_output_delivered_total", "counter",
                             "Polls delivered to the output since start.");
  Family& failures =
      family("kamstrup_output_failures_total", "counter", "Failed delivery attempts since start.");
  Family& rejected = family("kamstrup_output_rejected_total", "counter",
                            "Polls the output's target refused (HTTP 4xx for the data) and that "
                            "were skipped, since start.");
  Family& refused = family("kamstrup_output_refused_values_total", "counter",
                           "Values the output would not send because it could not send them "
                           "right (a unit no rule converts for the target), since start.");
  Family& out_up =
      family("kamstrup_output_up", "gauge", "1 when the output's last delivery attempt succeeded.");
  Family& supported = family("kamstrup_register_supported", "gauge",
                             "1 for a register the meter sent in its latest answer, 0 for a "
                             "configured register the meter does not have.");
  Family& info_code = family("kamstrup_info_code", "gauge",
                             "The meter's info code in its latest answer: the sum of the values "
                             "of its set flags, documented or not.");
  Family& info_flag = family("kamstrup_info_flag", "gauge",
                             "1 when the flag is set in the meter's latest info code, for every "
                             "flag its info-code table (the meter's model) documents.");
  Family& build = family("kamstrup_build_info", "gauge",
                         "Always 1; the labels say which build of kamstrup-reader runs.");
  build.samples.push_back("kamstrup_build_info{version=\"" + label(std::string(version())) +
                          "\",revision=\"" + label(std::string(git_revision())) + "\"} 1");
  // Base-unit families appear as readings need them, after the fixed ones (by name).
  std::map<std::string, Family*> base_families;

  for (const auto& m : meters) {
    std::string ml = "meter=\"" + label(m.name) + "\"";
    for (const auto& v : m.last_poll.values) {
      if (v.value.empty()) continue;  // text-only registers have no sample
      value.samples.push_back("kamstrup_register_value{" + ml + ",register=\"" + label(v.name) +
                              "\",id=\"" + std::to_string(v.register_id) + "\",unit=\"" +
                              label(v.unit) + "\"} " + v.value);
      auto b = base_sample(v);
      if (!b) continue;
      Family*& fam = base_families[b->family];
      if (fam == nullptr) fam = &family(b->family, b->counter ? "counter" : "gauge", b->help);
      fam->samples.push_back(b->family + "{" + ml +
                             (b->counter ? "" : ",register=\"" + label(v.name) + "\"") + "} " +
                             b->value);
    }
    up.samples.push_back("kamstrup_meter_up{" + ml + "} " + (m.up ? "1" : "0"));
    if (m.last_success_ms > 0) {
      last.samples.push_back("kamstrup_last_success_timestamp_seconds{" + ml + "} " +
                             std::to_string(m.last_success_ms / 1000) + "." +
                             std::to_string(1000 + m.last_success_ms % 1000).substr(1));
    }
    polls.samples.push_back("kamstrup_polls_total{" + ml + ",result=\"ok\"} " +
                            std::to_string(m.polls_ok));
    polls.samples.push_back("kamstrup_polls_total{" + ml + ",result=\"failed\"} " +
                            std::to_string(m.polls_failed));
    backfilled.samples.push_back("kamstrup_backfilled_records_total{" + ml + "} " +
                                 std::to_string(m.backfilled));
    frames.samples.push_back("kamstrup_frames_sent_total{" + ml + "} " +
                             std::to_string(m.stats.frames_sent));
    replies.samples.push_back("kamstrup_replies_total{" + ml + "} " +
                              std::to_string(m.stats.replies));
    timeouts.samples.push_back("kamstrup_timeouts_total{" + ml + "} " +
                               std::to_string(m.stats.timeouts));
    crc.samples.push_back("kamstrup_crc_errors_total{" + ml + "} " +
                          std::to_string(m.stats.crc_errors));
    bad.samples.push_back("kamstrup_bad_frames_total{" + ml + "} " +
                          std::to_string(m.stats.bad_frames));
    retries.samples.push_back("kamstrup_retries_total{" + ml + "} " +
                              std::to_string(m.stats.retries));
    bytes.samples.push_back("kamstrup_bytes_total{" + ml + ",direction=\"sent\"} " +
                            std::to_string(m.stats.bytes_sent));
    bytes.samples.push_back("kamstrup_bytes_total{" + ml + ",direction=\"received\"} " +
                            std::to_string(m.stats.bytes_received));
    add_supported(m, ml, supported);
    add_info(m, ml, info_code, info_flag);
  }
  for (const auto& s : sinks) {
    std::string sl = "output=\"" + label(s.id) + "\"";
    backlog.samples.push_back("kamstrup_output_backlog_polls{" + sl + "} " +
                              std::to_string(s.backlog));
    delivered.samples.push_back("kamstrup_output_delivered_total{" + sl + "} " +
                                std::to_string(s.delivered));
    failures.samples.push_back("kamstrup_output_failures_total{" + sl + "} " +
                               std::to_string(s.failures));
    rejected.samples.push_back("kamstrup_output_rejected_total{" + sl + "} " +
                               std::to_string(s.rejected));
    refused.samples.push_back("kamstrup_output_refused_values_total{" + sl + "} " +
                              std::to_string(s.refused_values));
    out_up.samples.push_back("kamstrup_output_up{" + sl + "} " +
                             (s.last_error.empty() ? "1" : "0"));
  }
  if (store) add_store(*store, family);
  std::string out;
  for (const auto& fam : f) {
    if (fam.samples.empty()) continue;
    out += "# HELP " + fam.name + " " + fam.help + "\n# TYPE " + fam.name + " " + fam.type + "\n";
    for (const auto& s : fam.samples) out += s + "\n";
  }
  return out;
}

}  // namespace kamstrup::web
