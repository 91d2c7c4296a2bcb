// Rollups of one series (one meter's register in one unit) into local hours, days and months,
// maintained from readings fed in time order. Pure: no SQLite, no clock (docs/history.md
// defines every number here).
//
// Gauges (temperatures, flow, power, ...): min, max, exact sum and count of the readings with
// start <= time < end. Cumulative registers (the catalogue's total_increasing: energy, volume,
// hour counter): the counter at the bucket's start edge (`first`: the latest reading at or before
// the start), at its end edge (`last`: the latest reading at or before the end) and the exact
// consumption between them. A reading at exactly an edge closes the bucket that ends there: each
// step from one reading to the next is counted in the bucket of the later reading, so a gap's
// whole consumption lands in the bucket where the counter is next read (attributed, not spread).
// A step down (meter replaced or reset) counts nothing and is counted in `resets`: consumption is
// never negative.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>

#include "kmp/decimal.hpp"
#include "store/zone.hpp"

namespace kamstrup::store {

struct Bucket {
  std::int64_t start_ms = 0;
  std::int64_t first_ms = 0;   // gauge: first reading; counter: the `first` reading (baseline)
  std::int64_t last_ms = 0;    // the last reading in the bucket
  std::int64_t count = 0;      // readings in the bucket
  kmp::Decimal min, max, sum;  // gauges
  kmp::Decimal first, last, consumption;  // counters
  std::int64_t resets = 0;                // counters: steps down inside the bucket
  bool baseline = false;  // counters: `first` is a reading before the bucket (else its own first)

  // Mean rounded half-even to 3 more fraction digits than the readings have; nullopt without
  // readings or on overflow.
  [[nodiscard]] std::optional<kmp::Decimal> mean() const;
};

// The bucket covering both (earlier, then later; consecutive sub-buckets of one series):
// a day from its hours, a month from its days. Exact; nullopt on overflow.
std::optional<Bucket> merge(const Bucket& earlier, const Bucket& later, bool cumulative);

// The rollup levels kept in the store.
constexpr Step kLevels[] = {Step::Hour, Step::Day, Step::Month};

struct Reading {
  std::int64_t time_ms = 0;
  kmp::Decimal value;
};

class Roller {
 public:
  Roller(const Zone& zone, bool cumulative) : zone_(&zone), cumulative_(cumulative) {}

  // The bucket a reading at t belongs to (a counter reading at an edge closes the earlier one).
  [[nodiscard]] std::int64_t bucket_start(Step s, std::int64_t t_ms) const;

  // Resuming from the store: a level's open (latest) bucket, and the last reading fed.
  void resume(Step s, std::optional<Bucket> open) { open_[static_cast<int>(s)] = std::move(open); }
  void set_previous(std::optional<Reading> r) { prev_ = std::move(r); }

  struct Fed {
    bool folded = false;  // false: arithmetic overflow, the reading is not in any bucket
    bool reset = false;   // a counter step down
    kmp::Decimal before;  // the counter before the step down
  };
  // Feeds a reading not older than the previous one. `closed` gets each bucket that this reading
  // ends (the reading lies in a later bucket of that level).
  Fed feed(const Reading& r, const std::function<void(Step, const Bucket&)>& closed);

  [[nodiscard]] const std::optional<Bucket>& open(Step s) const {
    return open_[static_cast<int>(s)];
  }
  [[nodiscard]] const std::optional<Reading>& previous() const { return prev_; }
  [[nodiscard]] bool cumulative() const { return cumulative_; }

 private:
  const Zone* zone_;
  bool cumulative_;
  std::optional<Bucket> open_[3];
  std::optional<Reading> prev_;
};

}  // namespace kamstrup::store
