// The meter's info code: register 99 (0x0063, "info") on KMP meters, the last field of the
// MULTICAL `/#1` reply (fact sheet §3.5, §6.4). It is a sum of flag values, and what each value
// means differs per meter family. Only what Kamstrup documents for a family is named; every other
// set bit stays visible as "bit_<n>" (bit 0 = value 1), never dropped and never guessed.
//
// Tables (fact sheet §3.5):
//   MULTICAL 403, serial-communication info bits (MC403 technical description §7.7.1):
//     1 no voltage supply, 8 t1 above range/disconnected, 16 t2 above range, 32 t1 below
//     range/short-circuited, 64 t2 below range, 128 invalid temperature difference, 256 air in
//     V1, 8192 leak on pulse input B, 16384 external alarm on input A, 32768 external alarm on
//     input B. The values for low battery, V1 wrong flow direction, V1 above qs and input A leak
//     are not legible in the source: those bits stay "bit_<n>".
//   MULTICAL 66-C info codes ([MC66TD] "MULTICAL Type 66-CDE Technical Description" §1.8):
//     1 supply voltage missing, 4 T2 out of range, 8 T1 out of range, 32 T3 out of range, 64
//     leak in the cold-water system, 256 leak in the heating system, 512 burst in the heating
//     system.
// Pure: std only.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "kmp/decimal.hpp"

namespace kamstrup::kmp {

// Which family's table decodes the code. Unknown: every set bit as "bit_<n>" (KMP meters do not
// report their model in a form we can map: GetType's meter-type numbers are documented only for
// the MULTICAL 601).
enum class InfoCodes : std::uint8_t { Unknown, Multical403, Multical66C };

// "unknown", "multical403", "multical66c".
std::string_view info_codes_name(InfoCodes table);
// "bits only", "MULTICAL 403", "MULTICAL 66-C".
std::string_view info_codes_title(InfoCodes table);
// The names above (and "mc403", "mc66c"); nullopt otherwise.
std::optional<InfoCodes> parse_info_codes(std::string_view text);

// One documented flag of a table.
struct InfoFlagDef {
  unsigned bit;                  // 0 = value 1
  std::string_view name;         // stable snake_case: "no_supply", "t1_above_range", ...
  std::string_view description;  // for people
};
// Every documented flag of a table, lowest bit first (empty for Unknown): e.g. one Home
// Assistant binary sensor each.
std::span<const InfoFlagDef> info_flag_table(InfoCodes table);

// One set bit of a code.
struct InfoFlag {
  unsigned bit = 0;
  std::string name;              // the table's name, or "bit_<n>" where it documents none
  std::string_view description;  // "" for an undocumented bit
  [[nodiscard]] bool documented() const { return !description.empty(); }
};

// The flags set in `value`, lowest bit first; empty for 0.
std::vector<InfoFlag> decode_info_code(InfoCodes table, std::uint64_t value);
// The same for a value as the meter sent it; nullopt when it is not a whole number in
// 0..2^64-1 (then there is nothing to decode).
std::optional<std::vector<InfoFlag>> decode_info_code(InfoCodes table, const Decimal& value);

}  // namespace kamstrup::kmp
