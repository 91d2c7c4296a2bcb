// What the daemon reports about itself, as plain data: per-meter reader health with the latest
// values, and per-output delivery health. The daemon fills these (daemon/status.hpp,
// daemon/fanout.hpp); the web layer only renders them, so it never includes daemon/.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "kmp/info_code.hpp"
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
  // Configured registers the meter does not have (Outcome::Unsupported in its latest answer),
  // catalogue names in configured order: the daemon polls them but no value ever comes
  // (kamstrup_register_supported{...} 0). Empty until the meter answered.
  std::vector<std::string> unsupported;
  // The table that names the info code's flags (the meter's `model` key, else MULTICAL 66-C for
  // /#n meters and Unknown = bits only for the rest), and the flags set in the latest answer's
  // info code (register 99 / `info`): nullopt when the meter reported none, empty when none is
  // set. kmp::info_flag_table(info_codes) lists every flag the table documents (for a 0/1 each).
  kmp::InfoCodes info_codes = kmp::InfoCodes::Unknown;
  std::optional<std::vector<kmp::InfoFlag>> info_flags;
  std::size_t held = 0;  // polls of this meter waiting in memory for the store (StoreHealth)
};

// The history store's health: whether it can be written, and the polls the daemon holds in
// memory meanwhile (store.queue). Written by the daemon, read by the pages.
struct StoreHealth {
  std::string path;
  bool ok = true;  // false while writing (or reading) fails
  std::string state =
      "ok";  // "ok", or the last error ("cannot write ...: database or disk is full")
  std::int64_t since_ms = 0;  // Unix ms of the last change of `ok` (0 = since start)
  std::uint64_t errors = 0;   // failed store operations since start (kamstrup_store_errors_total)
  std::size_t held = 0;       // polls held in memory, waiting to be written
  std::size_t queue = 0;      // how many it may hold (store.queue)
  std::uint64_t dropped = 0;  // held polls dropped since start because the queue was full
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
  std::function<StoreHealth()> store;  // may be empty (no store health to show)
};

}  // namespace kamstrup::web
