#include "legacy/standard.hpp"

#include <algorithm>
#include <array>
#include <charconv>

#include "kmp/units.hpp"

namespace kamstrup::legacy {

namespace {

constexpr std::size_t kMaxFieldDigits = 20;

kmp::uint128 pow10(int n) {
  kmp::uint128 v = 1;
  for (int i = 0; i < n; ++i) v *= 10;
  return v;
}

std::string digits_text(kmp::uint128 v, std::size_t width) {
  std::string s = kmp::uint128_to_string(v);
  if (s.size() < width) s.insert(0, width - s.size(), '0');
  return s;
}

}  // namespace

// ---- requests ------------------------------------------------------------------------------

bool is_request_code(char c) {
  return (c >= '1' && c <= '9') || c == 'B' || c == 'C' || c == 'D' || c == 'J';
}

Result<std::string> request_bytes(std::string_view code) {
  if (code.starts_with("/")) code.remove_prefix(1);
  if (code.starts_with("#")) code.remove_prefix(1);
  if (code.size() != 1) return Error::BadRequest;
  char c = code[0];
  if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 'a' + 'A');
  if (!is_request_code(c)) return Error::BadRequest;
  return std::string("/#") + c;
}

RequestScanner::Event RequestScanner::feed(std::uint8_t byte) {
  const auto c = static_cast<char>(byte & 0x7FU);
  // States: 0 idle, 1 after '/', 2 after "/#", 3 after "/?", 4 after ACK (ack_digits_ counted).
  switch (state_) {
    case 1:
      if (c == '#') {
        state_ = 2;
        return Event::None;
      }
      if (c == '?') {
        state_ = 3;
        return Event::None;
      }
      break;
    case 2:
      state_ = 0;
      if (is_request_code(c)) {
        code_ = c;
        return Event::Standard;
      }
      break;
    case 3:
      state_ = 0;
      if (c == '!') return Event::Iec;
      break;
    case 4:
      if (c >= '0' && c <= '9') {
        if (++ack_digits_ == 3) {
          state_ = 0;
          return Event::Ack;
        }
        return Event::None;
      }
      break;
    default:
      break;
  }
  state_ = 0;
  if (c == '/') state_ = 1;
  if (c == 0x06) {
    state_ = 4;
    ack_digits_ = 0;
  }
  return Event::None;
}

// ---- line receiver -------------------------------------------------------------------------

LineReceiver::Event LineReceiver::feed(std::uint8_t byte) {
  const auto c = static_cast<char>(byte & 0x7FU);
  if (c == '\n') return Event::None;
  // NUL is what a serial driver delivers for a character that failed its parity check. It is
  // kept, also at the start of a line, so the line fails validation rather than losing a digit
  // (a lost digit in an 8-digit field would still leave a legal 7-digit one); noise costs a
  // retry, never a wrong value.
  if (c == '\r') {
    if (overlong_) {
      overlong_ = false;
      partial_.clear();
      return Event::None;
    }
    line_ = std::move(partial_);
    partial_.clear();
    return Event::Line;
  }
  if (overlong_) return Event::None;
  if (partial_.size() == kMaxLine) {
    overlong_ = true;
    partial_.clear();
    return Event::Overlong;
  }
  partial_.push_back(c);
  return Event::None;
}

void LineReceiver::reset() {
  partial_.clear();
  line_.clear();
  overlong_ = false;
}

// ---- fields --------------------------------------------------------------------------------

Result<std::vector<Field>> split_fields(std::string_view line, std::size_t count,
                                        std::size_t min_width) {
  std::vector<Field> fields;
  std::size_t i = 0;
  bool any = false;
  while (i < line.size()) {
    if (line[i] == ' ') {
      ++i;
      continue;
    }
    any = true;
    std::size_t end = line.find(' ', i);
    if (end == std::string_view::npos) end = line.size();
    std::string_view text = line.substr(i, end - i);
    i = end;
    if (fields.size() == count) return Error::ExtraField;
    for (char c : text) {
      if (c < '0' || c > '9') return Error::BadDigit;
    }
    if (text.size() < min_width) return Error::ShortField;
    if (text.size() > kMaxFieldDigits) return Error::LongField;
    Field f{text, 0};
    for (char c : text) f.value = f.value * 10 + static_cast<unsigned>(c - '0');
    fields.push_back(f);
  }
  if (!any) return Error::Empty;
  if (fields.size() < count) return Error::MissingField;
  return fields;
}

// ---- program number and scale --------------------------------------------------------------

Result<ProgramNumber> parse_program_number(std::string_view field) {
  if (field.size() < 5 || field.size() > kMaxFieldDigits) return Error::BadProgramNumber;
  for (char c : field) {
    if (c < '0' || c > '9') return Error::BadProgramNumber;
  }
  const std::string_view abccc = field.substr(field.size() - 5);
  for (char c : field.substr(0, field.size() - 5)) {
    if (c != '0') return Error::BadProgramNumber;
  }
  ProgramNumber p;
  p.a = static_cast<unsigned>(abccc[0] - '0');
  p.b = static_cast<unsigned>(abccc[1] - '0');
  std::from_chars(abccc.data() + 2, abccc.data() + 5, p.ccc);
  p.text = std::string(field);
  return p;
}

namespace {

// One row of the CCC table (docs/protocol.md §6.4): decimals per unit; -1 where the table has none.
struct CccRow {
  std::array<unsigned, 5> codes;  // 0 pads
  int kwh, mwh, gj, m3;
  bool flow_m3h;  // flow in m³/h (2 decimals) rather than l/h (0)
  bool power_mw;  // power in MW (3 decimals) rather than kW
  int power_decimals;
};

constexpr std::array<CccRow, 4> kCccTable{{
    {{116, 119, 136, 197, 198}, 0, 3, 2, 2, false, false, 1},
    {{151, 137, 120, 178, 179}, -1, 2, 1, 1, false, false, 1},
    {{158, 0, 0, 0, 0}, -1, 1, 0, 0, true, false, 0},
    {{170, 147, 180, 0, 0}, -1, 1, 0, 0, true, true, 3},
}};

}  // namespace

Result<Scale> scale_for(const ProgramNumber& program) {
  const CccRow* row = nullptr;
  for (const auto& r : kCccTable) {
    if (program.ccc != 0 &&
        std::find(r.codes.begin(), r.codes.end(), program.ccc) != r.codes.end()) {
      row = &r;
    }
  }
  if (row == nullptr) return Error::UnknownProgram;
  Scale s;
  switch (program.b) {
    case 2:
      s.energy = {"GJ", row->gj};
      break;
    case 3:
      s.energy = {"kWh", row->kwh};
      break;
    case 4:
      s.energy = {"MWh", row->mwh};
      break;
    case 5:
      s.energy = {"Gcal", row->mwh};
      break;
    default:
      return Error::UnknownProgram;
  }
  if (s.energy.decimals < 0) return Error::UnknownProgram;
  s.volume = {"m³", row->m3};
  s.flow = row->flow_m3h ? QuantityScale{"m³/h", 2} : QuantityScale{"l/h", 0};
  s.power = {row->power_mw ? "MW" : "kW", row->power_decimals};
  return s;
}

Result<Scale> parse_scale(std::string_view text) {
  Scale s;
  unsigned seen = 0;
  while (!text.empty()) {
    std::size_t comma = text.find(',');
    std::string_view item = text.substr(0, comma);
    text = comma == std::string_view::npos ? std::string_view{} : text.substr(comma + 1);
    while (!item.empty() && item.front() == ' ') item.remove_prefix(1);
    while (!item.empty() && item.back() == ' ') item.remove_suffix(1);
    const std::size_t eq = item.find('=');
    const std::size_t colon = item.rfind(':');
    if (eq == std::string_view::npos || colon == std::string_view::npos || colon < eq) {
      return Error::BadScaleSpec;
    }
    const std::string_view key = item.substr(0, eq);
    std::string unit(item.substr(eq + 1, colon - eq - 1));
    const std::string_view dec = item.substr(colon + 1);
    int decimals = -1;
    auto [ptr, ec] = std::from_chars(dec.data(), dec.data() + dec.size(), decimals);
    if (ec != std::errc{} || ptr != dec.data() + dec.size() || decimals < 0 || decimals > 6) {
      return Error::BadScaleSpec;
    }
    if (unit == "m3") unit = "m³";
    if (unit == "m3/h") unit = "m³/h";
    QuantityScale q{unit, decimals};
    unsigned bit = 0;
    if (key == "energy" && (unit == "GJ" || unit == "kWh" || unit == "MWh" || unit == "Gcal")) {
      s.energy = q;
      bit = 1;
    } else if (key == "volume" && unit == "m³") {
      s.volume = q;
      bit = 2;
    } else if (key == "power" && (unit == "kW" || unit == "MW")) {
      s.power = q;
      bit = 4;
    } else if (key == "flow" && (unit == "l/h" || unit == "m³/h")) {
      s.flow = q;
      bit = 8;
    } else {
      return Error::BadScaleSpec;
    }
    if ((seen & bit) != 0) return Error::BadScaleSpec;
    seen |= bit;
  }
  if (seen != 15) return Error::BadScaleSpec;
  return s;
}

std::string scale_to_string(const Scale& s) {
  auto ascii = [](const std::string& unit) {
    if (unit == "m³") return std::string("m3");
    if (unit == "m³/h") return std::string("m3/h");
    return unit;
  };
  auto item = [&](std::string_view key, const QuantityScale& q) {
    return std::string(key) + "=" + ascii(q.unit) + ":" + std::to_string(q.decimals);
  };
  return item("energy", s.energy) + "," + item("volume", s.volume) + "," + item("power", s.power) +
         "," + item("flow", s.flow);
}

// ---- values --------------------------------------------------------------------------------

std::uint8_t unit_code_of(std::string_view symbol) {
  if (symbol.empty()) return 0;
  for (unsigned code = 1; code < 256; ++code) {
    auto info = kmp::unit_info(static_cast<std::uint8_t>(code));
    if (!info) break;
    if (info->symbol == symbol) return static_cast<std::uint8_t>(code);
  }
  return 0;
}

kmp::RegisterValue make_value(kmp::uint128 digits, int decimals, std::string_view unit) {
  kmp::RegisterValue v;
  v.unit_code = unit_code_of(unit);
  v.unit = std::string(unit);
  v.number = kmp::Decimal{digits, -decimals, false};
  return v;
}

namespace {

Value value(std::int32_t id, std::string_view name, kmp::RegisterValue v) {
  return Value{id, std::string(name), std::move(v)};
}

// 171028 → "2017-10-28"; nullopt when not a plausible YYMMDD.
std::optional<std::string> date_text(kmp::uint128 yymmdd) {
  if (yymmdd > 991231) return std::nullopt;
  const auto v = static_cast<unsigned>(yymmdd);
  const unsigned yy = v / 10000, mm = v / 100 % 100, dd = v % 100;
  if (mm < 1 || mm > 12 || dd < 1 || dd > 31) return std::nullopt;
  std::string s = "20" + digits_text(yy, 2) + "-" + digits_text(mm, 2) + "-" + digits_text(dd, 2);
  return s;
}

}  // namespace

Result<std::vector<Value>> decode_standard1(std::string_view line, const Scale& s) {
  auto fields = split_fields(line, 10);
  if (!fields) return fields.error();
  const auto& f = fields.value();
  std::vector<Value> out;
  out.reserve(10);
  out.push_back(value(60, "heat_energy", make_value(f[0].value, s.energy.decimals, s.energy.unit)));
  out.push_back(value(68, "volume", make_value(f[1].value, s.volume.decimals, s.volume.unit)));
  out.push_back(value(1004, "hour_counter", make_value(f[2].value, 0, "h")));
  out.push_back(value(86, "temp1", make_value(f[3].value, 2, "°C")));
  out.push_back(value(87, "temp2", make_value(f[4].value, 2, "°C")));
  out.push_back(value(89, "temp_diff", make_value(f[5].value, 2, "K")));
  out.push_back(value(80, "power", make_value(f[6].value, s.power.decimals, s.power.unit)));
  out.push_back(value(74, "flow", make_value(f[7].value, s.flow.decimals, s.flow.unit)));
  out.push_back(value(-1, "peak_power", make_value(f[8].value, s.power.decimals, s.power.unit)));
  out.push_back(value(99, "info", make_value(f[9].value, 0, "")));
  return out;
}

Result<Standard2> decode_standard2(std::string_view line, const Scale* s) {
  auto fields = split_fields(line, 10);
  if (!fields) return fields.error();
  const auto& f = fields.value();
  auto program = parse_program_number(f[7].text);
  if (!program) return program.error();
  auto date = date_text(f[9].value);
  if (!date) return Error::BadDate;
  Standard2 out;
  out.program = program.value();
  auto& v = out.values;
  v.push_back(value(-1, "customer_number", make_value(f[0].value, 0, "")));
  if (s != nullptr) {
    v.push_back(value(64, "tariff2", make_value(f[1].value, s->energy.decimals, s->energy.unit)));
  }
  v.push_back(value(66, "tariff_limit2", make_value(f[2].value, 0, "")));
  if (s != nullptr) {
    v.push_back(value(65, "tariff3", make_value(f[3].value, s->energy.decimals, s->energy.unit)));
  }
  v.push_back(value(67, "tariff_limit3", make_value(f[4].value, 0, "")));
  v.push_back(value(84, "input_a", make_value(f[5].value, 0, "")));
  v.push_back(value(85, "input_b", make_value(f[6].value, 0, "")));
  kmp::RegisterValue prog = make_value(f[7].value, 0, "");
  prog.text = std::string(f[7].text);
  v.push_back(value(152, "program_number", std::move(prog)));
  kmp::RegisterValue config = make_value(f[8].value, 0, "");
  config.text = std::string(f[8].text);
  v.push_back(value(-1, "config_number_legacy", std::move(config)));
  kmp::RegisterValue d = make_value(f[9].value, 0, "yy:mm:dd");
  d.text = *date;
  v.push_back(value(1003, "date", std::move(d)));
  return out;
}

// ---- logger replies ------------------------------------------------------------------------

Result<LogTable> decode_log(char code, std::span<const std::string> lines) {
  LogTable t;
  t.code = code;
  std::size_t date_index = 0;
  std::size_t min_width = 6;
  std::size_t count = 0;  // 0: from the first record line
  std::span<const std::string> records = lines;
  switch (code) {
    case '6':
    case '7':
      t.names = {"heat_energy",   "mass1",     "mass2",     "input_a",   "input_b", "pressure1_avg",
                 "pressure2_avg", "temp1_avg", "temp3_avg", "temp2_avg", "info"};
      count = 12;
      min_width = 5;
      break;
    case '8':
    case '9':
      t.names = {"heat_energy", "volume", "tariff2", "tariff3", "input_a", "input_b"};
      break;
    case '5':
      if (lines.empty()) return Error::MissingField;
      if (auto header = split_fields(lines[0], 9, 6); !header) return header.error();
      records = lines.subspan(1);
      break;
    case 'J':
      t.names = {"info", "clock", "heat_energy"};
      date_index = 1;
      count = 4;
      break;
    default:
      return Error::BadRequest;
  }
  if (records.empty()) return Error::MissingField;
  if (count == 0) {
    // Undocumented tails: the first record sets the count for all.
    std::size_t n = 0;
    bool in_field = false;
    for (char c : records[0]) {
      if (c != ' ' && !in_field) ++n;
      in_field = c != ' ';
    }
    if (n < 4 || n > 40) return n < 4 ? Error::MissingField : Error::ExtraField;
    count = n;
  }
  for (std::size_t i = t.names.size() + 1; i < count; ++i) {
    t.names.push_back("field_" + std::to_string(i));
  }
  t.names.resize(count - 1);
  for (const auto& line : records) {
    auto fields = split_fields(line, count, min_width);
    if (!fields) return fields.error();
    auto date = date_text(fields->at(date_index).value);
    if (!date) return Error::BadDate;
    LogRow row;
    row.yymmdd = static_cast<unsigned>(fields->at(date_index).value);
    row.date = *date;
    for (std::size_t i = 0; i < fields->size(); ++i) {
      if (i != date_index) row.fields.push_back(fields->at(i).value);
    }
    t.rows.push_back(std::move(row));
  }
  return t;
}

// ---- builders ------------------------------------------------------------------------------

kmp::uint128 digits_at(const kmp::Decimal& value, int decimals) {
  if (value.negative || value.mantissa == 0) return 0;
  kmp::uint128 m = value.mantissa;
  int e = value.exponent;
  while (e > -decimals) {
    if (m > (~kmp::uint128{0}) / 10) return ~kmp::uint128{0};
    m *= 10;
    --e;
  }
  while (e < -decimals) {
    m /= 10;
    ++e;
  }
  return m;
}

std::string encode_fields(std::span<const kmp::uint128> fields, std::size_t width) {
  std::string line;
  for (std::size_t i = 0; i < fields.size(); ++i) {
    if (i > 0) line.push_back(' ');
    line += digits_text(fields[i], width);
  }
  line.push_back('\r');
  return line;
}

std::string encode_standard1(const Standard1& v, const Scale& s, std::size_t width) {
  const kmp::uint128 wrap = pow10(static_cast<int>(std::min<std::size_t>(width, 38)));
  auto at = [wrap](const kmp::Decimal& d, int decimals) { return digits_at(d, decimals) % wrap; };
  const std::array<kmp::uint128, 10> fields{at(v.heat_energy, s.energy.decimals),
                                            at(v.volume, s.volume.decimals),
                                            at(v.hour_counter, 0),
                                            at(v.temp1, 2),
                                            at(v.temp2, 2),
                                            at(v.temp_diff, 2),
                                            at(v.power, s.power.decimals),
                                            at(v.flow, s.flow.decimals),
                                            at(v.peak_power, s.power.decimals),
                                            at(v.info, 0)};
  return encode_fields(fields, width);
}

}  // namespace kamstrup::legacy
