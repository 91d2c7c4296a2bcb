// The `kamstrup` executable: subcommands only parse, call the layers, print.
#include <CLI/CLI.hpp>

#include <iostream>
#include <string>

#include "cli/commands.hpp"
#include "transport/port.hpp"

#ifndef KAMSTRUP_VERSION
#define KAMSTRUP_VERSION "0.0.0"
#endif

int main(int argc, char** argv) {
  CLI::App app{
      "kamstrup - read Kamstrup heat, water and electricity meters through their optical port "
      "(KMP), exactly.\nRun `kamstrup COMMAND --help` for each command's options.",
      "kamstrup"};
  app.set_version_flag("--version", std::string("kamstrup ") + KAMSTRUP_VERSION);
  app.require_subcommand(1);
  app.fallthrough(false);
  kamstrup::cli::add_read_command(app);
  kamstrup::cli::add_info_command(app);
  kamstrup::cli::add_scan_command(app);
  kamstrup::cli::add_decode_command(app);
  kamstrup::cli::add_registers_command(app);
  kamstrup::cli::add_run_command(app);
  kamstrup::cli::add_config_command(app);
  kamstrup::cli::add_history_command(app);
  kamstrup::cli::add_simulate_command(app);

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
