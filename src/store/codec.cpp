#include "store/codec.hpp"

#include "kmp/catalogue.hpp"
#include "kmp/decimal.hpp"

namespace kamstrup::store {

namespace {

void put_varint(std::string& out, kmp::uint128 v) {
  do {
    auto byte = static_cast<unsigned char>(v & 0x7F);
    v >>= 7;
    if (v != 0) byte |= 0x80;
    out.push_back(static_cast<char>(byte));
  } while (v != 0);
}

void put_bytes(std::string& out, std::string_view s) {
  put_varint(out, s.size());
  out.append(s);
}

struct Reader {
  std::string_view in;
  std::size_t pos = 0;
  bool ok = true;

  kmp::uint128 varint() {
    kmp::uint128 v = 0;
    for (int shift = 0; shift < 133; shift += 7) {
      if (pos >= in.size()) break;
      const auto byte = static_cast<unsigned char>(in[pos++]);
      v |= kmp::uint128{byte & 0x7Fu} << shift;
      if ((byte & 0x80) == 0) return v;
    }
    ok = false;
    return 0;
  }
  std::string bytes() {
    const kmp::uint128 n = varint();
    if (!ok || n > in.size() - pos) {
      ok = false;
      return {};
    }
    std::string s(in.substr(pos, static_cast<std::size_t>(n)));
    pos += static_cast<std::size_t>(n);
    return s;
  }
};

// The decimal form of `text` when it prints back exactly ("55.006" yes; "+1", "-0", "007" no).
std::optional<kmp::Decimal> exact_decimal(const std::string& text) {
  auto d = kmp::Decimal::parse(text);
  if (!d || d->exponent < -63 || d->to_string() != text) return std::nullopt;
  return d;
}

}  // namespace

std::string encode_values(const std::vector<Value>& values) {
  std::string out;
  out.reserve(values.size() * 16);
  for (const Value& v : values) {
    put_varint(out, static_cast<kmp::uint128>(v.register_id < 0 ? 0 : v.register_id + 1));
    const bool catalogued = v.register_id >= 0 && v.register_id <= 0xFFFF &&
                            kmp::register_name(static_cast<std::uint16_t>(v.register_id)) == v.name;
    if (catalogued) {
      put_varint(out, 0);
    } else {
      put_varint(out, kmp::uint128{v.name.size()} + 1);
      out.append(v.name);
    }
    if (v.value.empty()) {
      out.push_back(0);
    } else if (auto d = exact_decimal(v.value)) {
      out.push_back(d->negative ? 2 : 1);
      put_varint(out, static_cast<kmp::uint128>(d->exponent + 64));
      put_varint(out, d->mantissa);
    } else {
      out.push_back(3);
      put_bytes(out, v.value);
    }
    put_bytes(out, v.text);
    put_bytes(out, v.unit);
  }
  return out;
}

std::optional<std::vector<Value>> decode_values(std::string_view blob) {
  Reader r{blob};
  std::vector<Value> out;
  while (r.ok && r.pos < blob.size()) {
    Value v;
    const kmp::uint128 id = r.varint();
    if (id > 0x10000) return std::nullopt;
    v.register_id = static_cast<std::int32_t>(id) - 1;
    const kmp::uint128 name_len = r.varint();
    if (!r.ok) return std::nullopt;
    if (name_len == 0) {
      if (v.register_id < 0) return std::nullopt;
      v.name = kmp::register_name(static_cast<std::uint16_t>(v.register_id));
    } else {
      const auto n = static_cast<std::size_t>(name_len - 1);
      if (name_len - 1 > blob.size() - r.pos) return std::nullopt;
      v.name = std::string(blob.substr(r.pos, n));
      r.pos += n;
    }
    if (r.pos >= blob.size()) return std::nullopt;
    const auto tag = static_cast<unsigned char>(blob[r.pos++]);
    if (tag == 1 || tag == 2) {
      kmp::Decimal d;
      const kmp::uint128 e = r.varint();
      d.mantissa = r.varint();
      if (!r.ok || e > 127) return std::nullopt;
      d.exponent = static_cast<int>(e) - 64;
      d.negative = tag == 2;
      v.value = d.to_string();
    } else if (tag == 3) {
      v.value = r.bytes();
    } else if (tag != 0) {
      return std::nullopt;
    }
    v.text = r.bytes();
    v.unit = r.bytes();
    if (!r.ok) return std::nullopt;
    out.push_back(std::move(v));
  }
  if (!r.ok) return std::nullopt;
  return out;
}

}  // namespace kamstrup::store
