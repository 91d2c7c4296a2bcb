// Any application data through every message parser (register replies, GetType, GetSerialNo,
// requests) and any value bytes through decode_value: no crash; decoded values print and parse.
#include <cstdint>
#include <cstdlib>
#include <span>

#include "kmp/messages.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace kamstrup::kmp;
  if (size < 2) return 0;
  Frame f;
  f.direction = (data[0] & 1U) != 0 ? Direction::ToMeter : Direction::FromMeter;
  f.cid = data[1];
  f.data.assign(data + 2, data + size);
  if (f.direction == Direction::FromMeter) {
    if (auto r = decode_register_response(f); r.ok()) {
      if (r->blocks.size() > kMaxRegistersPerRequest) std::abort();
      for (const auto& b : r->blocks) {
        if (b.value.ok() && b.value->number) {
          auto text = b.value->number->to_string();
          auto back = Decimal::parse(text);
          if (b.value->number->exponent <= 0 && (!back || !back->equals(*b.value->number))) {
            std::abort();
          }
        }
      }
    }
    (void)decode_type_response(f);
    (void)decode_serial_response(f);
  } else if (auto req = decode_request(f); req.ok()) {
    // A request that decodes re-encodes to a frame that decodes to the same request.
    auto wire = encode_request(*req);
    if (wire.ok()) {
      auto frame = decode_frame(*wire);
      if (!frame.ok()) std::abort();
      auto again = decode_request(*frame);
      if (!again.ok() || !(*again == *req)) std::abort();
    }
  }
  return 0;
}
