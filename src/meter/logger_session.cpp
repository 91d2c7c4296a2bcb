#include "meter/logger_session.hpp"

#include <algorithm>
#include <array>
#include <chrono>
#include <ctime>

#include "kmp/catalogue.hpp"

namespace kamstrup::meter {

namespace {

constexpr std::uint16_t kDateRegister = 1003;
constexpr std::uint16_t kClockRegister = 1002;
constexpr std::int64_t kMinute = 60'000;
constexpr std::int64_t kHour = 60 * kMinute;
constexpr std::int64_t kDay = 24 * kHour;
// Far more than any logger holds: a read never loops forever on a misbehaving meter.
constexpr std::size_t kMaxRequests = 70'000;

std::int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string lid_list(const LoggerDirectory& dir) {
  std::string s;
  for (const auto& l : dir.loggers) {
    s += (s.empty() ? "" : ", ") + std::to_string(l.lid);
    if (l.kind) s += " (" + std::string(logger_kind_name(*l.kind)) + ")";
  }
  return s.empty() ? "none" : s;
}

std::string time_text(std::int64_t ms) {
  const std::time_t t = static_cast<std::time_t>(ms / 1000);
  std::tm tm{};
  localtime_r(&t, &tm);
  std::array<char, 32> buf{};
  std::strftime(buf.data(), buf.size(), "%Y-%m-%d %H:%M:%S", &tm);
  return buf.data();
}

// An unsigned integer register value (dates and clocks), if there is one.
std::optional<std::uint32_t> digits_of(const kmp::LogReply& r, std::size_t rec,
                                       std::optional<std::size_t> col) {
  if (!col) return std::nullopt;
  auto v = r.value(rec, *col);
  if (!v.ok() || !v->number || v->number->negative || v->number->exponent != 0 ||
      v->number->mantissa > 99'999'999) {
    return std::nullopt;
  }
  return static_cast<std::uint32_t>(v->number->mantissa);
}

// The request registers: date and clock first (for record times), then the user's.
std::vector<std::uint16_t> with_time_registers(const std::vector<std::uint16_t>& regs) {
  std::vector<std::uint16_t> out = {kDateRegister, kClockRegister};
  for (std::uint16_t id : regs) {
    if (std::find(out.begin(), out.end(), id) == out.end()) out.push_back(id);
  }
  return out;
}

// Records per request that keep the reply within MaxL, for known (or assumed 4-byte) formats.
std::uint8_t records_per_request(const std::vector<kmp::LogColumn>& columns,
                                 std::uint8_t max_length) {
  std::size_t m = 1;
  while (m < 255 && kmp::log_response_length(columns, m + 1) <= max_length) ++m;
  return static_cast<std::uint8_t>(m);
}

class Reader {
 public:
  Reader(MeterSession& session, const LogReadOptions& options) : session_(session), opts_(options) {
    result_.directory.dst = opts_.dst;
  }

  asio::awaitable<LogReadResult> discover() {
    co_await find_loggers();
    co_return std::move(result_);
  }

  asio::awaitable<LogReadResult> read() {
    std::vector<std::uint16_t> user =
        opts_.registers.empty() ? default_log_registers() : opts_.registers;
    user_ = user;
    regs_ = with_time_registers(user);
    if (regs_.size() > kmp::kMaxLogRegisters) {
      co_return fail(LogStatus::Usage,
                     "at most 6 registers per logger read (the date and clock "
                     "registers take 2 of the 8 a request may name)");
    }
    if (opts_.from_ms && opts_.to_ms && *opts_.from_ms >= *opts_.to_ms) {
      co_return fail(LogStatus::Usage, "--from must be before --to");
    }
    if (opts_.lid) {
      result_.directory.loggers.push_back(
          LoggerInfo{*opts_.lid, opts_.kind, {}, false, false, {}, {}});
    } else if (opts_.directory) {
      result_.directory = *opts_.directory;
    } else {
      co_await find_loggers();
      if (result_.status != LogStatus::Ok) co_return std::move(result_);
    }
    const LoggerInfo* info = result_.directory.find(opts_.kind);
    const std::string kind(logger_kind_name(opts_.kind));
    if (info == nullptr) {
      co_return fail(LogStatus::NoSuchLogger, "the meter has no " + kind +
                                                  " logger (loggers found at LID " +
                                                  lid_list(result_.directory) + ")");
    }
    lid_ = info->lid;
    result_.lid = lid_;
    if (info->empty) co_return fail(LogStatus::Empty, "the " + kind + " logger is empty");
    if (opts_.last) {
      co_await read_last();
    } else {
      co_await read_range();
    }
    co_return std::move(result_);
  }

 private:
  LogReadResult fail(LogStatus status, std::string message, Failure f = Failure::None) {
    result_.status = status;
    result_.error = std::move(message);
    result_.failure = f;
    return std::move(result_);
  }
  void set_failure(LogStatus status, std::string message, Failure f = Failure::None) {
    result_.status = status;
    result_.error = std::move(message);
    result_.failure = f;
  }

  // One logger request with `retries` (nullopt: the session's); nullopt on no valid reply.
  asio::awaitable<std::optional<kmp::LogReply>> ask(const kmp::LogRequest& req,
                                                    std::optional<unsigned> retries,
                                                    Failure& failure) {
    auto wire = kmp::encode_log_request(req, opts_.order, opts_.dst);
    const auto cid = static_cast<std::uint8_t>(req.command);
    const std::uint8_t lid = req.lid;
    ++result_.requests;
    auto ex = co_await session_.exchange(
        wire.value(), opts_.dst,
        [cid, lid](const kmp::Frame& f) {
          auto r = kmp::decode_log_response(f, cid);
          return r.ok() && (!r->lid || *r->lid == lid);
        },
        retries);
    failure = ex.failure;
    if (!ex.reply) co_return std::nullopt;
    co_return kmp::decode_log_response(*ex.reply, cid).value();
  }

  kmp::LogRequest newest_request(std::uint8_t lid, std::uint8_t records,
                                 std::uint16_t offset) const {
    kmp::LogRequest req;
    req.command = kmp::LogCommand::TimePast;
    req.lid = lid;
    req.registers = {kDateRegister, kClockRegister};
    req.records = records;
    req.max_length = opts_.max_length;
    // A day ahead of this machine's clock: the newest record even if the meter's clock is ahead.
    req.time = log_time_of(anchor_ms_);
    req.record_id = offset;
    return req;
  }

  asio::awaitable<void> find_loggers() {
    // Does anything answer on the logger address?
    ++result_.requests;
    auto status = co_await session_.exchange(
        kmp::encode_get_event_status(opts_.dst), opts_.dst, [](const kmp::Frame& f) {
          return kmp::decode_event_status_response(f, kmp::kCidGetEventStatus).ok();
        });
    Failure failure = status.failure;
    bool present = status.reply.has_value();
    std::vector<LoggerInfo> found;
    for (unsigned lid = 1; lid <= opts_.max_lid && found.size() < 4; ++lid) {
      // Without an event-status answer, one more chance: LID 1 (the document's example).
      if (!present && lid > 1) break;
      Failure f = Failure::None;
      auto reply =
          co_await ask(newest_request(static_cast<std::uint8_t>(lid), 2, 0),
                       present ? std::optional<unsigned>(1) : std::optional<unsigned>(0), f);
      if (!reply) {
        failure = std::max(failure, f);
        continue;
      }
      present = true;
      LoggerInfo info;
      info.lid = static_cast<std::uint8_t>(lid);
      info.empty = (reply->info & kmp::kLogInfoEmpty) != 0;
      info.rejected_time = reply->records.empty() && (reply->info & kmp::kLogInfoOutOfRange) != 0;
      std::vector<std::int64_t> times;
      for (std::size_t i = 0; i < reply->records.size(); ++i) {
        auto t = unix_ms_of(digits_of(*reply, i, reply->column_of(kDateRegister)).value_or(0),
                            digits_of(*reply, i, reply->column_of(kClockRegister)).value_or(0));
        if (t) times.push_back(*t);
      }
      if (!reply->records.empty()) info.newest_id = reply->records.front().record_id;
      if (!times.empty()) info.newest_ms = times.front();
      if (times.size() >= 2 && times[0] > times[1]) info.spacing_ms = times[0] - times[1];
      found.push_back(info);
    }
    if (!present) {
      const unsigned attempts = session_.options().retries + 2;
      set_failure(LogStatus::Unsupported,
                  "meter does not support logger reads: nothing answered on the logger address " +
                      hex(opts_.dst) + " (" + std::to_string(attempts) +
                      " requests). The meter itself may still answer `kamstrup read`.",
                  failure == Failure::None ? Failure::Silent : failure);
      co_return;
    }
    classify_loggers(found);
    result_.directory.loggers = std::move(found);
    // No logger gave a record, and some rejected the time: most likely the byte order.
    bool any_records = false, any_rejected = false;
    for (const auto& l : result_.directory.loggers) {
      any_records = any_records || l.newest_id.has_value();
      any_rejected = any_rejected || l.rejected_time;
    }
    if (any_rejected && !any_records) {
      set_failure(
          LogStatus::OutOfRange,
          "requested time out of range: no logger returned a record and "
          "some rejected the request time - the meter may expect the other timestamp byte order "
          "(try "
          "--time-order " +
              std::string(opts_.order == kmp::TimeOrder::FieldTable ? "reversed" : "field-table") +
              ")");
      co_return;
    }
    if (result_.directory.loggers.empty()) {
      set_failure(LogStatus::Unsupported,
                  "meter does not support logger reads: the logger address " + hex(opts_.dst) +
                      " answers, but no log id 1.." + std::to_string(opts_.max_lid) + " did",
                  failure);
    }
  }

  static std::string hex(std::uint8_t v) {
    static constexpr char kHex[] = "0123456789ABCDEF";
    return std::string("0x") + kHex[v >> 4U] + kHex[v & 0xFU];
  }

  // Adds the reply's records (in the reply's order) to `out`; false when one has no date.
  bool convert(const kmp::LogReply& r, std::vector<LogRecord>& out) {
    const auto date_col = r.column_of(kDateRegister);
    if (!r.records.empty() && !date_col) {
      set_failure(LogStatus::NoTime,
                  "the logger does not log the date register (1003), so its records cannot be "
                  "placed in time");
      return false;
    }
    for (std::size_t i = 0; i < r.records.size(); ++i) {
      auto date = digits_of(r, i, date_col);
      auto t = date ? unix_ms_of(*date, digits_of(r, i, r.column_of(kClockRegister)).value_or(0))
                    : std::nullopt;
      if (!t) {
        set_failure(LogStatus::BadReply, "record " + std::to_string(r.records[i].record_id) +
                                             " has no valid logged date and time");
        return false;
      }
      LogRecord rec;
      rec.time_ms = *t;
      rec.record_id = r.records[i].record_id;
      for (std::uint16_t id : user_) {
        Reading rd;
        rd.id = id;
        rd.name = kmp::register_name(id);
        rd.outcome = Outcome::Unsupported;
        if (auto col = r.column_of(id)) {
          auto v = r.value(i, *col);
          if (v.ok()) {
            rd.value = v.value();
            rd.outcome = Outcome::Value;
          } else {
            rd.outcome = outcome_of(v.error());
          }
        }
        rec.readings.push_back(std::move(rd));
      }
      out.push_back(std::move(rec));
    }
    return true;
  }

  bool in_range(const LogRecord& r) const {
    return (!opts_.from_ms || r.time_ms >= *opts_.from_ms) &&
           (!opts_.to_ms || r.time_ms < *opts_.to_ms);
  }

  void deliver(LogRecord rec) {
    if (opts_.on_record) opts_.on_record(rec);
    result_.records.push_back(std::move(rec));
  }

  std::vector<kmp::LogColumn> assumed_columns() const {
    std::vector<kmp::LogColumn> cols;
    for (std::uint16_t id : regs_) cols.push_back({id, 0, 4, 0});
    return cols;
  }

  asio::awaitable<void> read_range() {
    const std::string kind(logger_kind_name(opts_.kind));
    kmp::LogRequest req;
    req.command = kmp::LogCommand::TimePresent;
    req.lid = lid_;
    req.registers = regs_;
    req.max_length = opts_.max_length;
    req.records = records_per_request(assumed_columns(), opts_.max_length);
    req.time = opts_.from_ms ? log_time_of(*opts_.from_ms) : kmp::LogTime{0, 1, 1, 0, 0, 0, 0, 0};
    std::size_t total = 0;
    std::optional<std::uint16_t> first_id;
    for (std::size_t n = 0; n < kMaxRequests; ++n) {
      Failure f = Failure::None;
      auto reply = co_await ask(req, std::nullopt, f);
      if (!reply) {
        set_failure(LogStatus::NoAnswer,
                    "the " + kind + " logger stopped answering after " +
                        std::to_string(result_.records.size()) +
                        " records: " + std::string(diagnosis_text(f)),
                    f);
        co_return;
      }
      if (reply->records.empty()) {
        if ((reply->info & kmp::kLogInfoEmpty) != 0) {
          if (n == 0) set_failure(LogStatus::Empty, "the " + kind + " logger is empty");
        } else if ((reply->info & kmp::kLogInfoMaxLength) != 0) {
          set_failure(LogStatus::BadReply, "not even one record fits the reply length limit " +
                                               std::to_string(opts_.max_length) +
                                               " (MaxL): ask for fewer registers");
        } else if (n == 0 && (reply->info & kmp::kLogInfoOutOfRange) != 0) {
          set_failure(LogStatus::OutOfRange,
                      "requested time out of range: the " + kind +
                          " logger has no record at or after " +
                          (opts_.from_ms ? time_text(*opts_.from_ms) : std::string("2000-01-01")));
        }
        break;
      }
      std::vector<LogRecord> batch;
      if (!convert(*reply, batch)) co_return;
      bool past_end = false;
      for (auto& rec : batch) {
        if (opts_.to_ms && rec.time_ms >= *opts_.to_ms) {
          past_end = true;
          break;
        }
        if (in_range(rec)) deliver(std::move(rec));
      }
      if (!first_id) first_id = reply->records.front().record_id;
      if (reply->newest_id) {
        total = std::max<std::size_t>(
            result_.records.size(),
            static_cast<std::uint16_t>(*reply->newest_id - *first_id) + std::size_t{1});
      }
      if (opts_.progress)
        opts_.progress(result_.records.size(), std::max(total, result_.records.size()));
      const std::uint16_t last_id = reply->records.back().record_id;
      if (n > 0 && reply->records.front().record_id != req.record_id) {
        // A2 must start at the record asked for; anything else could repeat records forever.
        set_failure(LogStatus::BadReply, "the " + kind + " logger answered record " +
                                             std::to_string(reply->records.front().record_id) +
                                             " to a request for record " +
                                             std::to_string(req.record_id));
        break;
      }
      if (past_end || (reply->info & kmp::kLogInfoEndOfLog) != 0 ||
          (reply->newest_id && *reply->newest_id == last_id)) {
        break;
      }
      req.command = kmp::LogCommand::IdPresent;
      req.time = {};
      req.record_id = static_cast<std::uint16_t>(last_id + 1);
      req.records = records_per_request(reply->columns, opts_.max_length);
    }
    if (result_.status == LogStatus::Ok && result_.records.empty() && opts_.to_ms) {
      set_failure(LogStatus::OutOfRange,
                  "requested time out of range: the " + kind + " logger has no record before " +
                      time_text(*opts_.to_ms) +
                      (opts_.from_ms ? " and at or after " + time_text(*opts_.from_ms) : ""));
    }
  }

  asio::awaitable<void> read_last() {
    const std::string kind(logger_kind_name(opts_.kind));
    // A3 offsets are 16 bits, and no logger holds more records than it has ids.
    const std::size_t want = std::min<std::size_t>(*opts_.last, 65535);
    std::vector<LogRecord> got;  // newest first
    kmp::LogRequest req = newest_request(lid_, 1, 0);
    req.registers = regs_;
    std::vector<kmp::LogColumn> columns = assumed_columns();
    bool anchored = false;
    for (std::size_t n = 0; n < kMaxRequests && got.size() < want; ++n) {
      const std::size_t left = want - got.size();
      req.records = static_cast<std::uint8_t>(
          std::min<std::size_t>(left, records_per_request(columns, opts_.max_length)));
      req.record_id = static_cast<std::uint16_t>(got.size());
      Failure f = Failure::None;
      auto reply = co_await ask(req, std::nullopt, f);
      if (!reply) {
        set_failure(LogStatus::NoAnswer,
                    "the " + kind + " logger stopped answering after " +
                        std::to_string(got.size()) + " records: " + std::string(diagnosis_text(f)),
                    f);
        co_return;
      }
      if (reply->records.empty()) {
        if ((reply->info & kmp::kLogInfoEmpty) != 0) {
          set_failure(LogStatus::Empty, "the " + kind + " logger is empty");
          co_return;
        }
        if ((reply->info & kmp::kLogInfoMaxLength) != 0) {
          set_failure(LogStatus::BadReply, "not even one record fits the reply length limit " +
                                               std::to_string(opts_.max_length) +
                                               " (MaxL): ask for fewer registers");
          co_return;
        }
        if (n == 0 && (reply->info & kmp::kLogInfoOutOfRange) != 0) {
          set_failure(LogStatus::OutOfRange,
                      "requested time out of range: the " + kind +
                          " logger rejected a request for its newest records (the meter may "
                          "expect the other timestamp byte order, see --time-order)");
          co_return;
        }
        break;
      }
      if (!convert(*reply, got)) co_return;
      columns = reply->columns;
      if (!anchored) {
        // Later offsets count from this record, even if the meter logs a new one meanwhile.
        req.time = log_time_of(got.front().time_ms);
        anchored = true;
      }
      if (opts_.progress) opts_.progress(got.size(), want);
      if ((reply->info & kmp::kLogInfoEndOfLog) != 0) break;
    }
    std::reverse(got.begin(), got.end());
    for (auto& rec : got) {
      if (in_range(rec)) deliver(std::move(rec));
    }
  }

  MeterSession& session_;
  const LogReadOptions& opts_;
  LogReadResult result_;
  std::vector<std::uint16_t> user_;
  std::vector<std::uint16_t> regs_;
  std::uint8_t lid_ = 0;
  std::int64_t anchor_ms_ = now_ms() + kDay;
};

}  // namespace

std::string_view logger_kind_name(LoggerKind kind) {
  return kmp::to_string(kind);
}

std::string_view log_status_name(LogStatus s) {
  switch (s) {
    case LogStatus::Ok:
      return "Ok";
    case LogStatus::Unsupported:
      return "Unsupported";
    case LogStatus::NoAnswer:
      return "NoAnswer";
    case LogStatus::NoSuchLogger:
      return "NoSuchLogger";
    case LogStatus::Empty:
      return "Empty";
    case LogStatus::OutOfRange:
      return "OutOfRange";
    case LogStatus::NoTime:
      return "NoTime";
    case LogStatus::BadReply:
      return "BadReply";
    case LogStatus::Usage:
      return "Usage";
  }
  return "?";
}

const LoggerInfo* LoggerDirectory::find(LoggerKind kind) const {
  for (const auto& l : loggers) {
    if (l.kind == kind) return &l;
  }
  return nullptr;
}

std::vector<std::uint16_t> default_log_registers() {
  return {60, 68, 1004};
}

void classify_loggers(std::vector<LoggerInfo>& loggers) {
  struct Band {
    LoggerKind kind;
    std::int64_t lo, hi;
  };
  static constexpr std::array<Band, 4> kBands{{
      {LoggerKind::Hourly, 30 * kMinute, 2 * kHour},
      {LoggerKind::Daily, 20 * kHour, 28 * kHour},
      {LoggerKind::Monthly, 27 * kDay, 32 * kDay},
      {LoggerKind::Yearly, 360 * kDay, 370 * kDay},
  }};
  std::vector<LoggerKind> taken;
  for (auto& l : loggers) {
    l.kind.reset();
    if (!l.spacing_ms) continue;
    for (const auto& b : kBands) {
      if (*l.spacing_ms >= b.lo && *l.spacing_ms <= b.hi &&
          std::find(taken.begin(), taken.end(), b.kind) == taken.end()) {
        l.kind = b.kind;
        taken.push_back(b.kind);
        break;
      }
    }
  }
  std::vector<LoggerInfo*> rest;
  for (auto& l : loggers) {
    if (!l.kind) rest.push_back(&l);
  }
  // By spacing (shortest first), then the ones without a spacing in LID order.
  std::stable_sort(rest.begin(), rest.end(), [](const LoggerInfo* a, const LoggerInfo* b) {
    if (a->spacing_ms && b->spacing_ms) return *a->spacing_ms < *b->spacing_ms;
    return a->spacing_ms.has_value() && !b->spacing_ms.has_value();
  });
  std::size_t next = 0;
  for (const auto& b : kBands) {
    if (std::find(taken.begin(), taken.end(), b.kind) != taken.end()) continue;
    if (next == rest.size()) break;
    rest[next++]->kind = b.kind;
  }
}

kmp::LogTime log_time_of(std::int64_t unix_ms) {
  const auto t = static_cast<std::time_t>(unix_ms / 1000 - (unix_ms % 1000 < 0 ? 1 : 0));
  std::tm tm{};
  localtime_r(&t, &tm);
  kmp::LogTime lt;
  lt.year = static_cast<std::uint8_t>(std::clamp(tm.tm_year - 100, 0, 99));
  lt.month = static_cast<std::uint8_t>(tm.tm_mon + 1);
  lt.day = static_cast<std::uint8_t>(tm.tm_mday);
  lt.hour = static_cast<std::uint8_t>(tm.tm_hour);
  lt.minute = static_cast<std::uint8_t>(tm.tm_min);
  lt.second = static_cast<std::uint8_t>(std::min(tm.tm_sec, 59));
  return lt;
}

std::optional<std::int64_t> unix_ms_of(std::uint32_t yymmdd, std::uint32_t hhmmss) {
  kmp::LogTime lt;
  if (yymmdd > 991231 || hhmmss > 235959) return std::nullopt;
  lt.year = static_cast<std::uint8_t>(yymmdd / 10000);
  lt.month = static_cast<std::uint8_t>(yymmdd / 100 % 100);
  lt.day = static_cast<std::uint8_t>(yymmdd % 100);
  lt.hour = static_cast<std::uint8_t>(hhmmss / 10000);
  lt.minute = static_cast<std::uint8_t>(hhmmss / 100 % 100);
  lt.second = static_cast<std::uint8_t>(hhmmss % 100);
  if (!lt.valid()) return std::nullopt;
  std::tm tm{};
  tm.tm_year = 100 + lt.year;
  tm.tm_mon = lt.month - 1;
  tm.tm_mday = lt.day;
  tm.tm_hour = lt.hour;
  tm.tm_min = lt.minute;
  tm.tm_sec = lt.second;
  tm.tm_isdst = -1;
  return static_cast<std::int64_t>(std::mktime(&tm)) * 1000;
}

asio::awaitable<LogReadResult> read_log(MeterSession& session, const LogReadOptions& options) {
  Reader reader(session, options);
  co_return co_await reader.read();
}

asio::awaitable<LogReadResult> discover_loggers(MeterSession& session,
                                                const LogReadOptions& options) {
  Reader reader(session, options);
  co_return co_await reader.discover();
}

asio::awaitable<LogReadResult> LoggerReader::read(LogReadOptions options) {
  if (!options.directory && !options.lid) options.directory = directory_;
  LogReadResult r = co_await read_log(session_, options);
  if (!r.directory.loggers.empty() && !options.lid) directory_ = r.directory;
  co_return r;
}

}  // namespace kamstrup::meter
