// Gateways scale out through the broker: two `kamstrup run` daemons, each in its own network
// namespace with two simulated meters, publish every poll with QoS 1 to one mosquitto
// (persistence on) in a third namespace; a subscriber in a fourth namespace holds a persistent
// session (clean session off, QoS 1). The subscriber goes away, the broker is restarted (SIGTERM,
// same config) while both gateways keep polling, and the subscriber resumes its session without
// subscribing again. At the end every poll each gateway stored must have reached the subscriber
// with the stored values, and nothing it did not store; duplicates are counted and printed.
//
//   ns gw1  10.231.0.11  eth0 ══ veth ══ gw1 ─┐
//   ns gw2  10.231.0.12  eth0 ══ veth ══ gw2 ─┼─ br0 10.231.0.1  ns broker: mosquitto :1883
//   ns ha   10.231.0.100 eth0 ══ veth ══ ha  ─┘
//
// Namespaces, bridge and veth pairs are real (iproute2), named after the test's pid, made by the
// test and removed by it (also those a crashed earlier run left behind). It needs root and `ip`
// and fails, never skips, without them. Registered with the ctest label `noasan`: it tests the
// system around the daemon, not its memory, and the asan test preset leaves it out.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <mosquitto.h>
#include <sched.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <ctime>
#include <exception>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iostream>
#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <regex>
#include <set>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "../e2e/process.hpp"
#include "text/time.hpp"

using namespace kamstrup::test;
using namespace std::chrono_literals;
using json = nlohmann::json;
namespace fs = std::filesystem;

namespace {

const std::string kBin = KAMSTRUP_BINARY;
const std::string kMosquitto = "/usr/sbin/mosquitto";
const std::string kBrokerIp = "10.231.0.1";
const int kBrokerPort = 1883;
const std::string kNsPrefix = "kamstrup-gw-";
const std::vector<std::string> kGateways = {"gw1", "gw2"};
const std::vector<std::string> kMeters = {"heat_a", "heat_b"};

bool wait_until(const std::function<bool()>& done, std::chrono::milliseconds limit) {
  const auto give_up = std::chrono::steady_clock::now() + limit;
  while (!done()) {
    if (std::chrono::steady_clock::now() > give_up) return false;
    std::this_thread::sleep_for(50ms);
  }
  return true;
}

std::int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// An RFC 3339 time ("…:30:00.250Z", "…:30:00Z") →
// Unix ms, through the parser the CLI and the HTTP API use; -1 when it is not one.
std::int64_t rfc3339_ms(const std::string& text) {
  return kamstrup::text::rfc3339_ms(text).value_or(-1);
}

std::string find_ip() {
  for (const char* p : {"/usr/sbin/ip", "/sbin/ip", "/usr/bin/ip", "/bin/ip"}) {
    if (::access(p, X_OK) == 0) return p;
  }
  return {};
}

std::string joined(const std::vector<std::string>& v) {
  std::string s;
  for (const auto& x : v) s += (s.empty() ? "" : " ") + x;
  return s;
}

// `ip ARGS...`; throws with its stderr when it fails.
void ip(const std::vector<std::string>& args) {
  std::vector<std::string> cmd{find_ip()};
  cmd.insert(cmd.end(), args.begin(), args.end());
  const RunResult r = run(cmd, "", 20s);
  if (r.status != 0) throw std::runtime_error(joined(cmd) + ": " + r.err);
}

// Namespaces named kamstrup-gw-<pid>-<role> whose test process is gone (a crash, a SIGKILL).
void remove_stale_namespaces() {
  std::error_code ec;
  for (const auto& e : fs::directory_iterator("/run/netns", ec)) {
    const std::string name = e.path().filename().string();
    if (name.rfind(kNsPrefix, 0) != 0) continue;
    const std::string rest = name.substr(kNsPrefix.size());
    const pid_t pid = static_cast<pid_t>(std::atol(rest.substr(0, rest.find('-')).c_str()));
    if (pid > 0 && ::kill(pid, 0) != 0 && errno == ESRCH) {
      run({find_ip(), "netns", "del", name}, "", 20s);
    }
  }
}

// The network of the test: a broker namespace with a bridge, and one namespace per host with a
// veth pair into that bridge. Removing a namespace removes the links in it; the destructor
// removes every namespace made so far (processes in them must have ended first).
class Site {
 public:
  Site() : prefix_(kNsPrefix + std::to_string(::getpid()) + "-") {}
  ~Site() {
    for (auto it = made_.rbegin(); it != made_.rend(); ++it) {
      run({find_ip(), "netns", "del", *it}, "", 20s);
    }
  }
  Site(const Site&) = delete;
  Site& operator=(const Site&) = delete;

  [[nodiscard]] std::string ns(const std::string& role) const { return prefix_ + role; }

  void add_broker_network() {
    const std::string b = add_namespace("broker");
    ip({"-n", b, "link", "add", "br0", "type", "bridge"});
    ip({"-n", b, "addr", "add", kBrokerIp + "/24", "dev", "br0"});
    ip({"-n", b, "link", "set", "br0", "up"});
  }

  // A host `role` at `address` (/24) with its eth0 cabled to the bridge port named `role`.
  void add_host(const std::string& role, const std::string& address) {
    const std::string b = ns("broker");
    const std::string h = add_namespace(role);
    ip({"-n", b, "link", "add", role, "type", "veth", "peer", "name", "eth0", "netns", h});
    ip({"-n", b, "link", "set", role, "master", "br0"});
    ip({"-n", b, "link", "set", role, "up"});
    ip({"-n", h, "addr", "add", address + "/24", "dev", "eth0"});
    ip({"-n", h, "link", "set", "eth0", "up"});
  }

 private:
  std::string add_namespace(const std::string& role) {
    const std::string name = ns(role);
    ip({"netns", "add", name});
    made_.push_back(name);
    ip({"-n", name, "link", "set", "lo", "up"});
    return name;
  }

  std::string prefix_;
  std::vector<std::string> made_;
};

// A program in a network namespace through `ip netns exec NS` (which execs it: the pid is the
// program's), stdout and stderr into `log`. It dies with the test process (PR_SET_PDEATHSIG
// survives exec; start it from the main thread); the destructor ends it (SIGTERM, then SIGKILL).
class NsProcess {
 public:
  NsProcess(const std::string& ns, const std::vector<std::string>& cmd, std::string log)
      : log_(std::move(log)) {
    std::vector<std::string> args{find_ip(), "netns", "exec", ns};
    args.insert(args.end(), cmd.begin(), cmd.end());
    auto argv = argv_of(args);  // built before fork: the child must not allocate
    const int out = ::open(log_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    const int null = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (out < 0 || null < 0) throw std::runtime_error("cannot open " + log_);
    pid_ = ::fork();
    if (pid_ < 0) throw std::runtime_error("fork failed");
    if (pid_ == 0) {
      ::prctl(PR_SET_PDEATHSIG, SIGKILL);
      ::dup2(null, 0);
      ::dup2(out, 1);
      ::dup2(out, 2);
      ::execv(argv[0], argv.data());
      ::_exit(127);
    }
    ::close(out);
    ::close(null);
  }
  ~NsProcess() {
    signal(SIGTERM);
    wait(5s);
  }
  NsProcess(const NsProcess&) = delete;
  NsProcess& operator=(const NsProcess&) = delete;

  void signal(int sig) const {
    if (pid_ > 0) ::kill(pid_, sig);
  }
  // The exit status (128 + signal when killed by one); SIGKILL after `limit` (then -1).
  int wait(std::chrono::seconds limit) {
    if (pid_ <= 0) return status_;
    int status = 0;
    if (wait_until([&] { return ::waitpid(pid_, &status, WNOHANG) == pid_; }, limit)) {
      status_ = exit_status_of(status);
    } else {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, &status, 0);
      status_ = -1;
    }
    pid_ = -1;
    return status_;
  }
  [[nodiscard]] std::string log() const { return Background::slurp(log_); }

 private:
  std::string log_;
  pid_t pid_ = -1;
  int status_ = -1;
};

// Runs `fn` on a thread that has entered network namespace `ns`. Sockets made there stay in it,
// and threads it starts (libmosquitto's network loop) start in it too.
void in_netns(const std::string& ns, const std::function<void()>& fn) {
  std::exception_ptr error;
  std::thread t([&] {
    try {
      const int fd = ::open(("/run/netns/" + ns).c_str(), O_RDONLY | O_CLOEXEC);
      if (fd < 0 || ::setns(fd, CLONE_NEWNET) != 0) {
        throw std::runtime_error("cannot enter network namespace " + ns);
      }
      ::close(fd);
      fn();
    } catch (...) {
      error = std::current_exception();
    }
  });
  t.join();
  if (error) std::rethrow_exception(error);
}

struct Message {
  std::string topic;
  std::string payload;
};

// A libmosquitto client with a persistent session (clean session off). With a `topic` it
// subscribes to it with QoS 1; without, it resumes its session as the broker kept it. Records
// every message in arrival order. Construct it inside in_netns().
class Subscriber {
 public:
  Subscriber(const std::string& client_id, const std::string& topic) {
    mosq_ = mosquitto_new(client_id.c_str(), /*clean_session=*/false, this);
    if (mosq_ == nullptr) throw std::runtime_error("mosquitto_new");
    mosquitto_message_callback_set(mosq_, [](mosquitto*, void* obj, const mosquitto_message* m) {
      auto* self = static_cast<Subscriber*>(obj);
      Message msg{m->topic, {}};
      if (m->payload != nullptr)
        msg.payload.assign(static_cast<const char*>(m->payload),
                           static_cast<std::size_t>(m->payloadlen));
      std::lock_guard lock(self->mu_);
      self->messages_.push_back(std::move(msg));
    });
    mosquitto_connect_with_flags_callback_set(mosq_, [](mosquitto*, void* obj, int rc, int flags) {
      auto* self = static_cast<Subscriber*>(obj);
      if (rc != 0) return;
      self->session_present_ = (flags & 1) != 0;
      self->connected_ = true;
    });
    mosquitto_subscribe_callback_set(mosq_, [](mosquitto*, void* obj, int, int, const int*) {
      static_cast<Subscriber*>(obj)->subscribed_ = true;
    });
    // The broker may still be starting: retry for a bounded time.
    const bool tcp = wait_until(
        [&] {
          return mosquitto_connect(mosq_, kBrokerIp.c_str(), kBrokerPort, 60) == MOSQ_ERR_SUCCESS;
        },
        20s);
    if (!tcp || mosquitto_loop_start(mosq_) != MOSQ_ERR_SUCCESS ||
        !wait_until([&] { return connected_.load(); }, 10s)) {
      close();
      throw std::runtime_error("subscriber " + client_id + " cannot connect to the broker");
    }
    if (!topic.empty()) {
      mosquitto_subscribe(mosq_, nullptr, topic.c_str(), 1);
      if (!wait_until([&] { return subscribed_.load(); }, 10s)) {
        close();
        throw std::runtime_error("subscriber: no SUBACK");
      }
    }
  }
  ~Subscriber() { close(); }
  Subscriber(const Subscriber&) = delete;
  Subscriber& operator=(const Subscriber&) = delete;

  [[nodiscard]] std::vector<Message> messages() {
    std::lock_guard lock(mu_);
    return messages_;
  }
  // CONNACK's session-present flag: the broker still had this client's session.
  [[nodiscard]] bool session_present() const { return session_present_; }

 private:
  void close() {
    if (mosq_ == nullptr) return;
    mosquitto_disconnect(mosq_);
    mosquitto_loop_stop(mosq_, true);
    mosquitto_destroy(mosq_);
    mosq_ = nullptr;
  }

  mosquitto* mosq_ = nullptr;
  std::mutex mu_;
  std::vector<Message> messages_;
  std::atomic<bool> connected_{false};
  std::atomic<bool> session_present_{false};
  std::atomic<bool> subscribed_{false};
};

// A poll: meter and time (Unix ms); its values by register name (as JSON text).
using PollKey = std::pair<std::string, std::int64_t>;
using Values = std::map<std::string, std::string>;

std::string key_text(const PollKey& k) {
  const std::time_t secs = static_cast<std::time_t>(k.second / 1000);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[80];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
                tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                static_cast<int>(k.second % 1000));
  return k.first + " " + buf;
}

// At most 20 of them, one a line.
std::string listed(const std::vector<PollKey>& keys) {
  std::string s;
  for (std::size_t i = 0; i < keys.size() && i < 20; ++i) s += "  " + key_text(keys[i]) + "\n";
  if (keys.size() > 20) s += "  ... and " + std::to_string(keys.size() - 20) + " more\n";
  return s;
}

// Every poll in a gateway's store, through `kamstrup history --json` (one row per register).
std::map<PollKey, Values> stored_polls(const std::string& db) {
  const RunResult r = run({kBin, "history", "--db", db, "--json"}, "", 30s);
  if (r.status != 0) throw std::runtime_error("kamstrup history --db " + db + ": " + r.err);
  std::map<PollKey, Values> polls;
  for (const auto& row : json::parse(r.out)) {
    const PollKey k{row.at("meter").get<std::string>(),
                    rfc3339_ms(row.at("time").get<std::string>())};
    polls[k][row.at("register").get<std::string>()] = row.at("value").dump();
  }
  return polls;
}

// A state message as it arrived: gateway (from the topic site/<gw>/<meter>/state), poll key,
// values; `ok` false when it is not one.
struct Arrival {
  bool ok = false;
  std::string gateway;
  PollKey key;
  Values values;
};

Arrival parse_arrival(const Message& m) {
  static const std::regex topic_re(R"(^site/([a-z0-9]+)/([a-z0-9_-]+)/state$)");
  Arrival a;
  std::smatch t;
  if (!std::regex_match(m.topic, t, topic_re)) return a;
  const json j = json::parse(m.payload, nullptr, false);
  if (!j.is_object() || !j.contains("meter") || !j.contains("time") || !j.contains("registers"))
    return a;
  if (j.at("meter") != t[2].str()) return a;
  a.gateway = t[1];
  a.key = {t[2], rfc3339_ms(j.at("time").get<std::string>())};
  for (const auto& reg : j.at("registers")) {
    a.values[reg.at("name").get<std::string>()] = reg.at("value").dump();
  }
  a.ok = a.key.second >= 0;
  return a;
}

// How many times each poll of `gateway` arrived.
std::map<PollKey, int> arrivals_of(const std::string& gateway, const std::vector<Message>& all) {
  std::map<PollKey, int> n;
  for (const auto& m : all) {
    const Arrival a = parse_arrival(m);
    if (a.ok && a.gateway == gateway) ++n[a.key];
  }
  return n;
}

bool all_arrived(const std::map<PollKey, Values>& stored, const std::map<PollKey, int>& got) {
  for (const auto& [k, v] : stored) {
    if (got.count(k) == 0) return false;
  }
  return !stored.empty();
}

std::string gateway_config(const TempDir& dir, const std::string& gw) {
  const std::string path = dir / (gw + ".yaml");
  std::ofstream out(path);
  out << "meters:\n";
  for (const auto& m : kMeters) {
    out << "  - name: " << m << "\n    port: sim:multical403\n    interval: 1s\n";
  }
  out << "store:\n  path: " << (dir / (gw + ".db")) << "\n"
      << "mqtt:\n  url: mqtt://" << kBrokerIp << ":" << kBrokerPort << "\n"
      << "  base_topic: site/" << gw << "\n  qos: 1\n  client_id: " << gw
      << "\n  homeassistant: false\n";
  return path;
}

// Persistence on (sessions, subscriptions and queued QoS 1 messages are written to
// <dir>/broker/mosquitto.db on shutdown and read back on start), listening only on the bridge.
std::string broker_config(const TempDir& dir) {
  fs::create_directories(dir / "broker");
  const std::string path = dir / "mosquitto.conf";
  std::ofstream(path) << "listener " << kBrokerPort << " " << kBrokerIp << "\n"
                      << "allow_anonymous true\n"
                      << "persistence true\n"
                      << "persistence_location " << (dir / "broker")
                      << "/\n"
                      // As root, mosquitto would switch to the `mosquitto` user otherwise.
                      << "user root\n"
                      << "log_dest stderr\nlog_type all\n";
  return path;
}

using Stores = std::map<std::string, std::map<PollKey, Values>>;  // by gateway

std::string gateway_ip(std::size_t i) {
  return "10.231.0." + std::to_string(11 + i);
}

// At least `n` distinct polls of every gateway are among `got`.
bool each_gateway_delivered(std::size_t n, const std::vector<Message>& got) {
  for (const auto& g : kGateways) {
    if (arrivals_of(g, got).size() < n) return false;
  }
  return true;
}

// Each gateway came through its own network: the broker saw it connect from its address.
void expect_each_gateway_from_its_network(const std::string& broker_log) {
  for (std::size_t i = 0; i < kGateways.size(); ++i) {
    const std::string ip = std::regex_replace(gateway_ip(i), std::regex("\\."), "\\.");
    const std::regex seen("New client connected from " + ip + ":[0-9]+ as " + kGateways[i] + " ");
    EXPECT_TRUE(std::regex_search(broker_log, seen)) << kGateways[i] << "\n" << broker_log;
  }
}

// Every poll of every gateway in `want` is among `got`.
bool all_gateways_arrived(const Stores& want, const std::vector<Message>& got) {
  for (const auto& [g, polls] : want) {
    if (!all_arrived(polls, arrivals_of(g, got))) return false;
  }
  return true;
}

// Wall-clock instants of the run (Unix ms), to place polls relative to them.
struct Times {
  std::int64_t offline = 0;  // the subscriber disconnected
  std::int64_t stop = 0;     // the broker was sent SIGTERM
  std::int64_t restart = 0;  // the broker was started again
};

struct Figures {
  std::size_t stored = 0, received = 0, unique = 0, duplicates = 0, missing = 0, not_stored = 0,
              wrong_values = 0, during_outage = 0, via_persistence = 0;
  std::string duplicated;  // which polls, and when they were taken relative to the broker stop
};

// Counts what arrived of one gateway's polls against its store, and checks it: every stored poll
// arrived, nothing arrived that was not stored, every copy has the stored values. `after` is what
// the resumed session received.
Figures tally(const std::string& g, const std::map<PollKey, Values>& stored,
              const std::vector<Message>& arrived, const std::vector<Message>& after,
              const Times& t) {
  SCOPED_TRACE(g);
  Figures f;
  f.stored = stored.size();
  const auto counts = arrivals_of(g, arrived);
  std::vector<PollKey> not_stored, missing;
  for (const auto& [k, n] : counts) {
    f.received += static_cast<std::size_t>(n);
    ++f.unique;
    if (stored.count(k) == 0) not_stored.push_back(k);
    if (n > 1)
      f.duplicated += " " + key_text(k) + " (x" + std::to_string(n) + ", " +
                      std::to_string(k.second - t.stop) + " ms from the broker stop)";
  }
  f.duplicates = f.received - f.unique;
  for (const auto& [k, v] : stored) {
    if (counts.count(k) == 0) missing.push_back(k);
    if (k.second > t.stop && k.second < t.restart) ++f.during_outage;
  }
  f.not_stored = not_stored.size();
  f.missing = missing.size();
  EXPECT_TRUE(missing.empty()) << missing.size() << " of " << stored.size()
                               << " stored polls never arrived:\n"
                               << listed(missing);
  EXPECT_TRUE(not_stored.empty()) << not_stored.size() << " polls arrived but were never stored:\n"
                                  << listed(not_stored);
  for (const auto& m : arrived) {
    const Arrival a = parse_arrival(m);
    if (!a.ok || a.gateway != g || stored.count(a.key) == 0) continue;
    if (a.values != stored.at(a.key)) {
      ++f.wrong_values;
      ADD_FAILURE() << key_text(a.key) << ": arrived " << m.payload;
    }
  }
  // Polls of the subscriber's offline time that the broker acknowledged well before it stopped
  // (a poll is published within a second of its time): only the broker's persisted queue can
  // have brought them to the resumed session.
  for (const auto& [k, n] : arrivals_of(g, after)) {
    if (k.second >= t.offline && k.second < t.stop - 2000) ++f.via_persistence;
  }
  EXPECT_GE(f.during_outage, 2U) << "polls stored while the broker was down";
  EXPECT_GE(f.via_persistence, 1U) << "no queued poll survived the broker restart";
  return f;
}

void print(const std::map<std::string, Figures>& fig, const Times& t) {
  std::cout << "[gateways] broker down " << (t.restart - t.stop) << " ms; subscriber offline "
            << (t.restart - t.offline) << " ms\n";
  for (const auto& [g, f] : fig) {
    std::cout << "[gateways] " << g << ": stored " << f.stored << " polls (" << f.during_outage
              << " while the broker was down), received " << f.received << " messages, " << f.unique
              << " distinct, " << f.duplicates << " duplicates, " << f.missing << " missing, "
              << f.not_stored << " never stored, " << f.wrong_values << " with other values; "
              << f.via_persistence
              << " queued by the broker before its restart and delivered after it\n";
    if (!f.duplicated.empty())
      std::cout << "[gateways] " << g << " duplicates:" << f.duplicated << "\n";
    ::testing::Test::RecordProperty(g + "_stored", static_cast<int>(f.stored));
    ::testing::Test::RecordProperty(g + "_received", static_cast<int>(f.received));
    ::testing::Test::RecordProperty(g + "_duplicates", static_cast<int>(f.duplicates));
  }
}

TEST(Gateways, TwoGatewaysDeliverEveryStoredReadingThroughABrokerRestart) {
  ASSERT_EQ(::geteuid(), 0U) << "this test creates network namespaces and must run as root "
                                "(CI does); run it with sudo, it does not skip";
  ASSERT_FALSE(find_ip().empty()) << "`ip` not found: install iproute2 (scripts/install-deps)";
  ASSERT_EQ(::access(kMosquitto.c_str(), X_OK), 0)
      << kMosquitto << " not found: install mosquitto (scripts/install-deps)";
  remove_stale_namespaces();
  mosquitto_lib_init();

  TempDir dir;
  Site site;  // declared before every process: its destructor runs after they have ended
  site.add_broker_network();
  for (std::size_t i = 0; i < kGateways.size(); ++i) site.add_host(kGateways[i], gateway_ip(i));
  site.add_host("ha", "10.231.0.100");

  const std::string broker_conf = broker_config(dir);
  auto start_broker = [&](const std::string& log) {
    return std::make_unique<NsProcess>(
        site.ns("broker"), std::vector<std::string>{kMosquitto, "-c", broker_conf}, dir / log);
  };
  auto broker = start_broker("broker-1.log");
  const std::string sub_id = "ha-" + std::to_string(::getpid());
  std::unique_ptr<Subscriber> sub;
  in_netns(site.ns("ha"), [&] { sub = std::make_unique<Subscriber>(sub_id, "site/+/+/state"); });

  std::map<std::string, std::unique_ptr<NsProcess>> gw;
  for (const auto& g : kGateways) {
    gw[g] = std::make_unique<NsProcess>(
        site.ns(g), std::vector<std::string>{kBin, "run", "--config", gateway_config(dir, g)},
        dir / (g + ".log"));
  }
  auto db = [&](const std::string& g) { return dir / (g + ".db"); };
  auto logs = [&] {
    std::string s;
    for (const auto& g : kGateways) s += "--- " + g + ":\n" + gw[g]->log();
    return s + "--- broker:\n" + Background::slurp(dir / "broker-1.log") +
           Background::slurp(dir / "broker-2.log");
  };

  // Both gateways deliver (four polls each), then the subscriber goes away: its session keeps
  // the subscription and queues what the gateways publish.
  ASSERT_TRUE(wait_until([&] { return each_gateway_delivered(4, sub->messages()); }, 30s))
      << logs();
  std::vector<Message> arrived = sub->messages();
  sub.reset();
  Times t;
  t.offline = now_ms();
  std::this_thread::sleep_for(4s);

  // The broker stops (SIGTERM: it writes its persistence file) while the gateways keep polling.
  t.stop = now_ms();
  broker->signal(SIGTERM);
  EXPECT_EQ(broker->wait(10s), 0) << logs();
  std::error_code ec;
  EXPECT_GT(fs::file_size(dir / "broker/mosquitto.db", ec), 0U)
      << "mosquitto wrote no persistence file\n"
      << logs();
  expect_each_gateway_from_its_network(Background::slurp(dir / "broker-1.log"));
  std::map<std::string, std::size_t> at_stop;
  for (const auto& g : kGateways) at_stop[g] = stored_polls(db(g)).size();
  std::this_thread::sleep_for(3s);
  Stores at_restart;
  for (const auto& g : kGateways) {
    at_restart[g] = stored_polls(db(g));
    EXPECT_GE(at_restart[g].size(), at_stop[g] + 2)
        << g << " must go on polling and storing while the broker is down\n"
        << logs();
  }
  t.restart = now_ms();
  broker = start_broker("broker-2.log");

  // The subscriber comes back without subscribing: the restarted broker must know its session.
  in_netns(site.ns("ha"), [&] { sub = std::make_unique<Subscriber>(sub_id, ""); });
  EXPECT_TRUE(sub->session_present())
      << "the broker lost the subscriber's session across its restart (persistence)\n"
      << logs();
  auto everything = [&] {
    auto all = arrived;
    const auto now = sub->messages();
    all.insert(all.end(), now.begin(), now.end());
    return all;
  };
  // The backlog of both gateways arrives, then live polls for a couple of seconds.
  EXPECT_TRUE(wait_until([&] { return all_gateways_arrived(at_restart, everything()); }, 30s))
      << "the backlog did not arrive after the broker came back\n"
      << logs();
  std::this_thread::sleep_for(2s);

  // SIGTERM: each gateway finishes its poll and gives its outputs 5 s to deliver.
  for (const auto& g : kGateways) gw[g]->signal(SIGTERM);
  for (const auto& g : kGateways) EXPECT_EQ(gw[g]->wait(15s), 0) << g << "\n" << logs();
  Stores stored;
  for (const auto& g : kGateways) stored[g] = stored_polls(db(g));
  wait_until([&] { return all_gateways_arrived(stored, everything()); }, 15s);
  const std::vector<Message> from_restart = sub->messages();
  arrived.insert(arrived.end(), from_restart.begin(), from_restart.end());
  sub.reset();

  for (const auto& m : arrived) {
    EXPECT_TRUE(parse_arrival(m).ok)
        << "not a state message of a gateway: " << m.topic << " " << m.payload;
  }
  std::map<std::string, Figures> fig;
  for (const auto& g : kGateways) {
    fig[g] = tally(g, stored[g], arrived, from_restart, t);
    EXPECT_GE(stored[g].size(), at_restart[g].size());
  }
  print(fig, t);
  if (HasFailure()) ADD_FAILURE() << logs();
}

}  // namespace
