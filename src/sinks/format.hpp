// Shared renderings of a poll for the outputs that write text (console, files, exec, MQTT
// state). Values are written as raw JSON number tokens from the exact decimal text; a reading
// has the one JSON shape of text::reading_json, as in `kamstrup read --json` (docs/formats.md).
#pragma once

#include <cstdint>
#include <string>

#include "store/store.hpp"
#include "text/text.hpp"

namespace kamstrup::sinks {

// {"meter": "heat", "time": "...Z", "source": "poll",
//  "registers": [{"id": 60, "name": "heat_energy", "value": 55.006, "unit": "MWh"}, ...]}
// Registers without a number have "value": null and their "text".
std::string poll_json(const store::Poll& poll);

// "2026-11-23T14:25:00.123Z heat heat_energy=55.006 MWh volume=1875.56 m³ ..."
std::string poll_text(const store::Poll& poll);

}  // namespace kamstrup::sinks
