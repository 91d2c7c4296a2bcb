// Renders readings for people and programs. JSON numbers are written as raw tokens from the
// exact decimal text (a JSON library would go through double and print 53.649999...).
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "kmp/info_code.hpp"
#include "kmp/messages.hpp"
#include "meter/session.hpp"
#include "text/text.hpp"

namespace kamstrup::meter {

// The reading's JSON (text::reading_json, docs/formats.md). ASCII and RTC-type values have
// "value": null and a "text". `flags` (the info code's, see info_flags) adds
// "flags": ["no_supply", "bit_2", ...].
std::string register_json(std::int32_t id, const std::string& name, const kmp::RegisterValue& v,
                          const std::optional<std::vector<kmp::InfoFlag>>& flags = std::nullopt);

// The decoded flags of a reading that is the meter's info code (register 99 "info") with a
// whole-number value, by `table`; nullopt for any other reading.
std::optional<std::vector<kmp::InfoFlag>> info_flags(const Reading& rd, kmp::InfoCodes table);
// "no_supply, t1_out_of_range (MULTICAL 66-C info codes)", "none (...)", for people.
std::string info_flags_text(const std::vector<kmp::InfoFlag>& flags, kmp::InfoCodes table);

// A reading id as JSON: the number, or null for -1 (no KMP register).
std::string id_json(std::int32_t id);
// A reading id for the table: the number, or "-" for -1.
std::string id_text(std::int32_t id);

// The `kamstrup read --json` object.
// `protocol` ("kmp", "legacy", "iec") is written after "time". The info code's register object
// carries its "flags" (decoded with r.info_codes).
std::string read_result_json(std::string_view port, std::string_view time, const ReadResult& r,
                             std::string_view protocol = "kmp");

// An aligned table: register, id, value, unit, the info code's flags on a line under its row;
// failures and unsupported ids listed after it.
std::string read_result_table(const ReadResult& r);

// The value as a person reads it: the date/time text where there is one, else the number, else
// the text.
std::string display_value(const kmp::RegisterValue& v);

// Current UTC time in the one spelling of every output ("2026-11-23T14:25:00.123Z").
std::string utc_now_rfc3339();

}  // namespace kamstrup::meter
