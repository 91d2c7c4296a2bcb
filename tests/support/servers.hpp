// Test servers and helpers shared by tests/sinks and tests/daemon: a temporary directory, a free
// loopback TCP port, a real influxd (Debian package influxdb), a real mosquitto and a real
// tinyproxy, each with its config, ports and data in a temp dir, bound to 127.0.0.1. Header-only;
// link the test with cpp-httplib and nlohmann_json.
#pragma once

#include <arpa/inet.h>
#include <fcntl.h>
#include <httplib.h>
#include <netinet/in.h>
#include <pwd.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace kamstrup::test::support {

namespace fs = std::filesystem;

class TempDir {
 public:
  TempDir() {
    std::string tmpl = (fs::temp_directory_path() / "kamstrup-test-XXXXXX").string();
    if (::mkdtemp(tmpl.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
    path_ = tmpl;
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  [[nodiscard]] std::string operator/(const std::string& name) const {
    return (path_ / name).string();
  }
  [[nodiscard]] const fs::path& path() const { return path_; }

 private:
  fs::path path_;
};

// A port nothing listens on right now (bound to 0, read back, released).
inline int free_port() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0)
    throw std::runtime_error("bind failed");
  socklen_t len = sizeof addr;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  ::close(fd);
  return ntohs(addr.sin_port);
}

inline std::string slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

class Influxd {
 public:
  Influxd() : http_port_(free_port()), rpc_port_(free_port()) {
    config_ = dir_ / "influxdb.conf";
    // Everything but the HTTP API off; all state in the temp dir; loopback only.
    std::ofstream(config_) << "reporting-disabled = true\n"
                           << "bind-address = \"127.0.0.1:" << rpc_port_ << "\"\n"
                           << "[meta]\n  dir = \"" << dir_ / "meta"
                           << "\"\n"
                           << "[data]\n  dir = \"" << dir_ / "data"
                           << "\"\n"
                           << "  wal-dir = \"" << dir_ / "wal"
                           << "\"\n"
                           << "  query-log-enabled = false\n"
                           << "[http]\n  enabled = true\n"
                           << "  bind-address = \"127.0.0.1:" << http_port_ << "\"\n"
                           << "  log-enabled = false\n"
                           << "[monitor]\n  store-enabled = false\n"
                           << "[continuous_queries]\n  enabled = false\n"
                           << "[subscriber]\n  enabled = false\n"
                           << "[logging]\n  level = \"warn\"\n";
  }
  ~Influxd() { stop(); }
  Influxd(const Influxd&) = delete;
  Influxd& operator=(const Influxd&) = delete;

  void start() {
    if (pid_ > 0) return;
    std::string log = dir_ / "influxd.log";
    pid_t pid = ::fork();
    if (pid < 0) throw std::runtime_error("fork failed");
    if (pid == 0) {
      // Dies with the test process, whatever happens to it.
      ::prctl(PR_SET_PDEATHSIG, SIGKILL);
      int fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
      if (fd >= 0) {
        ::dup2(fd, 1);
        ::dup2(fd, 2);
      }
      ::execl("/usr/bin/influxd", "influxd", "-config", config_.c_str(),
              static_cast<char*>(nullptr));
      ::_exit(127);
    }
    pid_ = pid;
    // Bounded wait for /ping → 204 (startup takes well under a second here).
    httplib::Client cli("127.0.0.1", http_port_);
    cli.set_connection_timeout(1, 0);
    for (int i = 0; i < 600; ++i) {
      auto res = cli.Get("/ping");
      if (res && res->status == 204) return;
      int status = 0;
      if (::waitpid(pid_, &status, WNOHANG) == pid_) {
        pid_ = -1;
        throw std::runtime_error("influxd exited during startup:\n" + slurp(log));
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    throw std::runtime_error("influxd did not answer /ping:\n" + slurp(log));
  }

  void stop() {
    if (pid_ <= 0) return;
    ::kill(pid_, SIGTERM);
    int status = 0;
    for (int i = 0; i < 200; ++i) {  // up to 10 s for a clean shutdown, then SIGKILL
      if (::waitpid(pid_, &status, WNOHANG) == pid_) {
        pid_ = -1;
        return;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    ::kill(pid_, SIGKILL);
    ::waitpid(pid_, &status, 0);
    pid_ = -1;
  }

  [[nodiscard]] std::string url() const { return "http://127.0.0.1:" + std::to_string(http_port_); }

  nlohmann::json query(const std::string& q, const std::string& db = "") {
    httplib::Client cli("127.0.0.1", http_port_);
    httplib::Params params{{"q", q}, {"epoch", "ms"}};
    if (!db.empty()) params.emplace("db", db);
    auto res = cli.Post("/query", params);
    if (!res) throw std::runtime_error("influxd query failed: " + q);
    if (res->status != 200)
      throw std::runtime_error("influxd query: HTTP " + std::to_string(res->status) + res->body);
    return nlohmann::json::parse(res->body);
  }

  void create_database(const std::string& db) { query("CREATE DATABASE \"" + db + "\""); }
  [[nodiscard]] std::string log() const { return slurp(dir_ / "influxd.log"); }

  // SELECT * FROM kamstrup as rows of column → value.
  std::vector<std::map<std::string, nlohmann::json>> points(const std::string& db) {
    auto j = query("SELECT * FROM kamstrup", db);
    std::vector<std::map<std::string, nlohmann::json>> out;
    const auto& result = j.at("results").at(0);
    if (!result.contains("series")) return out;
    for (const auto& series : result.at("series")) {
      const auto& cols = series.at("columns");
      for (const auto& row : series.at("values")) {
        std::map<std::string, nlohmann::json> m;
        for (std::size_t i = 0; i < cols.size(); ++i) m[cols[i].get<std::string>()] = row[i];
        out.push_back(std::move(m));
      }
    }
    return out;
  }

  // The same points keyed by their time (Unix ms; the query asks for epoch=ms).
  std::map<std::int64_t, std::map<std::string, nlohmann::json>> points_by_time(
      const std::string& db) {
    std::map<std::int64_t, std::map<std::string, nlohmann::json>> out;
    for (auto& p : points(db)) {
      const auto t = p.at("time").get<std::int64_t>();
      out[t] = std::move(p);
    }
    return out;
  }

 private:
  TempDir dir_;
  int http_port_;
  int rpc_port_;
  std::string config_;
  pid_t pid_ = -1;
};

// A mosquitto broker (Debian package mosquitto) on 127.0.0.1:port with its own config in `dir`
// (no persistence; anonymous unless told otherwise; `extra_conf` appended). start() after stop()
// is a restart on the same port. The broker dies with the test process.
class Mosquitto {
 public:
  // port 0: a free one. Not started yet.
  explicit Mosquitto(const fs::path& dir, int port = 0, const std::string& extra_conf = "",
                     bool anonymous = true)
      : dir_(dir), port_(port != 0 ? port : free_port()) {
    const passwd* pw = getpwuid(getuid());
    std::ofstream(dir_ / "mosquitto.conf")
        << "listener " << port_ << " 127.0.0.1\n"
        << "allow_anonymous " << (anonymous ? "true" : "false") << "\n"
        << "persistence false\n"
        // As root, mosquitto would switch to the `mosquitto` user, which cannot read our files.
        << "user " << (pw != nullptr ? pw->pw_name : "root") << "\n"
        << "log_dest stderr\nlog_type all\n"
        << extra_conf;
  }
  ~Mosquitto() { stop(); }
  Mosquitto(const Mosquitto&) = delete;
  Mosquitto& operator=(const Mosquitto&) = delete;

  // wait: until the broker accepts connections (at most 10 s, else throws with its log);
  // otherwise the caller's first client does the waiting.
  void start(bool wait = true) {
    if (pid_ > 0) return;
    const std::string conf = (dir_ / "mosquitto.conf").string();
    const std::string logfile = (dir_ / "mosquitto.log").string();
    const int log_fd = ::open(logfile.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    const int null_fd = ::open("/dev/null", O_RDWR | O_CLOEXEC);
    pid_ = ::fork();
    if (pid_ < 0) throw std::runtime_error("fork failed");
    if (pid_ == 0) {
      ::prctl(PR_SET_PDEATHSIG, SIGTERM);  // a crashed test takes its broker with it
      ::dup2(null_fd, 0);
      ::dup2(log_fd, 1);
      ::dup2(log_fd, 2);
      ::execl("/usr/sbin/mosquitto", "mosquitto", "-c", conf.c_str(), static_cast<char*>(nullptr));
      ::_exit(127);
    }
    ::close(log_fd);
    ::close(null_fd);
    if (!wait) return;
    for (int i = 0; i < 500; ++i) {
      if (accepts()) return;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    throw std::runtime_error("mosquitto did not start:\n" + log());
  }

  void stop() {
    if (pid_ <= 0) return;
    ::kill(pid_, SIGTERM);
    int status = 0;
    ::waitpid(pid_, &status, 0);
    pid_ = -1;
  }

  [[nodiscard]] int port() const { return port_; }
  [[nodiscard]] std::string log() const { return slurp((dir_ / "mosquitto.log").string()); }

 private:
  [[nodiscard]] bool accepts() const {
    const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = htons(static_cast<std::uint16_t>(port_));
    const bool ok = ::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
    ::close(fd);
    return ok;
  }

  fs::path dir_;
  int port_;
  pid_t pid_ = -1;
};

// tinyproxy (Debian package tinyproxy), an HTTP proxy on 127.0.0.1:port with its config and log
// in a temp dir, started in the foreground (-d) and killed with the test process. It adds
// "Via: 1.1 <host> (tinyproxy/...)" to every request it forwards, which the server can see.
class Tinyproxy {
 public:
  Tinyproxy() : port_(free_port()) {
    std::ofstream(dir_ / "tinyproxy.conf") << "Port " << port_ << "\n"
                                           << "Listen 127.0.0.1\n"
                                           << "Allow 127.0.0.1\n"
                                           << "Timeout 30\n"
                                           << "MaxClients 16\n"
                                           << "LogLevel Connect\n";
    const std::string conf = dir_ / "tinyproxy.conf";
    const std::string logfile = dir_ / "tinyproxy.log";
    const int log_fd = ::open(logfile.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    const int null_fd = ::open("/dev/null", O_RDWR | O_CLOEXEC);
    pid_ = ::fork();
    if (pid_ < 0) throw std::runtime_error("fork failed");
    if (pid_ == 0) {
      ::prctl(PR_SET_PDEATHSIG, SIGKILL);
      ::dup2(null_fd, 0);
      ::dup2(log_fd, 1);
      ::dup2(log_fd, 2);
      ::execl("/usr/bin/tinyproxy", "tinyproxy", "-d", "-c", conf.c_str(),
              static_cast<char*>(nullptr));
      ::_exit(127);
    }
    ::close(log_fd);
    ::close(null_fd);
    for (int i = 0; i < 500; ++i) {
      const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
      sockaddr_in a{};
      a.sin_family = AF_INET;
      a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
      a.sin_port = htons(static_cast<std::uint16_t>(port_));
      const bool ok = ::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
      ::close(fd);
      if (ok) return;
      int status = 0;
      if (::waitpid(pid_, &status, WNOHANG) == pid_) {
        pid_ = -1;
        throw std::runtime_error("tinyproxy exited during startup:\n" + log());
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    throw std::runtime_error("tinyproxy did not start:\n" + log());
  }
  ~Tinyproxy() {
    if (pid_ <= 0) return;
    ::kill(pid_, SIGTERM);
    int status = 0;
    ::waitpid(pid_, &status, 0);
  }
  Tinyproxy(const Tinyproxy&) = delete;
  Tinyproxy& operator=(const Tinyproxy&) = delete;

  [[nodiscard]] std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }
  [[nodiscard]] std::string log() const { return slurp(dir_ / "tinyproxy.log"); }

 private:
  TempDir dir_;
  int port_;
  pid_t pid_ = -1;
};

}  // namespace kamstrup::test::support
