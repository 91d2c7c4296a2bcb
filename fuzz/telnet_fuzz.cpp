// Any bytes from a server through the RFC 2217 client's telnet parser (src/transport/telnet.cpp):
// no crash, nothing unbounded. Any split of the stream gives the same data, replies and state;
// there is never more data than input; every queued reply is a well-formed telnet command or
// COM-PORT subnegotiation; data escaped for the wire comes back unchanged.
#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <span>
#include <vector>

#include "transport/telnet.hpp"

using namespace kamstrup::transport::telnet;
using Bytes = std::vector<std::uint8_t>;

namespace {

// The client sends only IAC WILL/WONT/DO/DONT <option> and IAC SB COM-PORT <escaped> IAC SE.
bool well_formed(const Bytes& out) {
  std::size_t i = 0;
  while (i < out.size()) {
    if (out.size() - i < 3 || out[i] != kIac) return false;
    const std::uint8_t c = out[i + 1];
    if (c == kWill || c == kWont || c == kDo || c == kDont) {
      i += 3;
      continue;
    }
    if (c != kSb || out[i + 2] != kOptComPort) return false;
    i += 3;
    for (;;) {
      if (i + 1 >= out.size()) return false;
      if (out[i] != kIac) {
        ++i;
      } else if (out[i + 1] == kIac) {
        i += 2;
      } else if (out[i + 1] == kSe) {
        i += 2;
        break;
      } else {
        return false;
      }
    }
  }
  return true;
}

bool same_state(const Client& a, const Client& b) {
  for (unsigned o = 0; o < 256; ++o) {
    const auto opt = static_cast<std::uint8_t>(o);
    if (a.us(opt) != b.us(opt) || a.him(opt) != b.him(opt)) return false;
    if (a.com_port_reply(opt) != b.com_port_reply(opt)) return false;
    if (a.com_port_reply(opt) && a.com_port_reply(opt)->size() > 256) return false;
  }
  return true;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 1) return 0;
  // The first byte picks whether the client opened the negotiation and how the stream is cut.
  const bool started = (data[0] & 1U) != 0;
  const std::size_t chunk = (data[0] >> 1U) % 16 + 1;
  const std::span<const std::uint8_t> wire(data + 1, size - 1);

  Client whole;
  if (started) whole.start();
  Bytes whole_data;
  whole.feed(wire, whole_data);
  const Bytes whole_out = whole.take_output();

  Client cut;
  if (started) cut.start();
  Bytes cut_data;
  Bytes cut_out;
  for (std::size_t i = 0; i < wire.size(); i += chunk) {
    cut.feed(wire.subspan(i, std::min(chunk, wire.size() - i)), cut_data);
    const Bytes o = cut.take_output();
    cut_out.insert(cut_out.end(), o.begin(), o.end());
  }
  if (wire.empty()) cut_out = cut.take_output();

  if (cut_data != whole_data || cut_out != whole_out || !same_state(whole, cut)) std::abort();
  if (whole_data.size() > wire.size()) std::abort();
  // Linear in the input: at most a 3-byte answer per 3-byte command, 21 bytes for the shortest
  // signature request (4 bytes: IAC SB COM-PORT 100, ended by the IAC of the next command when
  // the server forgets IAC SE), 15 for start().
  if (whole_out.size() > 15 + 6 * wire.size()) std::abort();
  if (!well_formed(whole_out)) std::abort();

  // What the client sends as data, escaped, reaches a fresh peer unchanged and asks nothing.
  Bytes escaped;
  escape(whole_data, escaped);
  Client peer;
  Bytes back;
  peer.feed(escaped, back);
  if (back != whole_data || !peer.take_output().empty()) std::abort();
  return 0;
}
