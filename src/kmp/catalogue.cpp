#include "kmp/catalogue.hpp"

#include <algorithm>
#include <array>
#include <charconv>

namespace kamstrup::kmp {

namespace {

constexpr std::uint8_t H = kHeat;
constexpr std::uint8_t E = kElectricity;
constexpr std::uint8_t HE = kHeat | kElectricity;
constexpr std::uint8_t HL = kHeat | kLegacy;
using Q = Quantity;

// clang-format off
constexpr RegisterDef kRegisters[] = {
  // id    name                        description                                   quantity                   HA state_class      families
  // --- heat / cooling / water meters -----------------------------------------------------------
  {60,   "heat_energy",              "E1 heat energy",                              Q::Energy,                "total_increasing", HL},
  {63,   "cooling_energy",           "E3 cooling energy",                           Q::Energy,                "total_increasing", H},
  {94,   "control_energy",           "E2 control energy",                           Q::Energy,                "total_increasing", H},
  {61,   "flow_energy",              "E4 flow (forward) energy",                    Q::Energy,                "total_increasing", H},
  {62,   "return_flow_energy",       "E5 return-flow energy",                       Q::Energy,                "total_increasing", H},
  {95,   "tap_water_energy",         "E6 tap-water energy",                         Q::Energy,                "total_increasing", H},
  {96,   "heat_energy_y",            "E7 heat energy Y",                            Q::Energy,                "total_increasing", H},
  {97,   "temp1_x_m3",               "E8 m³ × T1",                                  Q::VolumeTemperature,     "total_increasing", H},
  {110,  "temp2_x_m3",               "E9 m³ × T2",                                  Q::VolumeTemperature,     "total_increasing", H},
  {266,  "heat_energy_hires",        "E1 heat energy, high resolution",             Q::Energy,                "total_increasing", H},
  {267,  "cooling_energy_hires",     "E3 cooling energy, high resolution",          Q::Energy,                "total_increasing", H},
  {155,  "heat_energy_test_hires",   "High-resolution energy (test register)",      Q::Energy,                "total_increasing", H},
  {64,   "tariff2",                  "TA2 tariff register 2",                       Q::Energy,                "total_increasing", H},
  {65,   "tariff3",                  "TA3 tariff register 3",                       Q::Energy,                "total_increasing", H},
  {66,   "tariff_limit2",            "TL2 tariff limit 2",                          Q::Number,                "",                 H},
  {67,   "tariff_limit3",            "TL3 tariff limit 3",                          Q::Number,                "",                 H},
  {68,   "volume",                   "V1 volume",                                   Q::Volume,                "total_increasing", HL},
  {69,   "volume2",                  "V2 volume",                                   Q::Volume,                "total_increasing", H},
  {239,  "volume_hires",             "V1 volume, high resolution",                  Q::Volume,                "total_increasing", H},
  {223,  "volume_test_hires",        "High-resolution volume (test register)",      Q::Volume,                "total_increasing", H},
  {243,  "volume_reverse",           "V1 reverse volume",                           Q::Volume,                "total_increasing", H},
  {84,   "input_a",                  "VA input register A",                         Q::Number,                "total_increasing", H},
  {85,   "input_b",                  "VB input register B",                         Q::Number,                "total_increasing", H},
  {72,   "mass1",                    "M1 mass through V1",                          Q::Mass,                  "total_increasing", H},
  {73,   "mass2",                    "M2 mass through V2",                          Q::Mass,                  "total_increasing", H},
  {1004, "hour_counter",             "Operating hour counter",                      Q::Duration,              "total_increasing", HE | kLegacy},
  {175,  "error_hour_counter",       "Error hour counter",                          Q::Duration,              "total_increasing", H},
  {99,   "info",                     "Info code (current)",                         Q::Info,                  "",                 HL},
  {113,  "info_event_counter",       "Info-event counter",                          Q::Number,                "total_increasing", H},
  {86,   "temp1",                    "T1 flow (forward) temperature",               Q::Temperature,           "measurement",      HL},
  {87,   "temp2",                    "T2 return temperature",                       Q::Temperature,           "measurement",      HL},
  {88,   "temp3",                    "T3 temperature",                              Q::Temperature,           "measurement",      H},
  {122,  "temp4",                    "T4 temperature",                              Q::Temperature,           "measurement",      H},
  {89,   "temp_diff",                "T1 − T2 temperature difference",              Q::TemperatureDifference, "measurement",      HL},
  {91,   "pressure1",                "P1 pressure in flow",                         Q::Pressure,              "measurement",      H},
  {92,   "pressure2",                "P2 pressure in return flow",                  Q::Pressure,              "measurement",      H},
  {74,   "flow",                     "Actual flow V1",                              Q::Flow,                  "measurement",      HL},
  {75,   "flow2",                    "Actual flow V2",                              Q::Flow,                  "measurement",      H},
  {80,   "power",                    "Actual power (V1, T1, T2)",                   Q::Power,                 "measurement",      HL},
  {123,  "max_flow_year_date",       "Date of max flow this year",                  Q::Date,                  "",                 H},
  {124,  "max_flow_year",            "Max flow this year",                          Q::Flow,                  "measurement",      H},
  {125,  "min_flow_year_date",       "Date of min flow this year",                  Q::Date,                  "",                 H},
  {126,  "min_flow_year",            "Min flow this year",                          Q::Flow,                  "measurement",      H},
  {127,  "max_power_year_date",      "Date of max power this year",                 Q::Date,                  "",                 H},
  {128,  "max_power_year",           "Max power this year",                         Q::Power,                 "measurement",      H},
  {129,  "min_power_year_date",      "Date of min power this year",                 Q::Date,                  "",                 H},
  {130,  "min_power_year",           "Min power this year",                         Q::Power,                 "measurement",      H},
  {138,  "max_flow_month_date",      "Date of max flow this month",                 Q::Date,                  "",                 H},
  {139,  "max_flow_month",           "Max flow this month",                         Q::Flow,                  "measurement",      H},
  {140,  "min_flow_month_date",      "Date of min flow this month",                 Q::Date,                  "",                 H},
  {141,  "min_flow_month",           "Min flow this month",                         Q::Flow,                  "measurement",      H},
  {142,  "max_power_month_date",     "Date of max power this month",                Q::Date,                  "",                 H},
  {143,  "max_power_month",          "Max power this month",                        Q::Power,                 "measurement",      H},
  {144,  "min_power_month_date",     "Date of min power this month",                Q::Date,                  "",                 H},
  {145,  "min_power_month",          "Min power this month",                        Q::Power,                 "measurement",      H},
  {146,  "avg_temp1_year",           "Year-to-date average T1",                     Q::Temperature,           "measurement",      H},
  {147,  "avg_temp2_year",           "Year-to-date average T2",                     Q::Temperature,           "measurement",      H},
  {149,  "avg_temp1_month",          "Month-to-date average T1",                    Q::Temperature,           "measurement",      H},
  {150,  "avg_temp2_month",          "Month-to-date average T2",                    Q::Temperature,           "measurement",      H},
  {229,  "avg_temp1_integration",    "T1 average of the latest auto-integration",   Q::Temperature,           "measurement",      H},
  {230,  "avg_temp2_integration",    "T2 average of the latest auto-integration",   Q::Temperature,           "measurement",      H},
  {299,  "meter_temperature",        "Meter (ambient) temperature",                 Q::Temperature,           "measurement",      H},
  {292,  "water_temperature",        "Water temperature",                           Q::Temperature,           "measurement",      H},
  {582,  "battery_days_left",        "Battery days left",                           Q::Duration,              "measurement",      H},
  {98,   "target_date",              "Target (reading) date",                       Q::Date,                  "",                 H},
  {152,  "program_number",           "Program number ABCCCCCC",                     Q::Number,                "",                 H},
  {153,  "config_number_1",          "Configuration number DDDEE",                  Q::Number,                "",                 H},
  {168,  "config_number_2",          "Configuration number FFGGMN",                 Q::Number,                "",                 H},
  {112,  "customer_number_high",     "Customer number, 8 most significant digits",  Q::Number,                "",                 H},
  {1010, "customer_number_low",      "Customer number, 8 least significant digits", Q::Number,                "",                 H},
  {114,  "meter_number_a",           "Meter number for input A",                    Q::Number,                "",                 H},
  {104,  "meter_number_b",           "Meter number for input B",                    Q::Number,                "",                 H},
  {1005, "software_edition",         "Software edition / meter type",               Q::Number,                "",                 H},
  {154,  "software_checksum",        "Software checksum",                           Q::Number,                "",                 H},
  {157,  "top_module_id",            "Top-module ID",                               Q::Number,                "",                 H},
  {158,  "base_module_id",           "Base-module ID",                              Q::Number,                "",                 H},
  {171,  "base_module2_id",          "Base module 2 ID",                            Q::Number,                "",                 H},
  {172,  "external_module_id",       "External module ID",                          Q::Number,                "",                 H},
  {184,  "mbus_primary_address",     "M-Bus primary address, module 1",             Q::Number,                "",                 H},
  {185,  "mbus_secondary_address",   "M-Bus secondary address, module 1",           Q::Number,                "",                 H},
  {218,  "mbus_primary_address_2",   "M-Bus primary address, module 2",             Q::Number,                "",                 H},
  {219,  "mbus_secondary_address_2", "M-Bus secondary address, module 2",           Q::Number,                "",                 H},
  {220,  "mbus_primary_address_ext", "M-Bus primary address, external module",      Q::Number,                "",                 H},
  {221,  "mbus_secondary_address_ext", "M-Bus secondary address, external module",  Q::Number,                "",                 H},
  {234,  "input_a_litres_per_pulse", "Litres per pulse, input A",                   Q::Number,                "",                 H},
  {235,  "input_b_litres_per_pulse", "Litres per pulse, input B",                   Q::Number,                "",                 H},
  // --- shared by all KMP meters ------------------------------------------------------------------
  {1001, "serial_number",            "Serial number",                               Q::Number,                "",                 HE},
  {1002, "clock",                    "Current time (hh:mm:ss)",                     Q::Time,                  "",                 HE},
  {1003, "date",                     "Current date (yy:mm:dd)",                     Q::Date,                  "",                 HE},
  // --- legacy MULTICAL 66/III/401 `/#n` and IEC readout quantities without a KMP register ---------
  {-1,   "peak_power",               "Peak power, actual (/#1 field 8)",            Q::Power,                 "measurement",      kLegacy},
  {-1,   "customer_number",          "Customer number (/#2, IEC 0.0)",              Q::Number,                "",                 kLegacy},
  {-1,   "config_number_legacy",     "Configuration number DDEFFGG (/#2)",          Q::Number,                "",                 kLegacy},
  {-1,   "energy_in_tariff1",        "Active energy A+, tariff 1 (IEC 1.20.1)",     Q::Energy,                "total_increasing", kLegacy},
  {-1,   "energy_in_tariff2",        "Active energy A+, tariff 2 (IEC 1.20.2)",     Q::Energy,                "total_increasing", kLegacy},
  {-1,   "pulse_input",              "Pulse input counter (IEC 1.26)",              Q::Number,                "total_increasing", kLegacy},
  {-1,   "max_power_last_month",     "Peak power of last month (IEC 1.6*1)",        Q::Power,                 "measurement",      kLegacy},
  // --- electricity meters ------------------------------------------------------------------------
  {1,    "energy_in",                "Active energy A+ (import)",                   Q::Energy,                "total_increasing", E},
  {2,    "energy_out",               "Active energy A− (export)",                    Q::Energy,                "total_increasing", E},
  {13,   "energy_in_hires",          "Active energy A+, high resolution",           Q::Energy,                "total_increasing", E},
  {14,   "energy_out_hires",         "Active energy A−, high resolution",           Q::Energy,                "total_increasing", E},
  {39,   "max_power",                "Max power",                                   Q::Power,                 "measurement",      E},
  {51,   "meter_number",             "Meter number (configurable)",                 Q::Number,                "",                 E},
  {1023, "power_in",                 "Current power in (total)",                    Q::Power,                 "measurement",      E},
  {1024, "power_out",                "Current power out (total)",                   Q::Power,                 "measurement",      E},
  {1054, "voltage_l1",               "Voltage L1",                                  Q::Voltage,               "measurement",      E},
  {1055, "voltage_l2",               "Voltage L2",                                  Q::Voltage,               "measurement",      E},
  {1056, "voltage_l3",               "Voltage L3",                                  Q::Voltage,               "measurement",      E},
  {1076, "current_l1",               "Current L1",                                  Q::Current,               "measurement",      E},
  {1077, "current_l2",               "Current L2",                                  Q::Current,               "measurement",      E},
  {1078, "current_l3",               "Current L3",                                  Q::Current,               "measurement",      E},
  {1080, "power_in_l1",              "Power in L1",                                 Q::Power,                 "measurement",      E},
  {1081, "power_in_l2",              "Power in L2",                                 Q::Power,                 "measurement",      E},
  {1082, "power_in_l3",              "Power in L3",                                 Q::Power,                 "measurement",      E},
  {1344, "power_out_l1",             "Power out L1",                                Q::Power,                 "measurement",      E},
  {1345, "power_out_l2",             "Power out L2",                                Q::Power,                 "measurement",      E},
  {1346, "power_out_l3",             "Power out L3",                                Q::Power,                 "measurement",      E},
  {1047, "time_zone",                "Time zone (RTC format)",                      Q::Time,                  "",                 E},
  {1126, "meter_type_number",        "Complete meter type number",                  Q::Text,                  "",                 E},
  {1268, "mbus_address",             "M-Bus address",                               Q::Number,                "",                 E},
  {1271, "kmp_address",              "KMP address",                                 Q::Number,                "",                 E},
  {6026, "firmware_revision_a",      "Firmware revision A",                         Q::Text,                  "",                 E},
  {6031, "firmware_revision_b",      "Firmware revision B",                         Q::Text,                  "",                 E},
  {6247, "identification_number",    "Identification number",                       Q::Text,                  "",                 E},
};
// clang-format on

constexpr std::array<std::string_view, 8> kDefaultNames{
    "heat_energy", "volume", "temp1", "temp2", "temp_diff", "flow", "power", "hour_counter"};

std::size_t edit_distance(std::string_view a, std::string_view b) {
  std::vector<std::size_t> prev(b.size() + 1);
  std::vector<std::size_t> cur(b.size() + 1);
  for (std::size_t j = 0; j <= b.size(); ++j) prev[j] = j;
  for (std::size_t i = 1; i <= a.size(); ++i) {
    cur[0] = i;
    for (std::size_t j = 1; j <= b.size(); ++j) {
      std::size_t sub = prev[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1);
      cur[j] = std::min({prev[j] + 1, cur[j - 1] + 1, sub});
    }
    std::swap(prev, cur);
  }
  return prev[b.size()];
}

}  // namespace

std::span<const RegisterDef> catalogue() {
  return kRegisters;
}

const RegisterDef* find_register(std::uint16_t id) {
  for (const auto& r : kRegisters) {
    if (r.id == id) return &r;
  }
  return nullptr;
}

const RegisterDef* find_register(std::string_view name) {
  for (const auto& r : kRegisters) {
    if (r.name == name) return &r;
  }
  return nullptr;
}

std::span<const std::string_view> default_register_names() {
  return kDefaultNames;
}

std::optional<std::uint16_t> parse_register_ref(std::string_view ref) {
  if (const RegisterDef* r = find_register(ref); r != nullptr && r->id >= 0) {
    return static_cast<std::uint16_t>(r->id);
  }
  int base = 10;
  // register_name() calls an uncatalogued id "register_<decimal>" in every output and in the
  // effective config; that name must read back as the same id.
  constexpr std::string_view kUnnamed = "register_";
  if (ref.size() > kUnnamed.size() && ref.substr(0, kUnnamed.size()) == kUnnamed) {
    ref.remove_prefix(kUnnamed.size());
  } else if (ref.size() > 2 && ref[0] == '0' && (ref[1] == 'x' || ref[1] == 'X')) {
    ref.remove_prefix(2);
    base = 16;
  }
  if (ref.empty()) return std::nullopt;
  unsigned value = 0;
  auto [ptr, ec] = std::from_chars(ref.data(), ref.data() + ref.size(), value, base);
  if (ec != std::errc{} || ptr != ref.data() + ref.size() || value > 0xFFFF) return std::nullopt;
  return static_cast<std::uint16_t>(value);
}

std::vector<std::string_view> suggest_registers(std::string_view ref, std::size_t max) {
  std::vector<std::pair<std::size_t, std::string_view>> scored;
  for (const auto& r : kRegisters) {
    std::size_t d = edit_distance(ref, r.name);
    // A prefix or substring match ("temp" → temp1) is a good suggestion whatever the distance.
    if (r.name.find(ref) != std::string_view::npos && !ref.empty()) d = std::min<std::size_t>(d, 1);
    if (d <= std::max<std::size_t>(3, ref.size() / 3)) scored.emplace_back(d, r.name);
  }
  std::stable_sort(scored.begin(), scored.end(),
                   [](const auto& a, const auto& b) { return a.first < b.first; });
  std::vector<std::string_view> out;
  for (const auto& [d, name] : scored) {
    if (out.size() == max) break;
    out.push_back(name);
  }
  return out;
}

std::string register_name(std::uint16_t id) {
  if (const RegisterDef* r = find_register(id)) return std::string(r->name);
  return "register_" + std::to_string(id);
}

}  // namespace kamstrup::kmp
