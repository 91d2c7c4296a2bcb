// Prometheus text exposition (format 0.0.4) of the daemon's state: register values as gauges,
// reader health per meter (with the registers it has and its info-code flags), delivery health
// per output, and the history store's health when `store` is given. Served at /metrics
// (pages.cpp).
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "web/health.hpp"

namespace kamstrup::web {

std::string prometheus_metrics(const std::vector<MeterStatus>& meters,
                               const std::vector<SinkHealth>& sinks,
                               const std::optional<StoreHealth>& store = std::nullopt);

}  // namespace kamstrup::web
