// MQTT output. See mqtt.hpp for the topics.
//
// Home Assistant discovery
// ------------------------
// One retained config per (meter, register) on <discovery_prefix>/sensor/<unique_id>/config,
// published once the daemon has called meter_info() for the meter (the device needs the model
// and serial), for every register seen in that meter's polls so far, and again whenever a poll
// shows a register for the first time or with another unit or resolution. What a register
// becomes in HA (device class, unit, state class, entity category, display precision) and the
// payload itself are in homeassistant.cpp; this file chooses the ids, publishes and logs. All
// configs are published again after every reconnect (a broker without persistence forgets
// retained messages).
//
//   unique_id   kamstrup_<serial>_<register>; while the meter's serial is unknown (MeterInfo
//               serial ""), kamstrup_<meter name>_<register>. When a later meter_info() brings a
//               serial (or another one), the old configs are deleted (empty retained payload:
//               HA removes those entities) and the new ones published. Characters outside
//               [A-Za-z0-9_-] become '_'.
//   collisions  two meters reporting one serial would share every unique_id (one HA entity fed
//               by both). The meter listed first in the file (else: seen first) keeps the plain
//               ids, which are what every single-meter setup has always had; each other one gets
//               kamstrup_<serial>_<meter>_<register> (device kamstrup_<serial>_<meter>), logged
//               once. Only colliding meters change.
//   name        the register's display name from the file (`{register: volume, name: ...}`),
//               else the catalogue description ("E1 heat energy"); HA prefixes the device name
//   state_topic <base>/<meter>/<register>
//   availability [<base>/status, <base>/<meter>/availability], availability_mode "all": an
//               entity is available while the daemon is connected and its meter answers
//   origin      {"name": "kamstrup-reader", "sw_version": ...}
//
// A device class HA would not accept with the unit is left out and logged once per register
// (Sink::note); the value, unit and state class still go out.
//
// The info code's flags: once a poll brings the info code (register 99), one retained
// binary_sensor config per flag the meter's table documents (MeterInfo::info_codes, from the
// meter's `model`), on <discovery_prefix>/binary_sensor/<device id>_info_<flag>/config
// (device_class problem, entity_category diagnostic), and each flag's state "ON"/"OFF" on
// <base>/<meter>/info/<flag> with every info code published. Flags announced under another table
// (the meter's `model` changed) that the current one does not name are deleted with their
// retained states: those this sink announced, and those an earlier run left retained on the
// broker (found through a subscription to <discovery_prefix>/binary_sensor/+/config; only our
// meters' device ids are touched, so other gateways on the broker keep theirs).
//
// Registers taken out of a meter's `registers:` list: the entities an earlier run announced for
// them are deleted the same way (empty retained config and retained state), found through a
// subscription to <discovery_prefix>/sensor/+/config. Only for a meter whose registers this run
// knows in full (MqttConfig::registers: a KMP meter that answered as one, no logger backfill),
// and only entities whose config names this program as origin, the meter's device id and a state
// topic under the meter's topic; a register this run delivers is never swept.

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
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <stdexcept>
#include <thread>
#include <utility>
#include <vector>

#include "kmp/catalogue.hpp"
#include "kmp/decimal.hpp"
#include "kmp/info_code.hpp"
#include "sinks/format.hpp"
#include "sinks/homeassistant.hpp"
#include "text/text.hpp"

namespace kamstrup::sinks {

namespace mqtt_detail {

namespace {

// kamstrup-402-mqtt's parameter names (its kamstrup_meter.py `kamstrup_402_params`, register ids
// as in docs/protocol.md §4.1) → ours.
constexpr std::pair<std::string_view, std::string_view> kFlatNames[] = {
    {"heat_energy", "energy"},
    {"power", "power"},
    {"temp1", "temp1"},
    {"temp2", "temp2"},
    {"temp_diff", "tempdiff"},
    {"flow", "flow"},
    {"volume", "volume"},
    {"min_flow_month", "minflow_m"},
    {"max_flow_month", "maxflow_m"},
    {"min_flow_month_date", "minflowDate_m"},
    {"max_flow_month_date", "maxflowDate_m"},
    {"min_power_month", "minpower_m"},
    {"max_power_month", "maxpower_m"},
    {"avg_temp1_month", "avgtemp1_m"},
    {"avg_temp2_month", "avgtemp2_m"},
    {"min_power_month_date", "minpowerdate_m"},
    {"max_power_month_date", "maxpowerdate_m"},
    {"min_flow_year", "minflow_y"},
    {"max_flow_year", "maxflow_y"},
    {"min_flow_year_date", "minflowdate_y"},
    {"max_flow_year_date", "maxflowdate_y"},
    {"min_power_year", "minpower_y"},
    {"max_power_year", "maxpower_y"},
    {"avg_temp1_year", "avgtemp1_y"},
    {"avg_temp2_year", "avgtemp2_y"},
    {"min_power_year_date", "minpowerdate_y"},
    {"max_power_year_date", "maxpowerdate_y"},
    {"temp1_x_m3", "temp1xm3"},
    {"temp2_x_m3", "temp2xm3"},
    {"info_event_counter", "infoevent"},
    {"hour_counter", "hourcounter"},
};

}  // namespace

std::string_view flat_name(std::string_view reg) {
  for (const auto& [ours, theirs] : kFlatNames) {
    if (ours == reg) return theirs;
  }
  return reg;
}

std::string flat_json(const store::Poll& poll) {
  std::string o = "{";
  std::set<std::string_view> seen;
  for (const auto& v : poll.values) {
    // 402-mqtt sends numbers only (its dates are the YYMMDD number too, as here).
    if (!text::is_decimal(v.value)) continue;
    const std::string_view key = flat_name(v.name);
    if (!seen.insert(key).second) continue;
    if (o.size() > 1) o += ", ";
    o += text::json_quote(key) + ": " + v.value;
  }
  return o + "}";
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

// Something to log once (Sink::note): config key, message.
using Note = std::pair<std::string, std::string>;

struct MeterState {
  std::optional<MeterInfo> info;
  std::optional<bool> online;
  std::size_t seen = 0;                             // order of first appearance
  std::map<std::string, ha::Sensor> registers;      // last published, by register name
  std::map<std::string, std::int64_t> read_ms;      // read time of that value
  std::map<std::string, std::string> config_topic;  // register → its current discovery topic
  std::string device_id;                            // as last announced
  std::optional<std::uint64_t> info_code;           // the latest info code published
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
  std::set<std::string> broker_flags;  // retained flag configs not yet judged; guarded by pub_mu
  // Retained sensor configs of our meters not yet judged: topic → (device id, state topic).
  std::map<std::string, std::pair<std::string, std::string>> broker_sensors;  // pub_mu

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
  // Flag configs found retained on the broker (left by an earlier run, perhaps under another
  // `model`), for sweep() on the network thread.
  std::vector<std::string> found_flags;
  // Sensor configs found retained on the broker under one of our meters' topics: topic →
  // (device id, state topic), for sweep() to judge against the registers still configured.
  std::vector<std::pair<std::string, std::pair<std::string, std::string>>> found_sensors;
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
    if (cfg.homeassistant) mosquitto_message_callback_set(mosq, &Impl::on_message);
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

  // Only the retained binary-sensor configs the subscription of republish_all() brings: what
  // earlier runs announced. Our own publishes come back without the retain flag.
  static void on_message(mosquitto* /*m*/, void* obj, const mosquitto_message* msg) {
    if (msg == nullptr || !msg->retain || msg->payloadlen <= 0 || msg->topic == nullptr) return;
    Impl& s = self(obj);
    try {  // nothing may propagate into libmosquitto's C frames
      const std::string topic = msg->topic;
      if (topic.rfind(s.cfg.discovery_prefix + "/sensor/", 0) == 0) {
        auto ours = s.our_sensor(std::string_view(static_cast<const char*>(msg->payload),
                                                  static_cast<std::size_t>(msg->payloadlen)));
        if (!ours) return;
        std::lock_guard lk(s.mu);
        s.found_sensors.emplace_back(topic, std::move(*ours));
        return;
      }
      std::lock_guard lk(s.mu);
      s.found_flags.emplace_back(topic);
    } catch (const std::exception&) {
      // Out of memory for one retained config: it is judged after the next reconnect instead.
    }
  }

  // A retained sensor config this program announced for one of the configured meters (origin
  // kamstrup-reader, state topic under <base>/<meter>/): its device id and state topic. Anything
  // else on the broker (other programs, other gateways' meters) is never touched.
  [[nodiscard]] std::optional<std::pair<std::string, std::string>> our_sensor(
      std::string_view payload) const {
    const auto j = nlohmann::json::parse(payload, nullptr, false);
    if (!j.is_object()) return std::nullopt;
    // Anyone may publish here: every field is checked for its type before it is read (a throw
    // would cross libmosquitto's C callback).
    const auto origin = j.find("origin");
    const auto state_it = j.find("state_topic");
    const auto device = j.find("device");
    if (origin == j.end() || !origin->is_object()) return std::nullopt;
    const auto origin_name = origin->find("name");
    if (origin_name == origin->end() || *origin_name != "kamstrup-reader") return std::nullopt;
    if (state_it == j.end() || !state_it->is_string() || device == j.end() || !device->is_object())
      return std::nullopt;
    const auto ids = device->find("identifiers");
    if (ids == device->end() || !ids->is_array() || ids->empty() || !(*ids)[0].is_string())
      return std::nullopt;
    const std::string st = state_it->get<std::string>();
    for (const auto& m : cfg.meters) {
      if (st.rfind(meter_topic(m) + "/", 0) == 0)
        return std::pair((*ids)[0].get<std::string>(), st);
    }
    return std::nullopt;
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
          bool want_stop = false, want_republish = false, want_sweep = false;
          {
            std::lock_guard lk(mu);
            now_state = state;
            want_stop = stop;
            want_republish = republish && state == State::Connected;
            want_sweep =
                (!found_flags.empty() || !found_sensors.empty()) && state == State::Connected;
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
          } else if (want_sweep) {
            sweep();
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
    if (cfg.homeassistant) {
      // Retained configs of earlier runs come back on these subscriptions; on_message and
      // sweep() delete the flags the meters' current tables do not document and the registers
      // no longer configured.
      const std::string flags = cfg.discovery_prefix + "/binary_sensor/+/config";
      mosquitto_subscribe(mosq, nullptr, flags.c_str(), 0);
      if (!cfg.registers.empty()) {
        const std::string sensors = cfg.discovery_prefix + "/sensor/+/config";
        mosquitto_subscribe(mosq, nullptr, sensors.c_str(), 0);
      }
    }
  }

  // Network thread: judges the configs found on the broker against the meters known so far
  // (retire_flags, retire_registers); those of meters not identified yet wait for their
  // meter_info().
  void sweep() {
    std::lock_guard pl(pub_mu);
    {
      std::lock_guard lk(mu);
      broker_flags.insert(found_flags.begin(), found_flags.end());
      found_flags.clear();
      for (auto& [topic, entity] : found_sensors) broker_sensors[topic] = std::move(entity);
      found_sensors.clear();
    }
    std::vector<Message> out;
    for (auto& [name, ms] : meters) {
      if (!ms.info) continue;
      retire_flags(name, ms, out);
      retire_registers(name, ms, out);
    }
    publish_untracked(out);
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
  // <base>/<meter>/info/<flag>: "ON" or "OFF".
  [[nodiscard]] std::string flag_topic(const std::string& meter, std::string_view flag) const {
    return meter_topic(meter) + "/info/" + topic_part(flag);
  }
  [[nodiscard]] std::string availability_topic(const std::string& meter) const {
    return meter_topic(meter) + "/availability";
  }

  [[nodiscard]] std::string flat_topic(const std::string& meter) const {
    if (!cfg.meters.empty() && cfg.meters.front() == meter) return cfg.base_topic + "/values";
    return meter_topic(meter) + "/values";
  }

  [[nodiscard]] ha::VolumeClass volume_class(const std::string& meter) const {
    for (const auto& [m, c] : cfg.ha_volume_class) {
      if (m == meter) return c == "water" ? ha::VolumeClass::Water : ha::VolumeClass::Volume;
    }
    return ha::VolumeClass::Volume;
  }

  [[nodiscard]] std::string entity_name(const std::string& meter, const std::string& reg) const {
    if (auto m = cfg.labels.find(meter); m != cfg.labels.end()) {
      if (auto l = m->second.find(reg); l != m->second.end()) return l->second;
    }
    const kmp::RegisterDef* def = kmp::find_register(std::string_view(reg));
    return def != nullptr ? std::string(def->description) : reg;
  }

  // Holds pub_mu.
  MeterState& meter_state(const std::string& meter) {
    auto [it, added] = meters.try_emplace(meter);
    if (added) it->second.seen = meters.size();
    return it->second;
  }

  // Who keeps the plain unique ids when meters share a serial: file order, then first seen.
  [[nodiscard]] std::size_t rank(const std::string& meter) const {
    const auto it = std::find(cfg.meters.begin(), cfg.meters.end(), meter);
    if (it != cfg.meters.end()) return static_cast<std::size_t>(it - cfg.meters.begin());
    return cfg.meters.size() + meters.at(meter).seen;
  }

  // The first-ranked other meter that reports the serial of `meter`, ranked before it; or "".
  [[nodiscard]] std::string serial_owner(const std::string& meter,
                                         const std::string& serial) const {
    std::string owner;
    for (const auto& [other, ms] : meters) {
      if (other == meter || !ms.info || ms.info->serial != serial) continue;
      if (rank(other) < rank(meter) && (owner.empty() || rank(other) < rank(owner))) owner = other;
    }
    return owner;
  }

  // Whether a meter other than `self` announces on `topic` now (it took the ids over when a
  // meter listed before it turned out to share its serial). Holds pub_mu.
  [[nodiscard]] bool claimed(const std::string& topic, const MeterState& self) const {
    for (const auto& [name, ms] : meters) {
      if (&ms == &self) continue;
      for (const auto& [reg, t] : ms.config_topic) {
        if (t == topic) return true;
      }
    }
    return false;
  }

  // Brings one register's discovery config up to date; appends what must be published.
  // Holds pub_mu.
  void update_discovery(const std::string& meter, MeterState& ms, const std::string& reg,
                        std::vector<Message>& out) {
    if (!cfg.homeassistant || !ms.info) return;
    const ha::Discovery d{meter,
                          *ms.info,
                          ms.device_id,
                          reg,
                          entity_name(meter, reg),
                          meter_topic(meter) + "/" + topic_part(reg),
                          {status_topic, availability_topic(meter)}};
    const std::string topic =
        cfg.discovery_prefix + "/sensor/" + ha::unique_id(ms.device_id, reg) + "/config";
    announce(ms, reg, topic, ha::config_payload(d, ms.registers[reg]), out);
  }

  // Publishes one entity's config on `topic` when it changed, and deletes the one `key` had on
  // another topic (a new device id) unless another meter announces there now. Holds pub_mu.
  void announce(MeterState& ms, const std::string& key, const std::string& topic,
                std::string payload, std::vector<Message>& out) {
    auto old = ms.config_topic.find(key);
    if (old != ms.config_topic.end() && old->second != topic && !claimed(old->second, ms)) {
      out.push_back({old->second, "", true});  // empty retained config: HA drops the entity
      configs.erase(old->second);
    }
    ms.config_topic[key] = topic;
    std::string& current = configs[topic];
    if (current != payload) {
      current = payload;
      out.push_back({topic, std::move(payload), true});
    }
  }

  // The info code's table for a meter: the one its identity names (MeterInfo::info_codes).
  static kmp::InfoCodes info_table(const MeterState& ms) {
    if (!ms.info) return kmp::InfoCodes::Unknown;
    return kmp::parse_info_codes(ms.info->info_codes).value_or(kmp::InfoCodes::Unknown);
  }

  // One binary sensor per flag the meter's info-code table documents, once an info code came.
  // Holds pub_mu.
  void update_flag_discovery(const std::string& meter, MeterState& ms, std::vector<Message>& out) {
    if (!cfg.homeassistant || !ms.info) return;
    retire_flags(meter, ms, out);
    if (!ms.info_code) return;
    for (const auto& flag : kmp::info_flag_table(info_table(ms))) {
      const std::string key = ha::flag_key(flag.name);
      const ha::Discovery d{meter,
                            *ms.info,
                            ms.device_id,
                            key,
                            {},
                            flag_topic(meter, flag.name),
                            {status_topic, availability_topic(meter)}};
      const std::string topic =
          cfg.discovery_prefix + "/binary_sensor/" + ha::unique_id(ms.device_id, key) + "/config";
      announce(ms, key, topic, ha::flag_payload(d, flag), out);
    }
  }

  // Flags announced under another table (the meter's `model` changed on a reload) that the
  // current one does not document: their entities are deleted (empty retained config) and their
  // retained states cleared, rather than left in HA as "unavailable" forever. Holds pub_mu.
  void retire_flags(const std::string& meter, MeterState& ms, std::vector<Message>& out) {
    std::set<std::string> current;
    for (const auto& flag : kmp::info_flag_table(info_table(ms)))
      current.insert(ha::flag_key(flag.name));
    const std::string prefix = ha::flag_key("");
    for (auto it = ms.config_topic.begin(); it != ms.config_topic.end();) {
      const std::string& key = it->first;
      if (key.rfind(prefix, 0) != 0 || current.count(key) != 0 || ms.registers.count(key) != 0) {
        ++it;
        continue;
      }
      if (!claimed(it->second, ms)) {
        out.push_back({it->second, "", true});
        configs.erase(it->second);
      }
      out.push_back({flag_topic(meter, key.substr(prefix.size())), "", true});
      it = ms.config_topic.erase(it);
    }
    // Left on the broker by an earlier run: <prefix>/binary_sensor/<device id>_info_<flag>/config.
    const std::string head = cfg.discovery_prefix + "/binary_sensor/" + ms.device_id + "_" + prefix;
    for (auto it = broker_flags.begin(); it != broker_flags.end();) {
      const std::string& topic = *it;
      const std::string tail = "/config";
      if (topic.rfind(head, 0) != 0 || topic.size() <= head.size() + tail.size() ||
          topic.compare(topic.size() - tail.size(), tail.size(), tail) != 0) {
        ++it;
        continue;
      }
      const std::string flag = topic.substr(head.size(), topic.size() - head.size() - tail.size());
      if (current.count(prefix + flag) == 0 && configs.count(topic) == 0) {
        out.push_back({topic, "", true});
        out.push_back({flag_topic(meter, flag), "", true});
      }
      it = broker_flags.erase(it);
    }
  }

  // A register the meter's list no longer names, in a poll stored before the list changed (the
  // backlog after a restart, polls held over a reload): its retained state and entity are not
  // brought back, or retire_registers() would have deleted them for nothing. The poll message
  // still carries it.
  [[nodiscard]] bool taken_out(const std::string& meter, const MeterState& ms,
                               const std::string& reg) const {
    const auto* list = full_list(meter, ms);
    return list != nullptr && std::find(list->begin(), list->end(), reg) == list->end();
  }

  // The meter's configured registers when this run knows them in full (MqttConfig::registers)
  // and the meter answered as KMP (a /#n or IEC reply names its own registers); else nullptr.
  [[nodiscard]] const std::vector<std::string>* full_list(const std::string& meter,
                                                          const MeterState& ms) const {
    const auto configured = cfg.registers.find(meter);
    if (!cfg.homeassistant || configured == cfg.registers.end() || !ms.info ||
        ms.info->protocol != "kmp")
      return nullptr;
    return &configured->second;
  }

  // Entities an earlier run announced for registers the meter's `registers:` list no longer
  // names (full_list): deleted with their retained states. Entities of other device ids stay
  // for their meter to judge. Holds pub_mu.
  void retire_registers(const std::string& meter, MeterState& ms, std::vector<Message>& out) {
    const auto* list = full_list(meter, ms);
    if (list == nullptr) return;
    std::set<std::string> keep;
    for (const auto& reg : *list) keep.insert(topic_part(reg));
    for (const auto& [reg, s] : ms.registers) keep.insert(topic_part(reg));
    const std::string under = meter_topic(meter) + "/";
    for (auto it = broker_sensors.begin(); it != broker_sensors.end();) {
      const auto& [topic, entity] = *it;
      const auto& [device, state_topic] = entity;
      // Another meter's (two meters sharing a serial share a device id until both identified):
      // left for that meter to judge.
      if (device != ms.device_id || state_topic.rfind(under, 0) != 0) {
        ++it;
        continue;
      }
      const std::string reg = state_topic.substr(under.size());
      if (!reg.empty() && reg.find('/') == std::string::npos && keep.count(reg) == 0 &&
          configs.count(topic) == 0 && !claimed(topic, ms)) {
        out.push_back({topic, "", true});
        out.push_back({state_topic, "", true});
      }
      it = broker_sensors.erase(it);
    }
  }

  // The states of the documented flags of an info code (register 99) about to be published.
  void flag_states(const std::string& meter, MeterState& ms, const store::Value& v,
                   std::vector<Message>& states) {
    auto exact = kmp::Decimal::parse(v.value);
    if (!exact) return;
    auto bits = kmp::decode_info_code(kmp::InfoCodes::Unknown, *exact);
    if (!bits) return;  // not a whole number: nothing to decode
    std::uint64_t code = 0;
    for (const auto& b : *bits) code |= std::uint64_t{1} << b.bit;
    ms.info_code = code;
    for (const auto& flag : kmp::info_flag_table(info_table(ms))) {
      states.push_back(
          {flag_topic(meter, flag.name), std::string(ha::flag_state(flag, code)), cfg.retain});
    }
  }

  // Gives every identified meter its device id (a meter that shares its serial with one ranked
  // before it gets its name in its ids) and brings the discovery configs up to date. Holds pub_mu.
  void refresh_device_ids(std::vector<Message>& out, std::vector<Note>& notes) {
    for (auto& [name, ms] : meters) {
      if (!ms.info) continue;
      const std::string& serial = ms.info->serial;
      const std::string owner = serial.empty() ? "" : serial_owner(name, serial);
      const std::string id = ha::device_id(name, serial, !owner.empty());
      if (id != ms.device_id && !owner.empty() && cfg.homeassistant) {
        notes.push_back({"mqtt.homeassistant." + name,
                         "meters '" + owner + "' and '" + name + "' both report serial " + serial +
                             ": '" + name + "' gets the unique ids " + id + "_<register>, '" +
                             owner + "' (listed first) keeps " +
                             ha::device_id(owner, serial, false) + "_<register>"});
      }
      ms.device_id = id;
      for (const auto& [reg, s] : ms.registers) update_discovery(name, ms, reg, out);
      update_flag_discovery(name, ms, out);
      retire_registers(name, ms, out);
    }
  }

  // The newest value of each register in a batch (by read time; of equal times the later in
  // store order): a register's retained topic gets one message per delivery, not a backlog that
  // HA would replay as a burst of states all stamped with their arrival time.
  struct Pick {
    const store::Poll* poll;
    const store::Value* value;
  };
  static std::vector<std::pair<std::pair<std::string, std::string>, Pick>> newest(
      std::span<const store::Poll> polls) {
    std::vector<std::pair<std::pair<std::string, std::string>, Pick>> out;
    std::map<std::pair<std::string, std::string>, std::size_t> index;
    for (const auto& poll : polls) {
      std::set<std::string_view> seen;
      for (const auto& v : poll.values) {
        if (!seen.insert(v.name).second) continue;
        auto key = std::make_pair(poll.meter, v.name);
        auto [it, added] = index.try_emplace(key, out.size());
        if (added) {
          out.emplace_back(std::move(key), Pick{&poll, &v});
        } else if (poll.time_ms >= out[it->second].second.poll->time_ms) {
          out[it->second].second = Pick{&poll, &v};
        }
      }
    }
    return out;
  }

  // ---- Sink ----

  std::vector<Note> deliver(std::span<const store::Poll> polls) {
    if (polls.empty()) return {};
    std::lock_guard dl(deliver_mu);
    {
      std::unique_lock lk(mu);
      if (closed) throw SinkError(cfg.url + ": closed");
      // A connection attempt in progress (typically right after start) gets `timeout`.
      cv.wait_for(lk, cfg.timeout, [&] { return state != State::Connecting || stop; });
      if (state != State::Connected) throw SinkError(not_connected_locked());
    }
    std::vector<Message> msgs;  // discovery configs first, then states, then the polls
    std::vector<Note> notes;
    std::uint64_t gen = 0;
    {
      std::lock_guard pl(pub_mu);
      std::vector<Message> states;
      for (const auto& [key, pick] : newest(polls)) {
        const auto& [meter, reg] = key;
        MeterState& ms = meter_state(meter);
        if (taken_out(meter, ms, reg)) continue;
        // Older than what the retained topic already has (a logger record backfilled after a
        // live poll): the state stays as it is; the poll message below still carries it.
        if (auto t = ms.read_ms.find(reg); t != ms.read_ms.end() && pick.poll->time_ms < t->second)
          continue;
        ha::Sensor s = ha::sensor(*pick.value, volume_class(meter), cfg.energy_unit);
        if (s.value.empty()) continue;  // neither number nor text: nothing to retain
        if (cfg.homeassistant && !s.dropped.empty())
          notes.push_back({"mqtt.homeassistant." + meter + "." + reg,
                           s.dropped + ": published without a device class"});
        states.push_back({meter_topic(meter) + "/" + topic_part(reg), s.value, cfg.retain});
        ms.read_ms[reg] = pick.poll->time_ms;
        ms.registers[reg] = std::move(s);
        update_discovery(meter, ms, reg, msgs);
        if (pick.value->register_id == ha::kInfoRegister) {
          flag_states(meter, ms, *pick.value, states);
          update_flag_discovery(meter, ms, msgs);
        }
      }
      msgs.insert(msgs.end(), std::make_move_iterator(states.begin()),
                  std::make_move_iterator(states.end()));
      for (const auto& poll : polls) {
        meter_state(poll.meter);
        if (cfg.format == MqttConfig::Format::Nested) {
          msgs.push_back({meter_topic(poll.meter) + "/state", poll_json(poll), false});
        } else if (std::string flat = mqtt_detail::flat_json(poll); flat != "{}") {
          msgs.push_back({flat_topic(poll.meter), std::move(flat), cfg.retain});
        }
      }
      gen = publish_tracked(msgs);
    }
    wait_acks(msgs.size(), gen);
    return notes;
  }

  std::vector<Note> meter_info(const MeterInfo& info) {
    std::lock_guard pl(pub_mu);
    MeterState& ms = meter_state(info.name);
    ms.info = info;
    std::vector<Message> msgs;
    std::vector<Note> notes;
    if (!ms.online) {
      // The meter has just answered; meter_online() overrides this at any time.
      ms.online = true;
      msgs.push_back({availability_topic(info.name), "online", true});
    }
    refresh_device_ids(msgs, notes);
    publish_untracked(msgs);
    return notes;
  }

  void meter_online(const std::string& meter, bool online) {
    std::lock_guard pl(pub_mu);
    meter_state(meter).online = online;
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
  for (const auto& [key, message] : impl_->deliver(polls)) note(key, message);
}

void MqttSink::meter_info(const MeterInfo& info) {
  for (const auto& [key, message] : impl_->meter_info(info)) note(key, message);
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
  for (const auto& [meter, cls] : cfg.ha_volume_class) {
    if (cls != "water" && cls != "volume")
      bad("ha_volume_class." + meter, "expected water or volume, got '" + cls + "'");
  }
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
      "MQTT broker (libmosquitto), with Home Assistant discovery (Home Assistant " +
          std::string(ha::kMinVersion) +
          " or later, docs/homeassistant.md). Topics: `<base_topic>/<meter>/<register>` (plain "
          "value, retained; after an outage only the newest of each register), "
          "`<base_topic>/<meter>/state` (one JSON object per poll, every poll of a backlog, "
          "docs/formats.md), `<base_topic>/<meter>/availability`, and `<base_topic>/status` (the "
          "connection's will).",
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
          boolean<C>("retain", &C::retain,
                     "retain the per-register topics (and the `flat` message, as "
                     "kamstrup-402-mqtt's `retain`)"),
          integer<C>("qos", &C::qos, 0, 2, "QoS of every publication", "2"),
          choice<C, C::Format>(
              "format", &C::format, {{"nested", C::Format::Nested}, {"flat", C::Format::Flat}},
              "the per-poll message: `nested` = `<base_topic>/<meter>/state` "
              "(docs/formats.md); `flat` = kamstrup-402-mqtt's `{\"energy\": 227.445, "
              "\"volume\": ...}` (its names) on `<base_topic>/values` for the first meter, "
              "`<base_topic>/<meter>/values` for the others (docs/migrating.md)"),
          boolean<C>("homeassistant", &C::homeassistant,
                     "publish Home Assistant MQTT discovery: one device per meter"),
          str<C>("discovery_prefix", &C::discovery_prefix, "Home Assistant's discovery prefix",
                 "ha"),
          text_map<C>("ha_volume_class", &C::ha_volume_class,
                      "Home Assistant device class of a meter's volume registers, `{<meter>: "
                      "water|volume}`: `water` puts them on the Energy dashboard's water "
                      "section. Unset: `water` for a meter that reads a volume but no energy "
                      "register (a water meter), else `volume`",
                      "{heat: water}",
                      [](const std::string&, const std::string& v, const std::string& path) {
                        if (v != "water" && v != "volume")
                          fail(path, "expected water or volume, got '" + v + "'");
                      }),
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
      [](C& c, const std::string& path, Context& ctx) {
        for (const auto& [meter, cls] : c.ha_volume_class) {
          if (ctx.meter(meter) == nullptr)
            fail(join(join(path, "ha_volume_class"), meter), "no meter is named '" + meter + "'");
        }
        c.meters.clear();
        c.labels.clear();
        c.registers.clear();
        for (const auto& m : ctx.meters) {
          c.meters.push_back(m.name);
          if (!m.registers.empty() && !m.backfill) c.registers[m.name] = m.registers;
          for (const auto& [reg, label] : m.labels) c.labels[m.name][reg] = label;
          const bool named = std::any_of(c.ha_volume_class.begin(), c.ha_volume_class.end(),
                                         [&](const auto& e) { return e.first == m.name; });
          if (!named && ha::default_volume_class(m.registers) == ha::VolumeClass::Water)
            c.ha_volume_class.emplace_back(m.name, "water");
        }
        validate(c);
      }};
  return t;
}

}  // namespace kamstrup::sinks
