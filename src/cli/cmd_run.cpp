// `kamstrup run` and `kamstrup config check`: the daemon and its configuration.
#include <fstream>
#include <iostream>
#include <sstream>

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
      "printed as it arrives. SIGTERM finishes in-flight polls, gives the outputs up to 5 s for "
      "their backlog and exits 0; SIGHUP reloads the file (one that arrives during a reload "
      "reloads once more after it). One daemon per store: a second one exits 1 naming the PID "
      "that holds <store.path>.lock. A damaged store stops start-up with SQLite's report; a store "
      "that cannot be written (disk full) does not stop the meters: their polls wait in memory "
      "(store.queue) until it can.");
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
  auto quiet = std::make_shared<bool>(false);
  check->add_option("FILE", *path, "YAML configuration file")->required();
  check->add_flag("-q,--quiet", *quiet,
                  "Print nothing when the file is valid; on an error, one line naming the file "
                  "to edit (for the systemd unit's ExecStartPre=, whose output is the journal)");
  check->callback([path, quiet] {
    if (*quiet) {
      try {
        daemon::load_config(*path);
      } catch (const daemon::ConfigError& e) {
        const std::string where = e.path() == *path ? "" : *path + ": ";
        throw ExitCode(kExitUsage, where + e.what() + " (edit " + *path +
                                       "; every key is in kamstrup.yaml(5) and config.md)");
      }
      return;
    }
    daemon::Config config = load_or_exit(*path);
    std::cout << daemon::dump_config(config);
  });

  auto* docs = cmd->add_subcommand(
      "docs",
      "Print the reference of every configuration key (Markdown, made from the same key tables "
      "that read the file). With --write FILE, replace the generated part of FILE (between its "
      "BEGIN/END GENERATED markers) instead: how docs/config.md is kept up to date.");
  auto target = std::make_shared<std::string>();
  docs->add_option("--write", *target, "Markdown file with the generated-part markers");
  docs->callback([target] {
    const std::string ref = daemon::config_reference();
    if (target->empty()) {
      std::cout << ref;
      return;
    }
    std::ifstream in(*target);
    if (!in) throw ExitCode(kExitUsage, *target + ": cannot read");
    std::stringstream ss;
    ss << in.rdbuf();
    std::string text = ss.str();
    const std::string begin = "<!-- BEGIN GENERATED: kamstrup config docs -->\n";
    const std::string end = "<!-- END GENERATED -->";
    const auto b = text.find(begin);
    const auto e = text.find(end);
    if (b == std::string::npos || e == std::string::npos || e < b)
      throw ExitCode(kExitUsage, *target + ": no '" + begin.substr(0, begin.size() - 1) +
                                     "' ... '" + end + "' markers");
    text = text.substr(0, b + begin.size()) + ref + text.substr(e);
    std::ofstream(*target) << text;
  });
}

}  // namespace kamstrup::cli
