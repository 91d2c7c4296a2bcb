// Any bytes through the frame decoder and the streaming receiver: no crash, no overrun, and
// every frame that decodes re-encodes to the same bytes (stuffing is canonical).
#include <cstdint>
#include <cstdlib>
#include <span>

#include "kmp/frame.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace kamstrup::kmp;
  std::span<const std::uint8_t> in(data, size);
  auto f = decode_frame(in);
  if (f.ok()) {
    auto again = encode_frame(*f);
    if (again.size() != size || !std::equal(again.begin(), again.end(), data)) std::abort();
  }
  FrameReceiver rx;
  for (std::uint8_t b : in) {
    if (rx.feed(b) == FrameReceiver::Event::Frame) {
      if (rx.frame_bytes().size() > kMaxFrameBytes) std::abort();
      (void)decode_frame(rx.frame_bytes());
    }
  }
  return 0;
}
