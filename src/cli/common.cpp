#include "cli/common.hpp"

#include <asio/this_coro.hpp>

#include <iostream>

#include "kmp/catalogue.hpp"
#include "meter/report.hpp"

namespace kamstrup::cli {

void MeterOptions::add_to(CLI::App& cmd, bool with_json) {
  cmd.add_option("-p,--port", port,
                 "Where the optical head is: /dev/ttyUSB0 (or any tty/pty), socket://HOST:PORT "
                 "(raw TCP, e.g. ser2net), rfc2217://HOST:PORT (telnet with COM-port control), "
                 "usb:VID:PID[:SERIAL] (a USB serial adapter by its ids)")
      ->required();
  cmd.add_option("--baud", baud, "Line speed (default 1200; electricity meters: 9600)")
      ->check(CLI::IsMember(
          std::vector<unsigned>(transport::kBaudRates.begin(), transport::kBaudRates.end())));
  cmd.add_option("--parity", parity, "none, even or odd (default none)")
      ->check(CLI::IsMember({"none", "even", "odd"}));
  cmd.add_option("--databits", data_bits, "7 or 8 (default 8)")->check(CLI::IsMember({7U, 8U}));
  cmd.add_option("--stopbits", stop_bits, "1 or 2 (default 2; electricity meters: 1)")
      ->check(CLI::IsMember({1U, 2U}));
  cmd.add_option("--timeout", timeout_s,
                 "Seconds to wait for the meter's reply to start (default 2; the meter must answer "
                 "within 1.6 s)")
      ->check(CLI::Range(0.05, 60.0));
  cmd.add_option("--retries", retries,
                 "Extra attempts after a failed exchange, each after the meter's 1.6 s recovery "
                 "time (default 2)")
      ->check(CLI::Range(0U, 10U));
  if (with_json) cmd.add_flag("--json", json, "Print one JSON object instead of a table");
}

transport::LineSettings MeterOptions::line() const {
  transport::LineSettings s;
  if (baud) s.baud = *baud;
  if (parity == "even") s.parity = transport::Parity::Even;
  if (parity == "odd") s.parity = transport::Parity::Odd;
  if (data_bits) s.data_bits = *data_bits;
  if (stop_bits) s.stop_bits = *stop_bits;
  return s;
}

meter::SessionOptions MeterOptions::session() const {
  meter::SessionOptions s;
  s.reply_timeout = std::chrono::milliseconds(static_cast<long>(timeout_s * 1000.0));
  s.retries = retries;
  return s;
}

std::vector<std::uint16_t> parse_registers(const std::vector<std::string>& refs) {
  std::vector<std::uint16_t> ids;
  for (const auto& ref : refs) {
    auto id = kmp::parse_register_ref(ref);
    if (!id) {
      std::string msg = "unknown register '" + ref + "'";
      auto close = kmp::suggest_registers(ref);
      if (!close.empty()) {
        msg += " (did you mean ";
        for (std::size_t i = 0; i < close.size(); ++i) {
          msg += (i == 0 ? "" : i + 1 == close.size() ? " or " : ", ") + std::string(close[i]);
        }
        msg += "?)";
      }
      msg += "; `kamstrup registers` lists them all, or give a numeric id";
      throw ExitCode(kExitUsage, msg);
    }
    ids.push_back(*id);
  }
  return ids;
}

asio::awaitable<std::unique_ptr<transport::Port>> open_port(const MeterOptions& opts) {
  std::unique_ptr<transport::Port> port;
  try {
    port = transport::make_port(co_await asio::this_coro::executor, opts.port, opts.line());
    co_await port->open();
  } catch (const transport::PortError& e) {
    throw ExitCode(kExitUsage, e.what());
  }
  co_return port;
}

void fail_no_answer(const MeterOptions& opts, meter::Failure f, const std::string& tried) {
  std::string error = "no valid answer from the meter";
  if (opts.json) {
    std::cout << "{\"port\": " << text::json_quote(opts.port)
              << ", \"error\": " << text::json_quote(error)
              << ", \"failure\": " << text::json_quote(meter::failure_name(f))
              << ", \"diagnosis\": " << text::json_quote(meter::diagnosis_text(f)) << "}\n";
  }
  const unsigned attempts = opts.retries + 1;
  const std::string what = !tried.empty()  ? tried + " tried"
                           : attempts == 1 ? "1 attempt"
                                           : std::to_string(attempts) + " attempts";
  throw ExitCode(kExitNoAnswer, error + " on " + opts.port + " (" + what +
                                    "): " + std::string(meter::diagnosis_text(f)));
}

}  // namespace kamstrup::cli
