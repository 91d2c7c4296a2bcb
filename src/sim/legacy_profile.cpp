#include "sim/legacy_profile.hpp"

#include <yaml-cpp/yaml.h>

#include <charconv>

#include "legacy/iec.hpp"

namespace kamstrup::sim::detail {

namespace {

using B = Behaviour;

RegisterSpec spec(std::uint16_t id, std::string_view unit, std::string_view value, Behaviour b) {
  RegisterSpec r;
  r.id = id;
  r.unit_code = legacy::unit_code_of(unit);
  r.nob = 4;
  r.value = *kmp::Decimal::parse(value);
  r.behaviour = b;
  return r;
}

// The MC66-1 capture's digits (program 4-4-119), as registers of a MWh meter.
Profile legacy_base() {
  Profile p;
  p.line = LineSpec{300, 7, 'E', 2};
  p.legacy.enabled = true;
  auto& r = p.registers;
  r.push_back(spec(60, "MWh", "507.109", B::HeatEnergy));
  r.push_back(spec(68, "m³", "12966.26", B::Volume));
  r.push_back(spec(1004, "h", "32673", B::Hours));
  r.push_back(spec(86, "°C", "68.11", B::Temp1));
  r.push_back(spec(87, "°C", "33.66", B::Temp2));
  r.push_back(spec(89, "K", "34.45", B::TempDiff));
  r.push_back(spec(80, "kW", "3.1", B::HeatPower));
  r.push_back(spec(74, "l/h", "79", B::Flow));
  r.push_back(spec(128, "kW", "9.3", B::MaxPower));
  r.push_back(spec(99, "", "0", B::Static));
  r.push_back(spec(64, "MWh", "0.000", B::Static));
  r.push_back(spec(65, "MWh", "0.000", B::Static));
  r.push_back(spec(84, "", "0", B::Static));
  r.push_back(spec(85, "", "0", B::Static));
  r.push_back(spec(175, "h", "0", B::Static));
  r.push_back(spec(1001, "", "0", B::Serial));
  r.push_back(spec(1002, "hh:mm:ss", "0", B::Clock));
  r.push_back(spec(1003, "yy:mm:dd", "0", B::Date));
  return p;
}

[[noreturn]] void fail(const std::string& origin, const std::string& key,
                       const std::string& message) {
  throw ProfileError(origin + ": " + key + ": " + message);
}

std::string scalar(const YAML::Node& node, const std::string& origin, const std::string& key) {
  if (!node.IsScalar()) fail(origin, key, "expected a single value");
  return node.Scalar();
}

}  // namespace

Profile multical66c() {
  Profile p = legacy_base();
  p.name = "multical66c";
  p.description = "Kamstrup MULTICAL 66-C heat meter (pre-KMP: /#n and IEC readout)";
  p.serial = 66012345;
  p.legacy.program_number = "0044119";
  p.legacy.iec_identification = "/KAM 0 MC";
  p.legacy.iec_ack = false;
  apply_legacy_scale(p, p.name);
  return p;
}

Profile multical401() {
  Profile p = legacy_base();
  p.name = "multical401";
  p.description = "Kamstrup MULTICAL 401 heat meter (pre-KMP: IEC readout and /#1)";
  p.serial = 40112345;
  p.legacy.program_number = "0042119";
  p.legacy.iec_identification = "/KAM0MCC";
  p.legacy.iec_ack = true;
  p.legacy.field_width = 8;
  p.legacy.customer_number = 40117;
  apply_legacy_scale(p, p.name);
  return p;
}

bool apply_legacy_key(Profile& p, const std::string& key, const YAML::Node& value,
                      const std::string& origin) {
  LegacySpec& l = p.legacy;
  const bool known = key == "program_number" || key == "scale" || key == "customer_number" ||
                     key == "iec_identification" || key == "iec_ack" || key == "reply_line";
  if (!known) return false;
  if (!l.enabled)
    fail(origin, key, "only for the legacy profiles (base: multical66c or multical401)");
  const std::string text = scalar(value, origin, key);
  if (key == "program_number") {
    auto program = legacy::parse_program_number(text);
    if (!program)
      fail(origin, key, "expected ABCCC digits such as \"0044119\", got '" + text + "'");
    l.program_number = text;
  } else if (key == "scale") {
    if (!legacy::parse_scale(text)) {
      fail(origin, key,
           "expected e.g. \"energy=MWh:3,volume=m3:2,power=kW:1,flow=l/h:0\", got '" + text + "'");
    }
    l.scale = text;
  } else if (key == "customer_number") {
    std::uint64_t n = 0;
    auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), n);
    if (text.empty() || ec != std::errc{} || ptr != text.data() + text.size() ||
        n > 99'999'999'999ULL) {
      fail(origin, key, "expected up to 11 digits, got '" + text + "'");
    }
    l.customer_number = n;
  } else if (key == "iec_identification") {
    if (text.size() < 2 || text.front() != '/' ||
        text.find_first_of("\r\n!") != std::string::npos) {
      fail(origin, key, "expected a line starting with '/', e.g. \"/KAM 0 MC\"");
    }
    l.iec_identification = text;
  } else if (key == "iec_ack") {
    try {
      l.iec_ack = value.as<bool>();
    } catch (const YAML::Exception&) {
      fail(origin, key, "expected true or false");
    }
  } else if (key == "reply_line") {
    auto line = LineSpec::parse(text);
    if (!line) fail(origin, key, "expected e.g. \"1200 7E2\", got '" + text + "'");
    l.reply_line = *line;
  }
  return true;
}

legacy::Scale legacy_scale(const Profile& p, const std::string& origin) {
  const LegacySpec& l = p.legacy;
  if (!l.scale.empty()) {
    auto s = legacy::parse_scale(l.scale);
    if (!s) fail(origin, "scale", "cannot parse '" + l.scale + "'");
    return *s;
  }
  auto program = legacy::parse_program_number(l.program_number);
  if (!program) fail(origin, "program_number", "expected ABCCC digits");
  auto s = legacy::scale_for(*program);
  if (!s) {
    fail(origin, "program_number",
         l.program_number + " is outside the scale table (docs/protocol.md §6.4); give scale: too");
  }
  return *s;
}

void apply_legacy_scale(Profile& p, const std::string& origin) {
  if (!p.legacy.enabled) return;
  const legacy::Scale s = legacy_scale(p, origin);
  auto set = [&p](std::uint16_t id, const legacy::QuantityScale& q) {
    RegisterSpec* r = p.find(id);
    if (r == nullptr) return;
    r->value.exponent = -q.decimals;
    r->unit_code = legacy::unit_code_of(q.unit);
  };
  for (std::uint16_t id : {std::uint16_t{60}, std::uint16_t{64}, std::uint16_t{65}}) {
    set(id, s.energy);
  }
  set(68, s.volume);
  set(80, s.power);
  set(128, s.power);
  set(74, s.flow);
}

}  // namespace kamstrup::sim::detail
