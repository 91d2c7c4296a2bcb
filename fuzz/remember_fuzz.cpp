// Any text as the per-port protocol memory ($XDG_CACHE_HOME/kamstrup/protocols.json), through
// cli::recall_protocol_in and cli::remember_protocol_in (what recall_protocol and
// remember_protocol do on the file's text). Neither throws nor crashes. What is recalled is a
// protocol with a line a port can do. Keeping a finding and reading the new text back gives
// that finding (an ordinary KMP finding: no entry; IEC does not replace `/#n`), and every other
// port's memory is as it was.
#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "cli/remember.hpp"

using namespace kamstrup;
using cli::RememberedProtocol;

namespace {

bool same(const std::optional<RememberedProtocol>& a, const std::optional<RememberedProtocol>& b) {
  if (a.has_value() != b.has_value()) return false;
  return !a || (a->protocol == b->protocol && a->line == b->line);
}

void check_recalled(const std::optional<RememberedProtocol>& r) {
  if (!r || r->protocol != meter::Protocol::Kmp) return;
  if (std::find(transport::kBaudRates.begin(), transport::kBaudRates.end(), r->line.baud) ==
      transport::kBaudRates.end()) {
    std::abort();
  }
}

RememberedProtocol finding_for(std::uint8_t b) {
  RememberedProtocol f;
  switch (b % 5) {
    case 0:
      break;  // KMP at 1200 8N2: forgotten rather than kept
    case 1:
      f.protocol = meter::Protocol::Legacy;
      break;
    case 2:
      f.protocol = meter::Protocol::Iec;
      break;
    case 3:
      f.line = {9600, 8, transport::Parity::None, 1};
      break;
    default:
      f.line = {300, 7, transport::Parity::Even, 2};
      break;
  }
  return f;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 1) return 0;
  const RememberedProtocol found = finding_for(data[0]);
  const std::string text(reinterpret_cast<const char*>(data + 1), size - 1);

  // The ports the text names (the memory's keys) and one it does not.
  std::vector<std::string> ports = {"/dev/ttyUSB0"};
  const auto j = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (j.is_object()) {
    for (const auto& [key, value] : j.items()) {
      if (ports.size() < 8) ports.push_back(key);
    }
  }

  std::vector<std::optional<RememberedProtocol>> before;
  for (const auto& port : ports) {
    before.push_back(cli::recall_protocol_in(text, port));
    check_recalled(before.back());
  }
  const std::string port = ports[data[0] / 5 % ports.size()];
  const auto old = cli::recall_protocol_in(text, port);
  const auto written = cli::remember_protocol_in(text, port, found);
  const bool ordinary =
      found.protocol == meter::Protocol::Kmp && found.line == transport::LineSettings{};
  if (!written) {
    // Only two findings leave the file as it is: an ordinary one for a port it does not name,
    // and IEC for a port remembered as `/#n`.
    const bool legacy_kept = found.protocol == meter::Protocol::Iec && old.has_value() &&
                             old->protocol == meter::Protocol::Legacy;
    if (!ordinary && !legacy_kept) std::abort();
    return 0;
  }
  const auto now = cli::recall_protocol_in(*written, port);
  if (ordinary ? now.has_value() : !same(now, found)) std::abort();
  for (std::size_t i = 0; i < ports.size(); ++i) {
    if (ports[i] == port) continue;
    if (!same(cli::recall_protocol_in(*written, ports[i]), before[i])) std::abort();
  }
  return 0;
}
