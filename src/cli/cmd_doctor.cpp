// `kamstrup doctor`: the guided check a user runs when nothing works. Each step prints ✓ or ✗
// and, for ✗, the fix in one sentence. Exit 0 only when some protocol answered.
#include <dirent.h>
#include <unistd.h>

#include <climits>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <set>

#include "cli/common.hpp"
#include "cli/remember.hpp"
#include "kmp/catalogue.hpp"
#include "meter/detect.hpp"
#include "meter/report.hpp"

namespace kamstrup::cli {

namespace {

constexpr std::string_view kOk = "✓";
constexpr std::string_view kBad = "✗";
constexpr std::string_view kInfo = "·";

void say(std::string_view mark, const std::string& what, const std::string& detail = "") {
  std::cout << "  " << mark << " " << what;
  if (!detail.empty()) std::cout << ": " << detail;
  std::cout << "\n" << std::flush;
}

void fix(const std::string& sentence) {
  std::cout << "      fix: " << sentence << "\n";
}

// Other processes holding the same tty open: a second reader (an old script, ModemManager, a
// serial console) steals bytes and makes both see garbage. Only processes we may inspect.
std::vector<std::string> other_openers(const std::string& path) {
  std::vector<std::string> found;
  char real[PATH_MAX];
  if (::realpath(path.c_str(), real) == nullptr) return found;
  const std::string target = real;
  const std::string self = std::to_string(::getpid());
  DIR* proc = ::opendir("/proc");
  if (proc == nullptr) return found;
  while (dirent* e = ::readdir(proc)) {
    const std::string pid = e->d_name;
    if (pid.empty() || pid.find_first_not_of("0123456789") != std::string::npos || pid == self)
      continue;
    const std::string fd_dir = "/proc/" + pid + "/fd";
    DIR* fds = ::opendir(fd_dir.c_str());
    if (fds == nullptr) continue;
    bool holds = false;
    while (dirent* f = ::readdir(fds)) {
      char link[PATH_MAX];
      const std::string p = fd_dir + "/" + f->d_name;
      auto n = ::readlink(p.c_str(), link, sizeof link - 1);
      if (n <= 0) continue;
      link[n] = '\0';
      if (target == link) {
        holds = true;
        break;
      }
    }
    ::closedir(fds);
    if (holds) {
      std::string comm;
      std::ifstream in("/proc/" + pid + "/comm");
      std::getline(in, comm);
      found.push_back(comm + " (pid " + pid + ")");
    }
  }
  ::closedir(proc);
  return found;
}

std::string join(const std::vector<std::string>& v) {
  std::string out;
  for (const auto& s : v) out += (out.empty() ? "" : ", ") + s;
  return out;
}

std::string open_fix(const std::string& error) {
  if (error.find("no such device") != std::string::npos)
    return "check the port name: `ls -l /dev/serial/by-id/` lists the USB heads that are plugged "
           "in.";
  if (error.find("permission denied") != std::string::npos)
    return "add your user to the dialout group (sudo usermod -aG dialout $USER) and log in again.";
  if (error.find("busy") != std::string::npos)
    return "free the port from another reader (stop the other program or ModemManager).";
  if (error.find("not a tty") != std::string::npos)
    return "give the tty of the optical head (e.g. /dev/ttyUSB0), not another file.";
  return "check the port spec (see `kamstrup read --help`) and that the device or server is up.";
}

std::string stats_text(const meter::SessionStats& s) {
  return std::to_string(s.frames_sent) + " request(s), " + std::to_string(s.bytes_received) +
         " byte(s) back";
}

}  // namespace

void add_doctor_command(CLI::App& app) {
  auto* cmd = app.add_subcommand(
      "doctor",
      "Find out why a meter does not answer: checks the port, the line settings, the optical "
      "head's echo, tries KMP (1200 8N2 and 9600 8N1), the IEC readout (/?!) and MULTICAL /#1, "
      "then measures the error rate. Prints each step with its fix. Exit 0 when a protocol "
      "answered, 3 when none did, 2 when the port cannot be used.");
  auto opts = std::make_shared<MeterOptions>();
  auto requests = std::make_shared<unsigned>(10);
  opts->retries = 1;
  opts->add_to(*cmd, false);
  cmd->add_option("--requests", *requests,
                  "Requests for the error-rate check once a protocol answered (default 10)")
      ->check(CLI::Range(1U, 1000U));
  cmd->callback([opts, requests] {
    std::cout << "kamstrup doctor: " << opts->port << "\n";
    asio::io_context io;

    // 1. The port itself.
    std::unique_ptr<transport::Port> port;
    try {
      port = transport::make_port(io.get_executor(), opts->port, opts->line());
      run_sync(io, [&]() -> asio::awaitable<int> {
        co_await port->open();
        co_return 0;
      }());
      say(kOk, "port opens", port->name());
    } catch (const transport::PortError& e) {
      say(kBad, "port opens", e.what());
      fix(open_fix(e.what()));
      throw ExitCode(kExitUsage, "");
    }
    const bool local_tty =
        opts->port.find("://") == std::string::npos && opts->port.rfind("usb:", 0) != 0;
    if (local_tty) {
      auto others = other_openers(opts->port);
      if (others.empty()) {
        say(kOk, "no other program has the port open");
      } else {
        say(kBad, "another program has the port open", join(others));
        fix("free the port from another reader: stop " + others.front() +
            " - two readers on one head garble each other's replies.");
      }
    }

    // 2. Line settings the meters need.
    for (const char* fmt : {"8N2", "7E2"}) {
      const unsigned baud = fmt[0] == '8' ? 1200U : 300U;
      auto line = transport::parse_frame_format(baud, fmt);
      try {
        io.restart();
        run_sync(io, [&]() -> asio::awaitable<int> {
          co_await port->set_line(*line);
          co_return 0;
        }());
        say(kOk, "line settings " + line->to_string() + " accepted");
      } catch (const transport::PortError& e) {
        say(kBad, "line settings " + line->to_string() + " accepted", e.what());
        fix(std::string(fmt) == "8N2"
                ? "use a head or adapter that supports 2 stop bits (KMP meters want 8N2)."
                : "the adapter cannot do 300 baud 7E2: MULTICAL 66/401 meters need it.");
      }
    }

    // 3. Protocols, in the order auto-detection tries them.
    meter::DetectOptions d;
    d.kmp = opts->session();
    d.legacy.retries = std::min(opts->retries, 1U);
    bool echo_reported = false;
    std::set<meter::Failure> fixes_given;
    d.on_step = [&](const meter::ProbeStep& s) {
      if (!echo_reported) {
        echo_reported = true;
        if (s.stats.echoes > 0) {
          say(kOk, "our own bytes echo back", "an optical head is on the port (echo is skipped)");
        } else if (s.stats.bytes_received > 0) {
          say(kInfo, "no echo of our bytes", "this head does not echo; that is fine");
        } else {
          say(kInfo, "no echo of our bytes",
              "many heads do not echo, so this alone does not prove a head is connected");
        }
      }
      if (s.answered()) {
        say(kOk, s.label + " answers", stats_text(s.stats));
      } else {
        say(kBad, s.label + " answers",
            std::string(meter::failure_name(s.failure)) + ", " + stats_text(s.stats));
        // Each fix once: the same failure on the next protocol needs no second sentence.
        if ((s.failure != meter::Failure::Silent || s.stats.echoes > 0) &&
            fixes_given.insert(s.failure).second)
          fix(std::string(meter::diagnosis_text(s.failure)));
      }
    };
    io.restart();
    meter::Detection det;
    try {
      det = run_sync(io, meter::detect_protocol(*port, d));
    } catch (const transport::PortError& e) {
      say(kBad, "talking to the meter", e.what());
      fix("the link to the port dropped: check the cable, USB adapter or ser2net host.");
      throw ExitCode(kExitNoAnswer, "");
    }
    if (!det.protocol) {
      auto worst = det.worst_failure();
      std::cout << "\nNo protocol answered (" << meter::failure_name(worst) << ").\n"
                << "  fix: " << meter::diagnosis_text(worst) << "\n";
      if (worst == meter::Failure::Silent || worst == meter::Failure::EchoOnly) {
        std::cout << "  Also: a MULTICAL 403/603 opens its optical eye only while the magnet of "
                     "the head is on it; older meters (66, 401, 601) need a button press on the "
                     "meter first.\n";
      }
      throw ExitCode(kExitNoAnswer, "");
    }

    // 4. Error rate over a few requests with the protocol that answered.
    const auto protocol = *det.protocol;
    unsigned valid = 0;
    std::uint64_t crc = 0;
    std::uint64_t bad = 0;
    try {
      if (protocol == meter::Protocol::Kmp) {
        meter::SessionOptions so = opts->session();
        so.retries = 0;
        meter::MeterSession session(*port, so);
        std::vector<std::uint16_t> ids;
        for (auto n : kmp::default_register_names())
          ids.push_back(static_cast<std::uint16_t>(kmp::find_register(n)->id));
        for (unsigned i = 0; i < *requests; ++i) {
          io.restart();
          auto r = run_sync(io, session.read_registers(ids));
          if (r.answered()) ++valid;
        }
        crc = session.stats().crc_errors;
        bad = session.stats().bad_frames;
      } else {
        meter::LegacyOptions lo = d.legacy;
        lo.retries = 0;
        meter::LegacySession session(*port, lo);
        for (unsigned i = 0; i < *requests; ++i) {
          io.restart();
          auto r = run_sync(
              io, protocol == meter::Protocol::Iec ? session.read_iec() : session.read_standard());
          if (r.answered()) ++valid;
        }
        crc = session.stats().crc_errors;
        bad = session.stats().bad_frames;
      }
    } catch (const transport::PortError& e) {
      say(kBad, "error rate", e.what());
    }
    const std::string rate = std::to_string(valid) + "/" + std::to_string(*requests) +
                             " valid replies, " + std::to_string(crc) + " checksum error(s), " +
                             std::to_string(bad) + " other bad frame(s)";
    if (valid == *requests) {
      say(kOk, "error rate", rate);
    } else {
      say(kBad, "error rate", rate);
      fix(crc > 0 ? std::string(meter::diagnosis_text(meter::Failure::CrcErrors))
                  : "replies go missing: keep the head steady on the eye and the poll interval "
                    "above a few seconds (battery meters throttle their optical port).");
    }
    std::cout << "\nThe meter speaks " << meter::protocol_title(protocol);
    if (protocol == meter::Protocol::Kmp) std::cout << " at " << det.line.to_string();
    std::cout << ". Read it with:  kamstrup read --port " << opts->port << " --protocol "
              << meter::protocol_name(protocol);
    if (protocol == meter::Protocol::Kmp && det.line.baud != 1200)
      std::cout << " --baud " << det.line.baud << " --stopbits " << det.line.stop_bits;
    std::cout << "\n";
    if (!opts->line_set() &&
        remember_protocol(opts->port, RememberedProtocol{protocol, det.line})) {
      std::cout << "Remembered for this port: `kamstrup read --port " << opts->port << "` asks "
                << meter::protocol_title(protocol) << " first from now on.\n";
    }
  });
}

}  // namespace kamstrup::cli
