// Prometheus text exposition (format 0.0.4) of the daemon's state: register values as gauges,
// reader health per meter, delivery health per output. Served at /metrics (pages.cpp).
#pragma once

#include <string>
#include <vector>

#include "web/health.hpp"

namespace kamstrup::web {

std::string prometheus_metrics(const std::vector<MeterStatus>& meters,
                               const std::vector<SinkHealth>& sinks);

}  // namespace kamstrup::web
