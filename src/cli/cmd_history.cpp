// `kamstrup history`: what the daemon stored, filtered, as a table, CSV or JSON.
#include <algorithm>
#include <charconv>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "cli/common.hpp"
#include "daemon/config.hpp"
#include "kmp/catalogue.hpp"
#include "meter/report.hpp"
#include "store/store.hpp"
#include "store/zone.hpp"
#include "text/time.hpp"

namespace kamstrup::cli {

namespace {

constexpr const char* kTimeForms =
    "use RFC 3339 (2026-11-23T14:00:00Z), a date (2026-11-23, midnight UTC) or a time relative "
    "to now (-15m, -24h, -7d)";

bool all_digits(std::string_view s) {
  return !s.empty() && s.find_first_not_of("0123456789") == std::string_view::npos;
}

// "-15m", "-24h", "-7d", "-30s", "-2w": that long before now.
std::optional<std::int64_t> relative_ms(std::string_view s, std::int64_t now_ms) {
  if (s.size() < 3 || s[0] != '-' || !all_digits(s.substr(1, s.size() - 2))) return std::nullopt;
  std::int64_t unit = 0;
  switch (s.back()) {
    case 's':
      unit = 1000;
      break;
    case 'm':
      unit = 60'000;
      break;
    case 'h':
      unit = 3'600'000;
      break;
    case 'd':
      unit = 86'400'000;
      break;
    case 'w':
      unit = 7 * 86'400'000LL;
      break;
    default:
      return std::nullopt;
  }
  std::int64_t n = 0;
  std::string_view digits = s.substr(1, s.size() - 2);
  auto [p, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), n);
  // Beyond ~290 million years the product would overflow; nobody means that.
  if (ec != std::errc{} || n > 100'000LL * 366 * 86'400'000LL / unit) return std::nullopt;
  return now_ms - n * unit;
}

std::int64_t parse_time(const std::string& option, const std::string& text) {
  const std::int64_t now_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                                  std::chrono::system_clock::now().time_since_epoch())
                                  .count();
  std::optional<std::int64_t> ms = text.size() == 10 ? text::date_ms(text) : std::nullopt;
  if (!ms) ms = relative_ms(text, now_ms);
  if (!ms) ms = text::rfc3339_ms(text);
  if (!ms) throw ExitCode(kExitUsage, option + ": invalid time '" + text + "': " + kTimeForms);
  return *ms;
}

// CSV and JSON carry the milliseconds (the spelling of every output); the table is for people.
std::string format_time(std::int64_t time_ms, bool exact) {
  return text::utc_text(time_ms, exact ? text::TimeDigits::millis : text::TimeDigits::seconds);
}

std::string json_value(const std::string& v) {
  if (v.empty()) return "null";
  return text::is_decimal(v) ? v : text::json_quote(v);
}

using text::csv_field;

std::string id_text(std::int32_t id) {
  return id < 0 ? "" : std::to_string(id);
}

// Display width of UTF-8 text: code points, not bytes ("°C" is 2 wide, 3 bytes).
std::size_t width(std::string_view s) {
  std::size_t n = 0;
  for (char c : s) n += (static_cast<unsigned char>(c) & 0xC0) != 0x80 ? 1 : 0;
  return n;
}
std::string pad(std::string s, std::size_t w) {
  if (std::size_t have = width(s); have < w) s.append(w - have, ' ');
  return s;
}
std::string lpad(std::string s, std::size_t w) {
  if (std::size_t have = width(s); have < w) s.insert(0, w - have, ' ');
  return s;
}

void print_table(const std::vector<store::HistoryRow>& rows) {
  struct Line {
    std::string time, meter, reg, value, unit;
  };
  std::vector<Line> lines;
  std::size_t wt = 4, wm = 5, wr = 8, wv = 5;
  for (const auto& r : rows) {
    // Dates and clock times are only readable as their text.
    Line l{format_time(r.time_ms, false), r.meter, r.value.name,
           r.value.text.empty() ? r.value.value : r.value.text, r.value.unit};
    wt = std::max(wt, width(l.time));
    wm = std::max(wm, width(l.meter));
    wr = std::max(wr, width(l.reg));
    wv = std::max(wv, width(l.value));
    lines.push_back(std::move(l));
  }
  std::string out = pad("time", wt) + "  " + pad("meter", wm) + "  " + pad("register", wr) + "  " +
                    lpad("value", wv) + "  unit\n";
  for (const auto& l : lines) {
    out += pad(l.time, wt) + "  " + pad(l.meter, wm) + "  " + pad(l.reg, wr) + "  " +
           lpad(l.value, wv) + (l.unit.empty() ? "" : "  " + l.unit) + "\n";
  }
  std::cout << out;
}

void print_csv(const std::vector<store::HistoryRow>& rows) {
  std::string out = "time,meter,register,id,value,unit,text,source\n";
  for (const auto& r : rows) {
    out += format_time(r.time_ms, true) + "," + csv_field(r.meter) + "," + csv_field(r.value.name) +
           "," + id_text(r.value.register_id) + "," + csv_field(r.value.value) + "," +
           csv_field(r.value.unit) + "," + csv_field(r.value.text) + "," + csv_field(r.source) +
           "\n";
  }
  std::cout << out;
}

void print_json(const std::vector<store::HistoryRow>& rows) {
  std::string out = "[";
  for (std::size_t i = 0; i < rows.size(); ++i) {
    const auto& r = rows[i];
    out += i == 0 ? "\n  " : ",\n  ";
    out += "{\"time\": " + text::json_quote(format_time(r.time_ms, true)) +
           ", \"meter\": " + text::json_quote(r.meter) +
           ", \"register\": " + text::json_quote(r.value.name) +
           ", \"id\": " + (r.value.register_id < 0 ? "null" : std::to_string(r.value.register_id)) +
           ", \"value\": " + json_value(r.value.value) +
           ", \"unit\": " + text::json_quote(r.value.unit);
    if (!r.value.text.empty()) out += ", \"text\": " + text::json_quote(r.value.text);
    out += ", \"source\": " + text::json_quote(r.source) + "}";
  }
  out += rows.empty() ? "]\n" : "\n]\n";
  std::cout << out;
}

// `--consumption`: the table of /api/consumption (docs/api.md), local bucket edges with their
// UTC offset, exact decimals.
void print_consumption(const store::Store& db, const std::string& meter, const std::string& reg,
                       const std::string& period, std::int64_t from, std::int64_t to, bool csv) {
  const store::Step step = period == "year"    ? store::Step::Year
                           : period == "month" ? store::Step::Month
                                               : store::Step::Day;
  const auto cum = db.cumulative(meter, reg);
  if (!cum) throw ExitCode(kExitUsage, "no rollups of " + reg + " of meter " + meter);
  if (!*cum)
    throw ExitCode(kExitUsage, reg +
                                   " is not a cumulative register (energy, volume, hour "
                                   "counter): it has no consumption");
  store::RollupSeries rs;
  try {
    rs = db.rollups({meter, reg, step, from, to});
  } catch (const store::StoreError& e) {
    throw ExitCode(kExitUsage, e.what());
  }
  const store::Zone zone(db.timezone());
  const std::int64_t now = std::chrono::duration_cast<std::chrono::milliseconds>(
                               std::chrono::system_clock::now().time_since_epoch())
                               .count();
  if (csv) {
    std::string out = "start,end,consumption,complete,resets\n";
    for (const auto& b : rs.rows) {
      out += zone.local_text(b.start_ms) + "," + zone.local_text(b.end_ms) + "," + b.consumption +
             "," + (store::complete(b, true, now) ? "true" : "false") + "," +
             std::to_string(b.resets) + "\n";
    }
    std::cout << out;
    return;
  }
  std::size_t wc = 11;
  for (const auto& b : rs.rows) wc = std::max(wc, width(b.consumption));
  std::string out = "# " + meter + " " + reg + " (" + rs.unit + ") per local " + period + ", " +
                    db.timezone() + "\n";
  out += pad("start", 25) + "  " + pad("end", 25) + "  " + lpad("consumption", wc) +
         "  complete  resets\n";
  for (const auto& b : rs.rows) {
    out += pad(zone.local_text(b.start_ms), 25) + "  " + pad(zone.local_text(b.end_ms), 25) + "  " +
           lpad(b.consumption, wc) + "  " + pad(store::complete(b, true, now) ? "yes" : "no", 8) +
           "  " + std::to_string(b.resets) + "\n";
  }
  std::cout << out;
}

struct HistoryOptions {
  std::string consumption;  // day | month | year
  std::string backup;       // a file to copy the store to
  std::string db = "kamstrup.db";
  std::string config;
  std::string meter;
  std::string reg;
  std::string from, to;
  std::size_t limit = 0;
  bool csv = false;
  bool json = false;
};

// --register: a catalogue name matches by name; an id matches by the catalogue name when there
// is one (indexed), else by the raw id. Returns false for neither (see resolve_stored_name).
bool set_register(store::HistoryQuery& q, const std::string& ref) {
  if (const kmp::RegisterDef* def = kmp::find_register(std::string_view(ref))) {
    q.register_name = std::string(def->name);
    return true;
  }
  const auto id = kmp::parse_register_ref(ref);
  if (!id) return false;
  if (const kmp::RegisterDef* def = kmp::find_register(*id)) {
    q.register_name = std::string(def->name);
  } else {
    q.register_id = *id;
  }
  return true;
}

// A name the catalogue does not know may still be one the daemon stored (a quantity without a
// KMP register, or a newer catalogue's name); only when the database has none of it is it a
// typo, reported with suggestions and exit 2.
void resolve_stored_name(store::HistoryQuery& q, const store::Store& db, const std::string& ref) {
  store::HistoryQuery probe;
  probe.register_name = ref;
  probe.limit = 1;
  if (db.history(probe).empty()) parse_registers({ref});  // throws ExitCode(2)
  q.register_name = ref;
}

}  // namespace

void add_history_command(CLI::App& app) {
  auto* cmd = app.add_subcommand(
      "history",
      "Show the readings the daemon stored, oldest first (times UTC), the consumption per local "
      "day, "
      "month or year (--consumption), or copy the store (--backup). Exit: 0 ok (also when "
      "nothing matches), 2 usage error or no usable database.");
  auto o = std::make_shared<HistoryOptions>();
  auto* db_opt =
      cmd->add_option("--db", o->db, "The daemon's history database (default kamstrup.db)");
  cmd->add_option("-c,--config", o->config,
                  "Take the database from this configuration file's store.path, as `kamstrup run "
                  "--config FILE` does")
      ->excludes(db_opt);
  cmd->add_option("--meter", o->meter, "Only this meter (its configured name)");
  cmd->add_option("--register", o->reg,
                  "Only this register: a catalogue name (see `kamstrup registers`) or an id");
  cmd->add_option("--from", o->from,
                  "From this time on (inclusive): 2026-11-23T14:00:00Z, 2026-11-23 (midnight "
                  "UTC), or relative: -15m, -24h, -7d");
  cmd->add_option("--to", o->to, "Before this time (exclusive); same forms as --from");
  cmd->add_option("--limit", o->limit, "Only the newest N rows (still printed oldest first)")
      ->check(CLI::PositiveNumber);
  auto* csv =
      cmd->add_flag("--csv", o->csv, "Print CSV: time,meter,register,id,value,unit,text,source");
  auto* json =
      cmd->add_flag("--json", o->json, "Print one JSON array; values are exact JSON numbers")
          ->excludes(csv);
  cmd->add_option("--consumption", o->consumption,
                  "Print the consumption of a cumulative register (--register, default "
                  "heat_energy) of --meter per local day, month or year (the time zone of the "
                  "store), exact; as /api/consumption (docs/api.md)")
      ->check(CLI::IsMember({"day", "month", "year"}))
      ->excludes(json);
  cmd->add_option("--backup", o->backup,
                  "Copy the whole history to FILE (a new file) while the daemon keeps running "
                  "(SQLite's online backup)")
      ->excludes(csv)
      ->excludes(json);
  cmd->callback([o] {
    if (!o->config.empty()) {
      try {
        o->db = daemon::store_config(o->config).path;
      } catch (const daemon::ConfigError& e) {
        throw ExitCode(kExitUsage, e.what());
      }
    }
    if (!o->backup.empty()) {
      std::error_code ec;
      if (!std::filesystem::exists(o->db, ec))
        throw ExitCode(kExitUsage, "no history at " + o->db + " (the daemon creates it; see --db)");
      try {
        store::Store db(o->db, store::Store::Access::ReadOnly);
        db.backup(o->backup);
      } catch (const store::StoreError& e) {
        throw ExitCode(kExitUsage, e.what());
      }
      std::cerr << "copied " << o->db << " to " << o->backup << " ("
                << std::filesystem::file_size(o->backup, ec) << " bytes)\n";
      return;
    }
    if (!o->consumption.empty()) {
      const std::int64_t now = std::chrono::duration_cast<std::chrono::milliseconds>(
                                   std::chrono::system_clock::now().time_since_epoch())
                                   .count();
      const std::int64_t back = o->consumption == "day"     ? 31LL * 86'400'000
                                : o->consumption == "month" ? 366LL * 86'400'000
                                                            : 100LL * 366 * 86'400'000;
      const std::int64_t to = o->to.empty() ? now : parse_time("--to", o->to);
      const std::int64_t from = o->from.empty() ? to - back : parse_time("--from", o->from);
      if (from >= to) throw ExitCode(kExitUsage, "--from is not before --to");
      std::error_code ec;
      if (!std::filesystem::exists(o->db, ec))
        throw ExitCode(kExitUsage, "no history at " + o->db + " (the daemon creates it; see --db)");
      try {
        store::Store db(o->db, store::Store::Access::ReadOnly);
        std::string meter = o->meter;
        if (meter.empty()) {
          const auto ms = db.meters();
          if (ms.size() != 1) throw ExitCode(kExitUsage, "--consumption needs --meter");
          meter = ms.front();
        }
        print_consumption(db, meter, o->reg.empty() ? "heat_energy" : o->reg, o->consumption, from,
                          to, o->csv);
      } catch (const store::StoreError& e) {
        throw ExitCode(kExitUsage, e.what());
      }
      return;
    }
    store::HistoryQuery q;
    if (!o->meter.empty()) q.meter = o->meter;
    const bool reg_known = o->reg.empty() || set_register(q, o->reg);
    if (!o->from.empty()) q.from_ms = parse_time("--from", o->from);
    if (!o->to.empty()) q.to_ms = parse_time("--to", o->to);
    if (q.from_ms && q.to_ms && *q.from_ms >= *q.to_ms) {
      throw ExitCode(kExitUsage, "--from " + o->from + " is not before --to " + o->to);
    }
    q.limit = o->limit;

    // Checked first so that the message says what to do; ReadOnly would refuse to create the
    // file anyway.
    std::error_code ec;
    if (!std::filesystem::exists(o->db, ec)) {
      throw ExitCode(kExitUsage, "no history at " + o->db + " (the daemon creates it; see --db)");
    }
    std::vector<store::HistoryRow> rows;
    std::vector<std::string> meters;
    try {
      store::Store db(o->db, store::Store::Access::ReadOnly);
      if (!reg_known) resolve_stored_name(q, db, o->reg);
      rows = db.history(q);
      if (rows.empty() && q.meter) meters = db.meters();
    } catch (const store::StoreError& e) {
      throw ExitCode(kExitUsage, e.what());
    }
    if (o->json) {
      print_json(rows);
    } else if (o->csv) {
      print_csv(rows);
    } else if (!rows.empty()) {
      print_table(rows);
    }
    if (rows.empty() && !o->json && !o->csv) {
      std::string note = "no readings match in " + o->db;
      if (q.meter && std::find(meters.begin(), meters.end(), *q.meter) == meters.end()) {
        note += " (no meter '" + *q.meter + "'";
        if (!meters.empty()) {
          note += "; meters: ";
          for (std::size_t i = 0; i < meters.size(); ++i) note += (i != 0 ? ", " : "") + meters[i];
        }
        note += ")";
      }
      std::cerr << note << "\n";
    }
  });
}

}  // namespace kamstrup::cli
