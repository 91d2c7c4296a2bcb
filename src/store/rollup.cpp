#include "store/rollup.hpp"

#include <algorithm>

namespace kamstrup::store {

std::optional<kmp::Decimal> Bucket::mean() const {
  if (count <= 0) return std::nullopt;
  const int decimals = std::max(0, -sum.exponent) + 3;
  return sum.divided(static_cast<std::uint64_t>(count), decimals);
}

std::optional<Bucket> merge(const Bucket& a, const Bucket& b, bool cumulative) {
  Bucket m = a;
  m.last_ms = b.last_ms;
  m.count = a.count + b.count;
  if (cumulative) {
    auto c = a.consumption.plus(b.consumption);
    if (!c) return std::nullopt;
    m.consumption = *c;
    m.last = b.last;
    m.resets = a.resets + b.resets;
  } else {
    auto s = a.sum.plus(b.sum);
    if (!s) return std::nullopt;
    m.sum = *s;
    if (b.min.compare(a.min) < 0) m.min = b.min;
    if (b.max.compare(a.max) > 0) m.max = b.max;
  }
  return m;
}

std::int64_t Roller::bucket_start(Step s, std::int64_t t_ms) const {
  // Counters: buckets are (start, end], so a reading taken at midnight is the day's closing value.
  return zone_->start(s, cumulative_ ? t_ms - 1 : t_ms);
}

Roller::Fed Roller::feed(const Reading& r, const std::function<void(Step, const Bucket&)>& closed) {
  Fed fed;
  std::optional<kmp::Decimal> step;  // counters: this reading minus the previous one
  if (cumulative_ && prev_) {
    step = r.value.minus(prev_->value);
    if (!step) return fed;
    if (step->negative) {
      fed.reset = true;
      fed.before = prev_->value;
    }
  }
  // Compute every level's new state first, so that an overflow changes nothing.
  std::optional<Bucket> next[3];
  bool closes[3] = {false, false, false};
  for (int i = 0; i < 3; ++i) {
    const std::int64_t start = bucket_start(kLevels[i], r.time_ms);
    std::optional<Bucket> cur = open_[i];
    if (cur && cur->start_ms != start) {
      closes[i] = true;
      cur.reset();
    }
    Bucket b;
    if (cur) {
      b = *cur;
    } else {
      b.start_ms = start;
      if (cumulative_) {
        // The counter at the start edge: the previous reading, else this one.
        b.baseline = prev_.has_value();
        b.first = prev_ ? prev_->value : r.value;
        b.first_ms = prev_ ? prev_->time_ms : r.time_ms;
        b.consumption = kmp::Decimal{0, std::min(b.first.exponent, r.value.exponent), false};
      } else {
        b.first_ms = r.time_ms;
        b.min = b.max = r.value;
        b.sum = kmp::Decimal{0, r.value.exponent, false};
      }
    }
    if (cumulative_) {
      if (step && fed.reset) {
        ++b.resets;
      } else if (step) {
        auto c = b.consumption.plus(*step);
        if (!c) return fed;
        b.consumption = *c;
      }
      b.last = r.value;
    } else {
      auto s = b.sum.plus(r.value);
      if (!s) return fed;
      b.sum = *s;
      if (r.value.compare(b.min) < 0) b.min = r.value;
      if (r.value.compare(b.max) > 0) b.max = r.value;
    }
    b.last_ms = r.time_ms;
    ++b.count;
    next[i] = std::move(b);
  }
  for (int i = 0; i < 3; ++i) {
    if (closes[i] && closed) closed(kLevels[i], *open_[i]);
    open_[i] = std::move(next[i]);
  }
  prev_ = r;
  fed.folded = true;
  return fed;
}

}  // namespace kamstrup::store
