// `kamstrup log`: records of the meter's own data logger (KMP 0xA0–0xA3; EXPERIMENTAL, see
// docs/logger.md and meter/logger_session.hpp), or with `--protocol legacy` the loggers of a
// MULTICAL 66/III/401/41 (`/#5`–`/#9`, `/#J`, docs/protocol.md §6.2) as raw, unscaled digit fields.
#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <iostream>
#include <sstream>

#include "cli/common.hpp"
#include "cli/remember.hpp"
#include "kmp/catalogue.hpp"
#include "meter/legacy_session.hpp"
#include "meter/logger_session.hpp"
#include "meter/report.hpp"
#include "text/time.hpp"

namespace kamstrup::cli {

namespace {

constexpr const char* kTimeHelp =
    "RFC 3339 (2026-11-01T06:00:00Z, 2026-11-01T07:00:00+01:00), a date (2026-11-01: local "
    "midnight, the meter's clock is local time) or a span back from now (30d, 12h, 90m, 20s)";

std::int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::optional<int> field(std::string_view s, std::size_t at, std::size_t len) {
  if (at + len > s.size()) return std::nullopt;
  int v = 0;
  auto [p, ec] = std::from_chars(s.data() + at, s.data() + at + len, v);
  if (ec != std::errc{} || p != s.data() + at + len) return std::nullopt;
  return v;
}

// Parses the --from/--to forms of kTimeHelp into Unix ms; nullopt when none fits.
std::optional<std::int64_t> parse_time_arg(std::string_view s) {
  // Relative: digits then s/m/h/d/w, optionally with a leading '-'.
  if (!s.empty() && s.front() == '-') s.remove_prefix(1);
  if (s.size() >= 2 && s.find_first_not_of("0123456789") == s.size() - 1) {
    static constexpr std::pair<char, std::int64_t> kUnits[] = {
        {'s', 1000}, {'m', 60'000}, {'h', 3'600'000}, {'d', 86'400'000}, {'w', 604'800'000}};
    for (auto [c, unit] : kUnits) {
      if (s.back() != c) continue;
      auto n = field(s, 0, s.size() - 1);
      if (!n) return std::nullopt;
      return now_ms() - *n * unit;
    }
    return std::nullopt;
  }
  // RFC 3339 with a zone, a fraction allowed (what --json and --csv write): the parser the
  // history commands and the HTTP API share.
  if (s.size() != 10) return text::rfc3339_ms(s);
  // A date alone: local midnight.
  auto y = field(s, 0, 4), mo = field(s, 5, 2), d = field(s, 8, 2);
  if (!y || !mo || !d || s[4] != '-' || s[7] != '-') return std::nullopt;
  std::tm tm{};
  tm.tm_year = *y - 1900;
  tm.tm_mon = *mo - 1;
  tm.tm_mday = *d;
  tm.tm_isdst = -1;
  return static_cast<std::int64_t>(std::mktime(&tm)) * 1000;
}

// "2026-11-23T14:00:00.000Z" (UTC, as every output spells it), or "2026-11-23 15:00:00" (local,
// for the table).
std::string time_text(std::int64_t ms, bool utc) {
  if (utc) return text::utc_text(ms);
  const auto t = static_cast<std::time_t>(ms / 1000);
  std::tm tm{};
  localtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%S", &tm);
  return buf;
}

std::string value_text(const meter::Reading& rd) {
  if (!rd.value) return std::string(rd.error());
  return rd.value->number ? rd.value->number->to_string() : rd.value->text;
}

struct LogArgs {
  std::string protocol = "kmp";
  std::string logger;
  std::string from, to;
  std::optional<std::size_t> last;
  std::string registers;
  bool csv = false;
  std::string time_order = "field-table";
  std::optional<unsigned> lid;
  unsigned max_length = kmp::kDefaultMaxLength;
};

class Printer {
 public:
  enum class Format { Table, Csv, Json };
  explicit Printer(Format f) : f_(f) {}

  void record(const meter::LogRecord& rec) {
    std::ostringstream out;
    if (f_ == Format::Json) {
      out << "{\"time\": " << text::json_quote(time_text(rec.time_ms, true))
          << ", \"record_id\": " << rec.record_id << ", \"registers\": [";
      bool first = true;
      for (const auto& rd : rec.readings) {
        if (!rd.value) continue;
        out << (first ? "" : ", ") << meter::register_json(rd.id, rd.name, *rd.value);
        first = false;
      }
      out << "], \"unsupported\": [";
      first = true;
      for (const auto& rd : rec.readings) {
        if (rd.value) continue;
        out << (first ? "" : ", ") << text::json_quote(rd.name);
        first = false;
      }
      out << "]}\n";
    } else if (f_ == Format::Csv) {
      if (!header_) {
        out << "time,record_id";
        for (const auto& rd : rec.readings) {
          out << ","
              << text::csv_field(rd.name + (rd.value && !rd.value->unit.empty()
                                                ? " [" + rd.value->unit + "]"
                                                : ""));
        }
        out << "\n";
        header_ = true;
      }
      out << time_text(rec.time_ms, true) << "," << rec.record_id;
      for (const auto& rd : rec.readings)
        out << "," << text::csv_field(rd.value ? value_text(rd) : "");
      out << "\n";
    } else {
      if (!header_) {
        widths_.clear();
        out << "time (local)         record";
        for (const auto& rd : rec.readings) {
          std::string h =
              rd.name + (rd.value && !rd.value->unit.empty() ? " [" + rd.value->unit + "]" : "");
          widths_.push_back(std::max<std::size_t>(h.size(), 12));
          out << "  " << std::string(widths_.back() - h.size(), ' ') << h;
        }
        out << "\n";
        header_ = true;
      }
      std::string id = std::to_string(rec.record_id);
      out << time_text(rec.time_ms, false) << "  "
          << std::string(6 - std::min<std::size_t>(6, id.size()), ' ') << id;
      for (std::size_t i = 0; i < rec.readings.size(); ++i) {
        std::string v = value_text(rec.readings[i]);
        const std::size_t w = i < widths_.size() ? widths_[i] : 12;
        out << "  " << std::string(w - std::min(w, v.size()), ' ') << v;
      }
      out << "\n";
    }
    std::cout << out.str() << std::flush;
  }

 private:
  Format f_;
  bool header_ = false;
  std::vector<std::size_t> widths_;
};

// ---- --protocol legacy: the /#n loggers of a MULTICAL 66/III/401/41 -------------------------

// The request code of a logger name (docs/protocol.md §6.2).
char legacy_code(std::string_view logger) {
  if (logger == "daily") return '6';
  if (logger == "hourly") return '7';
  if (logger == "monthly") return '8';
  if (logger == "yearly") return '9';
  if (logger == "monthly-data") return '5';
  return 'J';  // info
}

// The column names: decode_log's, and for /#8 and /#9 the documented tail "peak … · Vol2 ·
// E_cold · Info" named once the line is long enough to hold it after the six named fields.
std::vector<std::string> legacy_names(const legacy::LogTable& t) {
  std::vector<std::string> names = t.names;
  if ((t.code == '8' || t.code == '9') && names.size() >= 10) {
    const std::size_t peaks = names.size() - 9;
    for (std::size_t i = 0; i < peaks; ++i) {
      names[6 + i] = peaks == 1 ? "peak_power" : "peak_power_" + std::to_string(i + 1);
    }
    names[names.size() - 3] = "volume2";
    names[names.size() - 2] = "cooling_energy";
    names[names.size() - 1] = "info";
  }
  return names;
}

// Local midnight of a record date, Unix ms.
std::int64_t local_midnight_ms(unsigned yymmdd) {
  std::tm tm{};
  tm.tm_year = static_cast<int>(yymmdd / 10000) + 100;
  tm.tm_mon = static_cast<int>(yymmdd / 100 % 100) - 1;
  tm.tm_mday = static_cast<int>(yymmdd % 100);
  tm.tm_isdst = -1;
  return static_cast<std::int64_t>(std::mktime(&tm)) * 1000;
}

void print_legacy(const std::vector<std::string>& names, const std::vector<legacy::LogRow>& rows,
                  const std::string& logger, char code, bool json, bool csv) {
  std::ostringstream out;
  if (json) {
    for (const auto& row : rows) {
      out << "{\"date\": " << text::json_quote(row.date)
          << ", \"logger\": " << text::json_quote(logger) << ", \"request\": \"/#" << code
          << "\", \"fields\": {";
      for (std::size_t i = 0; i < names.size() && i < row.fields.size(); ++i) {
        out << (i == 0 ? "" : ", ") << text::json_quote(names[i]) << ": "
            << kmp::uint128_to_string(row.fields[i]);
      }
      out << "}}\n";
    }
  } else if (csv) {
    out << "date";
    for (const auto& n : names) out << "," << text::csv_field(n);
    out << "\n";
    for (const auto& row : rows) {
      out << row.date;
      for (auto f : row.fields) out << "," << kmp::uint128_to_string(f);
      out << "\n";
    }
  } else {
    std::vector<std::size_t> widths;
    out << "date      ";
    for (const auto& n : names) {
      widths.push_back(std::max<std::size_t>(n.size(), 7));
      out << "  " << std::string(widths.back() - n.size(), ' ') << n;
    }
    out << "\n";
    for (const auto& row : rows) {
      out << row.date;
      for (std::size_t i = 0; i < row.fields.size(); ++i) {
        const std::string v = kmp::uint128_to_string(row.fields[i]);
        const std::size_t w = i < widths.size() ? widths[i] : 7;
        out << "  " << std::string(w - std::min(w, v.size()), ' ') << v;
      }
      out << "\n";
    }
  }
  std::cout << out.str() << std::flush;
}

void run_legacy_log(const MeterOptions& opts, const LogArgs& a) {
  if (!a.registers.empty() || a.lid || a.time_order != "field-table" ||
      a.max_length != kmp::kDefaultMaxLength) {
    throw ExitCode(kExitUsage,
                   "--registers, --lid, --time-order and --max-length are KMP logger options; "
                   "a /#n logger always sends all its fields (--protocol legacy)");
  }
  std::optional<std::int64_t> from, to;
  if (!a.from.empty() && !(from = parse_time_arg(a.from)))
    throw ExitCode(kExitUsage, "--from: invalid time '" + a.from + "': " + kTimeHelp);
  if (!a.to.empty() && !(to = parse_time_arg(a.to)))
    throw ExitCode(kExitUsage, "--to: invalid time '" + a.to + "': " + kTimeHelp);
  if (from && to && *from >= *to) throw ExitCode(kExitUsage, "--from must be before --to");

  const char code = legacy_code(a.logger);
  const std::string request = std::string("/#") + code;
  meter::LegacyOptions lo;
  lo.retries = opts.retries;
  lo.reply_timeout = std::max(lo.reply_timeout,
                              std::chrono::milliseconds(static_cast<long>(opts.timeout_s * 1000)));
  asio::io_context io;
  auto port = run_sync(io, open_port(opts));
  meter::LegacySession session(*port, lo);

  auto fail = [&](int exit, std::string_view status, meter::Failure f, const std::string& error) {
    if (opts.json) {
      std::cout << "{\"port\": " << text::json_quote(opts.port)
                << ", \"error\": " << text::json_quote(error)
                << ", \"status\": " << text::json_quote(status)
                << ", \"failure\": " << text::json_quote(meter::failure_name(f))
                << ", \"records\": 0}\n";
    }
    throw ExitCode(exit, error);
  };

  // The session retries a silent meter; a reply that fails validation is asked for again (no
  // record ever comes from a line that failed).
  std::optional<legacy::LogTable> table;
  legacy::Error bad{};
  const unsigned attempts = opts.retries + 1;
  for (unsigned attempt = 0; attempt < attempts && !table; ++attempt) {
    meter::LegacyReply reply;
    try {
      io.restart();
      reply = run_sync(io, session.request(request));
    } catch (const transport::PortError& e) {
      fail(kExitNoAnswer, "NoAnswer", meter::Failure::Silent,
           std::string(e.what()) + " (while talking to the meter on " + opts.port + ")");
    }
    const unsigned tried = static_cast<unsigned>(session.stats().retries) + 1;
    if (reply.failure == meter::Failure::Garbage) {
      // The meter answered, but every reply had a line that failed validation.
      fail(kExitNoAnswer, "Invalid", reply.failure,
           "no valid answer to " + request + " (the " + a.logger + " logger) on " + opts.port +
               " (" + std::to_string(tried) + (tried == 1 ? " attempt): " : " attempts): ") +
               "each reply had a damaged line (a parity error, or noise on the head); no record "
               "is printed from a reply that failed. Reseat and shield the head and try again.");
    }
    if (!reply.answered()) {
      fail(kExitNoAnswer, "NoAnswer", reply.failure,
           "no answer to " + request + " (the " + a.logger + " logger) on " + opts.port + " (" +
               std::to_string(tried) + (tried == 1 ? " attempt): " : " attempts): ") +
               std::string(meter::diagnosis_text(reply.failure)) +
               " A meter that speaks KMP (MULTICAL 402/403/602/603, ...) does not know /#n "
               "requests: use `kamstrup log` without --protocol legacy.");
    }
    auto decoded = legacy::decode_log(code, reply.lines);
    if (decoded) {
      table = std::move(*decoded);
    } else {
      bad = decoded.error();
      // Lines that validate but hold no record (a /#5 header alone, nothing at all): empty.
      if (bad == legacy::Error::MissingField && reply.lines.size() <= (code == '5' ? 1U : 0U)) {
        fail(kExitPartial, "Empty", meter::Failure::None,
             "the " + a.logger + " logger is empty (" + request + " returned no record)");
      }
    }
  }
  if (!table) {
    fail(kExitNoAnswer, "Invalid", meter::Failure::Garbage,
         "no valid answer to " + request + " on " + opts.port + " (" + std::to_string(attempts) +
             (attempts == 1 ? " attempt): " : " attempts): ") + "the reply failed validation (" +
             std::string(legacy::to_string(bad)) +
             "); no record is printed from a line that failed");
  }

  // Time order (oldest first), whichever way the meter sent them.
  std::vector<legacy::LogRow> rows = std::move(table->rows);
  if (rows.size() > 1 && rows.front().yymmdd > rows.back().yymmdd) {
    std::reverse(rows.begin(), rows.end());
  }
  if (a.last && rows.size() > *a.last) {
    rows.erase(rows.begin(), rows.end() - static_cast<std::ptrdiff_t>(*a.last));
  }
  std::erase_if(rows, [&](const legacy::LogRow& row) {
    const std::int64_t t = local_midnight_ms(row.yymmdd);
    return (from && t < *from) || (to && t >= *to);
  });
  if (rows.empty() && !opts.json && !a.csv) {
    std::cerr << "kamstrup: no " << a.logger << " records in the requested range\n";
    return;
  }
  print_legacy(legacy_names(*table), rows, a.logger, code, opts.json, a.csv);
}

void run_log(const MeterOptions& opts, const LogArgs& a) {
  if (a.protocol == "legacy") {
    run_legacy_log(opts, a);
    return;
  }
  if (a.logger == "info" || a.logger == "monthly-data") {
    throw ExitCode(kExitUsage, "--logger " + a.logger +
                                   " is a MULTICAL 66/III/401/41 logger: add --protocol legacy");
  }
  meter::LogReadOptions o;
  o.kind = *meter::parse_logger_kind(a.logger);
  o.order = *kmp::parse_time_order(a.time_order);
  o.max_length = static_cast<std::uint8_t>(a.max_length);
  if (a.lid) o.lid = static_cast<std::uint8_t>(*a.lid);
  if (!a.from.empty()) {
    o.from_ms = parse_time_arg(a.from);
    if (!o.from_ms)
      throw ExitCode(kExitUsage, "--from: invalid time '" + a.from + "': " + kTimeHelp);
  }
  if (!a.to.empty()) {
    o.to_ms = parse_time_arg(a.to);
    if (!o.to_ms) throw ExitCode(kExitUsage, "--to: invalid time '" + a.to + "': " + kTimeHelp);
  }
  o.last = a.last;
  if (!a.registers.empty()) {
    std::vector<std::string> refs;
    std::stringstream ss(a.registers);
    for (std::string r; std::getline(ss, r, ',');) {
      if (!r.empty()) refs.push_back(r);
    }
    o.registers = parse_registers(refs);
  }
  if (o.registers.size() > 6) {
    throw ExitCode(kExitUsage,
                   "--registers: at most 6 registers per logger read (the date and "
                   "clock registers take 2 of the 8 a request may name)");
  }
  if (o.from_ms && o.to_ms && *o.from_ms >= *o.to_ms) {
    throw ExitCode(kExitUsage, "--from must be before --to");
  }

  const Printer::Format format =
      opts.json ? Printer::Format::Json : (a.csv ? Printer::Format::Csv : Printer::Format::Table);
  const bool tty = isatty(STDERR_FILENO) != 0;
  std::optional<Printer> printer;
  bool bar_shown = false;
  auto clear_bar = [&] {
    if (bar_shown) std::cerr << "\r" << std::string(60, ' ') << "\r" << std::flush;
    bar_shown = false;
  };
  o.on_record = [&](const meter::LogRecord& rec) {
    clear_bar();
    if (!printer) printer.emplace(format);
    printer->record(rec);
  };
  o.progress = [&](std::size_t done, std::size_t total) {
    if (!tty) return;
    constexpr std::size_t kWidth = 30;
    const std::size_t filled = total == 0 ? 0 : kWidth * std::min(done, total) / total;
    std::cerr << "\r[" << std::string(filled, '#') << std::string(kWidth - filled, ' ') << "] "
              << done << "/" << total << " records" << std::flush;
    bar_shown = true;
  };

  asio::io_context io;
  auto port = run_sync(io, open_port(opts));
  meter::MeterSession session(*port, opts.session());
  meter::LogReadResult result;
  try {
    io.restart();
    result = run_sync(io, meter::read_log(session, o));
  } catch (const transport::PortError& e) {
    clear_bar();
    throw ExitCode(kExitNoAnswer,
                   std::string(e.what()) + " (while talking to the meter on " + opts.port + ")");
  }
  clear_bar();
  if (!result.ok()) {
    int code = kExitPartial;
    if (result.status == meter::LogStatus::Unsupported ||
        result.status == meter::LogStatus::NoAnswer) {
      code = kExitNoAnswer;
    } else if (result.status == meter::LogStatus::Usage) {
      code = kExitUsage;
    }
    if (result.status == meter::LogStatus::NoAnswer ||
        result.status == meter::LogStatus::Unsupported) {
      // A meter that answered only the older protocols before keeps its loggers behind /#n.
      const auto mem = recall_protocol(opts.port);
      if (mem && mem->protocol == meter::Protocol::Legacy) {
        result.error += " This port answered " + std::string(meter::protocol_title(mem->protocol)) +
                        " before, not KMP: a MULTICAL 66/III/401/41 logger is read with "
                        "--protocol legacy.";
      }
    }
    if (opts.json) {
      std::cout << "{\"port\": " << text::json_quote(opts.port)
                << ", \"error\": " << text::json_quote(result.error)
                << ", \"status\": " << text::json_quote(meter::log_status_name(result.status))
                << ", \"failure\": " << text::json_quote(meter::failure_name(result.failure))
                << ", \"records\": " << result.records.size() << "}\n";
    }
    throw ExitCode(code, result.error);
  }
  if (result.records.empty() && !opts.json && !a.csv) {
    std::cerr << "kamstrup: no " << a.logger << " records in the requested range\n";
  }
  for (const auto& rec : result.records) {
    for (const auto& rd : rec.readings) {
      if (!rd.value) throw ExitCode(kExitPartial, "");
    }
  }
}

}  // namespace

void add_log_command(CLI::App& app) {
  auto* cmd = app.add_subcommand(
      "log",
      "Read records from the meter's own data logger (KMP 0xA0-0xA3 at address 0x7F), one line "
      "per record. EXPERIMENTAL: implemented from Kamstrup's protocol document; no public "
      "capture shows a real meter answering these commands, so a meter may stay silent (\"meter "
      "does not support logger reads\"). The first read discovers which log ids the meter has. "
      "Record times are the meter's logged date and clock (its local time). Exit: 0 records "
      "read, 1 logger empty / range outside the log / some registers not logged, 2 usage error, "
      "3 no answer from the logger. With --protocol legacy (MULTICAL 66/III/401/41): the "
      "meter's /#n loggers, printed as the meter's raw digit fields with their column names and "
      "the record date; the values are unscaled meter digits (no unit or decimals is documented "
      "for them) and records are dated, not timed.");
  auto opts = std::make_shared<MeterOptions>();
  auto args = std::make_shared<LogArgs>();
  opts->add_to(*cmd, false);
  cmd->add_option("--protocol", args->protocol,
                  "kmp (default): KMP logger commands; legacy: MULTICAL 66/III/401/41 `/#n` "
                  "(300 baud 7E2 out, 1200 back): daily /#6, hourly /#7, monthly /#8, yearly "
                  "/#9, monthly-data /#5, info /#J; values are unscaled meter digits")
      ->check(CLI::IsMember({"kmp", "legacy"}));
  cmd->add_option("--logger", args->logger,
                  "Which logger: hourly, daily, monthly or yearly; with --protocol legacy also "
                  "monthly-data (/#5) and info (/#J)")
      ->required()
      ->check(CLI::IsMember({"hourly", "daily", "monthly", "yearly", "monthly-data", "info"}));
  cmd->add_option("--from", args->from, std::string("Oldest record time (inclusive): ") + kTimeHelp)
      ->type_name("T");
  cmd->add_option("--to", args->to, "Newest record time (exclusive), same forms")->type_name("T");
  cmd->add_option("--last", args->last, "Only the newest N records (then --from/--to filter)")
      ->type_name("N")
      ->check(CLI::Range(std::size_t{1}, std::size_t{100000}));
  cmd->add_option("--registers", args->registers,
                  "Comma-separated registers, at most 6 (default heat_energy,volume,hour_counter; "
                  "date and clock are always read for the record times)")
      ->type_name("a,b");
  auto* json = cmd->add_flag("--json", opts->json, "One JSON object per record (JSON lines)");
  cmd->add_flag("--csv", args->csv, "CSV: time,record_id,<register [unit]>...")->excludes(json);
  cmd->add_option("--time-order", args->time_order,
                  "Byte order of the 8-byte logger timestamp in requests: field-table (YY MM DD "
                  "hh mm ss WK Info, default) or reversed (the document's examples); the "
                  "document contradicts itself")
      ->check(CLI::IsMember({"field-table", "reversed"}));
  cmd->add_option("--lid", args->lid, "Skip discovery and read this log id")
      ->check(CLI::Range(0U, 255U));
  cmd->add_option("--max-length", args->max_length,
                  "MaxL: longest reply the meter may send, in application bytes (default 128, "
                  "the document's limit)")
      ->check(CLI::Range(16U, 255U));
  cmd->callback([opts, args] { run_log(*opts, *args); });
}

}  // namespace kamstrup::cli
