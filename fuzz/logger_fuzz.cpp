// Any application data through the logger parsers (A0–A3 replies and requests in both time
// orders, event status): no crash; a reply that decodes re-encodes to the same reply, every cell
// decodes or fails cleanly, and a request that decodes round-trips.
#include <cstdint>
#include <cstdlib>

#include "kmp/logger.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace kamstrup::kmp;
  if (size < 2) return 0;
  Frame f;
  f.direction = (data[0] & 1U) != 0 ? Direction::ToMeter : Direction::FromMeter;
  f.dst = kDstLoggerTop;
  f.cid = data[1];
  f.data.assign(data + 2, data + size);
  const TimeOrder order = (data[0] & 2U) != 0 ? TimeOrder::Reversed : TimeOrder::FieldTable;
  // Only data a receiver can get (its own frame fits kMaxFrameBytes on the wire once stuffed) is
  // held to the round trip: re-encoding it gives a frame of the same length.
  const bool receivable = encode_frame(f).size() <= kMaxFrameBytes;
  if (f.direction == Direction::FromMeter) {
    if (auto r = decode_log_response(f); r.ok() && receivable) {
      if (r->columns.size() > kMaxLogRegisters) std::abort();
      for (std::size_t i = 0; i < r->records.size(); ++i) {
        if (r->records[i].values.size() != r->columns.size()) std::abort();
        for (std::size_t c = 0; c < r->columns.size(); ++c) {
          if (auto v = r->value(i, c); v.ok() && v->number) (void)v->number->to_string();
        }
      }
      auto wire = encode_log_response(*r, f.dst);
      if (!wire.ok()) std::abort();
      auto frame = decode_frame(*wire);
      if (!frame.ok()) std::abort();
      auto again = decode_log_response(*frame, r->cid);
      if (!again.ok() || !(*again == *r)) std::abort();
      if (!r->records.empty() &&
          log_response_length(r->columns, r->records.size()) != 1 + f.data.size()) {
        std::abort();
      }
    }
    (void)decode_event_status_response(f, f.cid);
  } else {
    if (auto req = decode_log_request(f, order); req.ok() && receivable) {
      auto wire = encode_log_request(*req, order);
      if (!wire.ok()) std::abort();
      auto frame = decode_frame(*wire);
      if (!frame.ok()) std::abort();
      auto again = decode_log_request(*frame, order);
      if (!again.ok() || !(*again == *req)) std::abort();
    }
    (void)decode_event_status_request(f);
  }
  return 0;
}
