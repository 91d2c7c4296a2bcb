// Stand-alone `simulate` subcommand for the simulator tests (the real `kamstrup` binary registers
// the same command among the others).
#include <iostream>

#include "cli/commands.hpp"

int main(int argc, char** argv) {
  CLI::App app{"kamstrup (simulator test driver)"};
  app.require_subcommand(1);
  kamstrup::cli::add_simulate_command(app);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  } catch (const kamstrup::cli::ExitCode& e) {
    if (*e.what() != '\0') std::cerr << "kamstrup: " << e.what() << '\n';
    return e.code;
  }
  return 0;
}
