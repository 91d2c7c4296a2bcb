// What the daemon reports about itself, as plain data: per-meter reader health with the latest
// values, and per-output delivery health. The daemon fills these (daemon/status.hpp,
// daemon/fanout.hpp); the web layer only renders them, so it never includes daemon/.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "meter/session.hpp"
#include "store/store.hpp"

namespace kamstrup::web {

struct MeterStatus {
  std::string name;
  std::string port;
  bool up = false;
  std::string state;          // "answering", or why not
  meter::SessionStats stats;  // accumulated over port reopenings
  std::uint64_t polls_ok = 0;
  std::uint64_t polls_failed = 0;
  std::uint64_t backfilled = 0;  // logger records stored by backfill
  std::int64_t last_success_ms = 0;
  store::MeterInfo info;
  store::Poll last_poll;  // latest values
};

struct SinkHealth {
  std::string id;
  std::int64_t cursor = 0;
  std::int64_t backlog = 0;     // polls in the store not yet delivered (seq > cursor)
  std::uint64_t delivered = 0;  // polls delivered since start
  std::uint64_t failures = 0;   // failed delivery attempts since start
  std::uint64_t rejected = 0;   // polls the target refused (SinkRejected), skipped, since start
  std::string last_rejection;   // why the last one was refused; "" when none
  std::uint64_t refused_values = 0;  // values the output would not send wrong (Sink::notice)
  std::string last_refusal;          // "<config key>: why" of the last one; "" when none
  std::int64_t last_success_ms = 0;  // Unix ms, 0 = never
  std::string last_error;            // "" when the last attempt succeeded
};

// Where the pages get the current state: called on the server's thread for every request, so
// each must be thread-safe and quick (a copy under a lock).
struct HealthSource {
  std::function<std::vector<MeterStatus>()> meters;
  std::function<std::vector<SinkHealth>()> outputs;
};

}  // namespace kamstrup::web
