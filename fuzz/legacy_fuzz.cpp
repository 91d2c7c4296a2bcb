// Any bytes through every parser of the legacy core (src/legacy): the /#n line receiver, field
// splitting, /#1 and /#2 decoding under every scale, program numbers, scale text, the request
// scanner, the IEC receiver and readout decoder. No crash, nothing unbounded; decoded values
// print and parse back; a parsed scale prints and parses to itself; a decoded IEC readout
// re-encodes to one that decodes to the same items.
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "legacy/iec.hpp"
#include "legacy/standard.hpp"

using namespace kamstrup::legacy;

namespace {

void check_values(const std::vector<Value>& values) {
  for (const auto& v : values) {
    if (!v.value.number) continue;
    auto back = kamstrup::kmp::Decimal::parse(v.value.number->to_string());
    if (!back || !back->equals(*v.value.number)) std::abort();
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);

  // Reply lines, as the session sees them.
  LineReceiver lines;
  std::size_t overlong = 0;
  for (std::size_t i = 0; i < size; ++i) {
    const auto e = lines.feed(data[i]);
    if (e == LineReceiver::Event::Overlong) ++overlong;
    if (lines.line().size() > LineReceiver::kMaxLine) std::abort();
    if (e != LineReceiver::Event::Line) continue;
    const std::string_view line = lines.line();
    constexpr const char* kPrograms[] = {"0044119", "0042119", "0044158", "0042170", "0043116"};
    for (const char* program : kPrograms) {
      auto scale = scale_for(*parse_program_number(program));
      if (!scale) std::abort();
      if (auto v = decode_standard1(line, *scale); v.ok()) {
        if (v->size() != 10) std::abort();
        check_values(*v);
      }
      if (auto v = decode_standard2(line, &*scale); v.ok()) check_values(v->values);
    }
    if (auto f = split_fields(line, 10); f.ok() && f->size() != 10) std::abort();
    if (auto p = parse_program_number(line); p.ok()) {
      if (p->b > 9 || p->ccc > 999) std::abort();
      (void)scale_for(*p);
    }
    if (auto s = parse_scale(line); s.ok()) {
      auto again = parse_scale(scale_to_string(*s));
      if (!again || !(*again == *s)) std::abort();
    }
  }
  (void)overlong;

  // Logger replies: the input's lines under every logger code.
  std::vector<std::string> all_lines;
  LineReceiver relines;
  for (std::size_t i = 0; i < size && all_lines.size() < 64; ++i) {
    if (relines.feed(data[i]) == LineReceiver::Event::Line) all_lines.emplace_back(relines.line());
  }
  for (char code : {'5', '6', '7', '8', '9', 'J', '1'}) {
    if (auto t = decode_log(code, all_lines); t.ok()) {
      for (const auto& row : t->rows) {
        if (row.fields.size() != t->names.size() || row.date.size() != 10) std::abort();
      }
    }
  }

  // What a meter hears.
  RequestScanner scanner;
  for (std::size_t i = 0; i < size; ++i) {
    if (scanner.feed(data[i]) == RequestScanner::Event::Standard &&
        !is_request_code(scanner.code())) {
      std::abort();
    }
  }
  (void)request_bytes(text.substr(0, 4));

  // IEC readouts, whole and byte by byte.
  IecReceiver rx;
  for (std::size_t i = 0; i < size; ++i) {
    if (rx.feed(data[i]) == IecReceiver::Event::Complete) {
      if (rx.bytes().size() > IecReceiver::kMaxBytes) std::abort();
      (void)decode_iec_readout(rx.bytes());
    }
  }
  if (auto r = decode_iec_readout(text); r.ok()) {
    check_values(iec_values(*r));
    const std::string wire = encode_iec_readout(r->identification, r->items);
    auto again = decode_iec_readout(wire);
    if (wire.size() <= IecReceiver::kMaxBytes) {
      if (!again || again->identification != r->identification || again->items != r->items) {
        std::abort();
      }
    }
  }
  return 0;
}
