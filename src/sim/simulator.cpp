#include "sim/simulator.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <termios.h>
#include <unistd.h>

#include <asio/co_spawn.hpp>
#include <asio/io_context.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/posix/stream_descriptor.hpp>
#include <asio/redirect_error.hpp>
#include <asio/signal_set.hpp>
#include <asio/steady_timer.hpp>
#include <asio/use_awaitable.hpp>
#include <nlohmann/json.hpp>

#include <array>
#include <cerrno>
#include <charconv>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <random>
#include <vector>

#include "kmp/frame.hpp"
#include "sim/faults.hpp"
#include "sim/legacy_frontend.hpp"

namespace kamstrup::sim {

namespace {

using Steady = std::chrono::steady_clock;
using Json = nlohmann::ordered_json;
using asio::ip::tcp;

template <typename TimePoint>
double seconds(TimePoint tp) {
  auto us = std::chrono::duration_cast<std::chrono::microseconds>(tp.time_since_epoch()).count();
  return static_cast<double>(us) / 1e6;
}

// Independent, reproducible streams per meter from one user seed.
std::uint64_t splitmix64(std::uint64_t x) {
  x += 0x9E3779B97F4A7C15ULL;
  x = (x ^ (x >> 30U)) * 0xBF58476D1CE4E5B9ULL;
  x = (x ^ (x >> 27U)) * 0x94D049BB133111EBULL;
  return x ^ (x >> 31U);
}

void rethrow(const std::exception_ptr& e) {
  if (e) std::rethrow_exception(e);
}

std::optional<unsigned> baud_of(speed_t s) {
  static constexpr std::array<std::pair<speed_t, unsigned>, 23> kSpeeds{{
      {B50, 50},         {B75, 75},         {B110, 110},         {B134, 134},
      {B150, 150},       {B200, 200},       {B300, 300},         {B600, 600},
      {B1200, 1200},     {B1800, 1800},     {B2400, 2400},       {B4800, 4800},
      {B9600, 9600},     {B19200, 19200},   {B38400, 38400},     {B57600, 57600},
      {B115200, 115200}, {B230400, 230400}, {B460800, 460800},   {B500000, 500000},
      {B576000, 576000}, {B921600, 921600}, {B1000000, 1000000},
  }};
  for (const auto& [code, baud] : kSpeeds) {
    if (code == s) return baud;
  }
  return std::nullopt;
}

class EventLog {
 public:
  explicit EventLog(const std::string& path) : file_(std::fopen(path.c_str(), "w")) {
    if (file_ == nullptr) throw SimError(path + ": " + std::strerror(errno));
  }
  ~EventLog() { std::fclose(file_); }
  EventLog(const EventLog&) = delete;
  EventLog& operator=(const EventLog&) = delete;

  void write(const Json& entry) {
    std::string line = entry.dump();
    line.push_back('\n');
    std::fwrite(line.data(), 1, line.size(), file_);
    std::fflush(file_);
  }

 private:
  std::FILE* file_;
};

// A meter's connection to the reader. Writes never block: what the kernel cannot take at once is
// dropped, as bytes on a serial line are lost when nobody listens.
class Link {
 public:
  virtual ~Link() = default;
  virtual void send(std::span<const std::uint8_t> bytes) = 0;
  // The reader's line settings, where the front end can see them.
  [[nodiscard]] virtual std::optional<LineSpec> reader_line() const { return std::nullopt; }
  // Reads from the reader (and accepts it, for TCP) until shutdown.
  virtual asio::awaitable<void> serve() = 0;
  // Changes whenever the peer changes, so a reply meant for an old TCP client is not sent to
  // the new one.
  [[nodiscard]] unsigned generation() const { return generation_; }

 protected:
  unsigned generation_ = 0;
};

class Meter {
 public:
  Meter(const SimOptions& opts, EventLog* log, std::size_t index, Profile profile,
        asio::any_io_executor ex)
      : opts_(opts),
        log_(log),
        index_(index),
        ex_(std::move(ex)),
        model_(std::move(profile), splitmix64(opts.seed + 2 * index), WallClock::now()),
        rng_(splitmix64(opts.seed + 2 * index + 1)),
        echo_(opts.echo_mode) {
    if (model_.profile().legacy.enabled) {
      legacy_ = std::make_unique<LegacyResponder>(model_.profile());
    }
  }

  void on_bytes(std::span<const std::uint8_t> bytes);
  void reset_receiver() {
    rx_.reset();
    if (legacy_) legacy_->reset();
  }
  [[nodiscard]] const MeterModel& model() const { return model_; }

  std::unique_ptr<Link> link;
  std::string port;

 private:
  void on_request(std::vector<std::uint8_t> wire, Steady::time_point mono,
                  WallClock::time_point wall);
  asio::awaitable<void> transmit(std::vector<std::uint8_t> wire, Steady::time_point start,
                                 unsigned generation, Json entry,
                                 std::optional<Steady::duration> pace = std::nullopt);
  // Pre-KMP meters (legacy_frontend.hpp): `/#n` and IEC mode A instead of KMP frames.
  void on_legacy_bytes(std::span<const std::uint8_t> bytes, Steady::time_point mono,
                       WallClock::time_point wall);
  asio::awaitable<void> legacy_standard(char code, unsigned generation, Json tx);
  void legacy_iec_data(Steady::time_point after, WallClock::time_point wall, Json tx);
  [[nodiscard]] Steady::duration paced(const LineSpec& line) const {
    return opts_.pacing ? std::chrono::duration_cast<Steady::duration>(line.char_time())
                        : Steady::duration::zero();
  }
  void log(const Json& entry) {
    if (log_ != nullptr) log_->write(entry);
  }
  [[nodiscard]] Steady::duration char_time() const {
    return opts_.pacing
               ? std::chrono::duration_cast<Steady::duration>(model_.profile().line.char_time())
               : Steady::duration::zero();
  }

  const SimOptions& opts_;
  EventLog* log_;
  std::size_t index_;
  asio::any_io_executor ex_;
  MeterModel model_;
  std::mt19937_64 rng_;
  EchoFilter echo_;
  kmp::FrameReceiver rx_;
  Steady::time_point frame_start_{};
  Steady::time_point tx_free_{};
  std::unique_ptr<LegacyResponder> legacy_;
  std::optional<Steady::time_point> ack_deadline_;  // an IEC readout waiting for ACK 000
};

void Meter::on_bytes(std::span<const std::uint8_t> bytes) {
  const auto mono = Steady::now();
  const auto wall = WallClock::now();
  if (opts_.echo) {
    const auto reflected = echo_.reflect(bytes);
    if (!reflected.empty()) link->send(reflected);
  }
  if (legacy_) {
    on_legacy_bytes(bytes, mono, wall);
    return;
  }
  for (std::uint8_t b : bytes) {
    const bool was_in_frame = rx_.in_frame();
    const auto event = rx_.feed(b);
    if (!was_in_frame && rx_.in_frame()) frame_start_ = mono;
    if (event != kmp::FrameReceiver::Event::Frame) continue;
    auto frame = rx_.frame_bytes();
    if (frame.front() != kmp::kStartToMeter) continue;  // our own reply echoed by a cooked tty
    // A pty or TCP link delivers the request at once; a real line needs one character time per
    // byte. With pacing, the meter hears the last byte when the line would have delivered it.
    auto heard = mono;
    if (opts_.pacing) {
      heard = std::max(mono, frame_start_ + char_time() * static_cast<std::int64_t>(frame.size()));
    }
    on_request({frame.begin(), frame.end()}, heard,
               wall + std::chrono::duration_cast<WallClock::duration>(heard - mono));
  }
}

void Meter::on_request(std::vector<std::uint8_t> wire, Steady::time_point mono,
                       WallClock::time_point wall) {
  const RequestInfo info = describe_request(wire, &model_.profile());
  const std::optional<LineSpec> line = link->reader_line();
  Json rx{{"t", seconds(wall)},
          {"mono", seconds(mono)},
          {"meter", index_},
          {"dir", "rx"},
          {"hex", kmp::to_hex(wire)},
          {"bytes", wire.size()},
          {"dst", info.dst ? Json(*info.dst) : Json(nullptr)},
          {"cid", info.cid ? Json(*info.cid) : Json(nullptr)},
          {"ids", info.ids},
          {"lid", info.lid ? Json(*info.lid) : Json(nullptr)},
          {"valid", info.answerable},
          {"error", info.answerable ? Json(nullptr) : Json(info.reason)},
          {"line", line ? Json(line->to_string()) : Json(nullptr)}};
  log(rx);

  Json tx{{"t", seconds(wall)}, {"mono", seconds(mono)},
          {"meter", index_},    {"dir", "tx"},
          {"cid", rx["cid"]},   {"hex", ""},
          {"bytes", 0},         {"sent", false},
          {"fault", nullptr},   {"reason", nullptr},
          {"noise", 0},         {"values", Json::object()}};
  const LineSpec& expected = model_.profile().line;
  if (opts_.asleep) {
    tx["fault"] = "asleep";
    tx["reason"] = "the meter is asleep";
  } else if (line && !line_accepted(*line, expected, opts_.accept_1_stop_bit,
                                    /*format_observable=*/false)) {  // a Linux pty shows 8N
    tx["fault"] = "line";
    tx["reason"] = "reader line " + line->to_string() + ", the meter expects " +
                   expected.to_string() + (opts_.accept_1_stop_bit ? " (1 stop bit accepted)" : "");
  } else if (!info.answerable) {
    tx["reason"] = info.reason;
  } else if (opts_.drop > 0 && std::bernoulli_distribution(opts_.drop)(rng_)) {
    tx["fault"] = "drop";
    tx["reason"] = "dropped";
  } else {
    const Steady::time_point start = std::max(mono + opts_.turnaround, tx_free_);
    // The values are those of the moment the reply starts; the tx line carries that moment.
    const auto wall_start = wall + std::chrono::duration_cast<WallClock::duration>(start - mono);
    const Answer answer = model_.handle(wire, wall_start);
    tx["t"] = seconds(wall_start);
    tx["mono"] = seconds(start);
    if (!answer.reply) {
      tx["reason"] = answer.reason;
    } else {
      std::vector<std::uint8_t> out;
      if (opts_.noise) out = noise_bytes(rng_);
      tx["noise"] = out.size();
      if (opts_.corrupt > 0 && std::bernoulli_distribution(opts_.corrupt)(rng_)) {
        tx["fault"] = "corrupt";
        auto bad = corrupt_reply(*answer.reply, rng_);
        out.insert(out.end(), bad.begin(), bad.end());
      } else {
        out.insert(out.end(), answer.reply->begin(), answer.reply->end());
      }
      for (const auto& v : answer.values) tx["values"][std::to_string(v.id)] = v.value.to_string();
      if (answer.log_info) {
        // Logger replies: each record sent (id, boundary time, values) and the INFO byte.
        tx["info"] = *answer.log_info;
        tx["records"] = Json::array();
        for (const auto& rec : answer.records) {
          Json values = Json::object();
          for (const auto& v : rec.values) values[std::to_string(v.id)] = v.value.to_string();
          tx["records"].push_back(
              {{"id", rec.id}, {"t", seconds(rec.t)}, {"values", std::move(values)}});
        }
      }
      tx_free_ = start + char_time() * static_cast<std::int64_t>(out.size());
      asio::co_spawn(ex_, transmit(std::move(out), start, link->generation(), std::move(tx)),
                     rethrow);
      return;
    }
  }
  log(tx);
}

asio::awaitable<void> Meter::transmit(std::vector<std::uint8_t> wire, Steady::time_point start,
                                      unsigned generation, Json entry,
                                      std::optional<Steady::duration> pace) {
  asio::steady_timer timer(ex_);
  std::error_code ec;
  timer.expires_at(start);
  co_await timer.async_wait(asio::redirect_error(asio::use_awaitable, ec));
  if (ec) co_return;  // shutting down
  const Steady::duration ct = pace ? *pace : char_time();
  if (link->generation() != generation) {
    entry["reason"] = "the client that asked has gone";
    log(entry);
    co_return;
  }
  entry["hex"] = kmp::to_hex(wire);
  entry["bytes"] = wire.size();
  entry["sent"] = true;
  entry["end_mono"] = seconds(start + ct * static_cast<std::int64_t>(wire.size()));
  log(entry);

  std::size_t sent = 0;
  while (sent < wire.size()) {
    // Byte i has fully arrived at the far end at start + (i + 1) × char time.
    auto due = [&](std::size_t i) { return start + ct * static_cast<std::int64_t>(i + 1); };
    if (Steady::now() < due(sent)) {
      timer.expires_at(due(sent));
      co_await timer.async_wait(asio::redirect_error(asio::use_awaitable, ec));
      if (ec) co_return;
    }
    if (link->generation() != generation) co_return;
    const auto t = Steady::now();
    std::size_t upto = sent;
    while (upto < wire.size() && due(upto) <= t) ++upto;
    link->send(std::span(wire).subspan(sent, upto - sent));
    sent = upto;
  }
}

// ---- legacy MULTICAL (/#n, IEC mode A) --------------------------------------------------------

void Meter::on_legacy_bytes(std::span<const std::uint8_t> bytes, Steady::time_point mono,
                            WallClock::time_point wall) {
  const Profile& profile = model_.profile();
  for (const auto& req : legacy_->feed(bytes)) {
    const std::optional<LineSpec> line = link->reader_line();
    const std::string text =
        req.kind == LegacyResponder::Request::Kind::Ack
            ? std::string(legacy::kIecAck)
            : req.text() + (req.kind == LegacyResponder::Request::Kind::Iec ? "\r\n" : "");
    const bool is_ack = req.kind == LegacyResponder::Request::Kind::Ack;
    const bool valid = !is_ack || ack_deadline_.has_value();
    log(Json{{"t", seconds(wall)},
             {"mono", seconds(mono)},
             {"meter", index_},
             {"dir", "rx"},
             {"request", req.text()},
             {"hex", kmp::to_hex(std::span(reinterpret_cast<const std::uint8_t*>(text.data()),
                                           text.size()))},
             {"bytes", text.size()},
             {"valid", valid},
             {"line", line ? Json(line->to_string()) : Json(nullptr)}});
    Json tx{{"t", seconds(wall)},
            {"mono", seconds(mono)},
            {"meter", index_},
            {"dir", "tx"},
            {"request", req.text()},
            {"hex", ""},
            {"text", ""},
            {"bytes", 0},
            {"sent", false},
            {"fault", nullptr},
            {"reason", nullptr},
            {"line", nullptr},
            {"values", Json::object()}};
    if (is_ack) {
      if (!ack_deadline_ || mono > *ack_deadline_) {
        tx["reason"] = ack_deadline_ ? "ACK too late" : "no ACK expected";
        ack_deadline_.reset();
        log(tx);
        continue;
      }
      ack_deadline_.reset();
      legacy_iec_data(mono + paced(LegacyResponder::iec_line()) * 6, wall, std::move(tx));
      continue;
    }
    const bool iec = req.kind == LegacyResponder::Request::Kind::Iec;
    if (opts_.asleep) {
      tx["fault"] = "asleep";
      tx["reason"] = "the meter is asleep";
    } else if (line && (iec ? line->baud != profile.line.baud
                            : !line_accepted(*line, profile.line, opts_.accept_1_stop_bit,
                                             /*format_observable=*/false))) {
      tx["fault"] = "line";
      tx["reason"] = "request at " + line->to_string() + ", the meter expects " +
                     (iec ? std::to_string(profile.line.baud) + " baud" : profile.line.to_string());
    } else if (iec ? !profile.legacy.iec : !profile.legacy.standard) {
      tx["reason"] = "this meter does not answer " + req.text();
    } else if (opts_.drop > 0 && std::bernoulli_distribution(opts_.drop)(rng_)) {
      tx["fault"] = "drop";
      tx["reason"] = "dropped";
    } else if (iec) {
      // Mode A: the identification at 300 baud once the request has been heard, then the data
      // block (after the ACK, for meters that wait for one).
      const LineSpec iec_line = LegacyResponder::iec_line();
      const Steady::duration ct = paced(iec_line);
      const auto heard = mono + paced(profile.line) * static_cast<std::int64_t>(text.size());
      const Steady::time_point start = std::max(heard + opts_.turnaround, tx_free_);
      const std::string ident = legacy_->iec_identification();
      if (profile.legacy.iec_ack) {
        const auto wall_start =
            wall + std::chrono::duration_cast<WallClock::duration>(start - mono);
        tx["t"] = seconds(wall_start);
        tx["mono"] = seconds(start);
        tx["text"] = ident;
        tx["line"] = iec_line.to_string();
        tx["part"] = "identification";
        tx_free_ = start + ct * static_cast<std::int64_t>(ident.size());
        ack_deadline_ = tx_free_ + std::chrono::seconds(2);
        asio::co_spawn(
            ex_,
            transmit({ident.begin(), ident.end()}, start, link->generation(), std::move(tx), ct),
            rethrow);
      } else {
        tx["identification"] = ident;
        legacy_iec_data(heard, wall, std::move(tx));
      }
      continue;
    } else {
      asio::co_spawn(ex_, legacy_standard(req.code, link->generation(), std::move(tx)), rethrow);
      continue;
    }
    log(tx);
  }
}

void Meter::legacy_iec_data(Steady::time_point after, WallClock::time_point wall, Json tx) {
  const LineSpec iec_line = LegacyResponder::iec_line();
  const Steady::duration ct = paced(iec_line);
  const auto mono = Steady::now();
  const Steady::time_point start = std::max(after + opts_.turnaround, tx_free_);
  const auto wall_start = wall + std::chrono::duration_cast<WallClock::duration>(start - mono);
  auto reply = legacy_->iec_data(model_, wall_start);
  std::string out = tx.contains("identification") ? tx["identification"].get<std::string>() : "";
  tx.erase("identification");
  const std::size_t data_from = out.size();
  out += reply.bytes;
  // Only the data block: the BCC covers it, the identification line has no check at all.
  if (opts_.corrupt > 0 && std::bernoulli_distribution(opts_.corrupt)(rng_) &&
      parity_error(out, data_from, out.size() - 1, rng_)) {
    tx["fault"] = "corrupt";
  }
  tx["t"] = seconds(wall_start);
  tx["mono"] = seconds(start);
  tx["text"] = out;
  tx["line"] = iec_line.to_string();
  tx["part"] = "data";
  for (const auto& [name, value] : reply.values) tx["values"][name] = value;
  tx_free_ = start + ct * static_cast<std::int64_t>(out.size());
  asio::co_spawn(ex_,
                 transmit({out.begin(), out.end()}, start, link->generation(), std::move(tx), ct),
                 rethrow);
}

asio::awaitable<void> Meter::legacy_standard(char code, unsigned generation, Json tx) {
  const Profile& profile = model_.profile();
  const LineSpec& reply_line = profile.legacy.reply_line;
  asio::steady_timer timer(ex_);
  std::error_code ec;
  // The reader must switch its port to the reply line (1200 baud) before the meter answers; a
  // pty shows that switch through termios. Poll it for up to a second.
  if (link->reader_line()) {
    const auto give_up = Steady::now() + std::chrono::seconds(1);
    std::optional<LineSpec> line = link->reader_line();
    while (line && line->baud != reply_line.baud && Steady::now() < give_up) {
      timer.expires_after(std::chrono::milliseconds(5));
      co_await timer.async_wait(asio::redirect_error(asio::use_awaitable, ec));
      if (ec) co_return;
      line = link->reader_line();
    }
    if (line && line->baud != reply_line.baud) {
      tx["fault"] = "line";
      tx["reason"] = "the reader did not switch to " + std::to_string(reply_line.baud) +
                     " baud within 1 s after the request (still " + line->to_string() + ")";
      log(tx);
      co_return;
    }
  }
  const auto mono = Steady::now();
  const auto wall = WallClock::now();
  const Steady::time_point start = std::max(mono + opts_.turnaround, tx_free_);
  const auto wall_start = wall + std::chrono::duration_cast<WallClock::duration>(start - mono);
  auto reply = legacy_->standard(code, model_, wall_start);
  tx["t"] = seconds(wall_start);
  tx["mono"] = seconds(start);
  if (!reply) {
    tx["reason"] = std::string("this meter does not answer /#") + code;
    log(tx);
    co_return;
  }
  const Steady::duration ct = paced(reply_line);
  if (opts_.corrupt > 0 && std::bernoulli_distribution(opts_.corrupt)(rng_) &&
      parity_error(reply->bytes, 0, reply->bytes.size(), rng_)) {
    tx["fault"] = "corrupt";
  }
  tx["text"] = reply->bytes;
  tx["line"] = reply_line.to_string();
  for (const auto& [name, value] : reply->values) tx["values"][name] = value;
  tx_free_ = start + ct * static_cast<std::int64_t>(reply->bytes.size());
  co_await transmit({reply->bytes.begin(), reply->bytes.end()}, start, generation, std::move(tx),
                    ct);
}

// ---- pty ------------------------------------------------------------------------------------

class PtyLink : public Link {
 public:
  PtyLink(const asio::any_io_executor& ex, Meter& meter, std::string symlink_path)
      : meter_(meter), master_(ex), link_path_(std::move(symlink_path)) {
    int fd = ::posix_openpt(O_RDWR | O_NOCTTY | O_NONBLOCK);
    if (fd < 0) throw SimError(std::string("posix_openpt: ") + std::strerror(errno));
    master_.assign(fd);
    fd_ = fd;
    std::array<char, 128> name{};
    if (::grantpt(fd) != 0 || ::unlockpt(fd) != 0 ||
        ::ptsname_r(fd, name.data(), name.size()) != 0) {
      throw SimError(std::string("pty: ") + std::strerror(errno));
    }
    slave_ = name.data();
    if (!link_path_.empty()) make_symlink();
  }

  ~PtyLink() override {
    if (!link_path_.empty() && linked_) {
      std::array<char, 256> target{};
      ssize_t n = ::readlink(link_path_.c_str(), target.data(), target.size() - 1);
      // Only remove the link if it is still ours.
      if (n > 0 && slave_ == std::string(target.data(), static_cast<std::size_t>(n))) {
        ::unlink(link_path_.c_str());
      }
    }
  }

  [[nodiscard]] const std::string& slave() const { return slave_; }

  void send(std::span<const std::uint8_t> bytes) override {
    // Bytes written while no reader has the slave open would wait in the pty for the next
    // reader, which a real line never does.
    if (!reader_present_) return;
    while (!bytes.empty()) {
      ssize_t n = ::write(fd_, bytes.data(), bytes.size());
      if (n <= 0) return;
      bytes = bytes.subspan(static_cast<std::size_t>(n));
    }
  }

  // On Linux the master reports the slave's termios.
  [[nodiscard]] std::optional<LineSpec> reader_line() const override {
    termios t{};
    if (::tcgetattr(fd_, &t) != 0) return std::nullopt;
    LineSpec s;
    s.baud = baud_of(::cfgetospeed(&t)).value_or(0);
    switch (t.c_cflag & CSIZE) {
      case CS5:
        s.data_bits = 5;
        break;
      case CS6:
        s.data_bits = 6;
        break;
      case CS7:
        s.data_bits = 7;
        break;
      default:
        s.data_bits = 8;
        break;
    }
    s.parity = (t.c_cflag & PARENB) == 0 ? 'N' : ((t.c_cflag & PARODD) != 0 ? 'O' : 'E');
    s.stop_bits = (t.c_cflag & CSTOPB) != 0 ? 2 : 1;
    return s;
  }

  asio::awaitable<void> serve() override {
    std::array<std::uint8_t, 512> buf{};
    asio::steady_timer idle(master_.get_executor());
    for (;;) {
      std::error_code ec;
      std::size_t n = co_await master_.async_read_some(
          asio::buffer(buf), asio::redirect_error(asio::use_awaitable, ec));
      if (ec == asio::error::operation_aborted || ec == asio::error::bad_descriptor) co_return;
      if (ec) {
        // EIO: no reader has the slave open. The master keeps signalling hang-up, so waiting
        // for readability would spin; poll gently instead. 10 ms keeps the delay a newly
        // opened reader sees far below a byte time's worth of the meter's own turnaround, at
        // a cost of 100 wake-ups a second while nobody reads.
        reader_present_ = false;
        meter_.reset_receiver();
        idle.expires_after(std::chrono::milliseconds(10));
        co_await idle.async_wait(asio::redirect_error(asio::use_awaitable, ec));
        if (ec) co_return;
        continue;
      }
      reader_present_ = true;
      meter_.on_bytes(std::span(buf.data(), n));
    }
  }

 private:
  void make_symlink() {
    struct stat st {};
    if (::lstat(link_path_.c_str(), &st) == 0) {
      if (!S_ISLNK(st.st_mode)) throw SimError(link_path_ + ": exists and is not a symlink");
      ::unlink(link_path_.c_str());
    }
    if (::symlink(slave_.c_str(), link_path_.c_str()) != 0) {
      throw SimError(link_path_ + ": " + std::strerror(errno));
    }
    linked_ = true;
  }

  Meter& meter_;
  asio::posix::stream_descriptor master_;
  int fd_ = -1;
  std::string slave_;
  std::string link_path_;
  bool linked_ = false;
  bool reader_present_ = false;
};

// ---- TCP ------------------------------------------------------------------------------------

class TcpLink : public Link {
 public:
  TcpLink(const asio::any_io_executor& ex, Meter& meter, const tcp::endpoint& endpoint,
          const std::string& shown_host)
      : meter_(meter), acceptor_(ex) {
    std::error_code ec;
    acceptor_.open(endpoint.protocol(), ec);
    if (!ec) acceptor_.set_option(tcp::acceptor::reuse_address(true), ec);
    if (!ec) acceptor_.bind(endpoint, ec);
    if (!ec) acceptor_.listen(asio::socket_base::max_listen_connections, ec);
    std::string where = shown_host + ":" + std::to_string(endpoint.port());
    if (ec) throw SimError("tcp " + where + ": " + ec.message());
    name_ = "socket://" + shown_host + ":" + std::to_string(acceptor_.local_endpoint().port());
  }

  [[nodiscard]] const std::string& name() const { return name_; }

  void send(std::span<const std::uint8_t> bytes) override {
    if (!client_) return;
    std::error_code ec;
    while (!bytes.empty()) {
      std::size_t n = client_->write_some(asio::buffer(bytes.data(), bytes.size()), ec);
      if (ec) return;
      bytes = bytes.subspan(n);
    }
  }

  asio::awaitable<void> serve() override {
    for (;;) {
      std::error_code ec;
      tcp::socket socket =
          co_await acceptor_.async_accept(asio::redirect_error(asio::use_awaitable, ec));
      if (ec == asio::error::operation_aborted) co_return;
      if (ec) {
        // Out of descriptors and the like: back off instead of spinning.
        asio::steady_timer wait(acceptor_.get_executor(), std::chrono::milliseconds(100));
        co_await wait.async_wait(asio::redirect_error(asio::use_awaitable, ec));
        if (ec) co_return;
        continue;
      }
      socket.set_option(tcp::no_delay(true), ec);
      socket.non_blocking(true, ec);
      if (client_) client_->close(ec);
      client_ = std::make_shared<tcp::socket>(std::move(socket));
      ++generation_;
      meter_.reset_receiver();
      asio::co_spawn(acceptor_.get_executor(), read_loop(client_), rethrow);
    }
  }

 private:
  asio::awaitable<void> read_loop(std::shared_ptr<tcp::socket> socket) {
    std::array<std::uint8_t, 512> buf{};
    for (;;) {
      std::error_code ec;
      std::size_t n = co_await socket->async_read_some(
          asio::buffer(buf), asio::redirect_error(asio::use_awaitable, ec));
      if (ec) {
        if (client_ == socket) {
          client_.reset();
          ++generation_;
        }
        co_return;
      }
      if (client_ == socket) meter_.on_bytes(std::span(buf.data(), n));
    }
  }

  Meter& meter_;
  tcp::acceptor acceptor_;
  std::shared_ptr<tcp::socket> client_;
  std::string name_;
};

struct HostPort {
  std::string host;
  std::uint16_t port;
};

HostPort parse_host_port(const std::string& spec) {
  auto colon = spec.rfind(':');
  if (colon == std::string::npos || colon == 0 || colon + 1 == spec.size()) {
    throw SimError("--tcp " + spec + ": expected HOST:PORT");
  }
  std::string host = spec.substr(0, colon);
  if (host.size() > 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  unsigned port = 0;
  const char* first = spec.data() + colon + 1;
  const char* last = spec.data() + spec.size();
  auto [ptr, ec] = std::from_chars(first, last, port);
  if (ec != std::errc{} || ptr != last || port > 65535) {
    throw SimError("--tcp " + spec + ": bad port");
  }
  return {host, static_cast<std::uint16_t>(port)};
}

}  // namespace

bool line_accepted(const LineSpec& reader, const LineSpec& meter, bool accept_1_stop_bit,
                   bool format_observable) {
  if (reader.baud != meter.baud) return false;
  if (format_observable && (reader.data_bits != meter.data_bits || reader.parity != meter.parity)) {
    return false;
  }
  if (reader.stop_bits == meter.stop_bits) return true;
  return accept_1_stop_bit && meter.stop_bits == 2 && reader.stop_bits == 1;
}

// ---- Simulator ------------------------------------------------------------------------------

struct Simulator::Impl {
  explicit Impl(SimOptions o) : opts(std::move(o)) {}

  SimOptions opts;
  // Declared before everything that does I/O through it, so it is destroyed last.
  asio::io_context io;
  std::unique_ptr<EventLog> log;
  std::vector<std::unique_ptr<Meter>> meters;
  std::unique_ptr<asio::signal_set> signals;
};

Simulator::Simulator(SimOptions options) : impl_(std::make_unique<Impl>(std::move(options))) {}

Simulator::~Simulator() {
  impl_->io.stop();
  impl_->signals.reset();
  impl_->meters.clear();
}

void Simulator::start(std::ostream& out) {
  Impl& s = *impl_;
  const SimOptions& o = s.opts;
  if (o.count == 0) throw SimError("--count must be at least 1");
  if (!o.pty_link.empty() && o.count > 1) throw SimError("--pty LINK needs --count 1");
  validate_profile(o.profile);
  if (!o.log_path.empty()) s.log = std::make_unique<EventLog>(o.log_path);

  std::optional<HostPort> hp;
  tcp::endpoint base;
  if (!o.tcp.empty()) {
    hp = parse_host_port(o.tcp);
    if (hp->port != 0 && hp->port + o.count - 1 > 65535) {
      throw SimError("--tcp " + o.tcp + ": not enough ports for --count " +
                     std::to_string(o.count));
    }
    std::error_code ec;
    tcp::resolver resolver(s.io);
    auto results = resolver.resolve(hp->host, std::to_string(hp->port), ec);
    if (ec || results.empty()) throw SimError("--tcp " + o.tcp + ": " + ec.message());
    base = results.begin()->endpoint();
  }
  const std::string shown_host =
      hp && hp->host.find(':') != std::string::npos ? "[" + hp->host + "]" : (hp ? hp->host : "");

  for (unsigned i = 0; i < o.count; ++i) {
    Profile p = o.profile;
    p.serial = o.profile.serial + i;
    auto m = std::make_unique<Meter>(o, s.log.get(), i, std::move(p), s.io.get_executor());
    if (hp) {
      tcp::endpoint ep = base;
      if (hp->port != 0) ep.port(static_cast<std::uint16_t>(hp->port + i));
      auto link = std::make_unique<TcpLink>(s.io.get_executor(), *m, ep, shown_host);
      m->port = link->name();
      m->link = std::move(link);
    } else {
      auto link = std::make_unique<PtyLink>(s.io.get_executor(), *m, o.pty_link);
      m->port = link->slave();
      m->link = std::move(link);
    }
    s.meters.push_back(std::move(m));
  }
  for (auto& m : s.meters) asio::co_spawn(s.io, m->link->serve(), rethrow);
  for (const auto& m : s.meters) {
    out << "kamstrup simulate: " << o.profile.name << " on " << m->port << " serial "
        << m->model().profile().serial << '\n';
  }
  out.flush();
}

void Simulator::stop_on_signals() {
  impl_->signals = std::make_unique<asio::signal_set>(impl_->io, SIGINT, SIGTERM);
  impl_->signals->async_wait([this](const std::error_code& ec, int) {
    if (!ec) stop();
  });
}

void Simulator::run() {
  impl_->io.run();
}

void Simulator::stop() {
  impl_->io.stop();
}

std::size_t Simulator::size() const {
  return impl_->meters.size();
}

const std::string& Simulator::port(std::size_t meter) const {
  return impl_->meters.at(meter)->port;
}

const MeterModel& Simulator::model(std::size_t meter) const {
  return impl_->meters.at(meter)->model();
}

}  // namespace kamstrup::sim
