// Builds the configured outputs. The one place that knows every sink type.
#pragma once

#include <memory>
#include <vector>

#include "daemon/config.hpp"
#include "sinks/sink.hpp"

namespace kamstrup::daemon {

std::vector<std::unique_ptr<sinks::Sink>> make_outputs(const Config& config);

}  // namespace kamstrup::daemon
