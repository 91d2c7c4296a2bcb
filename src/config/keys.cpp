#include "config/keys.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <regex>

namespace kamstrup::config {

const Context::Meter* Context::meter(std::string_view name) const {
  for (const auto& m : meters) {
    if (m.name == name) return &m;
  }
  return nullptr;
}

void Context::claim_file(const std::string& file, const std::string& key_path) {
  // Two spellings of one file ("a/../b.jsonl", a relative and an absolute name) are one file.
  std::error_code ec;
  std::string canonical = std::filesystem::weakly_canonical(file, ec).string();
  if (ec) canonical = file;
  auto [it, fresh] = files_.emplace(canonical, key_path);
  if (!fresh) fail(key_path, "'" + file + "' is also written by " + it->second);
}

std::string scalar(const Node& n, const std::string& path, std::string_view what) {
  if (n.is_null()) return "";
  if (!n.is_scalar())
    fail(path, "expected " + std::string(what) + ", got a " + (n.is_map() ? "mapping" : "list"));
  return n.scalar;
}

bool parse_bool(const Node& n, const std::string& path) {
  const std::string v = scalar(n, path, "true or false");
  if (v == "true" || v == "yes" || v == "on") return true;
  if (v == "false" || v == "no" || v == "off") return false;
  fail(path, "expected true or false, got '" + v + "'");
}

long long parse_integer(const Node& n, const std::string& path, long long min, long long max) {
  const std::string v = scalar(n, path, "a whole number");
  errno = 0;
  char* end = nullptr;
  long long x = std::strtoll(v.c_str(), &end, 10);
  if (v.empty() || *end != '\0' || errno == ERANGE || x < min || x > max) {
    fail(path, "expected a whole number from " + std::to_string(min) + " to " +
                   std::to_string(max) + ", got '" + v + "'");
  }
  return x;
}

std::optional<std::chrono::milliseconds> parse_duration(std::string_view text) {
  static const std::regex kDur("([0-9]{1,12})(ms|s|m|h|d)");
  std::match_results<std::string_view::const_iterator> m;
  if (!std::regex_match(text.begin(), text.end(), m, kDur)) return std::nullopt;
  const long long n = std::stoll(m[1].str());
  const std::string unit = m[2].str();
  const long long per = unit == "ms"  ? 1
                        : unit == "s" ? 1000
                        : unit == "m" ? 60000
                        : unit == "h" ? 3600000
                                      : 86400000;
  // 10^12 days still fits in 64-bit milliseconds, so no multiplication here overflows; each
  // key's own maximum keeps values far below what the clocks can add.
  return std::chrono::milliseconds(n * per);
}

std::string format_duration(std::chrono::milliseconds d) {
  const long long ms = d.count();
  if (ms == 0) return "0s";
  const std::pair<long long, const char*> units[] = {
      {86400000, "d"}, {3600000, "h"}, {60000, "m"}, {1000, "s"}};
  for (const auto& [per, name] : units) {
    if (ms % per == 0) return std::to_string(ms / per) + name;
  }
  return std::to_string(ms) + "ms";
}

std::chrono::milliseconds parse_duration_at(const Node& n, const std::string& path,
                                            const DurationRule& rule) {
  const std::string v = scalar(n, path, "a duration");
  auto d = parse_duration(v);
  if (!d) fail(path, "expected a duration like 500ms, 60s, 15m, 1h or 30d, got '" + v + "'");
  if (d->count() == 0 && rule.zero_allowed) return *d;
  if (*d < rule.min) fail(path, "must be at least " + format_duration(rule.min) + ", got " + v);
  if (*d > rule.max) fail(path, "must be at most " + format_duration(rule.max) + ", got " + v);
  if (d->count() % rule.resolution.count() != 0) {
    fail(path, "must be a whole multiple of " + format_duration(rule.resolution) + ", got " + v);
  }
  return *d;
}

namespace {

bool valid_host(const std::string& h) {
  static const std::regex kName(R"([A-Za-z0-9]([A-Za-z0-9_-]{0,62})(\.[A-Za-z0-9_-]{1,63})*\.?)");
  return std::regex_match(h, kName);
}

bool valid_ipv6(const std::string& h) {
  static const std::regex kV6(R"([0-9A-Fa-f:.]+(%[A-Za-z0-9_.-]+)?)");
  return h.find(':') != std::string::npos && std::regex_match(h, kV6);
}

}  // namespace

Url parse_url(const std::string& text, const std::string& path,
              const std::vector<std::string>& schemes) {
  std::string list;
  for (const auto& s : schemes) list += (list.empty() ? "" : " or ") + s + "://";
  const auto sep = text.find("://");
  Url u;
  if (sep != std::string::npos) u.scheme = text.substr(0, sep);
  std::transform(u.scheme.begin(), u.scheme.end(), u.scheme.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  if (sep == std::string::npos ||
      std::find(schemes.begin(), schemes.end(), u.scheme) == schemes.end())
    fail(path, "expected a URL starting with " + list + ", got '" + text + "'");
  if (text.find_first_of(" \t\r\n") != std::string::npos)
    fail(path, "a URL cannot contain spaces: '" + text + "'");
  std::string rest = text.substr(sep + 3);
  const auto slash = rest.find_first_of("/?#");
  std::string authority = rest.substr(0, slash);
  if (slash != std::string::npos) u.path = rest.substr(slash);
  if (auto at = authority.rfind('@'); at != std::string::npos) {
    u.userinfo = authority.substr(0, at);
    authority = authority.substr(at + 1);
  }
  std::string port;
  if (!authority.empty() && authority.front() == '[') {
    const auto close = authority.find(']');
    if (close == std::string::npos) fail(path, "unclosed '[' in '" + text + "'");
    u.host = authority.substr(1, close - 1);
    std::string after = authority.substr(close + 1);
    if (!after.empty() && after.front() != ':') fail(path, "bad text after ']' in '" + text + "'");
    if (!after.empty()) port = after.substr(1);
    if (!valid_ipv6(u.host)) fail(path, "bad IPv6 address '" + u.host + "' in '" + text + "'");
  } else {
    const auto colon = authority.rfind(':');
    u.host = authority.substr(0, colon);
    if (colon != std::string::npos) port = authority.substr(colon + 1);
    if (u.host.empty()) fail(path, "no host in '" + text + "'");
    if (!valid_host(u.host))
      fail(path, "bad host name '" + u.host + "' in '" + text + "' (IPv6 addresses go in [ ])");
  }
  if (port.empty() && authority.find(':') != std::string::npos && authority.back() == ':')
    fail(path, "empty port in '" + text + "'");
  if (!port.empty()) {
    char* end = nullptr;
    long p = std::strtol(port.c_str(), &end, 10);
    if (*end != '\0' || p < 1 || p > 65535 || port.size() > 5)
      fail(path, "bad port '" + port + "' in '" + text + "' (1 to 65535)");
    u.port = static_cast<std::uint16_t>(p);
  }
  return u;
}

void check_path(const std::string& file, const std::string& path, PathRule rule) {
  if (file.empty()) fail(path, "expected a file name");
  if (rule == PathRule::Any) return;
  struct stat st {};
  if (rule == PathRule::ExistingFile) {
    if (::stat(file.c_str(), &st) != 0)
      fail(path, "cannot find '" + file + "': " + std::strerror(errno));
    if (S_ISDIR(st.st_mode)) fail(path, "'" + file + "' is a directory, expected a file");
    if (::access(file.c_str(), R_OK) != 0)
      fail(path, "cannot read '" + file + "': " + std::strerror(errno));
    return;
  }
  std::filesystem::path p(file);
  std::filesystem::path dir = p.has_parent_path() ? p.parent_path() : ".";
  if (::stat(dir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode))
    fail(path, "the directory '" + dir.string() + "' of '" + file + "' does not exist");
  if (::stat(file.c_str(), &st) == 0 && S_ISDIR(st.st_mode))
    fail(path, "'" + file + "' is a directory, expected a file");
}

std::vector<std::string> secret_key_names(const std::string& key) {
  return {key, key + "_file", key + "_env", key + "_credential"};
}

namespace {

std::string first_line_of(const std::string& file, const std::string& path) {
  std::ifstream in(file);
  if (!in) fail(path, "cannot read '" + file + "': " + std::strerror(errno));
  // A secret is one short line; read to the first newline without a bound, /dev/zero (or a big
  // file named by mistake) would take all memory.
  constexpr std::size_t kMaxLine = 65536;
  std::string line;
  char c = 0;
  while (line.size() <= kMaxLine && in.get(c) && c != '\n') line.push_back(c);
  if (line.size() > kMaxLine) {
    fail(path, "'" + file + "' has no line break in its first " + std::to_string(kMaxLine) +
                   " bytes: not a secret");
  }
  if (!line.empty() && line.back() == '\r') line.pop_back();
  return line;
}

}  // namespace

Secret read_secret(const Node& map, const std::string& section_path, const std::string& key) {
  const auto names = secret_key_names(key);
  Secret s;
  int given = 0;
  for (std::size_t i = 0; i < names.size(); ++i) {
    const Node* n = map.find(names[i]);
    if (n == nullptr) continue;
    const std::string path = join(section_path, names[i]);
    const std::string v = scalar(*n, path, "a text");
    if (++given > 1) {
      fail(join(section_path, key),
           "give only one of " + names[0] + ", " + names[1] + ", " + names[2] + ", " + names[3]);
    }
    switch (i) {
      case 0:
        s.source = Secret::Source::Inline;
        s.value = v;
        break;
      case 1:
        s.source = Secret::Source::File;
        s.ref = v;
        s.value = first_line_of(v, path);
        break;
      case 2: {
        s.source = Secret::Source::Env;
        s.ref = v;
        const char* e = std::getenv(v.c_str());
        if (e == nullptr) fail(path, "environment variable " + v + " is not set");
        s.value = e;
        break;
      }
      default: {
        s.source = Secret::Source::Credential;
        s.ref = v;
        if (v.empty() || v.find('/') != std::string::npos)
          fail(path, "expected a credential name (LoadCredential=NAME:...), got '" + v + "'");
        const char* dir = std::getenv("CREDENTIALS_DIRECTORY");
        if (dir == nullptr)
          fail(path,
               "$CREDENTIALS_DIRECTORY is not set: systemd sets it for a unit with "
               "LoadCredential=" +
                   v + ":FILE");
        s.value = first_line_of(std::string(dir) + "/" + v, path);
        break;
      }
    }
  }
  if (s.source == Secret::Source::Inline && s.value.empty()) s.source = Secret::Source::None;
  return s;
}

Node dump_secret(const Secret& s, const std::string& key) {
  const auto names = secret_key_names(key);
  switch (s.source) {
    case Secret::Source::None:
      return Node();
    case Secret::Source::Inline:
      return Node::map().add(names[0], Node::text("********"));
    case Secret::Source::File:
      return Node::map().add(names[1], Node::text(s.ref));
    case Secret::Source::Env:
      return Node::map().add(names[2], Node::text(s.ref));
    case Secret::Source::Credential:
      return Node::map().add(names[3], Node::text(s.ref));
  }
  return Node();
}

void reject_unknown_keys(const Node& map, const std::string& path,
                         const std::vector<std::string>& known) {
  for (const auto& [k, v] : map.entries) {
    if (std::find(known.begin(), known.end(), k) != known.end()) continue;
    std::string list;
    for (const auto& name : known) list += (list.empty() ? "" : ", ") + name;
    fail(join(path, k), "unknown key (known here: " + list + ")");
  }
}

namespace {

// A '|' inside a cell would end it.
std::string cell(const std::string& s) {
  std::string out;
  for (char c : s) {
    if (c == '|') out += '\\';
    out += c;
  }
  return out;
}

}  // namespace

std::string markdown_rows(const std::vector<Meta>& rows, const std::vector<std::string>& defaults) {
  std::string out = "| key | default | meaning |\n|---|---|---|\n";
  for (std::size_t i = 0; i < rows.size(); ++i) {
    const Meta& m = rows[i];
    std::string key = "`" + m.name + "`";
    if (m.kind == KeyKind::Secret) {
      key += " (or `" + m.name + "_file`, `" + m.name + "_env`, `" + m.name + "_credential`)";
    }
    out += "| " + cell(key) + " | " + cell(defaults[i]) + " | " + cell(m.doc) + " |\n";
  }
  return out;
}

}  // namespace kamstrup::config
