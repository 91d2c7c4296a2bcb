// `kamstrup simulate`: virtual meters on a pty or TCP ports (see sim/simulator.hpp for the
// start lines and the log schema).
#include <algorithm>
#include <csignal>
#include <iostream>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "cli/commands.hpp"
#include "sim/faults.hpp"
#include "sim/profile.hpp"
#include "sim/simulator.hpp"

namespace kamstrup::cli {

namespace {

struct SimulateArgs {
  std::string profile = "multical403";
  std::string profile_file;
  std::string pty;
  std::string tcp;
  unsigned count = 1;
  bool no_pacing = false;
  unsigned turnaround_ms = 50;
  bool echo = false;
  std::string echo_mode;
  bool asleep = false;
  double drop = 0.0;
  double corrupt = 0.0;
  bool noise = false;
  std::optional<std::uint64_t> seed;
  std::string log;
  std::optional<unsigned> baud;
  std::optional<std::string> parity;
  std::optional<unsigned> databits;
  std::optional<unsigned> stopbits;
  bool accept_1_stop_bit = false;
  bool no_logger = false;
  std::vector<std::string> logger_periods;  // KIND=DURATION
  std::optional<std::string> logger_time_order;
};

sim::SimOptions to_options(const SimulateArgs& a) {
  sim::SimOptions o;
  try {
    if (!a.profile_file.empty()) {
      o.profile = sim::load_profile_file(a.profile_file);
    } else {
      auto p = sim::builtin_profile(a.profile);
      if (!p) throw ExitCode(kExitUsage, "simulate: unknown profile '" + a.profile + "'");
      o.profile = std::move(*p);
    }
  } catch (const sim::ProfileError& e) {
    throw ExitCode(kExitUsage, e.what());
  }
  if (a.baud) o.profile.line.baud = *a.baud;
  if (a.parity) o.profile.line.parity = (*a.parity)[0];
  if (a.databits) o.profile.line.data_bits = *a.databits;
  if (a.stopbits) o.profile.line.stop_bits = *a.stopbits;
  if (a.no_logger) o.profile.logger.enabled = false;
  if (a.logger_time_order) o.profile.logger.reversed_time = *a.logger_time_order == "reversed";
  for (const auto& spec : a.logger_periods) {
    const auto eq = spec.find('=');
    const auto kind = sim::parse_log_kind(spec.substr(0, std::min(eq, spec.size())));
    const auto period =
        eq == std::string::npos ? std::nullopt : sim::parse_log_period(spec.substr(eq + 1));
    if (!kind || !period) {
      throw ExitCode(kExitUsage, "simulate: --logger-period " + spec +
                                     ": expected KIND=DURATION, KIND hourly|daily|monthly|"
                                     "yearly, DURATION like 2s, 500ms, 1m, 1h");
    }
    o.profile.logger.period[static_cast<std::size_t>(*kind)] = *period;
  }
  o.count = a.count;
  o.pty_link = a.pty;
  o.tcp = a.tcp;
  o.accept_1_stop_bit = a.accept_1_stop_bit;
  o.pacing = !a.no_pacing;
  o.turnaround = std::chrono::milliseconds(a.turnaround_ms);
  o.echo = a.echo || !a.echo_mode.empty();
  if (!a.echo_mode.empty()) o.echo_mode = *sim::parse_echo_mode(a.echo_mode);  // checked
  o.asleep = a.asleep;
  o.noise = a.noise;
  o.drop = a.drop;
  o.corrupt = a.corrupt;
  if (a.seed) {
    o.seed = *a.seed;
  } else {
    std::random_device rd;
    o.seed = (std::uint64_t{rd()} << 32U) | rd();
    std::cerr << "kamstrup simulate: seed " << o.seed << " (--seed repeats this run)\n";
  }
  o.log_path = a.log;
  return o;
}

void run(const SimulateArgs& args) {
  sim::SimOptions options = to_options(args);
  // A reader that vanishes mid-reply must not kill the simulator.
  std::signal(SIGPIPE, SIG_IGN);
  try {
    sim::Simulator simulator(std::move(options));
    simulator.start(std::cout);
    simulator.stop_on_signals();
    simulator.run();
  } catch (const sim::SimError& e) {
    throw ExitCode(kExitUsage, std::string("simulate: ") + e.what());
  } catch (const sim::ProfileError& e) {
    throw ExitCode(kExitUsage, e.what());
  }
}

}  // namespace

void add_simulate_command(CLI::App& app) {
  auto args = std::make_shared<SimulateArgs>();
  CLI::App* cmd = app.add_subcommand(
      "simulate",
      "Run virtual Kamstrup meters on a pty or TCP ports, for testing readers.\n"
      "Prints one line per meter, once its port is open:\n"
      "  kamstrup simulate: <profile> on <port> serial <serial>\n"
      "<port> is a pty slave path or socket://HOST:PORT. Runs until SIGINT/SIGTERM (exit 0).");

  std::string names;
  for (auto n : sim::profile_names()) names += (names.empty() ? "" : ", ") + std::string(n);
  cmd->add_option("--profile", args->profile, "Built-in meter profile: " + names)
      ->type_name("NAME")
      ->check(CLI::IsMember(
          std::vector<std::string>(sim::profile_names().begin(), sim::profile_names().end())))
      ->capture_default_str();
  cmd->add_option(
         "--profile-file", args->profile_file,
         "YAML profile: base, serial, meter_type, sw_revision, line, and per-register\n"
         "overrides  registers: {heat_energy: {value: \"55.006\", unit: MWh, nob: 4,\n"
         "fixed: true}, 0x0123: unsupported}. Legacy bases (multical66c: /#1-/#D and\n"
         "/?!, multical401: /?! with ACK and /#1) also take program_number: \"0044119\"\n"
         "(ABCCC: B energy unit 2 GJ/3 kWh/4 MWh/5 Gcal, CCC the decimals), scale:\n"
         "\"energy=MWh:3,volume=m3:2,power=kW:1,flow=l/h:0\" (for other program numbers),\n"
         "customer_number, iec_identification, iec_ack, reply_line. A legacy meter hears\n"
         "/#n at 300 baud and answers at 1200 only once the reader's pty shows 1200\n"
         "(within 1 s; else silence, fault \"line\"); /?! is answered at 300 baud")
      ->type_name("FILE")
      ->check(CLI::ExistingFile)
      ->excludes("--profile");
  auto* pty = cmd->add_option("--pty", args->pty,
                              "Serve on a pty and make LINK a symlink to its slave (replaced if it "
                              "is a symlink, removed at exit). Without --pty or --tcp a pty is "
                              "made and only its path printed")
                  ->type_name("LINK");
  cmd->add_option("--tcp", args->tcp,
                  "Listen on HOST:PORT like a ser2net raw port (one client per meter; a new "
                  "client replaces the old). With --count N, meters use PORT..PORT+N-1; port 0 "
                  "gives each meter an ephemeral port")
      ->type_name("HOST:PORT")
      ->excludes(pty);
  cmd->add_option("--count", args->count,
                  "Number of independent meters (serials SERIAL..SERIAL+N-1) in one process")
      ->type_name("N")
      ->check(CLI::Range(1U, 10000U))
      ->capture_default_str();
  cmd->add_flag("--no-pacing", args->no_pacing,
                "Send replies at once instead of at the line rate (11 bits per byte at 8N2)");
  cmd->add_option("--turnaround", args->turnaround_ms,
                  "Milliseconds from a request's last byte to the reply")
      ->type_name("MS")
      ->check(CLI::Range(0U, 60000U))
      ->capture_default_str();
  cmd->add_flag("--echo", args->echo,
                "Echo every received byte back at once, as an optical head's reflection does");
  cmd->add_option("--partial-echo", args->echo_mode,
                  "Echo (implies --echo) only part of each request, as some optical heads do: "
                  "no-crlf (ASCII requests /?! and /#n without CR and LF; KMP frames whole), "
                  "no-first (every request without its first byte), truncated (only the first "
                  "two bytes of every request), full (same as --echo)")
      ->type_name("MODE")
      ->check(CLI::IsMember({"full", "no-crlf", "no-first", "truncated"}));
  cmd->add_flag("--asleep", args->asleep, "Never answer (with --echo only the echo comes back)");
  cmd->add_option("--drop", args->drop, "Probability (0..1) of not answering a request")
      ->type_name("P")
      ->check(CLI::Range(0.0, 1.0));
  cmd->add_option("--corrupt", args->corrupt,
                  "Probability (0..1) of corrupting a reply: KMP so that its CRC check fails; "
                  "/#n and IEC with one digit replaced by NUL (a character whose parity check "
                  "failed, as the reader's serial driver delivers it)")
      ->type_name("P")
      ->check(CLI::Range(0.0, 1.0));
  cmd->add_flag("--noise", args->noise,
                "Send 1-8 junk bytes (zeros among them, never 0x40/0x80/0x06) before each reply");
  cmd->add_option("--seed", args->seed,
                  "Seed for value evolution, faults and noise (default: random, printed on stderr)")
      ->type_name("N");
  cmd->add_option("--log", args->log,
                  "Write one JSON line per request frame (dir rx) and per answer or silence "
                  "(dir tx) to FILE, flushed per line")
      ->type_name("FILE");
  cmd->add_option("--baud", args->baud,
                  "Baud rate the meter expects and paces at (profile default: 1200, 382: 9600)")
      ->type_name("N")
      ->check(CLI::Range(50U, 4000000U));
  cmd->add_option("--parity", args->parity,
                  "Parity the meter expects: N, E or O (a Linux pty cannot show the reader's "
                  "parity or data bits, so there only baud and stop bits are checked)")
      ->type_name("N|E|O")
      ->check(CLI::IsMember({"N", "E", "O"}));
  cmd->add_option("--databits", args->databits, "Data bits the meter expects (5-8)")
      ->type_name("N")
      ->check(CLI::Range(5U, 8U));
  cmd->add_option("--stopbits", args->stopbits, "Stop bits the meter expects (1 or 2)")
      ->type_name("N")
      ->check(CLI::Range(1U, 2U));
  cmd->add_flag("--accept-1-stop-bit", args->accept_1_stop_bit,
                "On a pty, also answer a reader set to 1 stop bit when the meter expects 2 "
                "(by default a wrong baud or stop-bit setting gets silence, as from a real meter)");
  cmd->add_flag("--no-logger", args->no_logger,
                "Disable the data logger: nothing answers on the logger address 0x7F (the "
                "multical403/602 profiles have one, EXPERIMENTAL, see docs/logger.md)");
  cmd->add_option("--logger-period", args->logger_periods,
                  "Compress logger time: write KIND records every DURATION instead of each "
                  "calendar period, e.g. hourly=2s (repeatable)")
      ->type_name("KIND=DURATION");
  cmd->add_option("--logger-time-order", args->logger_time_order,
                  "How the logger reads the 8-byte Time of A0/A3 requests (profile default: "
                  "field-table)")
      ->type_name("ORDER")
      ->check(CLI::IsMember({"field-table", "reversed"}));
  cmd->callback([args] { run(*args); });
}

}  // namespace kamstrup::cli
