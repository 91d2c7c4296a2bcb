// Internal to the simulator: the built-in legacy profiles and their YAML keys (see LegacySpec in
// profile.hpp). Not part of the public API.
#pragma once

#include <string>

#include "legacy/standard.hpp"
#include "sim/profile.hpp"

namespace YAML {
class Node;
}

namespace kamstrup::sim::detail {

Profile multical66c();
Profile multical401();

// Applies a top-level YAML key of a legacy profile (program_number, scale, customer_number,
// iec_identification, iec_ack, reply_line). False when `key` is not one of them. Throws
// ProfileError("ORIGIN: key: message").
bool apply_legacy_key(Profile& p, const std::string& key, const YAML::Node& value,
                      const std::string& origin);

// The scale of a legacy profile: its `scale` text, else from its program number. Throws
// ProfileError naming the key.
legacy::Scale legacy_scale(const Profile& p, const std::string& origin);

// Gives the /#1 registers the units and exponents of the profile's scale, keeping their digits
// (the meter sends digits; the scale says what they mean: 0507109 is 507.109 MWh on a 4-4-119
// meter and 5071.09 GJ on a 4-2-119 one). No-op for KMP profiles.
void apply_legacy_scale(Profile& p, const std::string& origin);

}  // namespace kamstrup::sim::detail
