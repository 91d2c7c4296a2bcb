// The compact layout of one poll's values in schema v3: one BLOB per poll instead of one row per
// value (a 60 s poll of 8 registers is ~110 bytes instead of ~480 with indexes), so that a poll
// is one row in one table. The exact text of every value comes back byte for byte.
//
// Layout, per value in order (varint = unsigned LEB128):
//   varint register_id + 1 (0: none)
//   varint 0 when the name is the catalogue's name of that id, else varint length + 1, bytes
//   value: byte 0 = "" | 1 = decimal, 2 = negative decimal: varint exponent + 64, varint mantissa
//          (only when Decimal's text of those is exactly the stored text) | 3 = text: varint
//          length, bytes
//   varint length, bytes of `text`; varint length, bytes of `unit`
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "store/store.hpp"

namespace kamstrup::store {

std::string encode_values(const std::vector<Value>& values);
// nullopt for a malformed blob (a damaged file): the caller reports it.
std::optional<std::vector<Value>> decode_values(std::string_view blob);

}  // namespace kamstrup::store
