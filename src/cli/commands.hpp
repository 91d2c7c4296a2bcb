// `kamstrup` subcommands. Each add_*_command registers one subcommand on the app; its callback
// parses nothing itself beyond CLI11's options, calls the layers below, prints, and reports a
// non-zero exit status by throwing ExitCode.
#pragma once

#include <CLI/CLI.hpp>

#include <stdexcept>
#include <string>

namespace kamstrup::cli {

// Exit statuses are a contract (scripts depend on them).
inline constexpr int kExitOk = 0;
inline constexpr int kExitPartial = 1;   // some registers unsupported/failed; invalid frame
inline constexpr int kExitUsage = 2;     // bad arguments, bad port, unknown register, bad hex
inline constexpr int kExitNoAnswer = 3;  // no valid answer from the meter

// Thrown by a command to end the program with `code`; `message` (if any) goes to stderr as
// "kamstrup: <message>".
struct ExitCode : std::runtime_error {
  int code;
  ExitCode(int c, const std::string& message) : std::runtime_error(message), code(c) {}
};

void add_read_command(CLI::App& app);
void add_info_command(CLI::App& app);
void add_scan_command(CLI::App& app);
void add_decode_command(CLI::App& app);
void add_registers_command(CLI::App& app);
void add_simulate_command(CLI::App& app);
void add_log_command(CLI::App& app);
void add_doctor_command(CLI::App& app);
void add_ports_command(CLI::App& app);
void add_history_command(CLI::App& app);
void add_run_command(CLI::App& app);
void add_config_command(CLI::App& app);

}  // namespace kamstrup::cli
