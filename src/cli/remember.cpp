#include "cli/remember.hpp"

#include <unistd.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <system_error>

#include "meter/report.hpp"

namespace kamstrup::cli {

namespace fs = std::filesystem;

std::string protocol_memory_path() {
  const char* xdg = std::getenv("XDG_CACHE_HOME");
  if (xdg != nullptr && *xdg == '/') return std::string(xdg) + "/kamstrup/protocols.json";
  const char* home = std::getenv("HOME");
  if (home != nullptr && *home != '\0')
    return std::string(home) + "/.cache/kamstrup/protocols.json";
  return "";
}

namespace {

// The file's text; "" when there is none (yet) or it cannot be read.
std::string read_text(const std::string& path) {
  std::ifstream in(path);
  if (!in) return "";
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

nlohmann::json parse(const std::string& text) {
  auto j = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  return j.is_object() ? j : nlohmann::json::object();
}

bool ordinary(const RememberedProtocol& found) {
  return found.protocol == meter::Protocol::Kmp && found.line == transport::LineSettings{};
}

// Written whole to a temporary file and renamed, so a reader never sees half a file.
bool save(const std::string& path, const std::string& text) {
  std::error_code ec;
  fs::create_directories(fs::path(path).parent_path(), ec);
  if (ec) return false;
  const std::string tmp = path + ".tmp." + std::to_string(::getpid());
  {
    std::ofstream out(tmp, std::ios::trunc);
    if (!out) return false;
    out << text;
    if (!out.flush()) {
      fs::remove(tmp, ec);
      return false;
    }
  }
  fs::rename(tmp, path, ec);
  if (!ec) return true;
  fs::remove(tmp, ec);
  return false;
}

}  // namespace

std::optional<std::string> remember_protocol_in(const std::string& json_text,
                                                const std::string& port,
                                                const RememberedProtocol& found) {
  try {
    auto j = parse(json_text);
    if (ordinary(found)) {
      if (!j.contains(port)) return std::nullopt;
      j.erase(port);
    } else {
      // A meter that speaks both `/#n` and the IEC readout is remembered as `/#n` (more
      // quantities); one missed `/#1` in a detection does not demote it. (An entry whose protocol
      // is no text is no memory: compared as JSON, not converted, which would throw.)
      if (found.protocol == meter::Protocol::Iec && j.contains(port) && j[port].is_object() &&
          j[port].value("protocol", nlohmann::json()) == "legacy")
        return std::nullopt;
      nlohmann::json entry = {{"protocol", meter::protocol_name(found.protocol)},
                              {"found", meter::utc_now_rfc3339()}};
      if (found.protocol == meter::Protocol::Kmp) {
        const std::string text = found.line.to_string();  // "9600 8N1"
        entry["baud"] = found.line.baud;
        entry["format"] = text.substr(text.find(' ') + 1);
      }
      j[port] = entry;
    }
    return j.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
  } catch (const nlohmann::json::exception&) {
    return std::nullopt;
  }
}

std::optional<RememberedProtocol> recall_protocol_in(const std::string& json_text,
                                                     const std::string& port) {
  try {
    const auto j = parse(json_text);
    auto it = j.find(port);
    if (it == j.end() || !it->is_object()) return std::nullopt;
    auto protocol = meter::parse_protocol(it->value("protocol", ""));
    if (!protocol) return std::nullopt;
    RememberedProtocol r;
    r.protocol = *protocol;
    if (r.protocol == meter::Protocol::Kmp) {
      // A hand-edited baud rate the port cannot do would fail every read: no memory instead.
      // Only a whole number is one (converting 1e52 to an integer would be undefined).
      const nlohmann::json baud = it->value("baud", nlohmann::json());
      if (!baud.is_number_unsigned() ||
          std::find(transport::kBaudRates.begin(), transport::kBaudRates.end(),
                    baud.get<std::uint64_t>()) == transport::kBaudRates.end())
        return std::nullopt;
      auto line = transport::parse_frame_format(baud.get<unsigned>(), it->value("format", ""));
      if (!line) return std::nullopt;
      r.line = *line;
    }
    return r;
  } catch (const nlohmann::json::exception&) {
    return std::nullopt;  // an entry edited into another shape is no memory
  }
}

std::optional<RememberedProtocol> recall_protocol(const std::string& port) {
  const std::string path = protocol_memory_path();
  if (path.empty()) return std::nullopt;
  return recall_protocol_in(read_text(path), port);
}

bool remember_protocol(const std::string& port, const RememberedProtocol& found) {
  try {
    const std::string path = protocol_memory_path();
    if (path.empty()) return false;
    const auto text = remember_protocol_in(read_text(path), port, found);
    return text && save(path, *text) && !ordinary(found);
  } catch (const std::exception&) {
    return false;  // only a hint: never fail a read that worked
  }
}

}  // namespace kamstrup::cli
