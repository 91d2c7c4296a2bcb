// `kamstrup run`: polls every configured meter on its own schedule on one asio event loop,
// stores every reading, fans it out to every output; SIGTERM drains and exits, SIGHUP reloads.
#pragma once

#include <string>

#include "daemon/config.hpp"

namespace kamstrup::daemon {

struct RunOptions {
  std::string config_path;  // "" = built-in default (no SIGHUP reload from a file)
};

// Runs until SIGTERM/SIGINT. Returns the process exit status.
int run(Config config, const RunOptions& options);

}  // namespace kamstrup::daemon
