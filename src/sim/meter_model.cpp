#include "sim/meter_model.hpp"

#include <algorithm>
#include <ctime>
#include <variant>

#include "kmp/messages.hpp"
#include "kmp/units.hpp"
#include "sim/quantity.hpp"

namespace kamstrup::sim {

namespace {

using detail::Quantity;
using kmp::uint128;
__extension__ using int128 = __int128;
using B = Behaviour;

constexpr std::int64_t kTickUs = 1'000'000;
// Beyond this many random-walk steps in one advance (an hour of silence), the rest of the gap is
// integrated at the last state: cheap for a fleet polled rarely, and still exact.
constexpr int kMaxWalksPerAdvance = 3600;

std::string hex2(unsigned v) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  return std::string("0x") + kHex[(v >> 4U) & 0xFU] + kHex[v & 0xFU];
}

struct LocalTime {
  unsigned year, month, day, hour, minute, second;
};

LocalTime local_time(WallClock::time_point t) {
  std::time_t tt = WallClock::to_time_t(t);
  std::tm tm{};
  localtime_r(&tt, &tm);
  return {static_cast<unsigned>(tm.tm_year + 1900), static_cast<unsigned>(tm.tm_mon + 1),
          static_cast<unsigned>(tm.tm_mday),        static_cast<unsigned>(tm.tm_hour),
          static_cast<unsigned>(tm.tm_min),         static_cast<unsigned>(tm.tm_sec)};
}

// Decimal-digit date in the register's unit format (48 YYMMDD, 49 YYYYMMDD, 50 MMDD).
unsigned date_digits(std::uint8_t unit, unsigned year, unsigned month, unsigned day) {
  switch (unit) {
    case 49:
      return year * 10000 + month * 100 + day;
    case 50:
      return month * 100 + day;
    default:
      return (year % 100) * 10000 + month * 100 + day;
  }
}

unsigned period_key(const LocalTime& lt, bool monthly) {
  return monthly ? (lt.year % 100) * 100 + lt.month : lt.year % 100;
}

kmp::Decimal signed_decimal(int128 v, int exponent) {
  kmp::Decimal d;
  d.negative = v < 0;
  d.mantissa = static_cast<uint128>(v < 0 ? -v : v);
  d.exponent = exponent;
  return d;
}

int128 signed_mantissa(const kmp::Decimal& d) {
  auto m = static_cast<int128>(d.mantissa);
  return d.negative ? -m : m;
}

// `value` (mantissa at `from` exponent) at exponent `to`, truncated toward zero.
int128 rescale(int128 value, int from, int to) {
  if (to <= from) return value * static_cast<int128>(detail::pow10(from - to));
  return value / static_cast<int128>(detail::pow10(to - from));
}

// The value a register sends: counters wrap at NoB bytes (as a real register rolls over),
// gauges saturate.
kmp::Decimal fit_nob(kmp::Decimal d, std::size_t nob, bool wrap) {
  if (nob >= kmp::kMaxMantissaBytes) return d;
  uint128 limit = uint128{1} << (8 * nob);
  if (d.mantissa >= limit) d.mantissa = wrap ? d.mantissa % limit : limit - 1;
  return d;
}

}  // namespace

// ---- request inspection ---------------------------------------------------------------------

RequestInfo describe_request(std::span<const std::uint8_t> wire) {
  RequestInfo info;
  auto frame = kmp::decode_frame(wire);
  if (!frame) {
    info.reason = "bad frame: " + std::string(kmp::to_string(frame.error()));
    return info;
  }
  if (frame->is_ack || frame->direction != kmp::Direction::ToMeter) {
    info.reason = "not a request";
    return info;
  }
  info.dst = frame->dst;
  info.cid = frame->cid;
  auto req = kmp::decode_request(*frame);
  if (req) {
    if (const auto* g = std::get_if<kmp::GetRegisterRequest>(&*req)) info.ids = g->ids;
  }
  if (frame->dst != kmp::kDstMeter) {
    info.reason = "addressed to " + hex2(frame->dst) + ", not to the meter (0x3F)";
    return info;
  }
  if (!req) {
    info.reason = req.error() == kmp::Error::WrongCid
                      ? "CID " + hex2(frame->cid) + " not supported"
                      : "malformed request: " + std::string(kmp::to_string(req.error()));
    return info;
  }
  if (std::holds_alternative<kmp::SetClockRequest>(*req) ||
      std::holds_alternative<kmp::PutRegisterRequest>(*req)) {
    info.reason = "CID " + hex2(frame->cid) + " not supported";
    return info;
  }
  info.answerable = true;
  return info;
}

// ---- model ----------------------------------------------------------------------------------

MeterModel::MeterModel(Profile profile, std::uint64_t seed, WallClock::time_point start)
    : profile_(std::move(profile)), rng_(seed), last_(start) {
  validate_profile(profile_);
  const LocalTime lt = local_time(start);
  for (const auto& spec : profile_.registers) {
    Reg r;
    r.spec = spec;
    r.value = spec.value;
    if (detail::is_counter(spec.behaviour) && !spec.fixed) {
      r.quantum = *detail::counter_quantum(spec.unit_code, spec.value.exponent);
    }
    r.period = period_key(lt, spec.monthly);
    regs_.push_back(r);
  }
  // Dates of extremes start at the first day of their period unless the profile names one.
  for (auto& r : regs_) {
    if (r.spec.behaviour != B::ExtremeDate || r.spec.fixed || r.value.mantissa != 0) continue;
    const RegisterSpec* of = profile_.find(r.spec.ref);
    bool monthly = of != nullptr && of->monthly;
    r.value =
        kmp::Decimal{date_digits(r.spec.unit_code, lt.year, monthly ? lt.month : 1, 1), 0, false};
  }
  // The physical state starts at the profile's gauge values.
  auto milli_of = [this](Behaviour b, std::int64_t& out) {
    if (Reg* r = first(b)) out = gauge_milli(*r).value_or(out);
  };
  milli_of(B::Temp1, phys_.t1);
  milli_of(B::Temp2, phys_.t2);
  milli_of(B::Flow, phys_.flow);
  milli_of(B::ElPower, phys_.el_power);
  for (const auto& r : regs_) {
    if (r.spec.behaviour == B::Voltage && r.spec.phase < 3) {
      phys_.volt[r.spec.phase] = gauge_milli(r).value_or(phys_.volt[r.spec.phase]);
    }
  }
  pin();
}

MeterModel::Reg* MeterModel::first(Behaviour b) {
  for (auto& r : regs_) {
    if (r.spec.behaviour == b) return &r;
  }
  return nullptr;
}

// The register's current value in milli-base units (m°C, ml/h, mW, mV, mA); nullopt when its
// unit does not measure its quantity (a fixed register with an odd unit pins nothing).
std::optional<std::int64_t> MeterModel::gauge_milli(const Reg& r) {
  auto scale = detail::unit_scale(r.spec.unit_code);
  if (!scale || scale->quantity != detail::quantity_of(r.spec.behaviour)) return std::nullopt;
  int128 v =
      rescale(signed_mantissa(r.value) * static_cast<int128>(scale->scale), r.value.exponent, 0);
  return static_cast<std::int64_t>(v);
}

// Fixed gauges hold the physical quantity, so everything derived from it stays consistent.
void MeterModel::pin() {
  bool power_pinned = false;
  for (const auto& r : regs_) {
    if (!r.spec.fixed) continue;
    const std::optional<std::int64_t> milli = gauge_milli(r);
    if (!milli) continue;
    switch (r.spec.behaviour) {
      case B::Temp1:
        phys_.t1 = *milli;
        break;
      case B::Temp2:
        phys_.t2 = *milli;
        break;
      case B::Flow:
        phys_.flow = *milli;
        break;
      case B::ElPower:
        phys_.el_power = *milli;
        break;
      case B::Voltage:
        if (r.spec.phase < 3) phys_.volt[r.spec.phase] = *milli;
        break;
      case B::HeatPower:
        phys_.heat_power = *milli;
        power_pinned = true;
        break;
      default:
        break;
    }
  }
  if (!power_pinned) {
    // P[W] = flow[l/h] × ΔT[K] × 1.16; in mW from ml/h and m°C: flow × ΔT × 116 / 10^5.
    int128 dt = std::max<std::int64_t>(phys_.t1 - phys_.t2, 0);
    int128 p = std::max<std::int64_t>(phys_.flow, 0) * dt * 116 / 100'000;
    phys_.heat_power = static_cast<std::int64_t>(std::min<int128>(p, 1'000'000'000'000'000));
  }
}

void MeterModel::walk() {
  auto step = [this](std::int64_t x, std::int64_t lo, std::int64_t hi, std::int64_t center,
                     std::int64_t size) {
    std::uniform_int_distribution<std::int64_t> d(-size, size);
    std::int64_t next = x + d(rng_) + (center - x) / 256;
    // A value outside the band (set by a profile) drifts back instead of jumping.
    if (x >= lo && x <= hi) next = std::clamp(next, lo, hi);
    return next;
  };
  phys_.t1 = step(phys_.t1, 60'000, 80'000, 70'000, 40);
  phys_.t2 = step(phys_.t2, 30'000, 45'000, 38'000, 40);
  phys_.flow = step(phys_.flow, 80'000, 400'000, 250'000, 3'000);
  phys_.el_power = step(phys_.el_power, 200'000, 6'000'000, 1'500'000, 30'000);
  for (auto& v : phys_.volt) v = step(v, 225'000, 240'000, 231'000, 200);
  pin();
}

void MeterModel::integrate(std::int64_t dt_us) {
  auto nonneg = [](std::int64_t v) { return static_cast<uint128>(std::max<std::int64_t>(v, 0)); };
  const auto dt = static_cast<uint128>(dt_us);
  for (auto& r : regs_) {
    if (r.quantum == 0) continue;
    uint128 rate = 0;
    switch (r.spec.behaviour) {
      case B::HeatEnergy:
        rate = nonneg(phys_.heat_power);
        break;
      case B::ElEnergy:
        rate = nonneg(phys_.el_power);
        break;
      case B::Volume:
        rate = nonneg(phys_.flow);
        break;
      case B::Hours:
        rate = 1;
        break;
      case B::VolumeTemp1:
        rate = nonneg(phys_.flow) * nonneg(phys_.t1);
        break;
      case B::VolumeTemp2:
        rate = nonneg(phys_.flow) * nonneg(phys_.t2);
        break;
      default:
        continue;
    }
    r.remainder += rate * dt;
    r.value.mantissa += r.remainder / r.quantum;
    r.remainder %= r.quantum;
  }
}

void MeterModel::advance(WallClock::time_point now) {
  if (now <= last_) return;
  auto total = std::chrono::duration_cast<std::chrono::microseconds>(now - last_);
  last_ += total;  // keeps sub-microsecond remainders for the next call
  std::int64_t left = total.count();
  int walks = 0;
  while (left > 0) {
    if (walks >= kMaxWalksPerAdvance) {
      integrate(left);
      since_walk_us_ = (since_walk_us_ + left) % kTickUs;
      break;
    }
    std::int64_t chunk = std::min(left, kTickUs - since_walk_us_);
    integrate(chunk);
    since_walk_us_ += chunk;
    left -= chunk;
    if (since_walk_us_ == kTickUs) {
      since_walk_us_ = 0;
      walk();
      ++walks;
    }
  }
}

void MeterModel::refresh(WallClock::time_point now) {
  advance(now);
  const LocalTime lt = local_time(now);
  auto set_gauge = [](Reg& r, std::int64_t milli) {
    auto scale = detail::unit_scale(r.spec.unit_code);
    int128 s = scale ? static_cast<int128>(scale->scale) : 1;
    // milli / scale units at the register's exponent; two truncations toward zero equal one.
    int128 v = rescale(milli, 0, r.value.exponent) / s;
    r.value = signed_decimal(v, r.value.exponent);
  };
  auto current_a = [&](Reg& r) {
    std::int64_t v = r.spec.phase < 3 ? phys_.volt[r.spec.phase] : 231'000;
    return v <= 0 ? 0 : phys_.el_power * 1000 / 3 / v;
  };

  for (auto& r : regs_) {
    if (r.spec.fixed) continue;
    switch (r.spec.behaviour) {
      case B::Serial:
        r.value = kmp::Decimal{profile_.serial, 0, false};
        break;
      case B::Clock:
        r.value = kmp::Decimal{lt.hour * 10000U + lt.minute * 100U + lt.second, 0, false};
        break;
      case B::Date:
        r.value = kmp::Decimal{date_digits(r.spec.unit_code, lt.year, lt.month, lt.day), 0, false};
        break;
      case B::Temp1:
        set_gauge(r, phys_.t1);
        break;
      case B::Temp2:
        set_gauge(r, phys_.t2);
        break;
      case B::Flow:
        set_gauge(r, phys_.flow);
        break;
      case B::HeatPower:
        set_gauge(r, phys_.heat_power);
        break;
      case B::ElPower:
        set_gauge(r, phys_.el_power);
        break;
      case B::Voltage:
        set_gauge(r, r.spec.phase < 3 ? phys_.volt[r.spec.phase] : 0);
        break;
      case B::Current:
        set_gauge(r, current_a(r));
        break;
      default:
        break;
    }
  }

  // ΔT is the difference of the temperatures as sent, so a reader can check it exactly.
  if (Reg* diff = first(B::TempDiff); diff != nullptr && !diff->spec.fixed) {
    auto temp = [&](Behaviour b, std::int64_t milli) -> std::pair<int128, int> {
      if (Reg* t = first(b)) return {signed_mantissa(t->value), t->value.exponent};
      return {milli, -3};
    };
    auto [a, ea] = temp(B::Temp1, phys_.t1);
    auto [b, eb] = temp(B::Temp2, phys_.t2);
    int e = std::min(ea, eb);
    int128 d = rescale(a, ea, e) - rescale(b, eb, e);
    diff->value = signed_decimal(rescale(d, e, diff->value.exponent), diff->value.exponent);
  }

  for (auto& r : regs_) {
    if (r.spec.fixed) continue;
    bool is_max = r.spec.behaviour == B::MaxFlow || r.spec.behaviour == B::MaxPower;
    bool is_min = r.spec.behaviour == B::MinFlow || r.spec.behaviour == B::MinPower;
    if (!is_max && !is_min) continue;
    Reg probe = r;
    set_gauge(probe, r.spec.behaviour == B::MaxFlow || r.spec.behaviour == B::MinFlow
                         ? phys_.flow
                         : phys_.heat_power);
    int128 now_v = signed_mantissa(probe.value);
    int128 old_v = signed_mantissa(r.value);
    unsigned period = period_key(lt, r.spec.monthly);
    if (period != r.period || (is_max && now_v > old_v) || (is_min && now_v < old_v)) {
      r.period = period;
      r.value = probe.value;
      for (auto& date : regs_) {
        if (date.spec.behaviour == B::ExtremeDate && date.spec.ref == r.spec.id &&
            !date.spec.fixed) {
          date.value =
              kmp::Decimal{date_digits(date.spec.unit_code, lt.year, lt.month, lt.day), 0, false};
        }
      }
    }
  }
}

std::optional<kmp::Decimal> MeterModel::value(std::uint16_t id, WallClock::time_point now) {
  refresh(now);
  for (const auto& r : regs_) {
    if (r.spec.id == id && r.spec.supported) {
      return fit_nob(r.value, r.spec.nob, detail::is_counter(r.spec.behaviour));
    }
  }
  return std::nullopt;
}

Answer MeterModel::handle(std::span<const std::uint8_t> request, WallClock::time_point now) {
  Answer answer;
  RequestInfo info = describe_request(request);
  if (!info.answerable) {
    answer.reason = info.reason;
    return answer;
  }
  refresh(now);
  const std::uint8_t cid = *info.cid;
  if (cid == kmp::kCidGetType) {
    answer.reply = kmp::encode_type_response(profile_.meter_type, profile_.sw_revision);
  } else if (cid == kmp::kCidGetSerialNo) {
    answer.reply = kmp::encode_serial_response(profile_.serial);
  } else {
    std::vector<kmp::OutgoingRegister> out;
    for (std::uint16_t id : info.ids) {
      auto it = std::find_if(regs_.begin(), regs_.end(),
                             [id](const Reg& r) { return r.spec.id == id && r.spec.supported; });
      if (it == regs_.end()) continue;
      kmp::Decimal v = fit_nob(it->value, it->spec.nob, detail::is_counter(it->spec.behaviour));
      auto enc = kmp::encode_value(v, it->spec.nob);
      if (!enc) continue;  // validate_profile rules this out; never send a wrong value
      out.push_back({id, it->spec.unit_code, enc->siex, std::move(enc->mantissa)});
      answer.values.push_back({id, it->spec.unit_code, v});
    }
    answer.reply = kmp::encode_register_response(out);
  }
  std::lock_guard lock(history_mutex_);
  history_.push_back({now, cid, answer.values});
  if (history_.size() > kHistory) history_.pop_front();
  return answer;
}

std::vector<SentReply> MeterModel::history() const {
  std::lock_guard lock(history_mutex_);
  return {history_.begin(), history_.end()};
}

std::optional<kmp::Decimal> MeterModel::sent_value(std::uint16_t id,
                                                   WallClock::time_point t) const {
  std::lock_guard lock(history_mutex_);
  for (auto it = history_.rbegin(); it != history_.rend(); ++it) {
    if (it->t != t) continue;
    for (const auto& v : it->values) {
      if (v.id == id) return v.value;
    }
  }
  return std::nullopt;
}

}  // namespace kamstrup::sim
