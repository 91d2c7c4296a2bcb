// Shared pieces of the end-to-end tests: running the `kamstrup` binary, a simulated meter in its
// own process (with its JSON-lines request log), fake meters owned by the test on a real pty, a
// real ser2net, and helpers that compare the reader's output with what the meter really sent.
#pragma once

#include <gtest/gtest.h>
#include <termios.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <ctime>
#include <functional>
#include <mutex>
#include <regex>
#include <string>
#include <thread>
#include <vector>

#include "kmp/frame.hpp"
#include "kmp/messages.hpp"
#include "process.hpp"

namespace kamstrup::e2e {

using Json = nlohmann::json;
using test::RunResult;
using test::TempDir;
using namespace std::chrono_literals;

inline const std::string& binary() {
  static const std::string path = KAMSTRUP_BINARY;
  return path;
}

// The default registers of `kamstrup read`, with the units the contract names.
struct Expected {
  std::uint16_t id;
  const char* name;
  const char* unit;
};
inline const std::vector<Expected>& default_registers() {
  static const std::vector<Expected> regs = {
      {60, "heat_energy", "MWh"}, {68, "volume", "m³"},       {86, "temp1", "°C"},
      {87, "temp2", "°C"},        {89, "temp_diff", "K"},     {74, "flow", "l/h"},
      {80, "power", "kW"},        {1004, "hour_counter", "h"}};
  return regs;
}

// Phrases of meter::diagnosis_text, one per failure.
inline constexpr const char* kSilentPhrase = "no bytes at all came back";
inline constexpr const char* kEchoOnlyPhrase = "only our own request came back";
inline constexpr const char* kGarbagePhrase = "bytes came back but no valid frame";
inline constexpr const char* kCrcPhrase = "replies arrived with CRC errors";

inline std::string describe(const RunResult& r) {
  return "exit " + std::to_string(r.status) + "\n--- stdout:\n" + r.out + "--- stderr:\n" + r.err;
}

// No crash, no sanitizer report, no uncaught exception, whatever the exit status.
inline void expect_clean(const RunResult& r, const std::string& what) {
  EXPECT_LT(r.status, 128) << what << " died of a signal\n" << describe(r);
  EXPECT_NE(r.status, 127) << what << ": could not execute";
  for (const char* marker :
       {"terminate called", "what():", "Sanitizer", "runtime error:", "Segmentation fault",
        "Aborted", "core dumped", "stack trace", "#0 0x", "#1 0x"}) {
    EXPECT_EQ(r.err.find(marker), std::string::npos)
        << what << ": stderr contains '" << marker << "'\n"
        << describe(r);
  }
}

inline std::string joined(const std::vector<std::string>& args) {
  std::string s = "kamstrup";
  for (const auto& a : args) s += " " + a;
  return s;
}

// Runs `kamstrup ARGS...`; `env` adds "NAME=value" entries to its environment.
inline RunResult kamstrup(const std::vector<std::string>& args, const std::string& input = "",
                          const std::vector<std::string>& env = {}) {
  std::vector<std::string> argv = {binary()};
  argv.insert(argv.end(), args.begin(), args.end());
  // The reader remembers detected protocols per port in $XDG_CACHE_HOME; pty names are reused
  // between tests, so a test gets that memory only when it asks for it (a directory under
  // /dev/null cannot be created: nothing is remembered).
  std::vector<std::string> full_env = env;
  if (std::none_of(env.begin(), env.end(),
                   [](const std::string& e) { return e.rfind("XDG_CACHE_HOME=", 0) == 0; })) {
    full_env.emplace_back("XDG_CACHE_HOME=/dev/null/kamstrup-tests");
  }
  RunResult r = test::run(argv, input, std::chrono::seconds(120), full_env);
  expect_clean(r, joined(args));
  return r;
}

inline std::string hex(std::span<const std::uint8_t> bytes) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string s;
  for (std::uint8_t b : bytes) {
    s.push_back(kHex[b >> 4U]);
    s.push_back(kHex[b & 0xFU]);
  }
  return s;
}

// The request `kamstrup read` must send for these ids (one GetRegister frame, ≤ 8 ids).
inline std::vector<std::uint8_t> get_register_request(const std::vector<std::uint16_t>& ids) {
  auto r = kmp::encode_request(kmp::GetRegisterRequest{ids});
  if (!r.ok()) throw std::runtime_error("cannot encode a GetRegister request");
  return r.value();
}

// The raw text of every "value" token in a JSON document, in order (nlohmann would turn
// 12345678901234.5678 into a double; the contract is about the exact text).
inline std::vector<std::string> raw_value_tokens(const std::string& text) {
  static const std::regex re(R"re("value"\s*:\s*([^,}\]\s]+))re");
  std::vector<std::string> out;
  for (auto it = std::sregex_iterator(text.begin(), text.end(), re); it != std::sregex_iterator();
       ++it) {
    out.push_back((*it)[1].str());
  }
  return out;
}

// Parses one JSON document, failing the test (not throwing) when it is not JSON.
inline Json parse_json(const std::string& text) {
  Json j = Json::parse(text, nullptr, /*allow_exceptions=*/false);
  EXPECT_FALSE(j.is_discarded()) << "not one JSON document:\n" << text;
  return j;
}

// "2026-11-23T14:25:00Z" (optionally with fractional seconds) → Unix seconds; -1 when the text
// is not RFC 3339 in UTC.
inline std::int64_t parse_rfc3339_utc(const std::string& text) {
  static const std::regex re(R"(^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(\.\d+)?Z$)");
  std::smatch m;
  if (!std::regex_match(text, m, re)) return -1;
  std::tm tm{};
  tm.tm_year = std::stoi(m[1]) - 1900;
  tm.tm_mon = std::stoi(m[2]) - 1;
  tm.tm_mday = std::stoi(m[3]);
  tm.tm_hour = std::stoi(m[4]);
  tm.tm_min = std::stoi(m[5]);
  tm.tm_sec = std::stoi(m[6]);
  return static_cast<std::int64_t>(timegm(&tm));
}

inline std::int64_t unix_now() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// Complete JSON lines of a file (a line still being written is ignored).
inline std::vector<Json> read_json_lines(const std::string& path) {
  const std::string text = test::Background::slurp(path);
  std::vector<Json> lines;
  std::size_t start = 0;
  for (std::size_t nl; (nl = text.find('\n', start)) != std::string::npos; start = nl + 1) {
    Json j = Json::parse(text.substr(start, nl - start), nullptr, false);
    EXPECT_FALSE(j.is_discarded()) << path << ": bad JSON line: " << text.substr(start, nl - start);
    if (!j.is_discarded()) lines.push_back(std::move(j));
  }
  return lines;
}

inline std::vector<Json> with_dir(const std::vector<Json>& lines, const std::string& dir) {
  std::vector<Json> out;
  for (const auto& l : lines) {
    if (l.value("dir", "") == dir) out.push_back(l);
  }
  return out;
}

// Checks a `read --json` object against the registers we asked for and the values the meter
// sent in one reply (a tx line's "values"): ids, names and units in order, and every value token
// exactly the meter's decimal text.
inline void expect_registers_match(const std::string& out, const std::vector<Expected>& want,
                                   const Json& sent_values) {
  Json j = parse_json(out);
  ASSERT_TRUE(j.is_object()) << out;
  ASSERT_TRUE(j.contains("registers")) << out;
  const Json& regs = j.at("registers");
  ASSERT_EQ(regs.size(), want.size()) << out;
  const auto tokens = raw_value_tokens(out);
  ASSERT_EQ(tokens.size(), want.size()) << out;
  for (std::size_t i = 0; i < want.size(); ++i) {
    SCOPED_TRACE(want[i].name);
    EXPECT_EQ(regs[i].at("id"), want[i].id);
    EXPECT_EQ(regs[i].at("name"), want[i].name);
    EXPECT_EQ(regs[i].at("unit"), want[i].unit);
    const std::string id = std::to_string(want[i].id);
    ASSERT_TRUE(sent_values.contains(id)) << sent_values.dump();
    EXPECT_EQ(tokens[i], sent_values.at(id).get<std::string>()) << out;
  }
  EXPECT_EQ(j.at("unsupported"), Json::array());
  EXPECT_EQ(j.at("failed"), Json::array());
}

// A simulated meter: `kamstrup simulate` in its own process, on a pty (symlinked into the test's
// temp dir) or on an ephemeral TCP port, logging every request to <dir>/<name>.log.
class Sim {
 public:
  enum class On { Pty, Tcp };

  Sim(const TempDir& dir, std::uint64_t seed, const std::vector<std::string>& extra,
      On on = On::Pty, const std::string& name = "sim")
      : log_path_(dir / (name + ".log")), link_(dir / "meter") {
    std::vector<std::string> args = {binary(), "simulate"};
    if (on == On::Pty) {
      args.insert(args.end(), {"--pty", link_});
    } else {
      args.insert(args.end(), {"--tcp", "127.0.0.1:0"});
    }
    args.insert(args.end(), {"--log", log_path_, "--seed", std::to_string(seed)});
    args.insert(args.end(), extra.begin(), extra.end());
    proc_ = std::make_unique<test::Background>(args, dir / name);
    on_ = on;
  }
  Sim(const Sim&) = delete;
  Sim& operator=(const Sim&) = delete;
  ~Sim() { stop(); }

  // Waits for the start line and parses it. False (with diag()) when it never came.
  [[nodiscard]] bool started() {
    if (!serial_.empty()) return true;
    if (!proc_->wait_for_output("\n", 30000ms)) return false;
    static const std::regex re(R"(^kamstrup simulate: (\S+) on (\S+) serial (\d+)$)");
    const std::string out = proc_->out();
    std::smatch m;
    const std::string first = out.substr(0, out.find('\n'));
    if (!std::regex_match(first, m, re)) return false;
    profile_ = m[1];
    device_ = m[2];
    serial_ = m[3];
    return true;
  }

  // What the reader takes as --port: the pty symlink, or socket://127.0.0.1:PORT.
  [[nodiscard]] std::string port() const { return on_ == On::Pty ? link_ : device_; }
  [[nodiscard]] const std::string& device() const { return device_; }
  [[nodiscard]] const std::string& serial() const { return serial_; }
  [[nodiscard]] const std::string& profile() const { return profile_; }
  [[nodiscard]] const std::string& log_path() const { return log_path_; }

  [[nodiscard]] std::vector<Json> log() const { return read_json_lines(log_path_); }
  [[nodiscard]] std::vector<Json> rx() const { return with_dir(log(), "rx"); }
  [[nodiscard]] std::vector<Json> tx() const { return with_dir(log(), "tx"); }

  [[nodiscard]] std::string diag() const {
    return "--- simulator stdout:\n" + proc_->out() + "--- simulator stderr:\n" + proc_->err() +
           "--- simulator log:\n" + test::Background::slurp(log_path_);
  }

  // SIGTERM; the simulator must end with status 0 and a clean stderr.
  void stop() {
    if (stopped_) return;
    stopped_ = true;
    const int status = proc_->stop();
    EXPECT_EQ(status, 0) << "simulator exit status\n" << diag();
    RunResult r{status, proc_->out(), proc_->err()};
    expect_clean(r, "kamstrup simulate");
  }

 private:
  std::unique_ptr<test::Background> proc_;
  std::string log_path_;
  std::string link_;
  On on_ = On::Pty;
  std::string profile_, device_, serial_;
  bool stopped_ = false;
};

// A fake meter owned by the test on a real pty: every request frame (0x80 … 0x0D) it receives is
// counted and answered with whatever `respond` returns. The slave is symlinked to `link` and held
// open in raw mode, so the master never sees EIO between readers.
class PtyPeer {
 public:
  using Responder = std::function<std::vector<std::uint8_t>(std::span<const std::uint8_t>)>;

  PtyPeer(const std::string& link, Responder respond) : link_(link), respond_(std::move(respond)) {
    master_ = ::posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
    char name[128];
    if (master_ < 0 || ::grantpt(master_) != 0 || ::unlockpt(master_) != 0 ||
        ::ptsname_r(master_, name, sizeof name) != 0) {
      throw std::runtime_error("cannot allocate a pty");
    }
    slave_ = ::open(name, O_RDWR | O_NOCTTY | O_CLOEXEC);
    if (slave_ < 0) throw std::runtime_error("cannot open the pty slave");
    termios t{};
    ::tcgetattr(slave_, &t);
    ::cfmakeraw(&t);
    ::tcsetattr(slave_, TCSANOW, &t);
    if (::symlink(name, link_.c_str()) != 0) throw std::runtime_error("cannot symlink " + link_);
    thread_ = std::thread([this] { serve(); });
  }
  PtyPeer(const PtyPeer&) = delete;
  PtyPeer& operator=(const PtyPeer&) = delete;
  ~PtyPeer() {
    stop_ = true;
    thread_.join();
    ::unlink(link_.c_str());
    ::close(slave_);
    ::close(master_);
  }

  [[nodiscard]] std::size_t requests() const { return requests_; }
  [[nodiscard]] const std::string& port() const { return link_; }

 private:
  void serve() {
    kmp::FrameReceiver rx;
    std::uint8_t buf[512];
    while (!stop_) {
      pollfd p{master_, POLLIN, 0};
      if (::poll(&p, 1, 50) <= 0) continue;
      const ssize_t n = ::read(master_, buf, sizeof buf);
      if (n <= 0) {
        std::this_thread::sleep_for(10ms);
        continue;
      }
      for (ssize_t i = 0; i < n; ++i) {
        if (rx.feed(buf[i]) != kmp::FrameReceiver::Event::Frame) continue;
        auto frame = rx.frame_bytes();
        if (frame.front() != kmp::kStartToMeter) continue;
        ++requests_;
        auto reply = respond_(frame);
        std::size_t done = 0;
        while (done < reply.size()) {
          const ssize_t w = ::write(master_, reply.data() + done, reply.size() - done);
          if (w <= 0) break;
          done += static_cast<std::size_t>(w);
        }
      }
    }
  }

  std::string link_;
  Responder respond_;
  int master_ = -1;
  int slave_ = -1;
  std::atomic<bool> stop_{false};
  std::atomic<std::size_t> requests_{0};
  std::thread thread_;
};

}  // namespace kamstrup::e2e
