// Exec output: runs a command once per poll.
//
// - `command` is an argv, run directly (PATH is searched for argv[0]); there is no shell unless
//   the user asks for one (["/bin/sh", "-c", "..."]).
// - stdin: the poll as one JSON line (poll_json + "\n"); stdout goes to /dev/null; stderr is
//   captured for the error message.
// - Environment: the daemon's environment plus
//     KAMSTRUP_METER=heat  KAMSTRUP_TIME=2026-11-23T14:25:00.123Z  KAMSTRUP_TIME_MS=1795443900123
//     KAMSTRUP_SOURCE=poll
//   and per register, the name upper-cased (characters other than A-Z 0-9 become "_"):
//     KAMSTRUP_HEAT_ENERGY=55.006  KAMSTRUP_HEAT_ENERGY_UNIT=MWh
//     KAMSTRUP_<NAME>_TEXT=2022-01-12   (only for registers with a text)
//   KAMSTRUP_<NAME> is the exact decimal text, or the text when the register has no number.
//   The four fixed variables win over a register whose name would collide with them.
// - Exit status 0 = delivered. Any other status, a signal, or a command that cannot be started
//   → SinkError with the status and the first line of stderr. A command still running after
//   `timeout` is killed (SIGKILL to its whole process group) → SinkError.
// - Polls are run one after the other; the first failure stops the batch (all are retried, so
//   the command must tolerate seeing a poll again: at-least-once).
#pragma once

#include <chrono>
#include <string>
#include <utility>
#include <vector>

#include "config/keys.hpp"
#include "sinks/sink.hpp"

namespace kamstrup::sinks {

// The `exec:` section.
struct ExecConfig {
  std::vector<std::string> command;  // argv
  std::chrono::milliseconds timeout{10000};
  bool operator==(const ExecConfig&) const = default;
};

const config::Table<ExecConfig>& exec_keys();

class ExecSink : public Sink {
 public:
  // Throws std::invalid_argument for an empty command.
  explicit ExecSink(ExecConfig config);
  [[nodiscard]] std::string id() const override { return "exec"; }
  void deliver(std::span<const store::Poll> polls) override;

 private:
  void run_one(const store::Poll& poll);

  ExecConfig cfg_;
};

// The KAMSTRUP_* variables for one poll, as (name, value), in a stable order.
std::vector<std::pair<std::string, std::string>> exec_environment(const store::Poll& poll);

}  // namespace kamstrup::sinks
