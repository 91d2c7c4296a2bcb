#include "transport/detail.hpp"
#include "transport/port.hpp"
#include "transport/ports.hpp"

#include <algorithm>
#include <cctype>

namespace kamstrup::transport {

namespace {

constexpr const char* kSpecHelp =
    "expected a tty path, socket://host:port, rfc2217://host:port or usb:VID:PID[:SERIAL]";

bool starts_with(const std::string& s, const std::string& prefix) {
  return s.compare(0, prefix.size(), prefix) == 0;
}

struct HostPort {
  std::string host;
  std::string port;
};

// "host:port" or "[v6addr]:port"; the port must be a number in 1..65535.
HostPort split_host_port(const std::string& spec, const std::string& scheme) {
  const std::string rest = spec.substr(scheme.size());
  auto malformed = [&] {
    return PortError(spec + ": malformed port spec (expected " + scheme + "host:port)");
  };
  HostPort hp;
  std::size_t port_at = 0;
  if (starts_with(rest, "[")) {
    const auto close = rest.find(']');
    if (close == std::string::npos || close + 1 >= rest.size() || rest[close + 1] != ':') {
      throw malformed();
    }
    hp.host = rest.substr(1, close - 1);
    port_at = close + 2;
  } else {
    const auto colon = rest.rfind(':');
    if (colon == std::string::npos) throw malformed();
    hp.host = rest.substr(0, colon);
    if (hp.host.find(':') != std::string::npos) throw malformed();  // bare IPv6 needs brackets
    port_at = colon + 1;
  }
  hp.port = rest.substr(port_at);
  if (hp.host.empty() || hp.port.empty() || hp.port.size() > 5 ||
      !std::all_of(hp.port.begin(), hp.port.end(),
                   [](unsigned char c) { return std::isdigit(c) != 0; })) {
    throw malformed();
  }
  const unsigned long number = std::stoul(hp.port);
  if (number == 0 || number > 65535) throw malformed();
  return hp;
}

}  // namespace

std::unique_ptr<Port> make_port(asio::any_io_executor ex, const std::string& spec,
                                const LineSettings& settings) {
  if (spec.empty()) throw PortError(std::string("empty port spec (") + kSpecHelp + ")");
  detail::check_line(spec, settings);
  for (const std::string scheme : {"socket://", "rfc2217://"}) {
    if (!starts_with(spec, scheme)) continue;
    auto hp = split_host_port(spec, scheme);
    if (scheme == "socket://") {
      return detail::make_socket_port(std::move(ex), spec, std::move(hp.host), std::move(hp.port),
                                      settings);
    }
    return detail::make_rfc2217_port(std::move(ex), spec, std::move(hp.host), std::move(hp.port),
                                     settings);
  }
  if (starts_with(spec, "usb:")) {
    // Validates the spec now; the device is looked up at each open(), so a re-plugged adapter
    // that came back as another ttyUSBn is found again.
    detail::check_usb_spec(spec);
    return detail::make_tty_port(std::move(ex), {}, spec, settings);
  }
  if (spec.find("://") != std::string::npos) {
    throw PortError(spec + ": unknown port scheme (" + kSpecHelp + ")");
  }
  return detail::make_tty_port(std::move(ex), spec, {}, settings);
}

}  // namespace kamstrup::transport
