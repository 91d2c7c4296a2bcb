// The register catalogue: one row per register (docs/protocol.md §4). Request lists, `kamstrup
// registers`, JSON names, Home Assistant discovery and docs all come from this table.
// Names are a public contract: never rename a row, only add.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "kmp/quantity.hpp"

namespace kamstrup::kmp {

enum Family : std::uint8_t {
  kHeat = 1,         // heat/cooling/water meters (MULTICAL, flowIQ)
  kElectricity = 2,  // 382/162/362/684/Omnipower
  kLegacy = 4,       // MULTICAL 66/III/401 `/#n` quantities without a KMP register
};

struct RegisterDef {
  std::int32_t id;  // KMP register id; -1 for legacy-only quantities
  std::string_view name;
  std::string_view description;
  Quantity quantity;             // what it measures (HA device class, Prometheus family)
  std::string_view state_class;  // measurement, total, total_increasing, "" for none
  std::uint8_t families;
};

std::span<const RegisterDef> catalogue();
const RegisterDef* find_register(std::uint16_t id);
const RegisterDef* find_register(std::string_view name);

// The registers `kamstrup read` asks for when none are named.
std::span<const std::string_view> default_register_names();

// Parses a register reference: a catalogue name, a decimal id, a 0x-hex id or the
// "register_<decimal>" name register_name() gives an uncatalogued id. Returns nullopt when it is
// none of these.
std::optional<std::uint16_t> parse_register_ref(std::string_view ref);

// Catalogue names closest to `ref` (edit distance), best first, for "did you mean" messages.
std::vector<std::string_view> suggest_registers(std::string_view ref, std::size_t max = 3);

// The name of a register id: the catalogue's, or "register_<id>" when uncatalogued.
std::string register_name(std::uint16_t id);

}  // namespace kamstrup::kmp
