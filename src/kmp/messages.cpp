#include "kmp/messages.hpp"

#include <cstdio>

namespace kamstrup::kmp {

namespace {

std::string two_digits(unsigned v) {
  std::string s(2, '0');
  s[0] = static_cast<char>('0' + (v / 10) % 10);
  s[1] = static_cast<char>('0' + v % 10);
  return s;
}

// Readable date/time text for the decimal-digit encodings (units 47–50); empty when the digits
// are not a real date or time (meters send 0 for "never").
std::string date_time_text(UnitKind kind, uint128 v) {
  if (kind == UnitKind::Clock) {
    if (v > 235959) return {};
    auto n = static_cast<unsigned>(v);
    unsigned h = n / 10000, m = n / 100 % 100, s = n % 100;
    if (m > 59 || s > 59) return {};
    return two_digits(h) + ":" + two_digits(m) + ":" + two_digits(s);
  }
  if (kind == UnitKind::Date || kind == UnitKind::DateLong) {
    if (v > 99991231) return {};
    auto n = static_cast<unsigned>(v);
    unsigned year = kind == UnitKind::Date ? 2000 + n / 10000 : n / 10000;
    unsigned month = n / 100 % 100, day = n % 100;
    if (kind == UnitKind::Date && n > 991231) return {};
    if (month < 1 || month > 12 || day < 1 || day > 31) return {};
    return std::to_string(year) + "-" + two_digits(month) + "-" + two_digits(day);
  }
  if (kind == UnitKind::MonthDay) {
    if (v > 1231) return {};
    auto n = static_cast<unsigned>(v);
    unsigned month = n / 100, day = n % 100;
    if (month < 1 || month > 12 || day < 1 || day > 31) return {};
    return two_digits(month) + "-" + two_digits(day);
  }
  return {};
}

void put16(std::vector<std::uint8_t>& out, std::uint16_t v) {
  out.push_back(static_cast<std::uint8_t>(v >> 8U));
  out.push_back(static_cast<std::uint8_t>(v & 0xFFU));
}
void put32(std::vector<std::uint8_t>& out, std::uint32_t v) {
  for (int shift = 24; shift >= 0; shift -= 8) {
    out.push_back(static_cast<std::uint8_t>((v >> static_cast<unsigned>(shift)) & 0xFFU));
  }
}
std::uint16_t get16(std::span<const std::uint8_t> d, std::size_t at) {
  return static_cast<std::uint16_t>((d[at] << 8U) | d[at + 1]);
}
std::uint32_t get32(std::span<const std::uint8_t> d, std::size_t at) {
  return (static_cast<std::uint32_t>(d[at]) << 24U) |
         (static_cast<std::uint32_t>(d[at + 1]) << 16U) |
         (static_cast<std::uint32_t>(d[at + 2]) << 8U) | d[at + 3];
}

Frame reply_frame(std::uint8_t dst, std::uint8_t cid, std::vector<std::uint8_t> data) {
  Frame f;
  f.direction = Direction::FromMeter;
  f.dst = dst;
  f.cid = cid;
  f.data = std::move(data);
  return f;
}

Result<Frame> check_reply(const Frame& frame, std::uint8_t cid) {
  if (frame.is_ack || frame.direction != Direction::FromMeter) return Error::WrongDirection;
  if (frame.cid != cid) return Error::WrongCid;
  return frame;
}

}  // namespace

std::string meter_type_name(std::uint16_t meter_type) {
  switch (meter_type) {
    case 0x0001:
      return "MULTICAL 601 (Pt500)";
    case 0x0004:
      return "MULTICAL 601 (Pt100)";
    case 0x0005:
      return "MULTICAL 601 (Pt500, 4-wire)";
    case 0x1501:
      return "MULTICAL 601 (Pt500) via 67-05 top module";
    case 0x1504:
      return "MULTICAL 601 (Pt100) via 67-05 top module";
    case 0x1505:
      return "MULTICAL 601 (Pt500, 4-wire) via 67-05 top module";
    case 0x1101:
      return "MULTICAL 402 (heat)";
    default:
      break;
  }
  if ((meter_type >> 8U) == 0x09) return "top module (logger address 0x7F)";
  if ((meter_type >> 8U) == 0x16) return "base module (logger address 0xBF)";
  return "";
}

std::string sw_revision_text(std::uint16_t raw) {
  if (raw == 0) return {};
  unsigned letter = raw >> 8U;
  unsigned number = raw & 0xFFU;
  std::string s;
  if (letter >= 1 && letter <= 26) {
    s.push_back(static_cast<char>('A' + letter - 1));
  } else {
    // Appended piece by piece: g++ 12 at -O3 warns (-Wrestrict, a false positive) about
    // "?" + std::string.
    s = "?";
    s += std::to_string(letter);
    s += '.';
  }
  s += std::to_string(number);
  return s;
}

Result<RegisterValue> decode_value(std::uint8_t unit_code, std::uint8_t siex,
                                   std::span<const std::uint8_t> mantissa) {
  auto info = unit_info(unit_code);
  if (!info) return Error::UnknownUnit;
  RegisterValue v;
  v.unit_code = unit_code;
  v.unit = std::string(info->symbol);
  v.siex = siex;
  v.raw.assign(mantissa.begin(), mantissa.end());

  if (info->kind == UnitKind::Ascii) {
    for (std::uint8_t b : mantissa) {
      if (b == 0) break;  // NUL-padded fixed-width text
      v.text.push_back(b >= 0x20 && b < 0x7F ? static_cast<char>(b) : '?');
    }
    return v;
  }
  if (info->kind == UnitKind::Rtc) {
    v.text = to_hex(mantissa);
    return v;
  }
  if (mantissa.empty() || mantissa.size() > kMaxMantissaBytes) return Error::BadLength;
  Decimal d;
  for (std::uint8_t b : mantissa) d.mantissa = (d.mantissa << 8U) | b;
  d.negative = (siex & 0x80U) != 0;
  int magnitude = siex & 0x3F;
  d.exponent = (siex & 0x40U) != 0 ? -magnitude : magnitude;
  v.number = d;
  v.text = date_time_text(info->kind, d.mantissa);
  return v;
}

Result<EncodedValue> encode_value(const Decimal& d, std::size_t nob) {
  if (nob == 0 || nob > kMaxMantissaBytes) return Error::BadLength;
  if (d.exponent < -63 || d.exponent > 63) return Error::BadLength;
  if (nob < kMaxMantissaBytes && (d.mantissa >> (8 * nob)) != 0) return Error::BadLength;
  EncodedValue e;
  e.siex =
      static_cast<std::uint8_t>((d.negative ? 0x80U : 0U) | (d.exponent < 0 ? 0x40U : 0U) |
                                static_cast<unsigned>(d.exponent < 0 ? -d.exponent : d.exponent));
  e.mantissa.resize(nob);
  uint128 m = d.mantissa;
  for (std::size_t i = nob; i-- > 0;) {
    e.mantissa[i] = static_cast<std::uint8_t>(m & 0xFFU);
    m >>= 8U;
  }
  return e;
}

std::uint8_t cid_of(const Request& req) {
  struct V {
    std::uint8_t operator()(const GetTypeRequest&) const { return kCidGetType; }
    std::uint8_t operator()(const GetSerialNoRequest&) const { return kCidGetSerialNo; }
    std::uint8_t operator()(const GetRegisterRequest&) const { return kCidGetRegister; }
    std::uint8_t operator()(const SetClockRequest&) const { return kCidSetClock; }
    std::uint8_t operator()(const PutRegisterRequest&) const { return kCidPutRegister; }
  };
  return std::visit(V{}, req);
}

Result<std::vector<std::uint8_t>> encode_request(const Request& req, std::uint8_t dst) {
  Frame f;
  f.direction = Direction::ToMeter;
  f.dst = dst;
  f.cid = cid_of(req);
  if (const auto* g = std::get_if<GetRegisterRequest>(&req)) {
    if (g->ids.empty() || g->ids.size() > kMaxRegistersPerRequest) return Error::Malformed;
    f.data.push_back(static_cast<std::uint8_t>(g->ids.size()));
    for (std::uint16_t id : g->ids) put16(f.data, id);
  } else if (const auto* c = std::get_if<SetClockRequest>(&req)) {
    put32(f.data, c->yymmdd);
    put32(f.data, c->hhmmss);
  } else if (const auto* p = std::get_if<PutRegisterRequest>(&req)) {
    if (p->mantissa.empty() || p->mantissa.size() > kMaxMantissaBytes) return Error::BadLength;
    put16(f.data, p->password);
    put16(f.data, p->id);
    f.data.push_back(p->unit_code);
    f.data.push_back(static_cast<std::uint8_t>(p->mantissa.size()));
    f.data.push_back(p->siex);
    f.data.insert(f.data.end(), p->mantissa.begin(), p->mantissa.end());
  }
  return encode_frame(f);
}

Result<Request> decode_request(const Frame& frame) {
  if (frame.is_ack || frame.direction != Direction::ToMeter) return Error::WrongDirection;
  const auto& d = frame.data;
  switch (frame.cid) {
    case kCidGetType:
      if (!d.empty()) return Error::Malformed;
      return Request{GetTypeRequest{}};
    case kCidGetSerialNo:
      if (!d.empty()) return Error::Malformed;
      return Request{GetSerialNoRequest{}};
    case kCidGetRegister: {
      if (d.empty()) return Error::Truncated;
      std::size_t n = d[0];
      if (n == 0 || n > kMaxRegistersPerRequest) return Error::Malformed;
      if (d.size() < 1 + 2 * n) return Error::Truncated;
      if (d.size() > 1 + 2 * n) return Error::Malformed;
      GetRegisterRequest g;
      for (std::size_t i = 0; i < n; ++i) g.ids.push_back(get16(d, 1 + 2 * i));
      return Request{g};
    }
    case kCidSetClock:
      if (d.size() != 8) return d.size() < 8 ? Error::Truncated : Error::Malformed;
      return Request{SetClockRequest{get32(d, 0), get32(d, 4)}};
    case kCidPutRegister: {
      if (d.size() < 7) return Error::Truncated;
      std::size_t nob = d[5];
      if (d.size() < 7 + nob) return Error::Truncated;
      if (d.size() > 7 + nob) return Error::Malformed;
      PutRegisterRequest p;
      p.password = get16(d, 0);
      p.id = get16(d, 2);
      p.unit_code = d[4];
      p.siex = d[6];
      p.mantissa.assign(d.begin() + 7, d.end());
      return Request{p};
    }
    default:
      return Error::WrongCid;
  }
}

const RegisterBlock* RegisterResponse::find(std::uint16_t id) const {
  for (const auto& b : blocks) {
    if (b.id == id) return &b;
  }
  return nullptr;
}

Result<TypeResponse> decode_type_response(const Frame& frame) {
  auto f = check_reply(frame, kCidGetType);
  if (!f) return f.error();
  if (frame.data.size() < 4) return Error::Truncated;
  if (frame.data.size() > 4) return Error::Malformed;
  TypeResponse r;
  r.meter_type = get16(frame.data, 0);
  r.sw_raw = get16(frame.data, 2);
  r.sw_revision = sw_revision_text(r.sw_raw);
  return r;
}

Result<SerialResponse> decode_serial_response(const Frame& frame) {
  auto f = check_reply(frame, kCidGetSerialNo);
  if (!f) return f.error();
  if (frame.data.size() < 4) return Error::Truncated;
  if (frame.data.size() > 4) return Error::Malformed;
  return SerialResponse{get32(frame.data, 0)};
}

Result<RegisterResponse> decode_register_response(const Frame& frame) {
  auto f = check_reply(frame, kCidGetRegister);
  if (!f) return f.error();
  const auto& d = frame.data;
  RegisterResponse r;
  std::size_t at = 0;
  while (at < d.size()) {
    if (d.size() - at < 5) return Error::Truncated;
    RegisterBlock b;
    b.id = get16(d, at);
    std::uint8_t unit = d[at + 2];
    std::size_t nob = d[at + 3];
    std::uint8_t siex = d[at + 4];
    at += 5;
    if (d.size() - at < nob) return Error::Truncated;
    b.value = decode_value(unit, siex, std::span(d).subspan(at, nob));
    at += nob;
    r.blocks.push_back(std::move(b));
    if (r.blocks.size() > kMaxRegistersPerRequest) return Error::Malformed;
  }
  return r;
}

std::vector<std::uint8_t> encode_register_response(std::span<const OutgoingRegister> regs,
                                                   std::uint8_t dst) {
  std::vector<std::uint8_t> data;
  for (const auto& r : regs) {
    put16(data, r.id);
    data.push_back(r.unit_code);
    data.push_back(static_cast<std::uint8_t>(r.mantissa.size()));
    data.push_back(r.siex);
    data.insert(data.end(), r.mantissa.begin(), r.mantissa.end());
  }
  return encode_frame(reply_frame(dst, kCidGetRegister, std::move(data)));
}

std::vector<std::uint8_t> encode_type_response(std::uint16_t meter_type, std::uint16_t sw_revision,
                                               std::uint8_t dst) {
  std::vector<std::uint8_t> data;
  put16(data, meter_type);
  put16(data, sw_revision);
  return encode_frame(reply_frame(dst, kCidGetType, std::move(data)));
}

std::vector<std::uint8_t> encode_serial_response(std::uint32_t serial, std::uint8_t dst) {
  std::vector<std::uint8_t> data;
  put32(data, serial);
  return encode_frame(reply_frame(dst, kCidGetSerialNo, std::move(data)));
}

}  // namespace kamstrup::kmp
