// MQTT output. See mqtt.hpp for the topics.
//
// Home Assistant discovery
// ------------------------
// One retained config per (meter, register) on <discovery_prefix>/sensor/<unique_id>/config,
// published once the daemon has called meter_info() for the meter (the device needs the model
// and serial), for every register seen in that meter's polls so far, and again whenever a poll
// shows a register for the first time or with another unit. The unit is always the one the
// meter sent (or the energy_unit it was converted to), never a guess. All configs are published
// again after every reconnect (a broker without persistence forgets retained messages).
//
//   unique_id   kamstrup_<serial>_<register>; while the meter's serial is unknown (MeterInfo
//               serial ""), kamstrup_<meter name>_<register>. When a later meter_info() brings a
//               serial (or another one), the old configs are deleted (empty retained payload:
//               HA removes those entities) and the new ones published. Characters outside
//               [A-Za-z0-9_-] become '_'.
//   device      {"identifiers": ["kamstrup_<serial or meter name>"], "manufacturer": "Kamstrup",
//               "model": info.model or info.meter_type, "serial_number", "sw_version",
//               "name": "Kamstrup <meter>"}
//   name        the catalogue description ("E1 heat energy"); HA prefixes the device name
//   state_topic <base>/<meter>/<register>
//   availability [<base>/status, <base>/<meter>/availability], availability_mode "all": an
//               entity is available while the daemon is connected and its meter answers
//   unit_of_measurement, device_class, state_class: only for numeric registers. Dates, times
//               and text registers are plain text sensors (their wire "units" such as
//               "yy:mm:dd" describe an encoding, not a unit).
//
// device_class comes from the catalogue, but only when HA accepts the published unit for it
// (HA rejects the entity's statistics otherwise); state_class comes from the catalogue. The
// accepted units applied (valid in HA since 2023; newer HA versions accept more):
//   energy            Wh kWh MWh MJ GJ        (Gcal, GWh: no device_class)
//   volume            m³ L mL gal ft³ CCF     (the meter's "l": no device_class)
//   volume_flow_rate  m³/h L/min gal/min ft³/min   (the meter's "l/h": no device_class)
//   temperature       °C °F K
//   power             W kW                    (MW: no device_class)
//   pressure          Pa hPa kPa bar cbar mbar mmHg inHg psi
//   duration          d h min s ms
//   weight            kg g mg µg oz lb st     (the meter's "ton": no device_class)
//   voltage           V mV
//   current           A mA
// temp_diff has no device_class in the catalogue, so "K" is published as a plain measurement.

#include "sinks/mqtt.hpp"

#include <mosquitto.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <condition_variable>
#include <cstdio>
#include <cstring>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <stdexcept>
#include <thread>
#include <utility>
#include <vector>

#include "kmp/catalogue.hpp"
#include "kmp/decimal.hpp"
#include "kmp/units.hpp"
#include "sinks/format.hpp"

namespace kamstrup::sinks {

namespace mqtt_detail {

namespace {

// (device_class, unit) pairs HA accepts; see the table at the top of this file.
constexpr std::pair<std::string_view, std::string_view> kHaUnits[] = {
    {"energy", "Wh"},
    {"energy", "kWh"},
    {"energy", "MWh"},
    {"energy", "MJ"},
    {"energy", "GJ"},
    {"volume", "m³"},
    {"volume", "L"},
    {"volume", "mL"},
    {"volume", "gal"},
    {"volume", "ft³"},
    {"volume", "CCF"},
    {"volume_flow_rate", "m³/h"},
    {"volume_flow_rate", "L/min"},
    {"volume_flow_rate", "gal/min"},
    {"volume_flow_rate", "ft³/min"},
    {"temperature", "°C"},
    {"temperature", "°F"},
    {"temperature", "K"},
    {"power", "W"},
    {"power", "kW"},
    {"pressure", "Pa"},
    {"pressure", "hPa"},
    {"pressure", "kPa"},
    {"pressure", "bar"},
    {"pressure", "cbar"},
    {"pressure", "mbar"},
    {"pressure", "mmHg"},
    {"pressure", "inHg"},
    {"pressure", "psi"},
    {"duration", "d"},
    {"duration", "h"},
    {"duration", "min"},
    {"duration", "s"},
    {"duration", "ms"},
    {"weight", "kg"},
    {"weight", "g"},
    {"weight", "mg"},
    {"weight", "µg"},
    {"weight", "oz"},
    {"weight", "lb"},
    {"weight", "st"},
    {"voltage", "V"},
    {"voltage", "mV"},
    {"current", "A"},
    {"current", "mA"},
};

}  // namespace

std::string_view ha_class_of(kmp::Quantity q) {
  using Q = kmp::Quantity;
  switch (q) {
    case Q::Energy:
      return "energy";
    case Q::Volume:
      return "volume";
    case Q::Flow:
      return "volume_flow_rate";
    case Q::Power:
      return "power";
    case Q::Temperature:
      return "temperature";
    case Q::Pressure:
      return "pressure";
    case Q::Voltage:
      return "voltage";
    case Q::Current:
      return "current";
    case Q::Duration:
      return "duration";
    case Q::Mass:
      return "weight";
    default:
      return {};
  }
}

std::string_view ha_device_class(std::string_view catalogue_class, std::string_view unit) {
  if (catalogue_class.empty()) return {};
  for (const auto& [cls, u] : kHaUnits) {
    if (cls == catalogue_class && u == unit) return catalogue_class;
  }
  return {};
}

}  // namespace mqtt_detail

namespace {

using Clock = std::chrono::steady_clock;

constexpr auto kStableConnection = std::chrono::seconds(10);
constexpr auto kDisconnectGrace = std::chrono::seconds(2);
constexpr int kLoopTimeoutMs = 100;

void lib_init() {
  static std::once_flag once;
  std::call_once(once, [] { mosquitto_lib_init(); });
}

struct Endpoint {
  bool tls = false;
  std::string host;
  int port = 0;
};

Endpoint parse_url(const std::string& url) {
  auto u = config::parse_url(url, "mqtt.url", {"mqtt", "mqtts"});
  if (!u.path.empty() && u.path != "/") config::fail("mqtt.url", "no path after the broker's port");
  if (!u.userinfo.empty()) config::fail("mqtt.url", "give username and password as keys");
  Endpoint ep;
  ep.tls = u.scheme == "mqtts";
  ep.host = u.host;
  ep.port = u.port != 0 ? u.port : (ep.tls ? 8883 : 1883);
  return ep;
}

// For unique ids and discovery topic levels: HA wants [A-Za-z0-9_-].
std::string id_part(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-')) c = '_';
  }
  return out.empty() ? "_" : out;
}

// For a topic level taken from a name: wildcards cannot be published to.
std::string topic_part(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    if (c == '+' || c == '#' || c == '\0') c = '_';
  }
  return out.empty() ? "_" : out;
}

// "Connection refused" → "connection refused"; drops a trailing '.'.
std::string tidy(std::string s) {
  if (!s.empty() && s.back() == '.') s.pop_back();
  if (s.size() > 1 && std::isupper(static_cast<unsigned char>(s[0])) &&
      !std::isupper(static_cast<unsigned char>(s[1]))) {
    s[0] = static_cast<char>(std::tolower(static_cast<unsigned char>(s[0])));
  }
  return s;
}

std::string connack_text(int rc) {
  switch (rc) {
    case 1:
      return "unacceptable protocol version";
    case 2:
      return "client id rejected";
    case 3:
      return "broker unavailable";
    case 4:
      return "bad username or password";
    case 5:
      return "not authorised";
    default:
      return tidy(mosquitto_connack_string(rc));
  }
}

std::string duration_text(std::chrono::milliseconds d) {
  if (d.count() % 1000 == 0) return std::to_string(d.count() / 1000) + " s";
  return std::to_string(d.count()) + " ms";
}

struct Message {
  std::string topic;
  std::string payload;
  bool retain = false;
};

// What a register's own topic carries, and with which unit.
struct Published {
  std::string payload;  // "" = nothing to publish
  std::string unit;     // "" for text
  bool numeric = false;
};

struct MeterState {
  std::optional<MeterInfo> info;
  std::optional<bool> online;
  std::map<std::string, Published> registers;       // last seen, by register name
  std::map<std::string, std::string> config_topic;  // register → its current discovery topic
};

}  // namespace

struct MqttSink::Impl {
  MqttConfig cfg;
  Endpoint ep;
  std::string status_topic;
  mosquitto* mosq = nullptr;
  std::thread net;

  std::mutex deliver_mu;  // one batch at a time

  // Serialises every "update the wanted retained state, then publish it" sequence, so a
  // republish after a reconnect never overtakes a newer state. Never taken in callbacks.
  std::mutex pub_mu;
  std::map<std::string, MeterState> meters;    // guarded by pub_mu
  std::map<std::string, std::string> configs;  // discovery topic → payload; guarded by pub_mu

  // Connection and acknowledgement state; taken in callbacks. No libmosquitto call while held.
  enum class State { Connecting, Connected, Down, Stopped };
  std::mutex mu;
  std::condition_variable cv;
  State state = State::Connecting;
  std::string last_error = "connecting";
  std::string attempt_refusal;   // CONNACK refusal of the current attempt
  std::string attempt_log;       // first error logged by libmosquitto during the attempt
  std::uint64_t generation = 0;  // connections made so far
  Clock::time_point connected_at{};
  bool stable_connection = false;  // the connection that just ended lasted kStableConnection
  bool republish = false;
  bool stop = false;
  bool closed = false;
  bool batch_active = false;
  std::set<int> pending;  // mids of the batch not yet acknowledged
  std::set<int> early;    // acknowledged before publish() returned their mid
  Clock::time_point last_progress{};

  explicit Impl(MqttConfig c) : cfg(std::move(c)) {
    ep = parse_url(cfg.url);
    sinks::validate(cfg);
    status_topic = cfg.base_topic + "/status";
    if (cfg.client_id.empty()) {
      char host[256] = {};
      if (gethostname(host, sizeof host - 1) != 0) std::strcpy(host, "localhost");
      cfg.client_id = std::string("kamstrup-") + host;
    }
    lib_init();
    mosq = mosquitto_new(cfg.client_id.c_str(), true, this);
    if (mosq == nullptr) throw std::runtime_error("mqtt: cannot create a client");
    try {
      setup();
    } catch (...) {
      mosquitto_destroy(mosq);
      throw;
    }
    net = std::thread([this] { run(); });
  }

  ~Impl() {
    stop_thread();
    mosquitto_destroy(mosq);
  }

  Impl(const Impl&) = delete;
  Impl& operator=(const Impl&) = delete;

  void setup() {
    // We run mosquitto_loop() on our own thread; publish() from other threads only queues.
    mosquitto_threaded_set(mosq, true);
    mosquitto_int_option(mosq, MOSQ_OPT_TCP_NODELAY, 1);
    mosquitto_connect_callback_set(mosq, &Impl::on_connect);
    mosquitto_disconnect_callback_set(mosq, &Impl::on_disconnect);
    mosquitto_publish_callback_set(mosq, &Impl::on_publish);
    mosquitto_log_callback_set(mosq, &Impl::on_log);
    if (!cfg.username.empty()) {
      const int rc = mosquitto_username_pw_set(
          mosq, cfg.username.c_str(), cfg.password.empty() ? nullptr : cfg.password.value.c_str());
      if (rc != MOSQ_ERR_SUCCESS) throw std::invalid_argument("mqtt: bad username/password");
    }
    const std::string offline = "offline";
    if (mosquitto_will_set(mosq, status_topic.c_str(), static_cast<int>(offline.size()),
                           offline.data(), cfg.qos, true) != MOSQ_ERR_SUCCESS) {
      throw std::invalid_argument("mqtt: cannot use '" + status_topic + "' as the will topic");
    }
    if (ep.tls) {
      const char* ca = cfg.ca_file.empty() ? nullptr : cfg.ca_file.c_str();
      // Without ca_file: the system's trusted CAs (Debian's hashed directory, and OpenSSL's
      // default paths through MOSQ_OPT_TLS_USE_OS_CERTS).
      const char* capath = ca == nullptr ? "/etc/ssl/certs" : nullptr;
      if (ca == nullptr) mosquitto_int_option(mosq, MOSQ_OPT_TLS_USE_OS_CERTS, 1);
      const int rc = mosquitto_tls_set(
          mosq, ca, capath, cfg.cert_file.empty() ? nullptr : cfg.cert_file.c_str(),
          cfg.key_file.empty() ? nullptr : cfg.key_file.c_str(), nullptr);
      if (rc != MOSQ_ERR_SUCCESS) {
        throw std::invalid_argument("mqtt: TLS setup failed (" + tidy(mosquitto_strerror(rc)) +
                                    "): check that ca_file/cert_file/key_file are readable");
      }
      if (cfg.tls_insecure) mosquitto_tls_insecure_set(mosq, true);
    }
  }

  [[nodiscard]] std::string not_connected_locked() const {
    return cfg.url + ": not connected (" + last_error + ")";
  }

  // ---- libmosquitto callbacks (network thread) ----

  static Impl& self(void* obj) { return *static_cast<Impl*>(obj); }

  static void on_connect(mosquitto* /*m*/, void* obj, int rc) {
    Impl& s = self(obj);
    {
      std::lock_guard lk(s.mu);
      if (rc != 0) {
        s.attempt_refusal = "refused by the broker: " + connack_text(rc);
        return;  // the loop ends the attempt
      }
      s.state = State::Connected;
      ++s.generation;
      s.connected_at = Clock::now();
      s.last_error.clear();
      s.republish = true;
    }
    s.cv.notify_all();
  }

  static void on_disconnect(mosquitto* /*m*/, void* obj, int rc) {
    const int err = errno;
    Impl& s = self(obj);
    {
      std::lock_guard lk(s.mu);
      s.end_connection_locked(rc, err);
    }
    s.cv.notify_all();
  }

  static void on_publish(mosquitto* /*m*/, void* obj, int mid) {
    Impl& s = self(obj);
    bool done = false;
    {
      std::lock_guard lk(s.mu);
      if (!s.batch_active) return;
      s.last_progress = Clock::now();
      if (s.pending.erase(mid) == 0) {
        s.early.insert(mid);
      } else {
        done = s.pending.empty();
      }
    }
    if (done) s.cv.notify_all();
  }

  static void on_log(mosquitto* /*m*/, void* obj, int level, const char* str) {
    if (level != MOSQ_LOG_ERR || str == nullptr) return;
    Impl& s = self(obj);
    // "Error: host name verification failed." → "host name verification failed";
    // "OpenSSL Error[0]: error:0A000086:..." → "OpenSSL: error:0A000086:...".
    std::string text = str;
    if (text.starts_with("Error: ")) text = tidy(text.substr(7));
    if (text.starts_with("OpenSSL Error[")) {
      if (const auto colon = text.find("]: "); colon != std::string::npos) {
        text = "OpenSSL: " + text.substr(colon + 3);
      }
    }
    std::lock_guard lk(s.mu);
    if (s.attempt_log.empty()) s.attempt_log = text;
  }

  // The connection (or attempt) ended with `rc` (errno `err`); records why.
  void end_connection_locked(int rc, int err, const std::string& reason = {}) {
    if (state == State::Down || state == State::Stopped) return;
    std::string why;
    if (!attempt_refusal.empty()) {
      why = attempt_refusal;
    } else if (!reason.empty()) {
      why = reason;
    } else {
      switch (rc) {
        case MOSQ_ERR_SUCCESS:
          why = "disconnected";
          break;
        case MOSQ_ERR_ERRNO:
          why = err != 0 ? tidy(std::strerror(err)) : "system error";
          break;
        case MOSQ_ERR_CONN_LOST:
          why = "closed by the broker";
          break;
        case MOSQ_ERR_EAI:
          why = "cannot resolve " + ep.host;
          break;
        case MOSQ_ERR_TLS:
          why = "TLS error";
          break;
        default:
          why = tidy(mosquitto_strerror(rc));
      }
      if (!attempt_log.empty()) why += ": " + attempt_log;
    }
    if (state == State::Connected) {
      stable_connection = Clock::now() - connected_at >= kStableConnection;
      last_error = "connection lost: " + why;
    } else {
      last_error = why;
    }
    state = State::Down;
  }

  // ---- network thread ----

  // Our own loop rather than mosquitto_loop_start(): libmosquitto's loop thread ends for good
  // on "fatal" errors (TLS, DNS: a daemon started before the network is up would never
  // connect), waits whole seconds between attempts, and cannot notice 2.0.11's spin on a
  // refused TLS connection (below).
  void run() {
    // Only this thread writes to the socket. A write to a connection the broker has closed
    // raises SIGPIPE (OpenSSL writes without MSG_NOSIGNAL): blocked here, it stays pending on
    // this thread and the write fails with EPIPE instead of killing the daemon.
    sigset_t pipe_set;
    sigemptyset(&pipe_set);
    sigaddset(&pipe_set, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &pipe_set, nullptr);
    auto backoff = cfg.reconnect_min;
    bool first = true;
    for (;;) {
      {
        std::lock_guard lk(mu);
        if (stop) break;
        state = State::Connecting;
        stable_connection = false;
        attempt_refusal.clear();
        attempt_log.clear();
      }
      cv.notify_all();
      errno = 0;
      // connect_async once (it sets the host up), then reconnect_async: connect_async would
      // also replace the socket pair that other threads' publish() writes to.
      int rc = first ? mosquitto_connect_async(mosq, ep.host.c_str(), ep.port,
                                               static_cast<int>(cfg.keepalive.count()))
                     : mosquitto_reconnect_async(mosq);
      int err = errno;
      first = false;
      std::string reason;
      if (rc == MOSQ_ERR_SUCCESS) {
        // libmosquitto 2.0.11 may carry on after a failed non-blocking connect (with TLS it
        // then spins on the dead socket until the keepalive runs out): its errno is the hint.
        const int hint = err == ECONNREFUSED || err == ECONNRESET || err == ENETUNREACH ||
                                 err == EHOSTUNREACH || err == ETIMEDOUT
                             ? err
                             : 0;
        const auto attempt_deadline = Clock::now() + cfg.timeout;
        int dead_polls = 0;
        bool disconnect_sent = false;
        Clock::time_point give_up{};
        for (;;) {
          State now_state = State::Connecting;
          bool want_stop = false, want_republish = false;
          {
            std::lock_guard lk(mu);
            now_state = state;
            want_stop = stop;
            want_republish = republish && state == State::Connected;
          }
          if (now_state == State::Connecting) {
            if (want_stop) break;
            // A socket that stays hung up over several passes of the loop is dead, whatever
            // libmosquitto thinks (a CONNACK waiting to be read is read in the first pass).
            dead_polls = socket_hung_up() ? dead_polls + 1 : 0;
            if (dead_polls >= 3) {
              rc = hint != 0 ? MOSQ_ERR_ERRNO : MOSQ_ERR_CONN_LOST;
              err = hint;
              if (hint == 0) reason = "connection closed before the broker answered";
              break;
            }
            if (Clock::now() > attempt_deadline) {
              reason = "no answer from the broker within " + duration_text(cfg.timeout);
              break;
            }
          } else if (want_stop) {
            if (now_state != State::Connected) break;
            if (!disconnect_sent) {
              disconnect_sent = true;
              give_up = Clock::now() + kDisconnectGrace;
              if (mosquitto_disconnect(mosq) != MOSQ_ERR_SUCCESS) break;
            } else if (Clock::now() > give_up) {
              break;
            }
          } else if (want_republish) {
            republish_all();
          }
          errno = 0;
          rc = mosquitto_loop(mosq, kLoopTimeoutMs, 1);
          err = errno;
          if (rc != MOSQ_ERR_SUCCESS) break;
        }
      }
      bool stable = false;
      {
        std::lock_guard lk(mu);
        end_connection_locked(rc, err, reason);  // unless on_disconnect() already did
        stable = stable_connection;
        if (stop) break;
      }
      cv.notify_all();
      if (stable) backoff = cfg.reconnect_min;
      std::unique_lock lk(mu);
      cv.wait_for(lk, backoff, [&] { return stop; });
      backoff = std::min(backoff * 2, cfg.reconnect_max);
    }
    {
      std::lock_guard lk(mu);
      state = State::Stopped;
      if (last_error.empty()) last_error = "closed";
    }
    cv.notify_all();
  }

  // The client's socket reports a hang-up or an error (refused, reset).
  bool socket_hung_up() const {
    pollfd p{mosquitto_socket(mosq), 0, 0};
    if (p.fd < 0) return false;
    return poll(&p, 1, 0) == 1 && (p.revents & (POLLHUP | POLLERR)) != 0;
  }

  void stop_thread() {
    {
      std::lock_guard lk(mu);
      stop = true;
    }
    cv.notify_all();
    if (net.joinable()) net.join();
  }

  // ---- publishing ----

  // Publishes without tracking acknowledgements; only while connected (everything it carries
  // is wanted state that republish_all() sends again after a reconnect). Holds pub_mu.
  void publish_untracked(const std::vector<Message>& msgs) {
    {
      std::lock_guard lk(mu);
      if (state != State::Connected || stop) return;
    }
    for (const auto& m : msgs) {
      mosquitto_publish(mosq, nullptr, m.topic.c_str(), static_cast<int>(m.payload.size()),
                        m.payload.data(), cfg.qos, m.retain);
    }
  }

  // After every connect: status, the meters' availability and all discovery configs.
  void republish_all() {
    std::lock_guard pl(pub_mu);
    {
      std::lock_guard lk(mu);
      republish = false;
    }
    std::vector<Message> msgs{{status_topic, "online", true}};
    for (const auto& [name, ms] : meters) {
      if (ms.online)
        msgs.push_back({availability_topic(name), *ms.online ? "online" : "offline", true});
    }
    for (const auto& [topic, payload] : configs) msgs.push_back({topic, payload, true});
    publish_untracked(msgs);
  }

  // Publishes a batch and waits for every acknowledgement; throws SinkError. The caller holds
  // pub_mu while this publishes and must release it before wait_acks().
  std::uint64_t publish_tracked(const std::vector<Message>& msgs) {
    std::uint64_t gen = 0;
    {
      std::lock_guard lk(mu);
      if (state != State::Connected) throw SinkError(not_connected_locked());
      batch_active = true;
      pending.clear();
      early.clear();
      last_progress = Clock::now();
      gen = generation;
    }
    for (const auto& m : msgs) {
      int mid = 0;
      errno = 0;
      const int rc =
          mosquitto_publish(mosq, &mid, m.topic.c_str(), static_cast<int>(m.payload.size()),
                            m.payload.data(), cfg.qos, m.retain);
      if (rc != MOSQ_ERR_SUCCESS) {
        const int err = errno;
        std::string why =
            rc == MOSQ_ERR_ERRNO ? tidy(std::strerror(err)) : tidy(mosquitto_strerror(rc));
        fail_batch();
        throw SinkError(cfg.url + ": publishing to " + m.topic + " failed: " + why);
      }
      std::lock_guard lk(mu);
      if (early.erase(mid) == 0) pending.insert(mid);
    }
    return gen;
  }

  void fail_batch() {
    std::lock_guard lk(mu);
    batch_active = false;
    pending.clear();
    early.clear();
    republish = true;  // the batch may have carried discovery configs
  }

  void wait_acks(std::size_t total, std::uint64_t gen) {
    std::unique_lock lk(mu);
    for (;;) {
      if (pending.empty()) break;
      const std::size_t open = pending.size();
      const std::string counts =
          std::to_string(open) + " of " + std::to_string(total) + " messages unacknowledged";
      if (generation != gen || state != State::Connected) {
        const std::string why = last_error.empty() ? "connection lost" : last_error;
        lk.unlock();
        fail_batch();
        throw SinkError(cfg.url + ": " + why + " (" + counts + ")");
      }
      const auto deadline = last_progress + cfg.timeout;
      if (Clock::now() >= deadline) {
        lk.unlock();
        fail_batch();
        throw SinkError(cfg.url + ": no acknowledgement from the broker for " +
                        duration_text(cfg.timeout) + " (" + counts + ")");
      }
      cv.wait_until(lk, deadline);
    }
    batch_active = false;
    early.clear();
  }

  // ---- topics and payloads ----

  [[nodiscard]] std::string meter_topic(const std::string& meter) const {
    return cfg.base_topic + "/" + topic_part(meter);
  }
  [[nodiscard]] std::string availability_topic(const std::string& meter) const {
    return meter_topic(meter) + "/availability";
  }

  [[nodiscard]] Published published(const store::Value& v) const {
    Published p;
    if (!v.text.empty() || v.value.empty()) {
      p.payload = v.text;  // dates, times, ASCII, RTC: the readable text
      return p;
    }
    p.payload = v.value;
    p.unit = v.unit;
    p.numeric = true;
    if (!cfg.energy_unit.empty()) {
      const kmp::RegisterDef* def = kmp::find_register(v.name);
      if (def != nullptr && def->quantity == kmp::Quantity::Energy) {
        if (auto d = kmp::Decimal::parse(v.value)) {
          // Exact power-of-ten scaling only (Wh/kWh/MWh/GWh); GJ and Gcal stay as they are.
          if (auto c = kmp::convert_exact(*d, v.unit, cfg.energy_unit)) {
            p.payload = c->to_string();
            p.unit = cfg.energy_unit;
          }
        }
      }
    }
    return p;
  }

  // The discovery topic and payload of one register of one meter.
  [[nodiscard]] std::pair<std::string, std::string> discovery(const std::string& meter,
                                                              const MeterInfo& info,
                                                              const std::string& reg,
                                                              const Published& p) const {
    const std::string device_id = "kamstrup_" + id_part(info.serial.empty() ? meter : info.serial);
    const std::string unique_id = device_id + "_" + id_part(reg);
    const std::string topic = cfg.discovery_prefix + "/sensor/" + unique_id + "/config";
    const kmp::RegisterDef* def = kmp::find_register(reg);
    const std::string name = def != nullptr ? std::string(def->description) : reg;

    std::string o =
        "{\"name\": " + text::json_quote(name) + ", \"unique_id\": " + text::json_quote(unique_id) +
        ", \"state_topic\": " + text::json_quote(meter_topic(meter) + "/" + topic_part(reg)) +
        ", \"availability\": [{\"topic\": " + text::json_quote(status_topic) +
        "}, {\"topic\": " + text::json_quote(availability_topic(meter)) +
        "}], \"availability_mode\": \"all\"";
    if (p.numeric) {
      if (!p.unit.empty()) o += ", \"unit_of_measurement\": " + text::json_quote(p.unit);
      if (def != nullptr) {
        const std::string_view dc =
            mqtt_detail::ha_device_class(mqtt_detail::ha_class_of(def->quantity), p.unit);
        if (!dc.empty()) o += ", \"device_class\": " + text::json_quote(std::string(dc));
        if (!def->state_class.empty())
          o += ", \"state_class\": " + text::json_quote(std::string(def->state_class));
      }
    }
    const std::string& model = info.model.empty() ? info.meter_type : info.model;
    o += ", \"device\": {\"identifiers\": [" + text::json_quote(device_id) +
         "], \"manufacturer\": \"Kamstrup\"";
    if (!model.empty()) o += ", \"model\": " + text::json_quote(model);
    if (!info.serial.empty()) o += ", \"serial_number\": " + text::json_quote(info.serial);
    if (!info.sw_revision.empty()) o += ", \"sw_version\": " + text::json_quote(info.sw_revision);
    o += ", \"name\": " + text::json_quote("Kamstrup " + meter) + "}}";
    return {topic, o};
  }

  // Brings one register's discovery config up to date; appends what must be published.
  // Holds pub_mu.
  void update_discovery(const std::string& meter, MeterState& ms, const std::string& reg,
                        std::vector<Message>& out) {
    if (!cfg.homeassistant || !ms.info) return;
    auto [topic, payload] = discovery(meter, *ms.info, reg, ms.registers[reg]);
    auto old = ms.config_topic.find(reg);
    if (old != ms.config_topic.end() && old->second != topic) {
      out.push_back({old->second, "", true});  // empty retained config: HA drops the entity
      configs.erase(old->second);
    }
    ms.config_topic[reg] = topic;
    std::string& current = configs[topic];
    if (current != payload) {
      current = payload;
      out.push_back({topic, std::move(payload), true});
    }
  }

  // ---- Sink ----

  void deliver(std::span<const store::Poll> polls) {
    if (polls.empty()) return;
    std::lock_guard dl(deliver_mu);
    {
      std::unique_lock lk(mu);
      if (closed) throw SinkError(cfg.url + ": closed");
      // A connection attempt in progress (typically right after start) gets `timeout`.
      cv.wait_for(lk, cfg.timeout, [&] { return state != State::Connecting || stop; });
      if (state != State::Connected) throw SinkError(not_connected_locked());
    }
    std::vector<Message> msgs;
    std::uint64_t gen = 0;
    {
      std::lock_guard pl(pub_mu);
      for (const auto& poll : polls) {
        MeterState& ms = meters[poll.meter];
        const std::string prefix = meter_topic(poll.meter) + "/";
        std::set<std::string_view> seen;
        for (const auto& v : poll.values) {
          if (!seen.insert(v.name).second) continue;
          Published p = published(v);
          if (p.payload.empty()) continue;  // neither number nor text: nothing to retain
          ms.registers[v.name] = p;
          update_discovery(poll.meter, ms, v.name, msgs);
          msgs.push_back({prefix + topic_part(v.name), p.payload, cfg.retain});
        }
        msgs.push_back({prefix + "state", poll_json(poll), false});
      }
      gen = publish_tracked(msgs);
    }
    wait_acks(msgs.size(), gen);
  }

  void meter_info(const MeterInfo& info) {
    std::lock_guard pl(pub_mu);
    MeterState& ms = meters[info.name];
    ms.info = info;
    std::vector<Message> msgs;
    if (!ms.online) {
      // The meter has just answered; meter_online() overrides this at any time.
      ms.online = true;
      msgs.push_back({availability_topic(info.name), "online", true});
    }
    for (const auto& [reg, p] : ms.registers) update_discovery(info.name, ms, reg, msgs);
    publish_untracked(msgs);
  }

  void meter_online(const std::string& meter, bool online) {
    std::lock_guard pl(pub_mu);
    meters[meter].online = online;
    publish_untracked({{availability_topic(meter), online ? "online" : "offline", true}});
  }

  void close() {
    {
      std::lock_guard lk(mu);
      if (closed) return;
      closed = true;
    }
    std::lock_guard dl(deliver_mu);
    // A clean DISCONNECT does not fire the will: say "offline" ourselves.
    try {
      std::uint64_t gen = 0;
      {
        std::lock_guard pl(pub_mu);
        gen = publish_tracked({{status_topic, "offline", true}});
      }
      wait_acks(1, gen);
    } catch (const SinkError&) {
      // Not connected: the broker already published the will (or will when it notices).
    }
    stop_thread();
  }
};

MqttSink::MqttSink(MqttConfig config) : impl_(std::make_unique<Impl>(std::move(config))) {}

MqttSink::~MqttSink() {
  try {
    impl_->close();
  } catch (...) {
    // Destructors do not throw; the connection ends either way.
  }
}

std::string MqttSink::id() const {
  return "mqtt";
}

void MqttSink::deliver(std::span<const store::Poll> polls) {
  impl_->deliver(polls);
}

void MqttSink::meter_info(const MeterInfo& info) {
  impl_->meter_info(info);
}

Reachability MqttSink::reachability() const {
  std::lock_guard lk(impl_->mu);
  return impl_->state == Impl::State::Connected ? Reachability::Up : Reachability::Down;
}

void MqttSink::meter_online(const std::string& meter, bool online) {
  impl_->meter_online(meter, online);
}

void MqttSink::close() {
  impl_->close();
}

void validate(const MqttConfig& cfg) {
  auto bad = [](const std::string& key, const std::string& what) {
    config::fail("mqtt." + key, what);
  };
  const Endpoint ep = parse_url(cfg.url);
  if (cfg.qos < 0 || cfg.qos > 2) bad("qos", "must be 0, 1 or 2");
  if (cfg.energy_unit != "" && cfg.energy_unit != "kWh" && cfg.energy_unit != "MWh")
    bad("energy_unit", "expected kWh or MWh, got '" + cfg.energy_unit + "'");
  if (cfg.base_topic.empty() || cfg.base_topic.find_first_of("+#") != std::string::npos)
    bad("base_topic", "must be a topic without wildcards (# +)");
  if (cfg.homeassistant && (cfg.discovery_prefix.empty() ||
                            cfg.discovery_prefix.find_first_of("+#") != std::string::npos))
    bad("discovery_prefix", "must be a topic without wildcards (# +)");
  if (!cfg.password.empty() && cfg.username.empty()) bad("password", "a password needs a username");
  if (!ep.tls && (!cfg.ca_file.empty() || !cfg.cert_file.empty() || !cfg.key_file.empty()))
    bad(!cfg.ca_file.empty() ? "ca_file" : "cert_file", "TLS files need an mqtts:// url");
  if (cfg.cert_file.empty() != cfg.key_file.empty())
    bad(cfg.cert_file.empty() ? "key_file" : "cert_file", "cert_file and key_file go together");
  if (cfg.keepalive < std::chrono::seconds(5) || cfg.keepalive > std::chrono::seconds(65535))
    bad("keepalive", "must be 5s..65535s");
  if (cfg.timeout <= std::chrono::milliseconds(0)) bad("timeout", "must be positive");
  if (cfg.reconnect_min <= std::chrono::milliseconds(0) || cfg.reconnect_max < cfg.reconnect_min)
    bad("reconnect_min", "must be positive and at most reconnect_max");
}

const config::Table<MqttConfig>& mqtt_keys() {
  using C = MqttConfig;
  using namespace config;
  static const Table<C> t{
      "mqtt",
      "MQTT broker (libmosquitto), with Home Assistant discovery. Topics: "
      "`<base_topic>/<meter>/<register>` (plain value, retained), `<base_topic>/<meter>/state` "
      "(one JSON object per poll, docs/formats.md), `<base_topic>/<meter>/availability`, and "
      "`<base_topic>/status` (the connection's will).",
      {
          url<C>("url", &C::url, {"mqtt", "mqtts"}, "`mqtts://` for TLS (port 8883 by default)",
                 "mqtts://broker.example:8883"),
          str<C>("username", &C::username, "MQTT user name", "kamstrup"),
          secret<C>("password", &C::password, "needs `username`"),
          str<C>("client_id", &C::client_id,
                 "unique on the broker (a second client with this id disconnects the first); "
                 "empty = `kamstrup-<hostname>`",
                 "kamstrup-cellar"),
          str<C>("base_topic", &C::base_topic, "root of every topic except discovery", "home/heat"),
          boolean<C>("retain", &C::retain, "retain the per-register topics"),
          integer<C>("qos", &C::qos, 0, 2, "QoS of every publication", "2"),
          boolean<C>("homeassistant", &C::homeassistant,
                     "publish Home Assistant MQTT discovery: one device per meter"),
          str<C>("discovery_prefix", &C::discovery_prefix, "Home Assistant's discovery prefix",
                 "ha"),
          choice<C, std::string>("energy_unit", &C::energy_unit, {{"kWh", "kWh"}, {"MWh", "MWh"}},
                                 "convert energy registers exactly for the Energy dashboard "
                                 "(only between Wh, kWh, MWh and GWh); unset = the meter's unit"),
          file_path<C>("ca_file", &C::ca_file, PathRule::ExistingFile,
                       "CA certificate(s) for the broker's certificate; unset = the system's",
                       "/etc/ssl/certs/ca-certificates.crt"),
          file_path<C>("cert_file", &C::cert_file, PathRule::ExistingFile,
                       "client certificate (with `key_file`)", "/etc/kamstrup/client.crt"),
          file_path<C>("key_file", &C::key_file, PathRule::ExistingFile,
                       "client key (with `cert_file`)", "/etc/kamstrup/client.key"),
          boolean<C>("tls_insecure", &C::tls_insecure,
                     "skip the check that the certificate names the host (the chain is still "
                     "verified)"),
          duration<C>("keepalive", &C::keepalive,
                      {std::chrono::seconds(5), std::chrono::seconds(65535)}, "MQTT keepalive",
                      "30s"),
          duration<C>("timeout", &C::timeout,
                      {std::chrono::milliseconds(100), std::chrono::minutes(10)},
                      "a delivery fails when the broker acknowledges nothing for this long", "20s"),
      },
      [](C& c, const std::string&, Context&) { validate(c); }};
  return t;
}

}  // namespace kamstrup::sinks
