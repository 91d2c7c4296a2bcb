// Any text as a simulator profile (`kamstrup simulate --profile-file FILE`), through
// sim::parse_profile_yaml. A mistake comes out as ProfileError and nothing else (no yaml-cpp
// exception, crash or hang). A profile that parses passes validate_profile, and the meter model
// built from it (logger off, see below) has a value for every register it supports, now and a
// day later, without tripping the sanitizers: validation is what keeps the model's integer
// arithmetic in range.
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "sim/meter_model.hpp"
#include "sim/profile.hpp"

using namespace kamstrup::sim;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  Profile p;
  try {
    p = parse_profile_yaml(text, "fuzz");
  } catch (const ProfileError&) {
    return 0;
  }
  try {
    validate_profile(p);
  } catch (const ProfileError& e) {
    std::fprintf(stderr, "profile_fuzz: a parsed profile fails validation: %s\n", e.what());
    std::abort();
  }
  // The model's logger writes a record at every period boundary it passes, and periods may be
  // compressed down to 1 ms for tests: a day's jump would be millions of records. The logger is
  // left out here; the registers' arithmetic is what validation guards.
  p.logger.enabled = false;
  const auto start = WallClock::from_time_t(1'710'500'000);
  MeterModel model(p, 1, start);
  for (const auto t : {start, start + std::chrono::hours(25)}) {
    for (const auto& r : p.registers) {
      if (model.value(r.id, t).has_value() != r.supported) std::abort();
    }
  }
  return 0;
}
