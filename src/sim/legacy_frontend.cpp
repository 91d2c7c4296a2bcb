#include "sim/legacy_frontend.hpp"

#include <array>
#include <ctime>

#include "legacy/iec.hpp"
#include "sim/legacy_profile.hpp"

namespace kamstrup::sim {

namespace {

using kmp::uint128;

std::string pad(uint128 v, std::size_t width) {
  std::string s = kmp::uint128_to_string(v);
  if (s.size() < width) s.insert(0, width - s.size(), '0');
  return s;
}

std::string join(const std::vector<std::string>& fields) {
  std::string line;
  for (const auto& f : fields) line += (line.empty() ? "" : " ") + f;
  return line + "\r";
}

uint128 digits_of(std::string_view text) {
  uint128 v = 0;
  for (char c : text) {
    if (c >= '0' && c <= '9') v = v * 10 + static_cast<unsigned>(c - '0');
  }
  return v;
}

// YYMMDD of `now` minus `days_back` days, local time.
uint128 yymmdd(WallClock::time_point now, int days_back) {
  const std::time_t t = WallClock::to_time_t(now - std::chrono::hours(24 * days_back));
  std::tm tm{};
  localtime_r(&t, &tm);
  return static_cast<uint128>((tm.tm_year % 100) * 10000 + (tm.tm_mon + 1) * 100 + tm.tm_mday);
}

}  // namespace

std::string LegacyResponder::Request::text() const {
  switch (kind) {
    case Kind::Standard:
      return std::string("/#") + code;
    case Kind::Iec:
      return "/?!";
    case Kind::Ack:
      return "ACK";
  }
  return "?";
}

LegacyResponder::LegacyResponder(const Profile& profile)
    : profile_(profile), scale_(detail::legacy_scale(profile, profile.name)) {}

std::vector<LegacyResponder::Request> LegacyResponder::feed(std::span<const std::uint8_t> bytes) {
  std::vector<Request> out;
  for (std::uint8_t b : bytes) {
    switch (scanner_.feed(b)) {
      case legacy::RequestScanner::Event::Standard:
        out.push_back({Request::Kind::Standard, scanner_.code()});
        break;
      case legacy::RequestScanner::Event::Iec:
        out.push_back({Request::Kind::Iec, 0});
        break;
      case legacy::RequestScanner::Event::Ack:
        out.push_back({Request::Kind::Ack, 0});
        break;
      case legacy::RequestScanner::Event::None:
        break;
    }
  }
  return out;
}

void LegacyResponder::reset() {
  scanner_.reset();
}

std::optional<LegacyResponder::Reply> LegacyResponder::standard(char code, MeterModel& model,
                                                                WallClock::time_point now) const {
  const LegacySpec& l = profile_.legacy;
  if (!l.standard) return std::nullopt;
  const std::size_t w = l.field_width;
  const legacy::Scale& s = scale_;
  auto val = [&](std::uint16_t id) { return model.value(id, now).value_or(kmp::Decimal{}); };
  auto at = [&](std::uint16_t id, int decimals) {
    return pad(legacy::digits_at(val(id), decimals), w);
  };
  const std::string customer = pad(l.customer_number, 11);
  const std::string program =
      pad(digits_of(l.program_number), std::max(w, l.program_number.size()));
  const std::string config = pad(digits_of(l.config_number), w);
  const std::string date = pad(legacy::digits_at(val(1003), 0), w);
  const std::string zero = pad(0, w);
  const int e = s.energy.decimals;
  Reply reply;
  switch (code) {
    case '1': {
      legacy::Standard1 v{val(60), val(68), val(1004), val(86),  val(87),
                          val(89), val(80), val(74),   val(128), val(99)};
      reply.bytes = legacy::encode_standard1(v, s, w);
      auto decoded = legacy::decode_standard1(
          std::string_view(reply.bytes).substr(0, reply.bytes.size() - 1), s);
      if (decoded) {
        for (const auto& d : *decoded) reply.values[d.name] = d.value.number->to_string();
      }
      return reply;
    }
    case '2': {
      reply.bytes = join({customer, at(64, e), zero, at(65, e), zero, at(84, 0), at(85, 0), program,
                          config, date});
      auto decoded = legacy::decode_standard2(
          std::string_view(reply.bytes).substr(0, reply.bytes.size() - 1), &s);
      if (decoded) {
        for (const auto& d : decoded->values) reply.values[d.name] = d.value.number->to_string();
      }
      return reply;
    }
    case '3':
      reply.bytes = join({customer, date, at(60, e), at(68, s.volume.decimals), at(64, e),
                          at(65, e), at(84, 0), at(85, 0), at(128, s.power.decimals)});
      return reply;
    case '4':
      reply.bytes = join({at(60, e), zero, zero, at(68, s.volume.decimals), zero, zero, at(84, 0),
                          at(85, 0), zero});
      return reply;
    case 'B':
      reply.bytes = join({at(60, e), zero, at(68, s.volume.decimals), zero, zero, zero, at(84, 0),
                          at(85, 0), at(64, e), at(65, e), zero, zero});
      return reply;
    case 'C':
      reply.bytes = join({at(86, 2), zero, at(87, 2), zero, zero, at(74, s.flow.decimals), zero,
                          at(80, s.power.decimals)});
      return reply;
    case 'D':
      reply.bytes =
          join({customer, pad(digits_of(l.program_number), 8), pad(digits_of(l.config_number), 9),
                date, at(1002, 0), at(1004, 0), date, at(175, 0)});
      return reply;
    default:
      break;
  }
  // The loggers: three records, newest first, repeating the current values with earlier dates
  // (5-digit fields on /#6 and /#7 as on the real meter).
  for (int i = 0; i < 3; ++i) {
    const std::string d = pad(yymmdd(now, i), 6);
    auto at5 = [&](std::uint16_t id, int decimals) {
      return pad(legacy::digits_at(val(id), decimals) % 100000, 5);
    };
    switch (code) {
      case '5':
        if (i == 0) {
          reply.bytes += join({customer, date, at(60, e), at(68, s.volume.decimals), at(64, e),
                               at(65, e), at(84, 0), at(85, 0), at(128, s.power.decimals)});
        }
        reply.bytes += join({d, at(60, e), at(68, s.volume.decimals), at(64, e), at(65, e),
                             at(84, 0), at(85, 0), at(128, s.power.decimals)});
        break;
      case '6':
      case '7':
        reply.bytes += join({d, at5(60, e), "00000", "00000", at5(84, 0), at5(85, 0), "00000",
                             "00000", at5(86, 2), "00000", at5(87, 2), at5(99, 0)});
        break;
      case '8':
      case '9':
        reply.bytes +=
            join({d, at(60, e), at(68, s.volume.decimals), at(64, e), at(65, e), at(84, 0),
                  at(85, 0), at(128, s.power.decimals), zero, zero, at(99, 0)});
        break;
      case 'J':
        reply.bytes += join({at(99, 0), d, at(1002, 0), at(60, e)});
        break;
      default:
        return std::nullopt;
    }
  }
  return reply;
}

std::string LegacyResponder::iec_identification() const {
  return profile_.legacy.iec_identification + "\r\n";
}

LegacyResponder::Reply LegacyResponder::iec_data(MeterModel& model,
                                                 WallClock::time_point now) const {
  const legacy::Scale& s = scale_;
  auto val = [&](std::uint16_t id, int decimals) {
    const auto v = model.value(id, now).value_or(kmp::Decimal{});
    return kmp::Decimal{legacy::digits_at(v, decimals), -decimals, false};
  };
  auto ascii = [](const std::string& unit) { return unit == "m³" ? std::string("m3") : unit; };
  const std::array<legacy::IecItem, 4> items{
      legacy::make_iec_item("0.0", kmp::Decimal{profile_.legacy.customer_number, 0, false}, "", 11),
      legacy::make_iec_item("6.8", val(60, s.energy.decimals), s.energy.unit),
      legacy::make_iec_item("6.26", val(68, s.volume.decimals), ascii(s.volume.unit)),
      legacy::make_iec_item("6.31", val(1004, 0), "h")};
  const std::string whole = legacy::encode_iec_readout(profile_.legacy.iec_identification, items);
  Reply reply;
  reply.bytes = whole.substr(iec_identification().size());
  auto decoded = legacy::decode_iec_readout(whole);
  if (decoded) {
    for (const auto& v : legacy::iec_values(*decoded)) {
      reply.values[v.name] = v.value.number ? v.value.number->to_string() : v.value.text;
    }
  }
  return reply;
}

}  // namespace kamstrup::sim
