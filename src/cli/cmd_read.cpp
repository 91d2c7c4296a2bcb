// `kamstrup read`, `kamstrup info`, `kamstrup scan`: the commands that talk to a meter.
#include <unistd.h>

#include <cstdio>
#include <iostream>

#include "cli/common.hpp"
#include "kmp/catalogue.hpp"
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
      std::cout << "{\"port\": " << meter::json_quote(opts.port)
                << ", \"error\": " << meter::json_quote(e.what())
                << ", \"failure\": \"PortLost\", \"diagnosis\": " << meter::json_quote(diagnosis)
                << "}\n";
    }
    throw ExitCode(kExitNoAnswer, std::string(e.what()) + " (while talking to the meter on " +
                                      opts.port + "): " + diagnosis);
  }
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
  opts->add_to(*cmd, false);
  cmd->add_option("REG", *regs,
                  "Registers: catalogue names (see `kamstrup registers`) or ids (60, 0x3C)");
  auto* json_flag = cmd->add_flag("--json", opts->json, "Print one JSON object");
  cmd->add_flag("--csv", *csv, "Print CSV: name,id,value,unit,text")->excludes(json_flag);
  cmd->callback([opts, regs, csv] {
    std::vector<std::string> refs = *regs;
    if (refs.empty()) {
      for (auto n : kmp::default_register_names()) refs.emplace_back(n);
    }
    auto ids = parse_registers(refs);
    asio::io_context io;
    auto port = run_sync(io, open_port(*opts));
    meter::MeterSession session(*port, opts->session());
    io.restart();
    auto result = guard_port(*opts, [&] { return run_sync(io, session.read_registers(ids)); });
    if (!result.answered()) fail_no_answer(*opts, result.failure);
    if (opts->json) {
      std::cout << meter::read_result_json(opts->port, meter::utc_now_rfc3339(), result) << "\n";
    } else if (*csv) {
      std::cout << "name,id,value,unit,text\n";
      for (const auto& rd : result.readings) {
        if (!rd.value) continue;
        std::cout << meter::csv_field(rd.name) << "," << rd.id << ","
                  << (rd.value->number ? rd.value->number->to_string() : "") << ","
                  << meter::csv_field(rd.value->unit) << "," << meter::csv_field(rd.value->text)
                  << "\n";
      }
    } else {
      std::cout << meter::read_result_table(result);
    }
    int status = exit_status(result);
    if (status != kExitOk) throw ExitCode(status, "");
  });
}

void add_info_command(CLI::App& app) {
  auto* cmd = app.add_subcommand(
      "info", "Identify a meter: type, software revision, serial number, clock and date.");
  auto opts = std::make_shared<MeterOptions>();
  opts->add_to(*cmd);
  cmd->callback([opts] {
    asio::io_context io;
    auto port = run_sync(io, open_port(*opts));
    meter::MeterSession session(*port, opts->session());
    io.restart();
    auto type = guard_port(*opts, [&] { return run_sync(io, session.get_type()); });
    if (!type.type) fail_no_answer(*opts, type.failure);
    io.restart();
    auto serial = guard_port(*opts, [&] { return run_sync(io, session.get_serial()); });
    io.restart();
    const std::uint16_t clock_ids[] = {1002, 1003};
    auto clock = guard_port(*opts, [&] { return run_sync(io, session.read_registers(clock_ids)); });

    char hex[8];
    std::snprintf(hex, sizeof hex, "0x%04X", type.type->meter_type);
    std::string model = kmp::meter_type_name(type.type->meter_type);
    auto text_of = [&](std::uint16_t id) -> std::string {
      for (const auto& rd : clock.readings) {
        if (rd.id == id && rd.value) return meter::display_value(*rd.value);
      }
      return "";
    };
    std::string line = opts->line().to_string();
    if (opts->json) {
      std::cout << "{\"port\": " << meter::json_quote(opts->port)
                << ", \"protocol\": \"kmp\", \"line\": " << meter::json_quote(line)
                << ", \"meter_type\": " << type.type->meter_type
                << ", \"meter_type_hex\": " << meter::json_quote(hex)
                << ", \"model\": " << meter::json_quote(model)
                << ", \"sw_revision\": " << meter::json_quote(type.type->sw_revision)
                << ", \"serial\": " << (serial.serial ? std::to_string(*serial.serial) : "null")
                << ", \"clock\": " << meter::json_quote(text_of(1002))
                << ", \"date\": " << meter::json_quote(text_of(1003)) << "}\n";
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
