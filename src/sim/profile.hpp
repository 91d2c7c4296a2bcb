// Meter profiles for the simulator: what a virtual meter answers to GetType/GetSerialNo, which
// registers it supports (unit, NoB, exponent, initial value) and how each one moves with time.
//
// Built-in profiles (register layouts follow docs/protocol.md §3–§4 and the MC403 captures T1..T7;
// meter types and software revisions are synthetic, not taken from real meters):
//   multical403  heat meter, 1200 8N2, energy MWh exp -3 (default)
//   multical602  heat meter, 1200 8N2, energy GJ exp -2
//   kamstrup382  electricity meter, 9600 8N1
//   multical21   water meter (MULTICAL 21 / flowIQ 2200), 1200 8N2: volume m³, flow l/h, water
//                and meter temperature, info code, battery days; no heat registers, no logger
//   multical66c  pre-KMP heat meter: /#1-/#D at 300 7E2 answered at 1200, IEC readout at 300;
//                program number 0044119 (4-4-119: MWh 3 decimals)
//   multical401  pre-KMP heat meter: IEC readout (waits for ACK 000) and /#1 (8-digit fields),
//                program number 0042119 (GJ 2 decimals)
//
// A YAML profile file starts from a built-in profile and overrides parts of it:
//
//   base: multical403            # optional, default multical403
//   serial: 12345678             # GetSerialNo and register 1001
//   meter_type: 0x0403           # GetType
//   sw_revision: 0x0102          # GetType ("A2")
//   line: "1200 8N2"             # what the meter expects on the line
//   registers:
//     heat_energy: {value: "55.006", unit: MWh, nob: 4, fixed: true}
//     temp1: {value: "53.65"}    # or the shorthand  temp1: "53.65"
//     0x0123: unsupported        # omitted from replies
//     0x0200: {value: "7", unit: 51}   # a register the base lacks: value and unit required
//
// Register keys are catalogue names, decimal ids or 0x-hex ids. `value` is exact decimal text
// whose number of decimals sets the register's exponent. `unit` is a symbol ("MWh", "m3",
// "°C"/"C") or a unit code. `fixed: true` freezes the value. Errors name the offending key
// ("registers.temp1.nob: ...") and are thrown as ProfileError.
#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "kmp/decimal.hpp"
#include "kmp/logger.hpp"

namespace kamstrup::sim {

class ProfileError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// The serial line a meter expects (what the reader must set to get an answer).
struct LineSpec {
  unsigned baud = 1200;
  unsigned data_bits = 8;
  char parity = 'N';  // 'N', 'E' or 'O'
  unsigned stop_bits = 2;

  // start + data + parity + stop
  [[nodiscard]] unsigned bits_per_char() const;
  [[nodiscard]] std::chrono::nanoseconds char_time() const;
  [[nodiscard]] std::string to_string() const;  // "1200 8N2"
  // Parses "1200 8N2"; nullopt when malformed.
  static std::optional<LineSpec> parse(std::string_view text);
  bool operator==(const LineSpec&) const = default;
};

// How a register's value moves with time.
enum class Behaviour : std::uint8_t {
  Static,       // keeps its value
  Serial,       // the meter's serial number
  Clock,        // wall clock, in the unit's digit format (47: HHMMSS)
  Date,         // wall-clock date (48: YYMMDD, 49: YYYYMMDD, 50: MMDD)
  HeatEnergy,   // integrates heat power over time
  ElEnergy,     // integrates electric power over time
  Volume,       // integrates flow over time
  Hours,        // integrates time
  VolumeTemp1,  // integrates flow × T1 (m³×°C)
  VolumeTemp2,  // integrates flow × T2
  Temp1,        // random walk 60–80 °C
  Temp2,        // random walk 30–45 °C
  TempDiff,     // exactly the sent T1 − T2
  Flow,         // random walk, l/h
  HeatPower,    // flow × ΔT × 1.16 Wh/(l·K)
  ElPower,      // random walk
  Voltage,      // random walk per phase
  Current,      // electric power / 3 / phase voltage
  MaxFlow,      // running extremes over the year or month (reset when the period rolls over)
  MinFlow,
  MaxPower,
  MinPower,
  ExtremeDate,  // the date the register `ref` last changed
};

struct RegisterSpec {
  std::uint16_t id = 0;
  std::uint8_t unit_code = 0;
  std::uint8_t nob = 4;
  kmp::Decimal value;  // initial value; its exponent is the register's exponent on the wire
  Behaviour behaviour = Behaviour::Static;
  std::uint8_t phase = 0;  // Voltage/Current: 0..2 = L1..L3
  bool monthly = false;    // Max*/Min*: this month rather than this year
  std::uint16_t ref = 0;   // ExtremeDate: the extreme register whose date this is
  bool fixed = false;      // never changes (a fixed gauge also pins the physical quantity)
  bool supported = true;   // false: omitted from replies
};

// The meter's data logger (KMP 0xA0–0xA3 and 0x9B/0x9C on `dst`; EXPERIMENTAL, see
// docs/logger.md). Records are written at each period boundary (hourly: every full hour, daily:
// local midnight, monthly: the 1st, yearly: 1 January, or every `period` when one is set, to
// compress time for tests) with the logged registers' values at that moment; the past before the
// simulator started is synthesized deterministically (integrated backwards from the start values,
// back to when a counter would go below zero).
//   logger:
//     enabled: true              # false: nothing answers on the logger address
//     time_order: field-table    # or reversed: how requests' 8-byte Time is read
//     lids: {hourly: 4, daily: 3, monthly: 2, yearly: 1}   # 0 = no such logger
//     period: {hourly: 2s}       # ms, s, m, h; default: the calendar period
using LogKind = kmp::LoggerKind;
inline constexpr std::size_t kLogKinds = kmp::kLoggerKinds;
inline std::string_view log_kind_name(LogKind kind) {
  return kmp::to_string(kind);
}
inline std::optional<LogKind> parse_log_kind(std::string_view text) {
  return kmp::parse_logger_kind(text);
}

struct LoggerSpec {
  bool enabled = false;
  std::uint8_t dst = 0x7F;
  bool reversed_time = false;                                 // kmp::TimeOrder::Reversed
  std::array<std::uint8_t, kLogKinds> lids{};                 // per LogKind, 0 = none
  std::array<std::chrono::milliseconds, kLogKinds> period{};  // 0 = calendar period
  std::array<std::size_t, kLogKinds> capacity{1400, 460, 36, 15};
  std::vector<std::uint16_t> registers;  // logged, in this order (unsupported ones are skipped)
};
// "2s", "500ms", "1m", "1h" → milliseconds (> 0); nullopt otherwise.
std::optional<std::chrono::milliseconds> parse_log_period(std::string_view text);

// A pre-KMP MULTICAL (profiles multical66c, multical401; see legacy_frontend.hpp): `/#n`
// requests heard at `line` (300 7E2) and answered at `reply_line`, and the IEC 62056-21 mode A
// readout (`/?!`) answered at 300 baud. KMP frames get no answer. YAML keys (top level):
//   program_number: "0044119"   # ABCCC of /#2 (B energy unit, CCC decimals, docs/protocol.md
//   §6.4);
//                               # sets the units and decimals of the registers below, keeping
//                               # their digits (0507109: 507.109 MWh, or 5071.09 GJ on 4-2-119)
//   scale: "energy=MWh:3,volume=m3:2,power=kW:1,flow=l/h:0"   # only for a program number
//                               # outside the table (the reader then needs it in its config)
//   customer_number: 60017
//   iec_identification: "/KAM 0 MC"
//   iec_ack: false              # true: send the data block only after ACK "000" CR LF
//   reply_line: "1200 7E2"
// The /#1 quantities are the registers heat_energy, volume, hour_counter, temp1, temp2,
// temp_diff, power, flow, max_power_year (peak power) and info, evolving like a KMP meter's.
struct LegacySpec {
  bool enabled = false;
  bool standard = true;  // answers /#1-/#9, /#B, /#C, /#D, /#J
  bool iec = true;       // answers /?!
  std::string program_number = "0044119";
  std::string scale;  // "" = from program_number
  std::uint64_t customer_number = 60017;
  std::string config_number = "1200000";
  std::string iec_identification = "/KAM 0 MC";
  bool iec_ack = false;
  unsigned field_width = 7;  // digits per /#n field
  LineSpec reply_line{1200, 7, 'E', 2};
};

struct Profile {
  std::string name;
  std::string description;
  std::uint16_t meter_type = 0;
  std::uint16_t sw_revision = 0;
  std::uint32_t serial = 0;
  LineSpec line;
  std::vector<RegisterSpec> registers;
  LoggerSpec logger;
  LegacySpec legacy;

  [[nodiscard]] const RegisterSpec* find(std::uint16_t id) const;
  RegisterSpec* find(std::uint16_t id);
};

std::span<const std::string_view> profile_names();
std::optional<Profile> builtin_profile(std::string_view name);

// Reads a YAML profile file (see above). Throws ProfileError("FILE: key.path: message").
Profile load_profile_file(const std::string& path);
// The same from text; `origin` prefixes error messages.
Profile parse_profile_yaml(const std::string& text, const std::string& origin);

// Throws ProfileError when a register cannot be simulated as specified (value does not fit its
// NoB, unit does not suit its behaviour, exponent too fine to integrate exactly).
void validate_profile(const Profile& profile);

// Unit code for a symbol ("MWh", "m3", "C", "l/h") or a decimal code; nullopt when unknown.
std::optional<std::uint8_t> parse_unit(std::string_view text);

}  // namespace kamstrup::sim
