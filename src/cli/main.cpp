// The `kamstrup` executable: subcommands only parse, call the layers, print.
//
// Built twice: `kamstrup` (the reader: read, info, scan, decode, registers, simulate, ports) and
// `kamstrup-daemon` (KAMSTRUP_DAEMON_PART: run, history, config). `kamstrup run ...` execs
// `kamstrup-daemon run ...` from the same directory, so a one-shot `kamstrup read` does not load
// the daemon's libraries (TLS, HTTP, MQTT, SQLite: two thirds of its memory and start-up time).
#include <unistd.h>
#include <CLI/CLI.hpp>

#include <array>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <iostream>
#include <string>

#include "cli/commands.hpp"
#include "transport/port.hpp"
#include "version/version.hpp"

// libcurl (the daemon's HTTP outputs) brings in GnuTLS through librtmp, and GnuTLS initialises
// itself when it is loaded: ~0.9 MB of the daemon's memory for a library it never calls (RTMP
// is off, TLS is OpenSSL's). Only the environment, read before main(), can stop that
// (GNUTLS_NO_IMPLICIT_INIT=1, GnuTLS's documented switch), so the launcher sets it for the
// daemon, and the daemon removes it again at once so that its own children (the exec output's
// commands) start with the user's environment. kGnutlsMarker says the launcher set it.
constexpr const char* kGnutlsNoInit = "GNUTLS_NO_IMPLICIT_INIT";
constexpr const char* kGnutlsMarker = "KAMSTRUP_SET_GNUTLS_NO_IMPLICIT_INIT";

int main(int argc, char** argv) {
#ifdef KAMSTRUP_DAEMON_PART
  if (std::getenv(kGnutlsMarker) != nullptr) {
    ::unsetenv(kGnutlsNoInit);
    ::unsetenv(kGnutlsMarker);
  }
#endif
  CLI::App app{
      "kamstrup - read Kamstrup heat, water and electricity meters through their optical port "
      "(KMP), exactly.\nRun `kamstrup COMMAND --help` for each command's options.",
      "kamstrup"};
  app.set_version_flag("--version", "kamstrup " + std::string(kamstrup::version()));
  app.require_subcommand(1);
  app.fallthrough(false);
#ifdef KAMSTRUP_DAEMON_PART
  kamstrup::cli::add_run_command(app);
  kamstrup::cli::add_history_command(app);
  kamstrup::cli::add_config_command(app);
#else
  static constexpr std::array<std::pair<const char*, const char*>, 3> kDaemonCommands{{
      {"run", "Run the daemon: poll meters, keep the history, deliver to outputs (see run --help)"},
      {"history", "Show the readings the daemon stored (see history --help)"},
      {"config", "Check a daemon configuration file (see config check --help)"},
  }};
  if (argc >= 2) {
    for (const auto& [name, help] : kDaemonCommands) {
      if (std::strcmp(argv[1], name) != 0) continue;
      std::error_code ec;
      auto self = std::filesystem::read_symlink("/proc/self/exe", ec);
      std::string daemon = (self.parent_path() / "kamstrup-daemon").string();
      if (std::getenv(kGnutlsNoInit) == nullptr) {
        ::setenv(kGnutlsNoInit, "1", 1);
        ::setenv(kGnutlsMarker, "1", 1);
      }
      ::execv(daemon.c_str(), argv);
      std::cerr << "kamstrup: cannot start " << daemon << " for '" << name
                << "': " << std::strerror(errno) << " (it is installed next to kamstrup)\n";
      return 1;
    }
  }
  kamstrup::cli::add_read_command(app);
  kamstrup::cli::add_info_command(app);
  kamstrup::cli::add_scan_command(app);
  kamstrup::cli::add_decode_command(app);
  kamstrup::cli::add_registers_command(app);
  kamstrup::cli::add_simulate_command(app);
  kamstrup::cli::add_log_command(app);
  kamstrup::cli::add_doctor_command(app);
  kamstrup::cli::add_ports_command(app);
  for (const auto& [name, help] : kDaemonCommands) app.add_subcommand(name, help);
#endif

  // CLI11 would report an unknown command as "A subcommand is required"; name it instead.
  if (argc < 2) {
    std::cerr << app.help() << "\nkamstrup: no command given\n";
    return kamstrup::cli::kExitUsage;
  }
  if (std::string first = argv[1]; !first.empty() && first[0] != '-') {
    bool known = false;
    std::string names;
    for (const auto* sub : app.get_subcommands({})) {
      known = known || sub->get_name() == first;
      names += (names.empty() ? "" : ", ") + sub->get_name();
    }
    if (!known) {
      std::cerr << "kamstrup: unknown command '" << first << "' (commands: " << names
                << "; see kamstrup --help)\n";
      return kamstrup::cli::kExitUsage;
    }
  }

  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    std::cerr << "kamstrup: " << e.what() << "\nRun with --help for more information.\n";
    return kamstrup::cli::kExitUsage;
  } catch (const kamstrup::cli::ExitCode& e) {
    if (*e.what() != '\0') std::cerr << "kamstrup: " << e.what() << "\n";
    return e.code;
  } catch (const kamstrup::transport::PortError& e) {
    std::cerr << "kamstrup: " << e.what() << "\n";
    return kamstrup::cli::kExitUsage;
  } catch (const std::exception& e) {
    std::cerr << "kamstrup: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
