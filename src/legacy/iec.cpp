#include "legacy/iec.hpp"

#include <array>

namespace kamstrup::legacy {

std::uint8_t iec_bcc(std::string_view block) {
  unsigned sum = 0;
  for (char c : block) sum += static_cast<unsigned char>(c) & 0x7FU;
  return static_cast<std::uint8_t>(sum & 0x7FU);
}

bool operator==(const IecItem& a, const IecItem& b) {
  if (a.code != b.code || a.value_text != b.value_text || a.unit != b.unit) return false;
  if (a.number.has_value() != b.number.has_value()) return false;
  return !a.number ||
         (a.number->mantissa == b.number->mantissa && a.number->exponent == b.number->exponent &&
          a.number->negative == b.number->negative);
}

namespace {

std::string normalise_unit(std::string_view unit) {
  if (unit == "m3") return "m³";
  if (unit == "m3/h") return "m³/h";
  if (unit == "C" || unit == "degC") return "°C";
  return std::string(unit);
}

// "000018,3" → 18.3, "0012345" → 12345; nullopt for anything else.
std::optional<kmp::Decimal> parse_number(std::string_view text) {
  std::string t(text);
  for (char& c : t) {
    if (c == ',') c = '.';
  }
  if (t.empty() || t.front() == '-' || t.front() == '+' || t.front() == '.' || t.back() == '.') {
    return std::nullopt;
  }
  if (t.size() > 38) return std::nullopt;
  return kmp::Decimal::parse(t);
}

// Items of one data line: code(value[*unit]) repeated, optionally ending with '!'.
Result<bool> parse_line(std::string_view line, std::vector<IecItem>& items) {
  std::size_t i = 0;
  while (i < line.size()) {
    if (line[i] == '!' || line[i] == ' ') {
      ++i;
      continue;
    }
    const std::size_t open = line.find('(', i);
    if (open == std::string_view::npos || open == i) return Error::BadItem;
    const std::size_t close = line.find(')', open);
    if (close == std::string_view::npos) return Error::BadItem;
    IecItem item;
    item.code = std::string(line.substr(i, open - i));
    for (char c : item.code) {
      const bool ok = (c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
                      c == '.' || c == '*' || c == ':' || c == '-' || c == '_' || c == '&';
      if (!ok) return Error::BadItem;
    }
    std::string_view inner = line.substr(open + 1, close - open - 1);
    if (inner.find('(') != std::string_view::npos) return Error::BadItem;
    const std::size_t star = inner.find('*');
    item.value_text = std::string(inner.substr(0, star));
    if (star != std::string_view::npos) item.unit = std::string(inner.substr(star + 1));
    item.number = parse_number(item.value_text);
    items.push_back(std::move(item));
    i = close + 1;
  }
  return true;
}

}  // namespace

Result<IecReadout> decode_iec_readout(std::string_view raw) {
  if (raw.size() > IecReceiver::kMaxBytes) return Error::Overlong;
  std::string bytes(raw);
  for (char& c : bytes) c = static_cast<char>(static_cast<unsigned char>(c) & 0x7FU);
  std::string_view s = bytes;
  IecReadout out;
  // The identification: the first line starting '/' that is not our echoed "/?!".
  std::size_t pos = 0;
  for (;;) {
    const std::size_t slash = s.find('/', pos);
    if (slash == std::string_view::npos) return Error::NoIdentification;
    const std::size_t lf = s.find('\n', slash);
    if (lf == std::string_view::npos) return Error::NoIdentification;
    std::string_view line = s.substr(slash, lf - slash);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    pos = lf + 1;
    if (line == "/?!") continue;
    if (line.size() < 2 || line.find(kStx) != std::string_view::npos) {
      return Error::NoIdentification;
    }
    out.identification = std::string(line);
    break;
  }
  const std::size_t stx = s.find(kStx, pos);
  if (stx == std::string_view::npos) return Error::NoStx;
  const std::size_t etx = s.find(kEtx, stx + 1);
  if (etx == std::string_view::npos) return Error::NoEtx;
  if (etx + 1 >= s.size()) return Error::NoBcc;
  const std::string_view block = s.substr(stx + 1, etx - stx);  // ETX included
  if (iec_bcc(block) != static_cast<std::uint8_t>(s[etx + 1])) return Error::BadBcc;
  std::string_view data = block.substr(0, block.size() - 1);
  while (!data.empty()) {
    std::size_t nl = data.find('\n');
    std::string_view line = data.substr(0, nl);
    data = nl == std::string_view::npos ? std::string_view{} : data.substr(nl + 1);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    auto r = parse_line(line, out.items);
    if (!r) return r.error();
  }
  return out;
}

std::string encode_iec_readout(std::string_view identification, std::span<const IecItem> items) {
  std::string out(identification);
  out += "\r\n";
  out.push_back(kStx);
  std::string block;
  for (std::size_t i = 0; i < items.size(); ++i) {
    const IecItem& it = items[i];
    std::string value = it.value_text;
    if (value.empty() && it.number) {
      value = it.number->to_string();
      for (char& c : value) {
        if (c == '.') c = ',';
      }
    }
    block += it.code + "(" + value + (it.unit.empty() ? "" : "*" + it.unit) + ")";
    if (i + 1 == items.size()) block.push_back('!');
    block += "\r\n";
  }
  if (items.empty()) block += "!\r\n";
  block.push_back(kEtx);
  out += block;
  out.push_back(static_cast<char>(iec_bcc(block)));
  return out;
}

IecItem make_iec_item(std::string code, const kmp::Decimal& number, std::string unit,
                      std::size_t width) {
  IecItem it;
  it.code = std::move(code);
  it.unit = std::move(unit);
  const int decimals = number.exponent < 0 ? -number.exponent : 0;
  std::string digits = kmp::uint128_to_string(digits_at(number, decimals));
  if (digits.size() < width) digits.insert(0, width - digits.size(), '0');
  // One char, not the string ",": g++ 12 at -O3 warns (-Wrestrict, a false positive) about
  // inserting a C string.
  if (decimals > 0) digits.insert(digits.size() - static_cast<std::size_t>(decimals), 1, ',');
  it.value_text = digits;
  it.number = parse_number(it.value_text);
  return it;
}

namespace {

struct CodeName {
  std::string_view code;
  std::int32_t id;
  std::string_view name;
};

// OBIS-like codes of the Kamstrup readouts (docs/protocol.md §6.5) → catalogue names.
constexpr std::array<CodeName, 13> kCodes{{
    {"0.0", -1, "customer_number"},
    {"6.8", 60, "heat_energy"},
    {"6.26", 68, "volume"},
    {"6.31", 1004, "hour_counter"},
    {"1.20", 1, "energy_in"},
    {"1.8.0", 1, "energy_in"},
    {"1.20.1", -1, "energy_in_tariff1"},
    {"1.20.2", -1, "energy_in_tariff2"},
    {"1.31", 1004, "hour_counter"},
    {"1.26", -1, "pulse_input"},
    {"1.6", 39, "max_power"},
    {"1.6.0", 39, "max_power"},
    {"1.6*1", -1, "max_power_last_month"},
}};

}  // namespace

std::vector<Value> iec_values(const IecReadout& readout) {
  std::vector<Value> out;
  for (const auto& item : readout.items) {
    Value v;
    v.name = "iec_" + item.code;
    for (char& c : v.name) {
      if (c == '.' || c == '*' || c == ':' || c == '-' || c == '&') c = '_';
    }
    for (const auto& c : kCodes) {
      if (c.code == item.code) {
        v.id = c.id;
        v.name = std::string(c.name);
      }
    }
    v.value.unit = normalise_unit(item.unit);
    v.value.unit_code = unit_code_of(v.value.unit);
    v.value.number = item.number;
    if (!item.number || item.code == "0.0") v.value.text = item.value_text;
    out.push_back(std::move(v));
  }
  return out;
}

// ---- receiver ------------------------------------------------------------------------------

namespace {

// Non-empty characters of the request "/?!" CR LF, in order, some possibly missing.
bool echo_fragment(std::string_view s) {
  std::size_t at = 0;
  for (char c : s) {
    while (at < kIecRequest.size() && kIecRequest[at] != c) ++at;
    if (at == kIecRequest.size()) return false;
    ++at;
  }
  return !s.empty();
}

}  // namespace

IecReceiver::Event IecReceiver::feed(std::uint8_t byte) {
  const auto c = static_cast<char>(byte & 0x7FU);
  if (state_ == State::Done) return Event::None;
  if (state_ == State::Idle) {
    if (c != '/') return Event::None;
    state_ = State::Ident;
    buf_.clear();
  }
  // A '/' after part of our own "/?!" (a head that reflected it without CR LF, or cut short) is
  // the meter's identification starting: the fragment was echo.
  if (state_ == State::Ident && c == '/' && echo_fragment(buf_)) {
    echo_ = true;
    buf_.clear();
  }
  if (buf_.size() == kMaxBytes) {
    state_ = State::Done;
    return Event::Overlong;
  }
  buf_.push_back(c);
  switch (state_) {
    case State::Ident:
      if (c == '\n') {
        std::string_view line = buf_;
        line.remove_suffix(1);
        if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
        if (line == "/?!") {  // our own request, echoed
          echo_ = true;
          state_ = State::Idle;
          buf_.clear();
          return Event::None;
        }
        state_ = State::BeforeStx;
        return Event::Identification;
      }
      break;
    case State::BeforeStx:
      if (c == kStx) state_ = State::Data;
      break;
    case State::Data:
      if (c == kEtx) state_ = State::Bcc;
      break;
    case State::Bcc:
      state_ = State::Done;
      return Event::Complete;
    default:
      break;
  }
  return Event::None;
}

void IecReceiver::reset() {
  state_ = State::Idle;
  buf_.clear();
  echo_ = false;
}

}  // namespace kamstrup::legacy
