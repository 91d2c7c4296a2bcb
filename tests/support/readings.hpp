// Finding a reading by name in the one JSON shape of a poll (docs/formats.md):
// {"registers": [{"id": 60, "name": "heat_energy", "value": 55.006, "unit": "MWh"}, ...]}.
#pragma once

#include <stdexcept>
#include <string>
#include <string_view>

namespace kamstrup::test::support {

// The reading named `name` in a "registers" array, or nullptr.
template <class Json>
const Json* find_reading(const Json& registers, std::string_view name) {
  for (const auto& r : registers) {
    if (r.at("name") == name) return &r;
  }
  return nullptr;
}

// The same, throwing (the test fails with the name) when it is absent.
template <class Json>
const Json& reading(const Json& registers, std::string_view name) {
  const Json* r = find_reading(registers, name);
  if (r == nullptr) throw std::runtime_error("no reading named " + std::string(name));
  return *r;
}

}  // namespace kamstrup::test::support
