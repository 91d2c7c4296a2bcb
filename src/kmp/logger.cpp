#include "kmp/logger.hpp"

#include <algorithm>

namespace kamstrup::kmp {

namespace {

void put16(std::vector<std::uint8_t>& out, std::uint16_t v) {
  out.push_back(static_cast<std::uint8_t>(v >> 8U));
  out.push_back(static_cast<std::uint8_t>(v & 0xFFU));
}

std::uint16_t get16(std::span<const std::uint8_t> d, std::size_t at) {
  return static_cast<std::uint16_t>((d[at] << 8U) | d[at + 1]);
}

Frame frame_of(Direction direction, std::uint8_t dst, std::uint8_t cid,
               std::vector<std::uint8_t> data) {
  Frame f;
  f.direction = direction;
  f.dst = dst;
  f.cid = cid;
  f.data = std::move(data);
  return f;
}

bool leap(std::int64_t y) {
  return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

unsigned days_in_month(std::int64_t y, unsigned m) {
  static constexpr std::array<unsigned, 12> kDays{31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  return m == 2 && leap(y) ? 29U : kDays[m - 1];
}

}  // namespace

bool is_log_cid(std::uint8_t cid) {
  return cid >= kCidGetLogTimePresent && cid <= kCidGetLogTimePast;
}

std::string_view to_string(LoggerKind kind) {
  static constexpr std::array<std::string_view, kLoggerKinds> kNames{"hourly", "daily", "monthly",
                                                                     "yearly"};
  return kNames[static_cast<std::size_t>(kind)];
}

std::optional<LoggerKind> parse_logger_kind(std::string_view text) {
  for (std::size_t k = 0; k < kLoggerKinds; ++k) {
    if (to_string(static_cast<LoggerKind>(k)) == text) return static_cast<LoggerKind>(k);
  }
  return std::nullopt;
}

// ---- timestamps ------------------------------------------------------------------------------

std::string_view to_string(TimeOrder order) {
  return order == TimeOrder::Reversed ? "reversed" : "field-table";
}

std::optional<TimeOrder> parse_time_order(std::string_view text) {
  if (text == "field-table") return TimeOrder::FieldTable;
  if (text == "reversed") return TimeOrder::Reversed;
  return std::nullopt;
}

bool LogTime::valid() const {
  if (month < 1 || month > 12 || day < 1) return false;
  if (day > days_in_month(2000 + year, month)) return false;
  return hour <= 23 && minute <= 59 && second <= 59;
}

std::array<std::uint8_t, 8> encode_log_time(const LogTime& t, TimeOrder order) {
  std::array<std::uint8_t, 8> b{t.year,   t.month,  t.day,     t.hour,
                                t.minute, t.second, t.weekday, t.info};
  if (order == TimeOrder::Reversed) std::reverse(b.begin(), b.end());
  return b;
}

LogTime decode_log_time(std::span<const std::uint8_t, 8> bytes, TimeOrder order) {
  std::array<std::uint8_t, 8> b{};
  std::copy(bytes.begin(), bytes.end(), b.begin());
  if (order == TimeOrder::Reversed) std::reverse(b.begin(), b.end());
  return LogTime{b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]};
}

// Howard Hinnant's civil-calendar algorithms.
std::int64_t days_from_civil(std::int64_t year, unsigned month, unsigned day) {
  const std::int64_t y = month <= 2 ? year - 1 : year;
  const std::int64_t era = (y >= 0 ? y : y - 399) / 400;
  const auto yoe = static_cast<std::int64_t>(y - era * 400);
  const std::int64_t mp = month > 2 ? month - 3 : month + 9;
  const std::int64_t doy = (153 * mp + 2) / 5 + day - 1;
  const std::int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + doe - 719468;
}

void civil_from_days(std::int64_t days, std::int64_t& year, unsigned& month, unsigned& day) {
  const std::int64_t z = days + 719468;
  const std::int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  const std::int64_t doe = z - era * 146097;
  const std::int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const std::int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const std::int64_t mp = (5 * doy + 2) / 153;
  day = static_cast<unsigned>(doy - (153 * mp + 2) / 5 + 1);
  month = static_cast<unsigned>(mp < 10 ? mp + 3 : mp - 9);
  year = yoe + era * 400 + (month <= 2 ? 1 : 0);
}

// ---- requests --------------------------------------------------------------------------------

Result<std::vector<std::uint8_t>> encode_log_request(const LogRequest& req, TimeOrder order,
                                                     std::uint8_t dst) {
  if (req.registers.empty() || req.registers.size() > kMaxLogRegisters) return Error::Malformed;
  std::vector<std::uint8_t> d;
  d.push_back(req.lid);
  d.push_back(static_cast<std::uint8_t>(req.registers.size()));
  for (std::uint16_t id : req.registers) put16(d, id);
  d.push_back(req.records);
  d.push_back(req.max_length);
  if (req.command == LogCommand::TimePresent || req.command == LogCommand::TimePast) {
    auto t = encode_log_time(req.time, order);
    d.insert(d.end(), t.begin(), t.end());
  }
  if (req.command == LogCommand::IdPresent || req.command == LogCommand::TimePast) {
    put16(d, req.record_id);
  }
  return encode_frame(
      frame_of(Direction::ToMeter, dst, static_cast<std::uint8_t>(req.command), std::move(d)));
}

Result<LogRequest> decode_log_request(const Frame& frame, TimeOrder order) {
  if (frame.is_ack || frame.direction != Direction::ToMeter) return Error::WrongDirection;
  if (!is_log_cid(frame.cid)) return Error::WrongCid;
  const auto& d = frame.data;
  LogRequest r;
  r.command = static_cast<LogCommand>(frame.cid);
  if (d.size() < 2) return Error::Truncated;
  r.lid = d[0];
  const std::size_t n = d[1];
  if (n == 0 || n > kMaxLogRegisters) return Error::Malformed;
  std::size_t tail = 0;
  if (r.command == LogCommand::TimePresent) tail = 8;
  if (r.command == LogCommand::IdPresent) tail = 2;
  if (r.command == LogCommand::TimePast) tail = 10;
  const std::size_t want = 2 + 2 * n + 2 + tail;
  if (d.size() < want) return Error::Truncated;
  if (d.size() > want) return Error::Malformed;
  std::size_t at = 2;
  for (std::size_t i = 0; i < n; ++i, at += 2) r.registers.push_back(get16(d, at));
  r.records = d[at++];
  r.max_length = d[at++];
  if (r.command == LogCommand::TimePresent || r.command == LogCommand::TimePast) {
    r.time = decode_log_time(std::span<const std::uint8_t, 8>(d.data() + at, 8), order);
    at += 8;
  }
  if (r.command == LogCommand::IdPresent || r.command == LogCommand::TimePast) {
    r.record_id = get16(d, at);
  }
  return r;
}

// ---- responses -------------------------------------------------------------------------------

Result<RegisterValue> LogReply::value(std::size_t record, std::size_t column) const {
  if (record >= records.size() || column >= columns.size() ||
      column >= records[record].values.size()) {
    return Error::Malformed;
  }
  const LogColumn& c = columns[column];
  return decode_value(c.unit_code, c.siex, records[record].values[column]);
}

std::optional<std::size_t> LogReply::column_of(std::uint16_t id) const {
  for (std::size_t i = 0; i < columns.size(); ++i) {
    if (columns[i].id == id) return i;
  }
  return std::nullopt;
}

std::size_t log_response_length(std::span<const LogColumn> columns, std::size_t records) {
  std::size_t value_bytes = 0;
  for (const auto& c : columns) value_bytes += c.nob;
  // CID, LID, N · m RecIDs · n formats (RID + unit + NoB + SiEx) · m × values · LRO, NEW, INFO.
  return 3 + 2 * records + 5 * columns.size() + records * value_bytes + 5;
}

Result<LogReply> decode_log_response(const Frame& frame, std::optional<std::uint8_t> expected_cid) {
  if (frame.is_ack || frame.direction != Direction::FromMeter) return Error::WrongDirection;
  if (!is_log_cid(frame.cid)) return Error::WrongCid;
  if (expected_cid && frame.cid != *expected_cid) return Error::WrongCid;
  const auto& d = frame.data;
  if (d.empty()) return Error::Truncated;
  LogReply r;
  r.cid = frame.cid;
  r.info = d.back();

  // The short forms (INFO ≠ 0 only): 1, 2, 3, 6 or 7 bytes; a full layout needs at least 9.
  if (d.size() < 9) {
    if (r.info == 0) return d.size() < 2 ? Error::Malformed : Error::Truncated;
    switch (d.size()) {
      case 1:
        return r;
      case 2:
        r.lid = d[0];
        return r;
      case 3:
        r.lid = d[0];
        r.register_count = d[1];
        return r;
      case 6:
        r.lid = d[0];
        r.last_read_id = get16(d, 1);
        r.newest_id = get16(d, 3);
        return r;
      case 7:
        r.lid = d[0];
        r.register_count = d[1];
        r.last_read_id = get16(d, 2);
        r.newest_id = get16(d, 4);
        return r;
      default:
        return Error::Malformed;
    }
  }

  r.lid = d[0];
  const std::size_t n = d[1];
  if (n > kMaxLogRegisters) return Error::Malformed;
  r.register_count = d[1];
  const std::size_t body_end = d.size() - 5;  // LRO, NEW, INFO follow
  std::size_t at = 2;
  LogRecordData first;
  first.record_id = get16(d, at);
  at += 2;
  std::size_t record_bytes = 2;
  for (std::size_t i = 0; i < n; ++i) {
    if (body_end < at || body_end - at < 5) return Error::Truncated;
    LogColumn c{get16(d, at), d[at + 2], d[at + 3], d[at + 4]};
    at += 5;
    if (body_end - at < c.nob) return Error::Truncated;
    if (r.column_of(c.id)) return Error::Malformed;
    first.values.emplace_back(d.begin() + static_cast<std::ptrdiff_t>(at),
                              d.begin() + static_cast<std::ptrdiff_t>(at + c.nob));
    at += c.nob;
    record_bytes += c.nob;
    r.columns.push_back(c);
  }
  if (at > body_end) return Error::Truncated;
  r.records.push_back(std::move(first));
  if ((body_end - at) % record_bytes != 0) return Error::Truncated;
  while (at < body_end) {
    LogRecordData rec;
    rec.record_id = get16(d, at);
    at += 2;
    for (const auto& c : r.columns) {
      rec.values.emplace_back(d.begin() + static_cast<std::ptrdiff_t>(at),
                              d.begin() + static_cast<std::ptrdiff_t>(at + c.nob));
      at += c.nob;
    }
    r.records.push_back(std::move(rec));
  }
  r.last_read_id = get16(d, body_end);
  r.newest_id = get16(d, body_end + 2);
  return r;
}

Result<std::vector<std::uint8_t>> encode_log_response(const LogReply& reply, std::uint8_t dst) {
  if (!is_log_cid(reply.cid)) return Error::WrongCid;
  std::vector<std::uint8_t> d;
  const bool ids = reply.last_read_id.has_value();
  if (ids != reply.newest_id.has_value()) return Error::Malformed;
  if (reply.records.empty()) {
    if (reply.info == 0 || !reply.columns.empty()) return Error::Malformed;
    if (!reply.lid && (reply.register_count || ids)) return Error::Malformed;
    if (reply.lid) d.push_back(*reply.lid);
    if (reply.register_count) d.push_back(*reply.register_count);
    if (ids) {
      put16(d, *reply.last_read_id);
      put16(d, *reply.newest_id);
    }
  } else {
    if (!reply.lid || !ids || reply.columns.size() > kMaxLogRegisters) return Error::Malformed;
    if (reply.register_count != reply.columns.size()) return Error::Malformed;
    d.push_back(*reply.lid);
    d.push_back(static_cast<std::uint8_t>(reply.columns.size()));
    for (std::size_t ri = 0; ri < reply.records.size(); ++ri) {
      const auto& rec = reply.records[ri];
      if (rec.values.size() != reply.columns.size()) return Error::Malformed;
      put16(d, rec.record_id);
      for (std::size_t ci = 0; ci < reply.columns.size(); ++ci) {
        const LogColumn& c = reply.columns[ci];
        if (rec.values[ci].size() != c.nob) return Error::Malformed;
        if (ri == 0) {
          put16(d, c.id);
          d.push_back(c.unit_code);
          d.push_back(c.nob);
          d.push_back(c.siex);
        }
        d.insert(d.end(), rec.values[ci].begin(), rec.values[ci].end());
      }
    }
    for (std::size_t i = 0; i < reply.columns.size(); ++i) {
      for (std::size_t j = 0; j < i; ++j) {
        if (reply.columns[i].id == reply.columns[j].id) return Error::Malformed;
      }
    }
    put16(d, *reply.last_read_id);
    put16(d, *reply.newest_id);
  }
  d.push_back(reply.info);
  return encode_frame(frame_of(Direction::FromMeter, dst, reply.cid, std::move(d)));
}

// ---- event status ------------------------------------------------------------------------------

std::vector<std::uint8_t> encode_get_event_status(std::uint8_t dst) {
  return encode_frame(frame_of(Direction::ToMeter, dst, kCidGetEventStatus, {}));
}

std::vector<std::uint8_t> encode_clear_event_status(const ClearEventStatusRequest& req,
                                                    std::uint8_t dst) {
  std::vector<std::uint8_t> d(req.conditional.begin(), req.conditional.end());
  d.insert(d.end(), req.unconditional.begin(), req.unconditional.end());
  return encode_frame(frame_of(Direction::ToMeter, dst, kCidClearEventStatus, std::move(d)));
}

Result<std::optional<ClearEventStatusRequest>> decode_event_status_request(const Frame& frame) {
  if (frame.is_ack || frame.direction != Direction::ToMeter) return Error::WrongDirection;
  const auto& d = frame.data;
  if (frame.cid == kCidGetEventStatus) {
    if (!d.empty()) return Error::Malformed;
    return std::optional<ClearEventStatusRequest>{};
  }
  if (frame.cid != kCidClearEventStatus) return Error::WrongCid;
  if (d.size() != 8) return d.size() < 8 ? Error::Truncated : Error::Malformed;
  ClearEventStatusRequest r;
  std::copy(d.begin(), d.begin() + 4, r.conditional.begin());
  std::copy(d.begin() + 4, d.end(), r.unconditional.begin());
  return std::optional<ClearEventStatusRequest>{r};
}

std::vector<std::uint8_t> encode_event_status_response(std::uint8_t cid, const EventStatus& status,
                                                       std::uint8_t dst) {
  return encode_frame(frame_of(Direction::FromMeter, dst, cid,
                               std::vector<std::uint8_t>(status.begin(), status.end())));
}

Result<EventStatus> decode_event_status_response(const Frame& frame, std::uint8_t cid) {
  if (frame.is_ack || frame.direction != Direction::FromMeter) return Error::WrongDirection;
  if (frame.cid != cid) return Error::WrongCid;
  if (frame.data.size() != 4) return frame.data.size() < 4 ? Error::Truncated : Error::Malformed;
  EventStatus s{};
  std::copy(frame.data.begin(), frame.data.end(), s.begin());
  return s;
}

}  // namespace kamstrup::kmp
