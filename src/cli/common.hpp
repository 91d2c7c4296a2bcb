// Helpers shared by the subcommands: line/port options and running a coroutine to completion.
#pragma once

#include <CLI/CLI.hpp>
#include <asio/awaitable.hpp>
#include <asio/co_spawn.hpp>
#include <asio/io_context.hpp>

#include <exception>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "cli/commands.hpp"
#include "meter/session.hpp"
#include "transport/port.hpp"

namespace kamstrup::cli {

// --port and the line/session options every meter-talking command takes.
struct MeterOptions {
  std::string port;
  std::optional<unsigned> baud;
  std::string parity;  // none|even|odd
  std::optional<unsigned> data_bits;
  std::optional<unsigned> stop_bits;
  double timeout_s = 2.0;
  unsigned retries = 2;
  bool json = false;

  void add_to(CLI::App& cmd, bool with_json = true);
  // Line settings: 1200 8N2 unless overridden. Throws ExitCode(2) on a bad combination.
  [[nodiscard]] transport::LineSettings line() const;
  // Whether any line option was given (then auto-detection keeps to that line).
  [[nodiscard]] bool line_set() const { return baud || data_bits || stop_bits || !parity.empty(); }
  [[nodiscard]] meter::SessionOptions session() const;
};

// Runs `task` on a fresh io_context until it finishes; rethrows its exception.
template <typename T>
T run_sync(asio::io_context& io, asio::awaitable<T> task) {
  std::optional<T> result;
  std::exception_ptr error;
  asio::co_spawn(io, std::move(task), [&](std::exception_ptr e, T value) {
    error = e;
    if (!e) result = std::move(value);
  });
  io.run();
  if (error) std::rethrow_exception(error);
  return std::move(*result);
}

// Parses register references (names, decimal or 0x-hex ids); an unknown name ends the program
// with exit 2 and "did you mean" suggestions.
std::vector<std::uint16_t> parse_registers(const std::vector<std::string>& refs);

// Opens the port or ends the program with exit 2 and the port's one-line error.
asio::awaitable<std::unique_ptr<transport::Port>> open_port(const MeterOptions& opts);

// The exit status and message for a meter that gave no valid answer. `tried` names what was
// asked (auto-detection: "KMP at 1200 8N2, ..."); empty: the attempts of --retries are counted.
[[noreturn]] void fail_no_answer(const MeterOptions& opts, meter::Failure f,
                                 const std::string& tried = "");

}  // namespace kamstrup::cli
