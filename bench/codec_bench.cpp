// How much CPU the codec spends per frame: decoding must stay negligible next to the ~0.9 s a
// frame spends on the wire at 1200 baud, also on a Raspberry Pi Zero.
#include <benchmark/benchmark.h>

#include <cstdint>
#include <string>
#include <vector>

#include "kmp/frame.hpp"
#include "kmp/messages.hpp"

namespace {

std::vector<std::uint8_t> from_hex(const std::string& hex) {
  std::vector<std::uint8_t> out;
  for (std::size_t i = 0; i + 1 < hex.size(); i += 2) {
    out.push_back(static_cast<std::uint8_t>(std::stoul(hex.substr(i, 2), nullptr, 16)));
  }
  return out;
}

// Vector M2: a captured 8-register reply with a stuffed byte.
const std::vector<std::uint8_t> kM2 = from_hex(
    "403F10003C0304430000000200442804420000001803EC2E040000001BE4D6005625044200004E20005725044200"
    "0021CE005926044200002C52004A29040000000000005016044100000000C3E80D");

void BM_DecodeEightRegisterReply(benchmark::State& state) {
  for (auto _ : state) {
    auto frame = kamstrup::kmp::decode_frame(kM2);
    auto reply = kamstrup::kmp::decode_register_response(frame.value());
    benchmark::DoNotOptimize(reply);
  }
  state.SetBytesProcessed(state.iterations() * static_cast<std::int64_t>(kM2.size()));
}
BENCHMARK(BM_DecodeEightRegisterReply);

void BM_EncodeEightRegisterRequest(benchmark::State& state) {
  kamstrup::kmp::GetRegisterRequest req{{60, 68, 86, 87, 89, 74, 80, 1004}};
  for (auto _ : state) {
    auto wire = kamstrup::kmp::encode_request(req);
    benchmark::DoNotOptimize(wire);
  }
}
BENCHMARK(BM_EncodeEightRegisterRequest);

void BM_ValueToExactText(benchmark::State& state) {
  kamstrup::kmp::Decimal d{5365, -2, false};
  for (auto _ : state) {
    auto text = d.to_string();
    benchmark::DoNotOptimize(text);
  }
}
BENCHMARK(BM_ValueToExactText);

}  // namespace

BENCHMARK_MAIN();
