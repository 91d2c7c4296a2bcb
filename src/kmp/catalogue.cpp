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

// clang-format off
constexpr RegisterDef kRegisters[] = {
  // id    name                        description                                   quantity                 HA device_class     HA state_class      families
  // --- heat / cooling / water meters -----------------------------------------------------------
  {60,   "heat_energy",              "E1 heat energy",                              "energy",                "energy",           "total_increasing", HL},
  {63,   "cooling_energy",           "E3 cooling energy",                           "energy",                "energy",           "total_increasing", H},
  {94,   "control_energy",           "E2 control energy",                           "energy",                "energy",           "total_increasing", H},
  {61,   "flow_energy",              "E4 flow (forward) energy",                    "energy",                "energy",           "total_increasing", H},
  {62,   "return_flow_energy",       "E5 return-flow energy",                       "energy",                "energy",           "total_increasing", H},
  {95,   "tap_water_energy",         "E6 tap-water energy",                         "energy",                "energy",           "total_increasing", H},
  {96,   "heat_energy_y",            "E7 heat energy Y",                            "energy",                "energy",           "total_increasing", H},
  {97,   "temp1_x_m3",               "E8 m³ × T1",                                  "volume_temperature",    "",                 "total_increasing", H},
  {110,  "temp2_x_m3",               "E9 m³ × T2",                                  "volume_temperature",    "",                 "total_increasing", H},
  {266,  "heat_energy_hires",        "E1 heat energy, high resolution",             "energy",                "energy",           "total_increasing", H},
  {267,  "cooling_energy_hires",     "E3 cooling energy, high resolution",          "energy",                "energy",           "total_increasing", H},
  {155,  "heat_energy_test_hires",   "High-resolution energy (test register)",      "energy",                "energy",           "total_increasing", H},
  {64,   "tariff2",                  "TA2 tariff register 2",                       "energy",                "",                 "total_increasing", H},
  {65,   "tariff3",                  "TA3 tariff register 3",                       "energy",                "",                 "total_increasing", H},
  {66,   "tariff_limit2",            "TL2 tariff limit 2",                          "number",                "",                 "",                 H},
  {67,   "tariff_limit3",            "TL3 tariff limit 3",                          "number",                "",                 "",                 H},
  {68,   "volume",                   "V1 volume",                                   "volume",                "volume",           "total_increasing", HL},
  {69,   "volume2",                  "V2 volume",                                   "volume",                "volume",           "total_increasing", H},
  {239,  "volume_hires",             "V1 volume, high resolution",                  "volume",                "volume",           "total_increasing", H},
  {223,  "volume_test_hires",        "High-resolution volume (test register)",      "volume",                "volume",           "total_increasing", H},
  {243,  "volume_reverse",           "V1 reverse volume",                           "volume",                "volume",           "total_increasing", H},
  {84,   "input_a",                  "VA input register A",                         "number",                "",                 "total_increasing", H},
  {85,   "input_b",                  "VB input register B",                         "number",                "",                 "total_increasing", H},
  {72,   "mass1",                    "M1 mass through V1",                          "mass",                  "weight",           "total_increasing", H},
  {73,   "mass2",                    "M2 mass through V2",                          "mass",                  "weight",           "total_increasing", H},
  {1004, "hour_counter",             "Operating hour counter",                      "duration",              "duration",         "total_increasing", HE | kLegacy},
  {175,  "error_hour_counter",       "Error hour counter",                          "duration",              "duration",         "total_increasing", H},
  {99,   "info",                     "Info code (current)",                         "info",                  "",                 "",                 HL},
  {113,  "info_event_counter",       "Info-event counter",                          "number",                "",                 "total_increasing", H},
  {86,   "temp1",                    "T1 flow (forward) temperature",               "temperature",           "temperature",      "measurement",      HL},
  {87,   "temp2",                    "T2 return temperature",                       "temperature",           "temperature",      "measurement",      HL},
  {88,   "temp3",                    "T3 temperature",                              "temperature",           "temperature",      "measurement",      H},
  {122,  "temp4",                    "T4 temperature",                              "temperature",           "temperature",      "measurement",      H},
  {89,   "temp_diff",                "T1 − T2 temperature difference",              "temperature_difference", "",                "measurement",      HL},
  {91,   "pressure1",                "P1 pressure in flow",                         "pressure",              "pressure",         "measurement",      H},
  {92,   "pressure2",                "P2 pressure in return flow",                  "pressure",              "pressure",         "measurement",      H},
  {74,   "flow",                     "Actual flow V1",                              "flow",                  "volume_flow_rate", "measurement",      HL},
  {75,   "flow2",                    "Actual flow V2",                              "flow",                  "volume_flow_rate", "measurement",      H},
  {80,   "power",                    "Actual power (V1, T1, T2)",                   "power",                 "power",            "measurement",      HL},
  {123,  "max_flow_year_date",       "Date of max flow this year",                  "date",                  "",                 "",                 H},
  {124,  "max_flow_year",            "Max flow this year",                          "flow",                  "volume_flow_rate", "measurement",      H},
  {125,  "min_flow_year_date",       "Date of min flow this year",                  "date",                  "",                 "",                 H},
  {126,  "min_flow_year",            "Min flow this year",                          "flow",                  "volume_flow_rate", "measurement",      H},
  {127,  "max_power_year_date",      "Date of max power this year",                 "date",                  "",                 "",                 H},
  {128,  "max_power_year",           "Max power this year",                         "power",                 "power",            "measurement",      H},
  {129,  "min_power_year_date",      "Date of min power this year",                 "date",                  "",                 "",                 H},
  {130,  "min_power_year",           "Min power this year",                         "power",                 "power",            "measurement",      H},
  {138,  "max_flow_month_date",      "Date of max flow this month",                 "date",                  "",                 "",                 H},
  {139,  "max_flow_month",           "Max flow this month",                         "flow",                  "volume_flow_rate", "measurement",      H},
  {140,  "min_flow_month_date",      "Date of min flow this month",                 "date",                  "",                 "",                 H},
  {141,  "min_flow_month",           "Min flow this month",                         "flow",                  "volume_flow_rate", "measurement",      H},
  {142,  "max_power_month_date",     "Date of max power this month",                "date",                  "",                 "",                 H},
  {143,  "max_power_month",          "Max power this month",                        "power",                 "power",            "measurement",      H},
  {144,  "min_power_month_date",     "Date of min power this month",                "date",                  "",                 "",                 H},
  {145,  "min_power_month",          "Min power this month",                        "power",                 "power",            "measurement",      H},
  {146,  "avg_temp1_year",           "Year-to-date average T1",                     "temperature",           "temperature",      "measurement",      H},
  {147,  "avg_temp2_year",           "Year-to-date average T2",                     "temperature",           "temperature",      "measurement",      H},
  {149,  "avg_temp1_month",          "Month-to-date average T1",                    "temperature",           "temperature",      "measurement",      H},
  {150,  "avg_temp2_month",          "Month-to-date average T2",                    "temperature",           "temperature",      "measurement",      H},
  {229,  "avg_temp1_integration",    "T1 average of the latest auto-integration",   "temperature",           "temperature",      "measurement",      H},
  {230,  "avg_temp2_integration",    "T2 average of the latest auto-integration",   "temperature",           "temperature",      "measurement",      H},
  {299,  "meter_temperature",        "Meter (ambient) temperature",                 "temperature",           "temperature",      "measurement",      H},
  {292,  "water_temperature",        "Water temperature",                           "temperature",           "temperature",      "measurement",      H},
  {582,  "battery_days_left",        "Battery days left",                           "duration",              "",                 "measurement",      H},
  {98,   "target_date",              "Target (reading) date",                       "date",                  "",                 "",                 H},
  {152,  "program_number",           "Program number ABCCCCCC",                     "number",                "",                 "",                 H},
  {153,  "config_number_1",          "Configuration number DDDEE",                  "number",                "",                 "",                 H},
  {168,  "config_number_2",          "Configuration number FFGGMN",                 "number",                "",                 "",                 H},
  {112,  "customer_number_high",     "Customer number, 8 most significant digits",  "number",                "",                 "",                 H},
  {1010, "customer_number_low",      "Customer number, 8 least significant digits", "number",                "",                 "",                 H},
  {114,  "meter_number_a",           "Meter number for input A",                    "number",                "",                 "",                 H},
  {104,  "meter_number_b",           "Meter number for input B",                    "number",                "",                 "",                 H},
  {1005, "software_edition",         "Software edition / meter type",               "number",                "",                 "",                 H},
  {154,  "software_checksum",        "Software checksum",                           "number",                "",                 "",                 H},
  {157,  "top_module_id",            "Top-module ID",                               "number",                "",                 "",                 H},
  {158,  "base_module_id",           "Base-module ID",                              "number",                "",                 "",                 H},
  {171,  "base_module2_id",          "Base module 2 ID",                            "number",                "",                 "",                 H},
  {172,  "external_module_id",       "External module ID",                          "number",                "",                 "",                 H},
  {184,  "mbus_primary_address",     "M-Bus primary address, module 1",             "number",                "",                 "",                 H},
  {185,  "mbus_secondary_address",   "M-Bus secondary address, module 1",           "number",                "",                 "",                 H},
  {218,  "mbus_primary_address_2",   "M-Bus primary address, module 2",             "number",                "",                 "",                 H},
  {219,  "mbus_secondary_address_2", "M-Bus secondary address, module 2",           "number",                "",                 "",                 H},
  {220,  "mbus_primary_address_ext", "M-Bus primary address, external module",      "number",                "",                 "",                 H},
  {221,  "mbus_secondary_address_ext", "M-Bus secondary address, external module",  "number",                "",                 "",                 H},
  {234,  "input_a_litres_per_pulse", "Litres per pulse, input A",                   "number",                "",                 "",                 H},
  {235,  "input_b_litres_per_pulse", "Litres per pulse, input B",                   "number",                "",                 "",                 H},
  // --- shared by all KMP meters ------------------------------------------------------------------
  {1001, "serial_number",            "Serial number",                               "number",                "",                 "",                 HE},
  {1002, "clock",                    "Current time (hh:mm:ss)",                     "time",                  "",                 "",                 HE},
  {1003, "date",                     "Current date (yy:mm:dd)",                     "date",                  "",                 "",                 HE},
  // --- legacy MULTICAL 66/III/401 `/#n` and IEC readout quantities without a KMP register ---------
  {-1,   "peak_power",               "Peak power, actual (/#1 field 8)",            "power",                 "power",            "measurement",      kLegacy},
  {-1,   "customer_number",          "Customer number (/#2, IEC 0.0)",              "number",                "",                 "",                 kLegacy},
  {-1,   "config_number_legacy",     "Configuration number DDEFFGG (/#2)",          "number",                "",                 "",                 kLegacy},
  {-1,   "energy_in_tariff1",        "Active energy A+, tariff 1 (IEC 1.20.1)",     "energy",                "energy",           "total_increasing", kLegacy},
  {-1,   "energy_in_tariff2",        "Active energy A+, tariff 2 (IEC 1.20.2)",     "energy",                "energy",           "total_increasing", kLegacy},
  {-1,   "pulse_input",              "Pulse input counter (IEC 1.26)",              "number",                "",                 "total_increasing", kLegacy},
  {-1,   "max_power_last_month",     "Peak power of last month (IEC 1.6*1)",        "power",                 "power",            "measurement",      kLegacy},
  // --- electricity meters ------------------------------------------------------------------------
  {1,    "energy_in",                "Active energy A+ (import)",                   "energy",                "energy",           "total_increasing", E},
  {2,    "energy_out",               "Active energy A− (export)",                    "energy",                "energy",           "total_increasing", E},
  {13,   "energy_in_hires",          "Active energy A+, high resolution",           "energy",                "energy",           "total_increasing", E},
  {14,   "energy_out_hires",         "Active energy A−, high resolution",           "energy",                "energy",           "total_increasing", E},
  {39,   "max_power",                "Max power",                                   "power",                 "power",            "measurement",      E},
  {51,   "meter_number",             "Meter number (configurable)",                 "number",                "",                 "",                 E},
  {1023, "power_in",                 "Current power in (total)",                    "power",                 "power",            "measurement",      E},
  {1024, "power_out",                "Current power out (total)",                   "power",                 "power",            "measurement",      E},
  {1054, "voltage_l1",               "Voltage L1",                                  "voltage",               "voltage",          "measurement",      E},
  {1055, "voltage_l2",               "Voltage L2",                                  "voltage",               "voltage",          "measurement",      E},
  {1056, "voltage_l3",               "Voltage L3",                                  "voltage",               "voltage",          "measurement",      E},
  {1076, "current_l1",               "Current L1",                                  "current",               "current",          "measurement",      E},
  {1077, "current_l2",               "Current L2",                                  "current",               "current",          "measurement",      E},
  {1078, "current_l3",               "Current L3",                                  "current",               "current",          "measurement",      E},
  {1080, "power_in_l1",              "Power in L1",                                 "power",                 "power",            "measurement",      E},
  {1081, "power_in_l2",              "Power in L2",                                 "power",                 "power",            "measurement",      E},
  {1082, "power_in_l3",              "Power in L3",                                 "power",                 "power",            "measurement",      E},
  {1344, "power_out_l1",             "Power out L1",                                "power",                 "power",            "measurement",      E},
  {1345, "power_out_l2",             "Power out L2",                                "power",                 "power",            "measurement",      E},
  {1346, "power_out_l3",             "Power out L3",                                "power",                 "power",            "measurement",      E},
  {1047, "time_zone",                "Time zone (RTC format)",                      "time",                  "",                 "",                 E},
  {1126, "meter_type_number",        "Complete meter type number",                  "text",                  "",                 "",                 E},
  {1268, "mbus_address",             "M-Bus address",                               "number",                "",                 "",                 E},
  {1271, "kmp_address",              "KMP address",                                 "number",                "",                 "",                 E},
  {6026, "firmware_revision_a",      "Firmware revision A",                         "text",                  "",                 "",                 E},
  {6031, "firmware_revision_b",      "Firmware revision B",                         "text",                  "",                 "",                 E},
  {6247, "identification_number",    "Identification number",                       "text",                  "",                 "",                 E},
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
  if (ref.size() > 2 && ref[0] == '0' && (ref[1] == 'x' || ref[1] == 'X')) {
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
