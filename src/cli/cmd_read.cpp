// `kamstrup read`, `kamstrup info`, `kamstrup scan`: the commands that talk to a meter.
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <iostream>

#include "cli/common.hpp"
#include "cli/remember.hpp"
#include "kmp/catalogue.hpp"
#include "kmp/info_code.hpp"
#include "legacy/standard.hpp"
#include "meter/detect.hpp"
#include "meter/legacy_session.hpp"
#include "meter/report.hpp"

namespace kamstrup::cli {

namespace {

int exit_status(const meter::ReadResult& r) {
  for (const auto& rd : r.readings) {
    if (!rd.value) return kExitPartial;
  }
  return kExitOk;
}

// A port that fails mid-exchange (a TCP link that cannot be reopened) is "no answer", not a
// usage error: the spec was fine when we opened it.
template <typename F>
auto guard_port(const MeterOptions& opts, F&& f) {
  try {
    return f();
  } catch (const transport::PortError& e) {
    const std::string diagnosis =
        "the connection to the port was lost and could not be reopened - check the link (ser2net "
        "host, cable, USB adapter) and try again.";
    if (opts.json) {
      std::cout << "{\"port\": " << text::json_quote(opts.port)
                << ", \"error\": " << text::json_quote(e.what())
                << ", \"failure\": \"PortLost\", \"diagnosis\": " << text::json_quote(diagnosis)
                << "}\n";
    }
    throw ExitCode(kExitNoAnswer, std::string(e.what()) + " (while talking to the meter on " +
                                      opts.port + "): " + diagnosis);
  }
}

// Options of the pre-KMP protocols (`--protocol legacy|iec`).
struct LegacyArgs {
  std::string protocol = "auto";
  std::string scale;
  unsigned reply_baud = 1200;
  bool no_iec_ack = false;
  bool redetect = false;  // ignore the protocol remembered for the port
  std::string model;      // the info-code table (kmp::parse_info_codes); "" = the protocol's
};

// A legacy or IEC read: the session switches the line itself (300 7E2 out, 1200 back for /#n;
// 300 both ways for IEC). Readings are filtered to `refs` when any are given.
meter::LegacyOptions legacy_options(const MeterOptions& opts, const LegacyArgs& args) {
  meter::LegacyOptions lo;
  lo.retries = opts.retries;
  lo.reply_timeout = std::max(lo.reply_timeout,
                              std::chrono::milliseconds(static_cast<long>(opts.timeout_s * 1000)));
  lo.reply_line.baud = args.reply_baud;
  lo.iec_ack = !args.no_iec_ack;
  if (!args.scale.empty()) {
    auto scale = legacy::parse_scale(args.scale);
    if (!scale) {
      throw ExitCode(kExitUsage, "--scale '" + args.scale +
                                     "': expected energy=GJ|kWh|MWh|Gcal:D,volume=m3:D,"
                                     "power=kW|MW:D,flow=l/h|m3/h:D (D = decimals 0-6)");
    }
    lo.scale = *scale;
  }
  return lo;
}

// Catalogue names for register references (KMP-only ids included); exits 2 on an unknown one.
std::vector<std::string> register_names(const std::vector<std::string>& refs) {
  std::vector<std::string> names;
  for (const auto& ref : refs) {
    const kmp::RegisterDef* def = kmp::find_register(std::string_view(ref));
    if (def == nullptr) {
      auto id = kmp::parse_register_ref(ref);
      if (id) def = kmp::find_register(*id);
    }
    if (def == nullptr) {
      parse_registers({ref});  // exits 2 with suggestions unless it is a numeric id
      continue;                // an uncatalogued KMP id: no legacy quantity has it
    }
    names.emplace_back(def->name);
  }
  return names;
}

meter::ReadResult read_legacy(const MeterOptions& opts, const LegacyArgs& args,
                              const std::vector<std::string>& refs) {
  const meter::LegacyOptions lo = legacy_options(opts, args);
  const std::vector<std::string> names = register_names(refs);
  asio::io_context io;
  auto port = run_sync(io, open_port(opts));
  meter::LegacySession session(*port, lo);
  io.restart();
  auto result = guard_port(opts, [&] {
    return run_sync(io, args.protocol == "iec" ? session.read_iec() : session.read_standard());
  });
  if (!result.answered()) fail_no_answer(opts, result.failure);
  if (result.unknown_program)
    std::cerr << "kamstrup: " << meter::unknown_program_text(result) << "\n";
  return meter::select_readings(std::move(result), names);
}

bool nothing_kmp_like(meter::Failure f) {
  return f == meter::Failure::Silent || f == meter::Failure::EchoOnly;
}

// The protocol this port answered in before; none applies when the user set line options (they
// are taken as meant).
std::optional<RememberedProtocol> recalled(const MeterOptions& opts) {
  return opts.line_set() ? std::nullopt : recall_protocol(opts.port);
}

// What is worth asking first of `known`: nothing after --redetect, and not KMP at the user's line
// (which is asked first anyway).
std::optional<RememberedProtocol> worth_asking_first(const std::optional<RememberedProtocol>& known,
                                                     const MeterOptions& opts,
                                                     const LegacyArgs& args) {
  if (!known || args.redetect) return std::nullopt;
  if (known->protocol == meter::Protocol::Kmp && known->line == opts.line()) return std::nullopt;
  return known;
}

// KMP answered at the user's line without detection: a memory of something else (ignored by
// --redetect) is out of date and goes, so the next plain read does not pay for it again.
void forget_if_known(const std::optional<RememberedProtocol>& known, const MeterOptions& opts) {
  if (known) remember_protocol(opts.port, RememberedProtocol{meter::Protocol::Kmp, opts.line()});
}

// Detection after KMP at the user's line got nothing back (the other KMP line, `/?!`, `/#1`),
// or, with `first`, the whole detection starting with what answered on this port before.
// `asked_kmp`: KMP at the user's line was asked just before and got nothing.
meter::Detection detect(asio::io_context& io, transport::Port& port, const MeterOptions& opts,
                        const LegacyArgs& args, std::vector<std::uint16_t> kmp_ids,
                        const std::optional<RememberedProtocol>& first, bool asked_kmp) {
  meter::DetectOptions d;
  d.kmp = opts.session();
  d.kmp.retries = std::min(opts.retries, 1U);
  d.kmp_registers = std::move(kmp_ids);
  d.kmp_lines.clear();
  if (first) {
    d.first = first->protocol;
    std::vector<transport::LineSettings> lines = {opts.line()};
    if (first->protocol == meter::Protocol::Kmp) lines.insert(lines.begin(), first->line);
    for (const auto& l : meter::default_kmp_lines()) lines.push_back(l);
    for (const auto& l : lines) {
      if (std::find(d.kmp_lines.begin(), d.kmp_lines.end(), l) == d.kmp_lines.end())
        d.kmp_lines.push_back(l);
    }
    d.on_step = [&opts, title = std::string(meter::protocol_title(first->protocol)),
                 said = false](const meter::ProbeStep& step) mutable {
      if (said || step.answered()) return;
      said = true;
      std::cerr << "kamstrup: " << title << " answered on " << opts.port
                << " before but not now; trying every protocol\n";
    };
  } else {
    std::cerr << "kamstrup: no KMP answer at " << opts.line().to_string()
              << "; trying the other protocols (--protocol kmp skips this)\n";
    // Line settings the user gave are taken as meant: no other KMP line is tried.
    for (const auto& l : meter::default_kmp_lines()) {
      if (!opts.line_set() && !(l == opts.line())) d.kmp_lines.push_back(l);
    }
    if (asked_kmp) d.asked_kmp_line = opts.line();  // our own read got nothing there
  }
  d.legacy = legacy_options(opts, args);
  d.legacy.retries = std::min(opts.retries, 1U);
  io.restart();
  auto det = guard_port(opts, [&] { return run_sync(io, meter::detect_protocol(port, d)); });
  if (det.protocol && !opts.line_set()) {
    remember_protocol(opts.port, RememberedProtocol{*det.protocol, det.line});
  }
  return det;
}

meter::Failure worse(meter::Failure a, meter::Failure b) {
  return static_cast<int>(a) >= static_cast<int>(b) ? a : b;
}

// What the auto chain asked, for the message when nothing answered: "KMP at 1200 8N2, ...".
std::string tried_text(const std::optional<transport::LineSettings>& first_kmp,
                       const meter::Detection& det) {
  std::vector<std::string> labels;
  if (first_kmp) labels.push_back("KMP at " + first_kmp->to_string());
  for (const auto& step : det.steps) {
    if (std::find(labels.begin(), labels.end(), step.label) == labels.end())
      labels.push_back(step.label);
  }
  std::string out;
  for (const auto& l : labels) out += (out.empty() ? "" : ", ") + l;
  return out;
}

// The first KMP exchange of `--protocol auto` is the start of the detection chain: when nothing
// comes back it is not retried, the other protocols are asked (see detect_protocol).
meter::SessionOptions first_probe_options(const MeterOptions& opts) {
  meter::SessionOptions so = opts.session();
  so.retry_silence = false;
  return so;
}

// `--protocol auto`: KMP first at the user's line (a KMP meter costs not one extra frame), and
// only when nothing KMP-like came back, the other protocols.
meter::ReadResult read_auto(const MeterOptions& opts, const LegacyArgs& args,
                            const std::vector<std::string>& refs, meter::Protocol& protocol) {
  const std::vector<std::string> names = register_names(refs);
  std::vector<std::uint16_t> ids;  // the KMP request, in the order given
  for (const auto& ref : refs) {
    const kmp::RegisterDef* def = kmp::find_register(std::string_view(ref));
    if (def != nullptr) {
      if (def->id >= 0) ids.push_back(static_cast<std::uint16_t>(def->id));
      continue;  // a legacy-only quantity has no KMP id
    }
    if (auto id = kmp::parse_register_ref(ref)) ids.push_back(*id);
  }
  if (refs.empty()) {
    for (auto n : kmp::default_register_names()) ids.push_back(*kmp::parse_register_ref(n));
  }
  asio::io_context io;
  auto port = run_sync(io, open_port(opts));
  meter::ReadResult first;
  const auto known = recalled(opts);
  const auto mem = worth_asking_first(known, opts, args);
  if (mem) {
    first.failure = meter::Failure::Silent;  // the detection asks everything, KMP included
  } else if (!ids.empty()) {
    meter::MeterSession session(*port, first_probe_options(opts));
    io.restart();
    first = guard_port(opts, [&] { return run_sync(io, session.read_registers(ids)); });
    if (first.answered()) {
      protocol = meter::Protocol::Kmp;
      forget_if_known(known, opts);
      return first;
    }
    if (!nothing_kmp_like(first.failure)) fail_no_answer(opts, first.failure);
  } else {
    first.failure = meter::Failure::Silent;
  }
  const bool asked_kmp = !mem && !ids.empty();
  auto det = detect(io, *port, opts, args, ids, mem, asked_kmp);
  if (!det.protocol) {
    fail_no_answer(opts, worse(first.failure, det.worst_failure()),
                   tried_text(asked_kmp ? std::optional(opts.line()) : std::nullopt, det));
  }
  protocol = *det.protocol;
  for (auto& step : det.steps) {
    if (step.answered() && step.protocol == protocol && step.result) {
      if (step.result->unknown_program)
        std::cerr << "kamstrup: " << meter::unknown_program_text(*step.result) << "\n";
      if (protocol == meter::Protocol::Kmp) return std::move(*step.result);
      return meter::select_readings(std::move(*step.result), names);
    }
  }
  fail_no_answer(opts, det.worst_failure());
}

}  // namespace

void add_read_command(CLI::App& app) {
  auto* cmd = app.add_subcommand(
      "read",
      "Read registers from a meter. Without REG: heat_energy volume temp1 temp2 temp_diff flow "
      "power hour_counter. Exit: 0 all read, 1 some unsupported or failed, 2 usage error, 3 no "
      "valid answer (diagnosis on stderr).");
  auto opts = std::make_shared<MeterOptions>();
  auto regs = std::make_shared<std::vector<std::string>>();
  auto csv = std::make_shared<bool>(false);
  auto legacy_args = std::make_shared<LegacyArgs>();
  opts->add_to(*cmd, false);
  cmd->add_option("--protocol", legacy_args->protocol,
                  "auto (default): KMP at the line settings (1200 8N2 unless set), and only when "
                  "nothing comes back, KMP at the other of 1200 8N2/9600 8N1, the IEC readout, "
                  "then /#1, each asked once when nothing comes back, and KMP at the first line "
                  "once more at the end (the one that answers is used and remembered for the "
                  "port, so the next read asks it first; `kamstrup doctor` shows each step); "
                  "kmp: KMP frames only; legacy: MULTICAL 66/III/401/41 `/#1` (300 baud 7E2 "
                  "out, 1200 back; the scale comes from the "
                  "meter's program number in `/#2`); iec: IEC 62056-21 mode A readout `/?!` at "
                  "300 baud (MULTICAL 66/401/III, Kamstrup 382)")
      ->check(CLI::IsMember({"auto", "kmp", "legacy", "iec"}));
  const std::string memory = protocol_memory_path();
  cmd->add_flag("--redetect", legacy_args->redetect,
                "auto: ignore the protocol remembered for this port (" +
                    (memory.empty() ? std::string("none is kept: neither XDG_CACHE_HOME nor HOME "
                                                  "is set")
                                    : "kept in " + memory) +
                    ") and detect again");
  cmd->add_option("--scale", legacy_args->scale,
                  "legacy: the meter's scale instead of the one its program number implies (needed "
                  "when that number is not in the table), e.g. "
                  "energy=MWh:3,volume=m3:2,power=kW:1,flow=l/h:0");
  cmd->add_option("--reply-baud", legacy_args->reply_baud,
                  "legacy: the baud rate the meter answers at (default 1200)")
      ->check(CLI::IsMember({300U, 600U, 1200U, 2400U}));
  cmd->add_flag("--no-iec-ack", legacy_args->no_iec_ack,
                "iec: do not send ACK 000 after the identification line");
  cmd->add_option("--model", legacy_args->model,
                  "The meter's model, for naming the flags of its info code (register info): "
                  "multical403 (MULTICAL 403 bits), multical66c (MULTICAL 66-C codes, the "
                  "default for /#n meters), unknown (every set bit as bit_N, the default for KMP "
                  "meters, whose type number does not tell the model)")
      ->check(CLI::IsMember({"multical403", "multical66c", "unknown"}));
  cmd->add_option("REG", *regs,
                  "Registers: catalogue names (see `kamstrup registers`) or ids (60, 0x3C)");
  auto* json_flag = cmd->add_flag("--json", opts->json, "Print one JSON object");
  cmd->add_flag("--csv", *csv,
                "Print CSV: name,id,value,unit,text (id empty for a quantity without a KMP "
                "register)")
      ->excludes(json_flag);
  cmd->callback([opts, regs, csv, legacy_args] {
    meter::ReadResult result;
    meter::Protocol protocol = meter::Protocol::Kmp;
    if (legacy_args->protocol == "auto") {
      result = read_auto(*opts, *legacy_args, *regs, protocol);
    } else if (legacy_args->protocol != "kmp") {
      protocol = *meter::parse_protocol(legacy_args->protocol);
      result = read_legacy(*opts, *legacy_args, *regs);
    } else {
      std::vector<std::string> refs = *regs;
      if (refs.empty()) {
        for (auto n : kmp::default_register_names()) refs.emplace_back(n);
      }
      auto ids = parse_registers(refs);
      asio::io_context io;
      auto port = run_sync(io, open_port(*opts));
      meter::MeterSession session(*port, opts->session());
      io.restart();
      result = guard_port(*opts, [&] { return run_sync(io, session.read_registers(ids)); });
      if (!result.answered()) fail_no_answer(*opts, result.failure);
    }
    if (!legacy_args->model.empty())
      result.info_codes = *kmp::parse_info_codes(legacy_args->model);  // checked above
    if (opts->json) {
      std::cout << meter::read_result_json(opts->port, meter::utc_now_rfc3339(), result,
                                           meter::protocol_name(protocol))
                << "\n";
    } else if (*csv) {
      std::cout << "name,id,value,unit,text\n";
      for (const auto& rd : result.readings) {
        if (!rd.value) continue;
        std::cout << text::csv_field(rd.name) << "," << (rd.id < 0 ? "" : std::to_string(rd.id))
                  << "," << (rd.value->number ? rd.value->number->to_string() : "") << ","
                  << text::csv_field(rd.value->unit) << "," << text::csv_field(rd.value->text)
                  << "\n";
      }
    } else {
      std::cout << meter::read_result_table(result);
    }
    int status = exit_status(result);
    if (status != kExitOk) throw ExitCode(status, "");
  });
}

namespace {

// `known`: a GetType answer already received (auto-detection's probe), so it is not asked twice.
void print_kmp_info(asio::io_context& io, transport::Port& port, const MeterOptions& opts,
                    const transport::LineSettings& line_used,
                    std::optional<meter::MeterSession::TypeResult> known = std::nullopt) {
  meter::MeterSession session(port, opts.session());
  io.restart();
  auto type = known ? *known : guard_port(opts, [&] { return run_sync(io, session.get_type()); });
  if (!type.type) fail_no_answer(opts, type.failure);
  io.restart();
  auto serial = guard_port(opts, [&] { return run_sync(io, session.get_serial()); });
  io.restart();
  const std::uint16_t clock_ids[] = {1002, 1003};
  auto clock = guard_port(opts, [&] { return run_sync(io, session.read_registers(clock_ids)); });

  char hex[8];
  std::snprintf(hex, sizeof hex, "0x%04X", type.type->meter_type);
  std::string model = kmp::meter_type_name(type.type->meter_type);
  auto text_of = [&](std::uint16_t id) -> std::string {
    for (const auto& rd : clock.readings) {
      if (rd.id == id && rd.value) return meter::display_value(*rd.value);
    }
    return "";
  };
  std::string line = line_used.to_string();
  if (opts.json) {
    std::cout << "{\"port\": " << text::json_quote(opts.port)
              << ", \"protocol\": \"kmp\", \"line\": " << text::json_quote(line)
              << ", \"meter_type\": " << type.type->meter_type
              << ", \"meter_type_hex\": " << text::json_quote(hex)
              << ", \"model\": " << text::json_quote(model)
              << ", \"sw_revision\": " << text::json_quote(type.type->sw_revision)
              << ", \"serial\": " << (serial.serial ? std::to_string(*serial.serial) : "null")
              << ", \"clock\": " << text::json_quote(text_of(1002))
              << ", \"date\": " << text::json_quote(text_of(1003)) << "}\n";
  } else {
    std::cout << "protocol       KMP (" << line << ")\n"
              << "meter type     " << hex << (model.empty() ? "" : " " + model) << "\n"
              << "software       "
              << (type.type->sw_revision.empty() ? "(not reported)" : type.type->sw_revision)
              << "\n"
              << "serial number  "
              << (serial.serial ? std::to_string(*serial.serial) : "(no answer)") << "\n"
              << "clock          " << text_of(1002) << "\n"
              << "date           " << text_of(1003) << "\n";
  }
}

// A MULTICAL /#n meter: its program number (and the scale it implies) and customer number from
// /#2; an IEC meter: its identification line and the readout's customer number.
void print_legacy_info(asio::io_context& io, transport::Port& port, const MeterOptions& opts,
                       const LegacyArgs& args, meter::Protocol protocol) {
  meter::LegacySession session(port, legacy_options(opts, args));
  std::string customer, program, scale, identification, date;
  io.restart();
  if (protocol == meter::Protocol::Iec) {
    auto r = guard_port(opts, [&] { return run_sync(io, session.read_iec()); });
    if (!r.answered()) fail_no_answer(opts, r.failure);
    identification = session.identification();
    for (const auto& rd : r.readings) {
      if (rd.name == "customer_number" && rd.value) customer = meter::display_value(*rd.value);
    }
  } else {
    auto reply = guard_port(opts, [&] { return run_sync(io, session.request("2")); });
    if (!reply.answered() || reply.lines.empty()) fail_no_answer(opts, reply.failure);
    auto two = legacy::decode_standard2(reply.lines.front());
    if (!two) {
      throw ExitCode(kExitPartial, "the meter's /#2 reply is malformed (" +
                                       std::string(legacy::to_string(two.error())) + ")");
    }
    program = two->program.text;
    auto sc = legacy::scale_for(two->program);
    scale = sc ? legacy::scale_to_string(*sc) : "(not in the table: set it with --scale)";
    for (const auto& v : two->values) {
      if (v.name == "customer_number") customer = meter::display_value(v.value);
      if (v.name == "date") date = meter::display_value(v.value);
    }
  }
  const std::string title(meter::protocol_title(protocol));
  if (opts.json) {
    std::cout << "{\"port\": " << text::json_quote(opts.port)
              << ", \"protocol\": " << text::json_quote(meter::protocol_name(protocol))
              << ", \"customer_number\": " << text::json_quote(customer);
    if (protocol == meter::Protocol::Iec) {
      std::cout << ", \"identification\": " << text::json_quote(identification);
    } else {
      std::cout << ", \"program_number\": " << text::json_quote(program)
                << ", \"scale\": " << text::json_quote(scale)
                << ", \"date\": " << text::json_quote(date);
    }
    std::cout << "}\n";
  } else {
    std::cout << "protocol         " << title << "\n";
    if (protocol == meter::Protocol::Iec) {
      std::cout << "identification   " << identification << "\n";
    } else {
      std::cout << "program number   " << program << "\n"
                << "scale            " << scale << "\n"
                << "date             " << date << "\n";
    }
    std::cout << "customer number  " << customer << "\n";
  }
}

}  // namespace

void add_info_command(CLI::App& app) {
  auto* cmd = app.add_subcommand(
      "info",
      "Identify a meter: the protocol it speaks, then (KMP) type, software revision, serial "
      "number, clock and date, or (MULTICAL /#n) program number, scale and customer number.");
  auto opts = std::make_shared<MeterOptions>();
  auto legacy_args = std::make_shared<LegacyArgs>();
  opts->add_to(*cmd);
  cmd->add_option("--protocol", legacy_args->protocol,
                  "auto (default; see `kamstrup read --help`), kmp, legacy or iec")
      ->check(CLI::IsMember({"auto", "kmp", "legacy", "iec"}));
  cmd->add_flag("--redetect", legacy_args->redetect,
                "auto: ignore the protocol remembered for this port and detect again");
  cmd->callback([opts, legacy_args] {
    asio::io_context io;
    auto port = run_sync(io, open_port(*opts));
    const std::string& p = legacy_args->protocol;
    if (p == "kmp") {
      print_kmp_info(io, *port, *opts, opts->line());
      return;
    }
    if (p != "auto") {
      print_legacy_info(io, *port, *opts, *legacy_args, *meter::parse_protocol(p));
      return;
    }
    // KMP at the user's line first (a KMP meter costs no extra frame), unless another protocol
    // answered on this port before.
    const auto known = recalled(*opts);
    const auto mem = worth_asking_first(known, *opts, *legacy_args);
    meter::MeterSession::TypeResult type;
    type.failure = meter::Failure::Silent;
    if (!mem) {
      meter::MeterSession probe(*port, first_probe_options(*opts));
      io.restart();
      type = guard_port(*opts, [&] { return run_sync(io, probe.get_type()); });
      if (type.type || !nothing_kmp_like(type.failure)) {
        if (!type.type) fail_no_answer(*opts, type.failure);
        forget_if_known(known, *opts);
        print_kmp_info(io, *port, *opts, opts->line(), type);
        return;
      }
    }
    auto det = detect(io, *port, *opts, *legacy_args, {}, mem, !mem);
    if (!det.protocol) {
      fail_no_answer(*opts, worse(type.failure, det.worst_failure()),
                     tried_text(mem ? std::nullopt : std::optional(opts->line()), det));
    }
    if (*det.protocol == meter::Protocol::Kmp) {
      print_kmp_info(io, *port, *opts, det.line);
    } else {
      print_legacy_info(io, *port, *opts, *legacy_args, *det.protocol);
    }
  });
}

void add_scan_command(CLI::App& app) {
  auto* cmd = app.add_subcommand(
      "scan",
      "Probe every catalogued register (8 per request) and list the ones this meter supports, "
      "with their values.");
  auto opts = std::make_shared<MeterOptions>();
  opts->add_to(*cmd);
  cmd->callback([opts] {
    std::vector<std::uint16_t> ids;
    for (const auto& r : kmp::catalogue()) {
      if (r.id >= 0) ids.push_back(static_cast<std::uint16_t>(r.id));
    }
    auto batches = meter::plan_batches(ids);
    asio::io_context io;
    auto port = run_sync(io, open_port(*opts));
    meter::MeterSession session(*port, opts->session());
    bool tty = isatty(STDERR_FILENO) != 0;
    meter::ReadResult all;
    for (std::size_t i = 0; i < batches.size(); ++i) {
      if (tty) {
        constexpr std::size_t kWidth = 30;
        std::size_t done = kWidth * i / batches.size();
        std::cerr << "\r[" << std::string(done, '#') << std::string(kWidth - done, ' ') << "] "
                  << i * kmp::kMaxRegistersPerRequest << "/" << ids.size() << " registers"
                  << std::flush;
      }
      io.restart();
      auto r = guard_port(*opts, [&] { return run_sync(io, session.read_registers(batches[i])); });
      if (!r.answered() && i == 0) {
        if (tty) std::cerr << "\n";
        fail_no_answer(*opts, r.failure);
      }
      all.readings.insert(all.readings.end(), r.readings.begin(), r.readings.end());
    }
    if (tty) std::cerr << "\r" << std::string(60, ' ') << "\r";
    meter::ReadResult supported;
    std::size_t unsupported = 0;
    for (auto& rd : all.readings) {
      if (rd.unsupported()) {
        ++unsupported;
      } else {
        supported.readings.push_back(rd);
      }
    }
    if (opts->json) {
      std::cout << meter::read_result_json(opts->port, meter::utc_now_rfc3339(), all) << "\n";
    } else {
      std::cout << meter::read_result_table(supported);
      std::cout << supported.readings.size() << " of " << ids.size()
                << " catalogued registers answered (" << unsupported << " not supported), "
                << session.stats().frames_sent << " requests.\n";
    }
  });
}

}  // namespace kamstrup::cli
