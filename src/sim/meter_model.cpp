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
using kmp::int128;
using kmp::uint128;
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

// ---- logger periods ----------------------------------------------------------------------------

constexpr std::int64_t kHourMs = 3'600'000;

std::int64_t ms_of(WallClock::time_point t) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count();
}

std::int64_t floor_div(std::int64_t a, std::int64_t b) {
  return a / b - ((a % b != 0 && (a < 0) != (b < 0)) ? 1 : 0);
}

// Local civil time → time point (mktime decides daylight saving time).
WallClock::time_point local_to_time(std::int64_t year, unsigned month, unsigned day, unsigned hour,
                                    unsigned minute, unsigned second) {
  std::tm tm{};
  tm.tm_year = static_cast<int>(year - 1900);
  tm.tm_mon = static_cast<int>(month) - 1;
  tm.tm_mday = static_cast<int>(day);
  tm.tm_hour = static_cast<int>(hour);
  tm.tm_min = static_cast<int>(minute);
  tm.tm_sec = static_cast<int>(second);
  tm.tm_isdst = -1;
  return WallClock::from_time_t(std::mktime(&tm));
}

// The index of the last period boundary at or before `t` (see LoggedRecord).
std::int64_t boundary_index(LogKind kind, std::chrono::milliseconds period,
                            WallClock::time_point t) {
  if (period.count() > 0) return floor_div(ms_of(t), period.count());
  if (kind == LogKind::Hourly) return floor_div(ms_of(t), kHourMs);
  const LocalTime lt = local_time(t);
  switch (kind) {
    case LogKind::Daily:
      return kmp::days_from_civil(lt.year, lt.month, lt.day);
    case LogKind::Monthly:
      return static_cast<std::int64_t>(lt.year) * 12 + lt.month - 1;
    default:
      return lt.year;
  }
}

WallClock::time_point boundary_time(LogKind kind, std::chrono::milliseconds period,
                                    std::int64_t index) {
  using std::chrono::milliseconds;
  if (period.count() > 0) return WallClock::time_point(milliseconds(index * period.count()));
  switch (kind) {
    case LogKind::Hourly:
      return WallClock::time_point(milliseconds(index * kHourMs));
    case LogKind::Daily: {
      std::int64_t y = 0;
      unsigned m = 0, d = 0;
      kmp::civil_from_days(index, y, m, d);
      return local_to_time(y, m, d, 0, 0, 0);
    }
    case LogKind::Monthly:
      return local_to_time(floor_div(index, 12),
                           static_cast<unsigned>(index - floor_div(index, 12) * 12) + 1, 1, 0, 0,
                           0);
    case LogKind::Yearly:
      return local_to_time(index, 1, 1, 0, 0, 0);
  }
  return {};
}

}  // namespace

// ---- request inspection ---------------------------------------------------------------------

RequestInfo describe_request(std::span<const std::uint8_t> wire, const Profile* profile) {
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
  if (profile != nullptr && profile->logger.enabled && frame->dst == profile->logger.dst &&
      frame->dst != kmp::kDstMeter) {
    if (kmp::is_log_cid(frame->cid)) {
      const auto order =
          profile->logger.reversed_time ? kmp::TimeOrder::Reversed : kmp::TimeOrder::FieldTable;
      auto lreq = kmp::decode_log_request(*frame, order);
      if (!lreq) {
        info.reason = "malformed logger request: " + std::string(kmp::to_string(lreq.error()));
        return info;
      }
      info.ids = lreq->registers;
      info.lid = lreq->lid;
      info.answerable = true;
      return info;
    }
    auto ereq = kmp::decode_event_status_request(*frame);
    if (ereq) {
      info.answerable = true;
    } else {
      info.reason = ereq.error() == kmp::Error::WrongCid
                        ? "CID " + hex2(frame->cid) + " not supported by the logger"
                        : "malformed request: " + std::string(kmp::to_string(ereq.error()));
    }
    return info;
  }
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
    : profile_(std::move(profile)), rng_(seed), last_(start), seed_(seed), start_(start) {
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

  for (const auto& r : regs_) start_values_.push_back(r.value);
  const LoggerSpec& ls = profile_.logger;
  if (ls.enabled) {
    for (std::uint16_t id : ls.registers) {
      for (std::size_t i = 0; i < regs_.size(); ++i) {
        if (regs_[i].spec.id == id && regs_[i].spec.supported) logged_.push_back(i);
      }
    }
    for (std::size_t k = 0; k < kLogKinds; ++k) {
      if (ls.lids[k] == 0) continue;
      Log log;
      log.kind = static_cast<LogKind>(k);
      log.lid = ls.lids[k];
      log.period = ls.period[k];
      log.capacity = std::max<std::size_t>(ls.capacity[k], 1);
      log.next_index = boundary_index(log.kind, log.period, start) + 1;
      log.next_time = boundary_time(log.kind, log.period, log.next_index);
      logs_.push_back(std::move(log));
    }
  }
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
  pin(phys_);
}

void MeterModel::pin(Physical& phys) const {
  bool power_pinned = false;
  for (const auto& r : regs_) {
    if (!r.spec.fixed) continue;
    const std::optional<std::int64_t> milli = gauge_milli(r);
    if (!milli) continue;
    switch (r.spec.behaviour) {
      case B::Temp1:
        phys.t1 = *milli;
        break;
      case B::Temp2:
        phys.t2 = *milli;
        break;
      case B::Flow:
        phys.flow = *milli;
        break;
      case B::ElPower:
        phys.el_power = *milli;
        break;
      case B::Voltage:
        if (r.spec.phase < 3) phys.volt[r.spec.phase] = *milli;
        break;
      case B::HeatPower:
        phys.heat_power = *milli;
        power_pinned = true;
        break;
      default:
        break;
    }
  }
  if (!power_pinned) {
    // P[W] = flow[l/h] × ΔT[K] × 1.16; in mW from ml/h and m°C: flow × ΔT × 116 / 10^5.
    int128 dt = std::max<std::int64_t>(phys.t1 - phys.t2, 0);
    int128 p = std::max<std::int64_t>(phys.flow, 0) * dt * 116 / 100'000;
    phys.heat_power = static_cast<std::int64_t>(std::min<int128>(p, 1'000'000'000'000'000));
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

kmp::uint128 MeterModel::rate_of(Behaviour b, const Physical& p) {
  auto nonneg = [](std::int64_t v) { return static_cast<uint128>(std::max<std::int64_t>(v, 0)); };
  switch (b) {
    case B::HeatEnergy:
      return nonneg(p.heat_power);
    case B::ElEnergy:
      return nonneg(p.el_power);
    case B::Volume:
      return nonneg(p.flow);
    case B::Hours:
      return 1;
    case B::VolumeTemp1:
      return nonneg(p.flow) * nonneg(p.t1);
    case B::VolumeTemp2:
      return nonneg(p.flow) * nonneg(p.t2);
    default:
      return 0;
  }
}

void MeterModel::integrate(std::int64_t dt_us) {
  const auto dt = static_cast<uint128>(dt_us);
  for (auto& r : regs_) {
    if (r.quantum == 0) continue;
    r.remainder += rate_of(r.spec.behaviour, phys_) * dt;
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

kmp::Decimal MeterModel::gauge_value(const Reg& r, std::int64_t milli) {
  auto scale = detail::unit_scale(r.spec.unit_code);
  int128 s = scale ? static_cast<int128>(scale->scale) : 1;
  // milli / scale units at the register's exponent; two truncations toward zero equal one.
  int128 v = rescale(milli, 0, r.value.exponent) / s;
  return signed_decimal(v, r.value.exponent);
}

// Evolves to `now`, stopping at every logger period boundary on the way to write its record.
void MeterModel::refresh(WallClock::time_point now) {
  for (;;) {
    Log* due = nullptr;
    for (auto& l : logs_) {
      if (l.next_time <= now && (due == nullptr || l.next_time < due->next_time)) due = &l;
    }
    if (due == nullptr) break;
    const WallClock::time_point t = due->next_time;
    refresh_at(t);
    for (auto& l : logs_) {
      if (l.next_time == t) snapshot(l, t);
    }
  }
  refresh_at(now);
}

void MeterModel::refresh_at(WallClock::time_point now) {
  advance(now);
  const LocalTime lt = local_time(now);
  auto set_gauge = [](Reg& r, std::int64_t milli) { r.value = gauge_value(r, milli); };
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
  RequestInfo info = describe_request(request, &profile_);
  if (!info.answerable) {
    answer.reason = info.reason;
    return answer;
  }
  refresh(now);
  const std::uint8_t cid = *info.cid;
  if (*info.dst != kmp::kDstMeter) {
    answer = handle_logger(kmp::decode_frame(request).value());
    if (!answer.reply) return answer;
  } else if (cid == kmp::kCidGetType) {
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

// ---- data logger ------------------------------------------------------------------------------

void MeterModel::snapshot(Log& log, WallClock::time_point t) {
  LoggedRecord rec;
  rec.index = log.next_index;
  rec.id = static_cast<std::uint16_t>(static_cast<std::uint64_t>(rec.index) & 0xFFFFU);
  rec.t = t;
  for (std::size_t i : logged_) {
    const Reg& r = regs_[i];
    rec.values.push_back({r.spec.id, r.spec.unit_code,
                          fit_nob(r.value, r.spec.nob, detail::is_counter(r.spec.behaviour))});
  }
  log.records.push_back(std::move(rec));
  while (log.records.size() > log.capacity) log.records.pop_front();
  // Boundaries only move forward, even across odd local-time transitions.
  do {
    ++log.next_index;
    log.next_time = boundary_time(log.kind, log.period, log.next_index);
  } while (log.next_time <= t);
}

// The past hour `hour` (hours since 1970) as the synthesized history saw it: a deterministic
// function of the seed, inside the model's usual bands, with the profile's fixed gauges pinned.
MeterModel::Physical MeterModel::past_physical(std::int64_t hour) const {
  std::mt19937_64 g(seed_ ^ (static_cast<std::uint64_t>(hour) * 0x9E3779B97F4A7C15ULL));
  auto in = [&g](std::int64_t lo, std::int64_t hi) {
    return std::uniform_int_distribution<std::int64_t>(lo, hi)(g);
  };
  Physical p;
  p.t1 = in(64'000, 76'000);
  p.t2 = in(34'000, 42'000);
  p.flow = in(150'000, 350'000);
  p.el_power = in(500'000, 3'000'000);
  pin(p);
  return p;
}

// Records for every logger boundary at or before the start, each log back to its capacity or to
// the moment a logged counter would have been below zero (the meter's "installation"), whichever
// comes first. Counters run backwards from their start values by the exact integral of the past
// hours' rates, so each record is consistent with the next and with the live model.
void MeterModel::synthesize_past() {
  past_done_ = true;
  struct Target {
    WallClock::time_point t;
    std::size_t log;
    std::int64_t index;
  };
  std::vector<Target> targets;
  for (std::size_t li = 0; li < logs_.size(); ++li) {
    const Log& l = logs_[li];
    const std::int64_t newest = boundary_index(l.kind, l.period, start_);
    const std::size_t room = l.capacity - std::min(l.capacity, l.records.size());
    for (std::size_t k = 0; k < room; ++k) {
      const std::int64_t index = newest - static_cast<std::int64_t>(k);
      targets.push_back({boundary_time(l.kind, l.period, index), li, index});
    }
  }
  std::sort(targets.begin(), targets.end(),
            [](const Target& a, const Target& b) { return a.t > b.t; });

  constexpr std::int64_t kHourUs = 3'600'000'000;
  auto us_of = [](WallClock::time_point t) {
    return std::chrono::duration_cast<std::chrono::microseconds>(t.time_since_epoch()).count();
  };
  std::vector<uint128> used(regs_.size(), 0);  // base units consumed between t and the start
  std::int64_t cur = us_of(start_);
  std::vector<std::vector<LoggedRecord>> past(logs_.size());
  for (const Target& target : targets) {
    const std::int64_t t_us = us_of(target.t);
    while (cur > t_us) {
      const std::int64_t hour = floor_div(cur - 1, kHourUs);
      const std::int64_t from = std::max(t_us, hour * kHourUs);
      const Physical p = past_physical(hour);
      for (std::size_t i = 0; i < regs_.size(); ++i) {
        if (regs_[i].quantum != 0) {
          used[i] += rate_of(regs_[i].spec.behaviour, p) * static_cast<uint128>(cur - from);
        }
      }
      cur = from;
    }
    const Physical p = past_physical(floor_div(t_us, kHourUs));
    const LocalTime lt = local_time(target.t);
    LoggedRecord rec;
    rec.index = target.index;
    rec.id = static_cast<std::uint16_t>(static_cast<std::uint64_t>(target.index) & 0xFFFFU);
    rec.t = target.t;
    bool before_installation = false;
    for (std::size_t i : logged_) {
      const Reg& r = regs_[i];
      kmp::Decimal v = start_values_[i];
      if (!r.spec.fixed) {
        switch (r.spec.behaviour) {
          case B::Clock:
            v = kmp::Decimal{lt.hour * 10000U + lt.minute * 100U + lt.second, 0, false};
            break;
          case B::Date:
            v = kmp::Decimal{date_digits(r.spec.unit_code, lt.year, lt.month, lt.day), 0, false};
            break;
          case B::Temp1:
            v = gauge_value(r, p.t1);
            break;
          case B::Temp2:
            v = gauge_value(r, p.t2);
            break;
          case B::TempDiff:
            v = gauge_value(r, p.t1 - p.t2);
            break;
          case B::Flow:
            v = gauge_value(r, p.flow);
            break;
          case B::HeatPower:
            v = gauge_value(r, p.heat_power);
            break;
          case B::ElPower:
            v = gauge_value(r, p.el_power);
            break;
          default:
            if (r.quantum != 0) {
              const uint128 base = start_values_[i].mantissa * r.quantum;
              if (used[i] > base) {
                before_installation = true;
              } else {
                v.mantissa = (base - used[i]) / r.quantum;
              }
            }
            break;
        }
      }
      rec.values.push_back({r.spec.id, r.spec.unit_code,
                            fit_nob(v, r.spec.nob, detail::is_counter(r.spec.behaviour))});
    }
    if (before_installation) break;  // every later target is older still
    past[target.log].push_back(std::move(rec));
  }
  for (std::size_t li = 0; li < logs_.size(); ++li) {
    Log& l = logs_[li];
    for (auto& rec : past[li]) l.records.push_front(std::move(rec));  // newest first → prepend
    while (l.records.size() > l.capacity) l.records.pop_front();
  }
}

std::vector<LoggedRecord> MeterModel::log_records(LogKind kind, WallClock::time_point now) {
  refresh(now);
  if (!past_done_) synthesize_past();
  for (const auto& l : logs_) {
    if (l.kind == kind) return {l.records.begin(), l.records.end()};
  }
  return {};
}

Answer MeterModel::handle_logger(const kmp::Frame& frame) {
  if (!past_done_) synthesize_past();
  Answer answer;
  const std::uint8_t dst = profile_.logger.dst;
  Log* hourly = nullptr;
  for (auto& l : logs_) {
    if (l.kind == LogKind::Hourly) hourly = &l;
  }
  auto unread = [](const Log* l) {
    return l != nullptr && !l->records.empty() &&
           (!l->last_read || *l->last_read < l->records.back().index);
  };

  if (!kmp::is_log_cid(frame.cid)) {
    auto req = kmp::decode_event_status_request(frame).value();
    if (req && (req->unconditional[1] & 1U) != 0 && hourly != nullptr && !hourly->records.empty()) {
      hourly->last_read = hourly->records.back().index;
    }
    kmp::EventStatus es{0, static_cast<std::uint8_t>(unread(hourly) ? 1 : 0), 0, 0};
    answer.reply = kmp::encode_event_status_response(frame.cid, es, dst);
    return answer;
  }

  const auto order =
      profile_.logger.reversed_time ? kmp::TimeOrder::Reversed : kmp::TimeOrder::FieldTable;
  const kmp::LogRequest req = kmp::decode_log_request(frame, order).value();
  Log* log = nullptr;
  for (auto& l : logs_) {
    if (l.lid == req.lid) log = &l;
  }
  if (log == nullptr) {
    answer.reason = "no logger with LID " + std::to_string(req.lid);
    return answer;
  }
  auto& recs = log->records;
  const auto id16 = [](std::int64_t index) {
    return static_cast<std::uint16_t>(static_cast<std::uint64_t>(index) & 0xFFFFU);
  };

  // Columns: the requested registers this log has, in request order, each once.
  std::vector<std::size_t> cols;  // positions in logged_ / record values
  for (std::uint16_t id : req.registers) {
    for (std::size_t c = 0; c < logged_.size(); ++c) {
      if (regs_[logged_[c]].spec.id == id && std::find(cols.begin(), cols.end(), c) == cols.end()) {
        cols.push_back(c);
      }
    }
  }

  kmp::LogReply reply;
  reply.cid = frame.cid;
  reply.lid = log->lid;
  auto finish = [&](std::uint8_t info) {
    reply.info = info;
    reply.last_read_id = log->last_read ? id16(*log->last_read) : 0;
    reply.newest_id = recs.empty() ? 0 : recs.back().id;
    if (reply.records.empty()) {
      reply.register_count = 0;
      reply.columns.clear();
    }
    answer.log_info = info;
    answer.reply = kmp::encode_log_response(reply, dst).value();
    return answer;
  };
  if (recs.empty()) return finish(kmp::kLogInfoEmpty);

  auto to_time = [](const kmp::LogTime& t) {
    return local_to_time(2000 + t.year, t.month, t.day, t.hour, t.minute, t.second);
  };
  const auto n = static_cast<std::int64_t>(recs.size());
  std::int64_t pos = -1;
  int dir = 1;
  switch (req.command) {
    case kmp::LogCommand::TimePresent: {
      if (!req.time.valid()) return finish(kmp::kLogInfoOutOfRange);
      const auto t = to_time(req.time);
      for (std::int64_t i = 0; i < n && pos < 0; ++i) {
        if (recs[static_cast<std::size_t>(i)].t >= t) pos = i;
      }
      break;
    }
    case kmp::LogCommand::LastPresent:
      pos = 0;
      if (log->last_read) {
        pos = -1;
        for (std::int64_t i = 0; i < n && pos < 0; ++i) {
          if (recs[static_cast<std::size_t>(i)].index > *log->last_read) pos = i;
        }
        if (pos < 0) return finish(kmp::kLogInfoEndOfLog);
      }
      break;
    case kmp::LogCommand::IdPresent:
      for (std::int64_t i = 0; i < n && pos < 0; ++i) {
        if (recs[static_cast<std::size_t>(i)].id == req.record_id) pos = i;
      }
      break;
    case kmp::LogCommand::TimePast: {
      dir = -1;
      if (!req.time.valid()) return finish(kmp::kLogInfoOutOfRange);
      const auto t = to_time(req.time);
      std::int64_t found = -1;
      for (std::int64_t i = 0; i < n; ++i) {
        if (recs[static_cast<std::size_t>(i)].t <= t) found = i;
      }
      if (found >= 0) pos = found - req.record_id;
      break;
    }
  }
  if (pos < 0 || pos >= n || req.records == 0) return finish(kmp::kLogInfoOutOfRange);

  const std::int64_t available = dir > 0 ? n - pos : pos + 1;
  std::size_t count = static_cast<std::size_t>(std::min<std::int64_t>(available, req.records));
  std::uint8_t info = 0;
  // Formats come from the first record sent.
  const LoggedRecord& first = recs[static_cast<std::size_t>(pos)];
  for (std::size_t c : cols) {
    const SentValue& v = first.values[c];
    const Reg& r = regs_[logged_[c]];
    auto enc = kmp::encode_value(v.value, r.spec.nob);
    reply.columns.push_back({v.id, v.unit_code, r.spec.nob, enc ? enc->siex : std::uint8_t{0}});
  }
  reply.register_count = static_cast<std::uint8_t>(reply.columns.size());
  while (count > 0 && kmp::log_response_length(reply.columns, count) > req.max_length) {
    --count;
    info |= kmp::kLogInfoMaxLength;
  }
  if (count == 0) return finish(info);
  for (std::size_t k = 0; k < count; ++k) {
    const auto at = static_cast<std::size_t>(pos + dir * static_cast<std::int64_t>(k));
    const LoggedRecord& rec = recs[at];
    kmp::LogRecordData data;
    data.record_id = rec.id;
    LoggedRecord sent{rec.index, rec.id, rec.t, {}};
    for (std::size_t c : cols) {
      auto enc = kmp::encode_value(rec.values[c].value, regs_[logged_[c]].spec.nob);
      data.values.push_back(enc ? enc->mantissa
                                : std::vector<std::uint8_t>(regs_[logged_[c]].spec.nob));
      sent.values.push_back(rec.values[c]);
    }
    reply.records.push_back(std::move(data));
    answer.records.push_back(std::move(sent));
    log->last_read = rec.index;
  }
  const std::int64_t last = pos + dir * static_cast<std::int64_t>(count - 1);
  if ((dir > 0 && last == n - 1) || (dir < 0 && last == 0)) info |= kmp::kLogInfoEndOfLog;
  return finish(info);
}

}  // namespace kamstrup::sim
