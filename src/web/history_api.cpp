#include "web/history_api.hpp"

#include <algorithm>
#include <charconv>
#include <chrono>

#include "kmp/catalogue.hpp"
#include "kmp/decimal.hpp"
#include "sinks/format.hpp"
#include "store/zone.hpp"
#include "text/text.hpp"
#include "text/time.hpp"

namespace kamstrup::web {

namespace {

constexpr std::int64_t kHourMs = 3'600'000;
constexpr std::int64_t kDayMs = 24 * kHourMs;
constexpr std::size_t kAutoPoints = 2000;
constexpr std::size_t kMaxPoints = 20000;

std::int64_t system_now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// A 4xx with {"error": "..."}; thrown inside handlers, answered by `guarded`.
struct ApiError {
  int status;
  std::string message;
};

Response json(int status, std::string body) {
  Response r;
  r.status = status;
  r.content_type = "application/json";
  r.body = std::move(body);
  r.headers.emplace_back("Cache-Control", "no-store");
  return r;
}

Response csv(std::string body) {
  Response r;
  r.content_type = "text/csv; charset=utf-8";
  r.body = std::move(body);
  r.headers.emplace_back("Cache-Control", "no-store");
  return r;
}

template <class F>
Response guarded(F&& f) {
  try {
    return f();
  } catch (const ApiError& e) {
    return json(e.status, "{\"error\": " + text::json_quote(e.message) + "}\n");
  } catch (const store::UnitConflict& e) {
    return json(409, "{\"error\": " + text::json_quote(e.what()) + "}\n");
  }
}

bool wants_csv(const Request& r) {
  if (auto f = r.arg("format")) {
    if (*f == "csv") return true;
    if (*f != "json") throw ApiError{400, "format: csv or json, not '" + *f + "'"};
    return false;
  }
  const auto accept = r.header("Accept");
  return accept && accept->find("text/csv") != std::string::npos;
}

std::string required(const Request& r, const char* name) {
  auto v = r.arg(name);
  if (!v || v->empty()) throw ApiError{400, std::string(name) + ": required"};
  return *v;
}

// RFC 3339 or Unix milliseconds.
std::int64_t time_arg(const Request& r, const char* name, std::int64_t fallback) {
  auto v = r.arg(name);
  if (!v || v->empty()) return fallback;
  if (v->find_first_not_of("0123456789") == std::string::npos && v->size() <= 15) {
    return std::stoll(*v);
  }
  if (auto ms = text::rfc3339_ms(*v)) return *ms;
  throw ApiError{400, std::string(name) + ": '" + *v +
                          "' is neither RFC 3339 (2026-10-25T00:00:00Z) nor Unix milliseconds"};
}

struct Range {
  std::int64_t from, to;
};

Range range_of(const Request& r, std::int64_t now) {
  Range g;
  g.to = time_arg(r, "to", now);
  g.from = time_arg(r, "from", g.to - kDayMs);
  if (g.from >= g.to) throw ApiError{400, "from: must be before to"};
  return g;
}

// The nearest double as the shortest JSON number that reads back as it ("69.95", not
// 69.950000000000003); null for no value.
std::string num(const std::string& exact) {
  if (exact.empty()) return "null";
  auto d = kmp::Decimal::parse(exact);
  if (!d) return "null";
  char buf[64];
  auto [p, ec] = std::to_chars(buf, buf + sizeof buf, d->to_double());
  if (ec != std::errc{}) return "null";
  std::string out(buf, p);
  if (out == "inf" || out == "-inf" || out == "nan") return "null";
  return out;
}

std::string exact(const std::string& v) {
  return v.empty() ? "null" : text::json_quote(v);
}

std::string quantity_of(const std::string& reg) {
  const kmp::RegisterDef* def = kmp::find_register(std::string_view(reg));
  return def != nullptr ? std::string(kmp::quantity_name(def->quantity)) : "";
}

std::optional<store::Step> step_word(const std::string& s) {
  if (s == "hour") return store::Step::Hour;
  if (s == "day") return store::Step::Day;
  if (s == "month") return store::Step::Month;
  if (s == "year") return store::Step::Year;
  return std::nullopt;
}

// Buckets of `step` a range spans, roughly (months and years by their mean length).
std::size_t buckets_in(store::Step step, const Range& g) {
  const double span = static_cast<double>(g.to - g.from);
  double len = static_cast<double>(kHourMs);
  if (step == store::Step::Day) len = static_cast<double>(kDayMs);
  if (step == store::Step::Month) len = 30.44 * static_cast<double>(kDayMs);
  if (step == store::Step::Year) len = 365.25 * static_cast<double>(kDayMs);
  return static_cast<std::size_t>(span / len) + 1;
}

void check_known(const store::Store& st, const std::string& meter, const std::string& reg) {
  const auto meters = st.meters();
  bool has_series = false;
  bool meter_known = std::find(meters.begin(), meters.end(), meter) != meters.end();
  for (const auto& s : st.series()) {
    if (s.meter == meter) meter_known = true;
    if (s.meter == meter && s.register_name == reg) has_series = true;
  }
  if (!meter_known) throw ApiError{404, "meter: no meter '" + meter + "' in the history"};
  if (has_series) return;
  store::HistoryQuery q;
  q.meter = meter;
  q.register_name = reg;
  q.limit = 1;
  if (st.history(q).empty())
    throw ApiError{404, "register: meter '" + meter + "' never stored '" + reg + "'"};
}

struct Series {
  std::string unit;
  bool cumulative = false;
  std::string step;
  std::string json_points;
  std::string csv;
};

void raw_points(const store::Store& st, const std::string& meter, const std::string& reg,
                const Range& g, std::size_t max, Series& out) {
  store::HistoryQuery q;
  q.meter = meter;
  q.register_name = reg;
  q.from_ms = g.from;
  q.to_ms = g.to;
  q.limit = max + 1;
  auto rows = st.history(q);
  if (rows.size() > max) throw ApiError{0, ""};  // the caller picks a coarser step or refuses
  out.step = "raw";
  out.csv = "time,value\n";
  for (const auto& r : rows) {
    const std::string v = r.value.value.empty() ? r.value.text : r.value.value;
    if (!out.json_points.empty()) out.json_points += ",\n  ";
    out.json_points += "{\"time\": " + text::json_quote(text::utc_text(r.time_ms)) +
                       ", \"value\": " + exact(v) + ", \"value_num\": " + num(r.value.value) + "}";
    out.csv += text::utc_text(r.time_ms) + "," + text::csv_field(v) + "\n";
    out.unit = r.value.unit;
  }
}

void bucket_points(const store::Store& st, const std::string& meter, const std::string& reg,
                   store::Step step, const Range& g, Series& out) {
  const auto rs = st.rollups({meter, reg, step, g.from, g.to});
  out.unit = rs.unit;
  out.cumulative = rs.cumulative;
  out.step = store::step_name(step);
  out.csv = rs.cumulative ? "time,first,last,consumption\n" : "time,min,max,mean,count\n";
  for (const auto& b : rs.rows) {
    const std::string t = text::utc_text(b.start_ms);
    if (!out.json_points.empty()) out.json_points += ",\n  ";
    if (rs.cumulative) {
      out.json_points += "{\"time\": " + text::json_quote(t) + ", \"first\": " + exact(b.first) +
                         ", \"last\": " + exact(b.last) +
                         ", \"consumption\": " + exact(b.consumption) +
                         ", \"first_num\": " + num(b.first) + ", \"last_num\": " + num(b.last) +
                         ", \"consumption_num\": " + num(b.consumption) +
                         ", \"resets\": " + std::to_string(b.resets) + "}";
      out.csv += t + "," + b.first + "," + b.last + "," + b.consumption + "\n";
    } else {
      out.json_points += "{\"time\": " + text::json_quote(t) + ", \"min\": " + exact(b.min) +
                         ", \"max\": " + exact(b.max) + ", \"mean\": " + exact(b.mean) +
                         ", \"min_num\": " + num(b.min) + ", \"max_num\": " + num(b.max) +
                         ", \"mean_num\": " + num(b.mean) +
                         ", \"count\": " + std::to_string(b.count) + "}";
      out.csv +=
          t + "," + b.min + "," + b.max + "," + b.mean + "," + std::to_string(b.count) + "\n";
    }
  }
}

Response history(const store::Store& st, const Request& req, std::int64_t now) {
  const std::string meter = required(req, "meter");
  const std::string reg = required(req, "register");
  const Range g = range_of(req, now);
  const std::string step = req.arg("step").value_or("auto");
  const bool want_csv = wants_csv(req);
  check_known(st, meter, reg);
  const auto cum = st.cumulative(meter, reg);
  Series s;
  s.cumulative = cum.value_or(false);
  if (step == "auto") {
    // The finest step that fits the range and at most ~2000 points.
    const std::int64_t span = g.to - g.from;
    bool done = false;
    if (span <= 2 * kDayMs || !cum) {
      try {
        raw_points(st, meter, reg, g, cum ? kAutoPoints : kMaxPoints, s);
        done = true;
      } catch (const ApiError& e) {
        if (e.status != 0) throw;
        if (!cum)
          throw ApiError{400, "step: more than 20000 readings and no rollups of '" + reg +
                                  "'; narrow from/to"};
      }
    }
    if (!done) {
      store::Step pick = store::Step::Month;
      if (span <= 62 * kDayMs) {
        pick = store::Step::Hour;
      } else if (span <= 3 * 366 * kDayMs) {
        pick = store::Step::Day;
      }
      while (pick != store::Step::Year && buckets_in(pick, g) > kAutoPoints)
        pick = static_cast<store::Step>(static_cast<int>(pick) + 1);
      bucket_points(st, meter, reg, pick, g, s);
    }
  } else if (step == "raw") {
    try {
      raw_points(st, meter, reg, g, kMaxPoints, s);
    } catch (const ApiError& e) {
      if (e.status != 0) throw;
      throw ApiError{400, "step: raw gives more than 20000 points here; use a coarser step"};
    }
  } else {
    const auto st_step = step_word(step);
    if (!st_step || *st_step == store::Step::Year)
      throw ApiError{400, "step: auto, raw, hour, day or month, not '" + step + "'"};
    if (buckets_in(*st_step, g) > kMaxPoints)
      throw ApiError{400, "step: " + step +
                              " gives more than 20000 points here; use a coarser "
                              "step"};
    if (!cum) throw ApiError{404, "register: '" + reg + "' of '" + meter + "' has no rollups"};
    bucket_points(st, meter, reg, *st_step, g, s);
  }
  if (want_csv) return csv(s.csv);
  std::string body = "{\"meter\": " + text::json_quote(meter) +
                     ", \"register\": " + text::json_quote(reg) +
                     ", \"unit\": " + text::json_quote(s.unit) +
                     ", \"quantity\": " + text::json_quote(quantity_of(reg)) +
                     ", \"cumulative\": " + (s.cumulative ? "true" : "false") +
                     ", \"step\": " + text::json_quote(s.step) +
                     ", \"timezone\": " + text::json_quote(st.timezone()) +
                     ", \"from\": " + text::json_quote(text::utc_text(g.from)) +
                     ", \"to\": " + text::json_quote(text::utc_text(g.to)) + ",\n \"points\": [";
  body += s.json_points.empty() ? "]}\n" : "\n  " + s.json_points + "\n]}\n";
  return json(200, body);
}

Response consumption(const store::Store& st, const Request& req, std::int64_t now) {
  const std::string meter = required(req, "meter");
  const std::string reg = required(req, "register");
  const std::string period = req.arg("period").value_or("day");
  const auto step = step_word(period);
  if (!step || *step == store::Step::Hour)
    throw ApiError{400, "period: day, month or year, not '" + period + "'"};
  const Range g = range_of(req, now);
  const bool want_csv = wants_csv(req);
  check_known(st, meter, reg);
  const auto cum = st.cumulative(meter, reg);
  if (!cum || !*cum)
    throw ApiError{400, "register: '" + reg +
                            "' is not a cumulative register (energy, volume, "
                            "hour counter); use /api/history"};
  if (buckets_in(*step, g) > kMaxPoints)
    throw ApiError{400, "period: more than 20000 buckets; narrow from/to"};
  const auto rs = st.rollups({meter, reg, *step, g.from, g.to});
  const store::Zone zone(st.timezone());
  std::string out_json, out_csv = "start,end,consumption,complete,resets\n";
  for (const auto& b : rs.rows) {
    const bool done = store::complete(b, true, now);
    const std::string s = zone.local_text(b.start_ms), e = zone.local_text(b.end_ms);
    if (!out_json.empty()) out_json += ",\n  ";
    out_json += "{\"start\": " + text::json_quote(s) + ", \"end\": " + text::json_quote(e) +
                ", \"consumption\": " + exact(b.consumption) +
                ", \"consumption_num\": " + num(b.consumption) +
                ", \"complete\": " + (done ? "true" : "false") +
                ", \"resets\": " + std::to_string(b.resets) + "}";
    out_csv += s + "," + e + "," + b.consumption + "," + (done ? "true" : "false") + "," +
               std::to_string(b.resets) + "\n";
  }
  if (want_csv) return csv(out_csv);
  std::string body =
      "{\"meter\": " + text::json_quote(meter) + ", \"register\": " + text::json_quote(reg) +
      ", \"unit\": " + text::json_quote(rs.unit) + ", \"period\": " + text::json_quote(period) +
      ", \"timezone\": " + text::json_quote(st.timezone()) + ",\n \"buckets\": [";
  body += out_json.empty() ? "]}\n" : "\n  " + out_json + "\n]}\n";
  return json(200, body);
}

std::string poll_event(const store::Poll& p) {
  return "event: poll\nid: " + std::to_string(p.seq) + "\ndata: " + sinks::poll_json(p) + "\n\n";
}

}  // namespace

LiveFeed::LiveFeed(store::Store& store, std::function<std::vector<std::string>()> meters,
                   std::chrono::milliseconds keepalive)
    : store_(store), meters_(std::move(meters)) {
  subscription_ = store_.subscribe({[this](std::span<const store::Poll> p) { publish(p); }, {}});
  thread_ = std::thread([this, keepalive] { keepalive_loop(keepalive); });
}

LiveFeed::~LiveFeed() {
  store_.unsubscribe(subscription_);
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
    for (auto& c : clients_) c.stream->close();
    clients_.clear();
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

std::size_t LiveFeed::streams() const {
  std::lock_guard lock(mu_);
  return clients_.size();
}

Response LiveFeed::open(const Request& request) {
  Response r;
  r.content_type = "text/event-stream";
  r.headers.emplace_back("Cache-Control", "no-cache");
  r.stream = std::make_shared<Stream>();
  std::string hello = "{\"meters\": [";
  const auto names = meters_ ? meters_() : std::vector<std::string>{};
  for (std::size_t i = 0; i < names.size(); ++i)
    hello += (i != 0 ? ", " : "") + text::json_quote(names[i]);
  hello += "]}";
  r.stream->push("retry: 3000\nevent: hello\ndata: " + hello + "\n\n");
  std::optional<std::string> last = request.header("Last-Event-ID");
  if (!last) last = request.arg("last_event_id");
  Client c{r.stream, 0};
  // Under the feed's lock: a poll stored meanwhile waits in publish() and is then sent once.
  std::lock_guard lock(mu_);
  c.last_seq = store_.last_seq();
  if (last && !last->empty() && last->find_first_not_of("0123456789") == std::string::npos &&
      last->size() < 19) {
    const std::int64_t from =
        std::max<std::int64_t>(std::stoll(*last), c.last_seq - static_cast<std::int64_t>(kReplay));
    for (const auto& p : store_.polls_after(from, kReplay)) {
      r.stream->push(poll_event(p));
      c.last_seq = std::max(c.last_seq, p.seq);
    }
  }
  clients_.push_back(std::move(c));
  return r;
}

void LiveFeed::publish(std::span<const store::Poll> polls) {
  std::lock_guard lock(mu_);
  for (const auto& p : polls) {
    const std::string ev = poll_event(p);
    std::erase_if(clients_, [&](Client& c) {
      if (p.seq <= c.last_seq) return false;
      c.last_seq = p.seq;
      return !c.stream->push(ev);
    });
  }
}

void LiveFeed::keepalive_loop(std::chrono::milliseconds every) {
  std::unique_lock lock(mu_);
  while (!stopping_) {
    cv_.wait_for(lock, every, [this] { return stopping_; });
    if (stopping_) break;
    std::erase_if(clients_, [](Client& c) { return !c.stream->push(": keepalive\n\n"); });
  }
}

void add_history_api(Routes& routes, store::Store& store, std::shared_ptr<LiveFeed> live,
                     std::function<std::int64_t()> now_ms) {
  if (!now_ms) now_ms = system_now_ms;
  routes.get("/api/history", [&store, now_ms](const Request& r) {
    return guarded([&] { return history(store, r, now_ms()); });
  });
  routes.get("/api/consumption", [&store, now_ms](const Request& r) {
    return guarded([&] { return consumption(store, r, now_ms()); });
  });
  if (live) {
    routes.get("/api/live", [live](const Request& r) { return live->open(r); });
  }
}

}  // namespace kamstrup::web
