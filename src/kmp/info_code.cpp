#include "kmp/info_code.hpp"

#include <array>
#include <limits>

namespace kamstrup::kmp {

namespace {

// MC403 technical description §7.7.1 (fact sheet §3.5).
constexpr std::array<InfoFlagDef, 10> kMc403{{
    {0, "no_supply", "no voltage supply"},
    {3, "t1_above_range", "t1 above measuring range or disconnected"},
    {4, "t2_above_range", "t2 above measuring range"},
    {5, "t1_below_range", "t1 below measuring range or short-circuited"},
    {6, "t2_below_range", "t2 below measuring range"},
    {7, "invalid_temp_diff", "invalid temperature difference (t1-t2)"},
    {8, "v1_air", "air in flow sensor V1"},
    {13, "input_b_leak", "leak signalled on pulse input B"},
    {14, "input_a_alarm", "external alarm on input A"},
    {15, "input_b_alarm", "external alarm on input B"},
}};

// [MC66TD] §1.8 (fact sheet §3.5).
constexpr std::array<InfoFlagDef, 7> kMc66c{{
    {0, "no_supply", "supply voltage missing"},
    {2, "t2_out_of_range", "T2 out of measuring range"},
    {3, "t1_out_of_range", "T1 out of measuring range"},
    {5, "t3_out_of_range", "T3 out of measuring range"},
    {6, "cold_water_leak", "leak in the cold-water system"},
    {8, "heating_leak", "leak in the heating system"},
    {9, "burst", "burst in the heating system"},
}};

}  // namespace

std::string_view info_codes_name(InfoCodes table) {
  switch (table) {
    case InfoCodes::Unknown:
      return "unknown";
    case InfoCodes::Multical403:
      return "multical403";
    case InfoCodes::Multical66C:
      return "multical66c";
  }
  return "unknown";
}

std::string_view info_codes_title(InfoCodes table) {
  switch (table) {
    case InfoCodes::Unknown:
      return "bits only";
    case InfoCodes::Multical403:
      return "MULTICAL 403";
    case InfoCodes::Multical66C:
      return "MULTICAL 66-C";
  }
  return "bits only";
}

std::optional<InfoCodes> parse_info_codes(std::string_view text) {
  if (text == "unknown") return InfoCodes::Unknown;
  if (text == "multical403" || text == "mc403") return InfoCodes::Multical403;
  if (text == "multical66c" || text == "mc66c") return InfoCodes::Multical66C;
  return std::nullopt;
}

std::span<const InfoFlagDef> info_flag_table(InfoCodes table) {
  switch (table) {
    case InfoCodes::Multical403:
      return kMc403;
    case InfoCodes::Multical66C:
      return kMc66c;
    case InfoCodes::Unknown:
      break;
  }
  return {};
}

std::vector<InfoFlag> decode_info_code(InfoCodes table, std::uint64_t value) {
  const auto defs = info_flag_table(table);
  std::vector<InfoFlag> out;
  for (unsigned bit = 0; bit < 64; ++bit) {
    if ((value >> bit & 1U) == 0) continue;
    InfoFlag f;
    f.bit = bit;
    f.name = "bit_" + std::to_string(bit);
    for (const auto& d : defs) {
      if (d.bit == bit) {
        f.name = std::string(d.name);
        f.description = d.description;
      }
    }
    out.push_back(std::move(f));
  }
  return out;
}

std::optional<std::vector<InfoFlag>> decode_info_code(InfoCodes table, const Decimal& value) {
  if (value.negative && value.mantissa != 0) return std::nullopt;
  const auto whole = value.mantissa_at(0);  // exact only: 9.5 has no integer form
  if (!whole || *whole > std::numeric_limits<std::uint64_t>::max()) return std::nullopt;
  return decode_info_code(table, static_cast<std::uint64_t>(*whole));
}

}  // namespace kamstrup::kmp
