// The daemon's own pages: /metrics (Prometheus), /api/meters, /api/outputs and, when the
// HealthSource has a store, /api/store (JSON), and the dashboard at / (web/, docs/web.md). Each
// request reads the current state from the HealthSource.
#pragma once

#include "web/health.hpp"
#include "web/server.hpp"

namespace kamstrup::web {

void add_status_pages(Routes& routes, HealthSource health);  // includes add_dashboard

// The dashboard: / (no-cache) and its files under /static/<assets_version()>/ (cached for good).
// It reads /api/meters, /api/outputs, /api/live, /api/history and /api/consumption.
void add_dashboard(Routes& routes);

}  // namespace kamstrup::web
