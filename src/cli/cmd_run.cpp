// `kamstrup run` and `kamstrup config check`: the daemon and its configuration.
#include <iostream>

#include "cli/common.hpp"
#include "daemon/config.hpp"
#include "daemon/daemon.hpp"

namespace kamstrup::cli {

namespace {
daemon::Config load_or_exit(const std::string& path) {
  try {
    return path.empty() ? daemon::default_config() : daemon::load_config(path);
  } catch (const daemon::ConfigError& e) {
    throw ExitCode(kExitUsage, e.what());
  }
}
}  // namespace

void add_run_command(CLI::App& app) {
  auto* cmd = app.add_subcommand(
      "run",
      "Run the daemon: poll every configured meter on its schedule, keep every reading in the "
      "history store and deliver it to every configured output. Without --config: one built-in "
      "simulated MULTICAL 403 read every 10 s, the SQLite store kamstrup.db, and each reading "
      "printed as it arrives. SIGTERM finishes in-flight polls and exits; SIGHUP reloads.");
  auto path = std::make_shared<std::string>();
  cmd->add_option("-c,--config", *path, "YAML configuration file (see kamstrup.example.yaml)");
  cmd->callback([path] {
    daemon::Config config = load_or_exit(*path);
    int status = daemon::run(std::move(config), daemon::RunOptions{*path});
    if (status != 0) throw ExitCode(status, "");
  });
}

void add_config_command(CLI::App& app) {
  auto* cmd = app.add_subcommand("config", "Work with configuration files.");
  cmd->require_subcommand(1);
  auto* check = cmd->add_subcommand(
      "check",
      "Validate a configuration file and print the effective configuration (secrets "
      "masked). Exit 0 when valid, 2 naming the first problem's key path.");
  auto path = std::make_shared<std::string>();
  check->add_option("FILE", *path, "YAML configuration file")->required();
  check->callback([path] {
    daemon::Config config = load_or_exit(*path);
    std::cout << daemon::dump_config(config);
  });
}

}  // namespace kamstrup::cli
