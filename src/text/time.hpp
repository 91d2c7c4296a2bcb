// Times as text, std only: RFC 3339 in, UTC RFC 3339 out (the CLI's --from/--to and the HTTP
// API's from/to share one parser).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace kamstrup::text {

// Milliseconds since the epoch of a UTC calendar date "2026-11-23", or nullopt for 2026-02-30.
std::optional<std::int64_t> date_ms(std::string_view s);
// RFC 3339: date, 'T' (or a space), hh:mm:ss, optional fraction (to the millisecond; finer digits
// are truncated), then 'Z' or a +hh:mm offset.
std::optional<std::int64_t> rfc3339_ms(std::string_view s);
// How much of the second utc_text writes.
enum class TimeDigits { millis, seconds };
// The one UTC time text of every output, API and export: "2026-11-23T14:00:05.000Z", always with
// three fraction digits so one instant has one spelling everywhere (a JSONL line and a history CSV
// row join on it) and the texts sort as times. `seconds` ("…:05Z", milliseconds cut, not rounded)
// is for tables people read.
std::string utc_text(std::int64_t time_ms, TimeDigits digits = TimeDigits::millis);

}  // namespace kamstrup::text
