// The daemon's own pages: /metrics (Prometheus), /api/meters and /api/outputs (JSON), and a
// small status page at /. Each request reads the current state from the HealthSource.
#pragma once

#include "web/health.hpp"
#include "web/server.hpp"

namespace kamstrup::web {

void add_status_pages(Routes& routes, HealthSource health);

}  // namespace kamstrup::web
