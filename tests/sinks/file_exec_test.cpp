// File and exec outputs: exact file contents (JSON lines, CSV), logrotate-style rotation, a
// missing directory; the exec command's environment, stdin, exit status, stderr and timeout.
#include <gtest/gtest.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "../support/readings.hpp"
#include "../support/servers.hpp"
#include "sinks/exec.hpp"
#include "sinks/file.hpp"
#include "sinks/format.hpp"

namespace fs = std::filesystem;
using kamstrup::sinks::ExecConfig;
using kamstrup::sinks::ExecSink;
using kamstrup::sinks::FileOutputConfig;
using kamstrup::sinks::FileSink;
using kamstrup::sinks::SinkError;
using kamstrup::store::Poll;
using kamstrup::store::Value;

namespace {

using kamstrup::test::support::TempDir;

std::string slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// 2026-11-23T14:25:00.123Z
constexpr std::int64_t kT1 = 1795443900123;

Poll poll1() {
  Poll p;
  p.seq = 1;
  p.meter = "heat";
  p.time_ms = kT1;
  p.source = "poll";
  p.values = {
      Value{60, "heat_energy", "55.006", "", "MWh"},
      Value{68, "volume", "1875.56", "", "m³"},
      Value{86, "temp1", "-0.50", "", "°C"},
      Value{1002, "clock", "", "14:25:00", ""},
  };
  return p;
}

Poll poll2() {
  Poll p;
  p.seq = 2;
  p.meter = "heat";
  p.time_ms = kT1 + 60000;
  p.source = "logger";
  p.values = {
      Value{60, "heat_energy", "55.012", "", "MWh"},
      Value{-1, "note", "", "a,\"quoted\" text", ""},
  };
  return p;
}

const char* kPoll1Json =
    R"({"meter": "heat", "time": "2026-11-23T14:25:00.123Z", "source": "poll", "registers": [)"
    R"({"id": 60, "name": "heat_energy", "value": 55.006, "unit": "MWh"}, )"
    R"({"id": 68, "name": "volume", "value": 1875.56, "unit": "m³"}, )"
    R"({"id": 86, "name": "temp1", "value": -0.50, "unit": "°C"}, )"
    R"({"id": 1002, "name": "clock", "value": null, "unit": "", "text": "14:25:00"}]})";

const char* kCsvPoll1 =
    "2026-11-23T14:25:00.123Z,heat,heat_energy,60,55.006,MWh,,poll\n"
    "2026-11-23T14:25:00.123Z,heat,volume,68,1875.56,m³,,poll\n"
    "2026-11-23T14:25:00.123Z,heat,temp1,86,-0.50,°C,,poll\n"
    "2026-11-23T14:25:00.123Z,heat,clock,1002,,,14:25:00,poll\n";

const char* kCsvPoll2 =
    "2026-11-23T14:26:00.123Z,heat,heat_energy,60,55.012,MWh,,logger\n"
    "2026-11-23T14:26:00.123Z,heat,note,,,,\"a,\"\"quoted\"\" text\",logger\n";

const std::string kCsvHeader = "time,meter,register,id,value,unit,text,source\n";

void deliver(kamstrup::sinks::Sink& s, const std::vector<Poll>& polls) {
  s.deliver(std::span<const Poll>(polls.data(), polls.size()));
}

}  // namespace

// ---------------------------------------------------------------- files

TEST(FileSink, IdNamesThePath) {
  FileSink s({"/var/log/k.jsonl", "jsonl"});
  EXPECT_EQ(s.id(), "file:/var/log/k.jsonl");
}

TEST(FileSink, RejectsUnknownFormatAndEmptyPath) {
  EXPECT_THROW(FileSink({"/tmp/x", "xml"}), std::invalid_argument);
  EXPECT_THROW(FileSink({"", "jsonl"}), std::invalid_argument);
}

TEST(FileSink, JsonLinesExact) {
  TempDir dir;
  std::string path = dir / "polls.jsonl";
  FileSink s({path, "jsonl"});
  deliver(s, {poll1()});
  EXPECT_EQ(slurp(path), std::string(kPoll1Json) + "\n");
  deliver(s, {poll2()});
  EXPECT_EQ(slurp(path),
            std::string(kPoll1Json) + "\n" + kamstrup::sinks::poll_json(poll2()) + "\n");
  // Each line is valid JSON and keeps the exact decimal text.
  std::istringstream lines(slurp(path));
  std::string line;
  int n = 0;
  while (std::getline(lines, line)) {
    auto j = nlohmann::json::parse(line);
    EXPECT_EQ(j["meter"], "heat");
    ++n;
  }
  EXPECT_EQ(n, 2);
  s.close();
}

TEST(FileSink, AppendsToAnExistingFile) {
  TempDir dir;
  std::string path = dir / "polls.jsonl";
  { std::ofstream(path) << "earlier\n"; }
  FileSink s({path, "jsonl"});
  deliver(s, {poll1()});
  EXPECT_EQ(slurp(path), std::string("earlier\n") + kPoll1Json + "\n");
}

TEST(FileSink, CsvExactWithHeaderOnce) {
  TempDir dir;
  std::string path = dir / "polls.csv";
  FileSink s({path, "csv"});
  deliver(s, {poll1()});
  EXPECT_EQ(slurp(path), kCsvHeader + kCsvPoll1);
  deliver(s, {poll2()});
  EXPECT_EQ(slurp(path), kCsvHeader + kCsvPoll1 + kCsvPoll2);
}

TEST(FileSink, CsvBatchOfPolls) {
  TempDir dir;
  std::string path = dir / "polls.csv";
  FileSink s({path, "csv"});
  deliver(s, {poll1(), poll2()});
  EXPECT_EQ(slurp(path), kCsvHeader + kCsvPoll1 + kCsvPoll2);
}

TEST(FileSink, CsvHeaderForAnEmptyExistingFileButNotANonEmptyOne) {
  TempDir dir;
  std::string empty = dir / "empty.csv";
  std::string full = dir / "full.csv";
  {
    std::ofstream{empty};
    std::ofstream(full) << kCsvHeader;
  }
  FileSink a({empty, "csv"});
  FileSink b({full, "csv"});
  deliver(a, {poll1()});
  deliver(b, {poll1()});
  EXPECT_EQ(slurp(empty), kCsvHeader + kCsvPoll1);
  EXPECT_EQ(slurp(full), kCsvHeader + kCsvPoll1);
}

TEST(FileSink, CsvHeaderAgainAfterCopytruncate) {
  TempDir dir;
  std::string path = dir / "polls.csv";
  FileSink s({path, "csv"});
  deliver(s, {poll1()});
  fs::resize_file(path, 0);  // logrotate copytruncate: same inode, emptied
  deliver(s, {poll2()});
  EXPECT_EQ(slurp(path), kCsvHeader + kCsvPoll2);
}

TEST(FileSink, RenamedFileIsReplacedByANewOne) {
  TempDir dir;
  std::string path = dir / "polls.csv";
  FileSink s({path, "csv"});
  deliver(s, {poll1()});
  fs::rename(path, dir / "polls.csv.1");  // logrotate's default: rename, no signal
  deliver(s, {poll2()});
  EXPECT_EQ(slurp(dir / "polls.csv.1"), kCsvHeader + kCsvPoll1);
  EXPECT_EQ(slurp(path), kCsvHeader + kCsvPoll2);
}

TEST(FileSink, DeletedFileIsRecreated) {
  TempDir dir;
  std::string path = dir / "polls.jsonl";
  FileSink s({path, "jsonl"});
  deliver(s, {poll1()});
  fs::remove(path);
  deliver(s, {poll2()});
  EXPECT_EQ(slurp(path), kamstrup::sinks::poll_json(poll2()) + "\n");
}

TEST(FileSink, MissingDirectoryIsASinkErrorNamingThePathAndRetryWorks) {
  TempDir dir;
  std::string path = dir / "not-yet/polls.jsonl";
  FileSink s({path, "jsonl"});
  try {
    deliver(s, {poll1()});
    FAIL() << "expected SinkError";
  } catch (const SinkError& e) {
    std::string what = e.what();
    EXPECT_NE(what.find(path), std::string::npos) << what;
    EXPECT_NE(what.find("No such file or directory"), std::string::npos) << what;
  }
  fs::create_directory(dir / "not-yet");
  deliver(s, {poll1()});
  EXPECT_EQ(slurp(path), std::string(kPoll1Json) + "\n");
}

TEST(FileSink, UnwritablePathIsASinkError) {
  TempDir dir;
  // A directory where the file should be: open() fails with EISDIR.
  fs::create_directory(dir / "adir");
  FileSink s({dir / "adir", "jsonl"});
  EXPECT_THROW(deliver(s, {poll1()}), SinkError);
}

TEST(FileSink, WriteFailureIsASinkError) {
  FileSink s({"/dev/full", "jsonl"});  // every write fails with ENOSPC
  try {
    deliver(s, {poll1()});
    FAIL() << "expected SinkError";
  } catch (const SinkError& e) {
    std::string what = e.what();
    EXPECT_NE(what.find("file:/dev/full: cannot write /dev/full: No space left on device"),
              std::string::npos)
        << what;
  }
}

TEST(FileSink, EmptyBatchWritesNothing) {
  TempDir dir;
  std::string path = dir / "polls.csv";
  FileSink s({path, "csv"});
  deliver(s, {});
  EXPECT_FALSE(fs::exists(path));
}

// ---------------------------------------------------------------- exec

namespace {

// Parses `env` output (one NAME=value per line; the test values have no newlines).
std::map<std::string, std::string> parse_env(const std::string& text) {
  std::map<std::string, std::string> out;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    auto eq = line.find('=');
    if (eq != std::string::npos) out[line.substr(0, eq)] = line.substr(eq + 1);
  }
  return out;
}

// A script that records its environment and stdin in the directory given as $1, one file
// pair per poll (named by KAMSTRUP_TIME_MS), and exits with $2 (default 0).
std::string write_recorder_script(const TempDir& dir) {
  std::string script = dir / "record.sh";
  std::ofstream(script) << "#!/bin/sh\n"
                           "env > \"$1/env.$KAMSTRUP_TIME_MS\"\n"
                           "cat > \"$1/stdin.$KAMSTRUP_TIME_MS\"\n"
                           "exit \"${2:-0}\"\n";
  fs::permissions(script, fs::perms::owner_all);
  return script;
}

std::string what_of(ExecSink& s, const std::vector<Poll>& polls) {
  try {
    deliver(s, polls);
  } catch (const SinkError& e) {
    return e.what();
  }
  return "(no SinkError)";
}

}  // namespace

TEST(ExecSink, EnvironmentVariablesPerPoll) {
  auto vars = kamstrup::sinks::exec_environment(poll1());
  std::map<std::string, std::string> m(vars.begin(), vars.end());
  EXPECT_EQ(m.at("KAMSTRUP_METER"), "heat");
  EXPECT_EQ(m.at("KAMSTRUP_TIME"), "2026-11-23T14:25:00.123Z");
  EXPECT_EQ(m.at("KAMSTRUP_TIME_MS"), "1795443900123");
  EXPECT_EQ(m.at("KAMSTRUP_SOURCE"), "poll");
  EXPECT_EQ(m.at("KAMSTRUP_HEAT_ENERGY"), "55.006");
  EXPECT_EQ(m.at("KAMSTRUP_HEAT_ENERGY_UNIT"), "MWh");
  EXPECT_EQ(m.at("KAMSTRUP_TEMP1"), "-0.50");
  EXPECT_EQ(m.at("KAMSTRUP_CLOCK"), "14:25:00");
  EXPECT_EQ(m.at("KAMSTRUP_CLOCK_TEXT"), "14:25:00");
  EXPECT_EQ(m.at("KAMSTRUP_CLOCK_UNIT"), "");
  EXPECT_EQ(m.count("KAMSTRUP_HEAT_ENERGY_TEXT"), 0U);
  // A register whose name would shadow a fixed variable does not.
  Poll p = poll1();
  p.values.push_back(Value{-1, "meter", "7", "", ""});
  auto shadow = kamstrup::sinks::exec_environment(p);
  std::map<std::string, std::string> s(shadow.begin(), shadow.end());
  EXPECT_EQ(s.at("KAMSTRUP_METER"), "heat");
}

TEST(ExecSink, RunsOncePerPollWithEnvAndJsonOnStdin) {
  TempDir dir;
  std::string script = write_recorder_script(dir);
  ::setenv("KAMSTRUP_TEST_INHERITED", "yes", 1);
  ::setenv("KAMSTRUP_HEAT_ENERGY", "stale", 1);  // replaced by the poll's value
  ExecSink s({{script, dir.path().string()}, std::chrono::milliseconds(10000)});
  EXPECT_EQ(s.id(), "exec");
  deliver(s, {poll1(), poll2()});
  ::unsetenv("KAMSTRUP_TEST_INHERITED");
  ::unsetenv("KAMSTRUP_HEAT_ENERGY");

  auto env1 = parse_env(slurp(dir / ("env." + std::to_string(kT1))));
  EXPECT_EQ(env1["KAMSTRUP_METER"], "heat");
  EXPECT_EQ(env1["KAMSTRUP_TIME"], "2026-11-23T14:25:00.123Z");
  EXPECT_EQ(env1["KAMSTRUP_TIME_MS"], "1795443900123");
  EXPECT_EQ(env1["KAMSTRUP_SOURCE"], "poll");
  EXPECT_EQ(env1["KAMSTRUP_HEAT_ENERGY"], "55.006");
  EXPECT_EQ(env1["KAMSTRUP_HEAT_ENERGY_UNIT"], "MWh");
  EXPECT_EQ(env1["KAMSTRUP_VOLUME"], "1875.56");
  EXPECT_EQ(env1["KAMSTRUP_VOLUME_UNIT"], "m³");
  EXPECT_EQ(env1["KAMSTRUP_TEMP1"], "-0.50");
  EXPECT_EQ(env1["KAMSTRUP_TEMP1_UNIT"], "°C");
  EXPECT_EQ(env1["KAMSTRUP_CLOCK"], "14:25:00");
  EXPECT_EQ(env1["KAMSTRUP_TEST_INHERITED"], "yes");
  EXPECT_FALSE(env1["PATH"].empty());
  EXPECT_EQ(slurp(dir / ("stdin." + std::to_string(kT1))), std::string(kPoll1Json) + "\n");

  std::string t2 = std::to_string(kT1 + 60000);
  auto env2 = parse_env(slurp(dir / ("env." + t2)));
  EXPECT_EQ(env2["KAMSTRUP_SOURCE"], "logger");
  EXPECT_EQ(env2["KAMSTRUP_HEAT_ENERGY"], "55.012");
  EXPECT_EQ(env2.count("KAMSTRUP_VOLUME"), 0U);
  EXPECT_EQ(env2["KAMSTRUP_NOTE"], "a,\"quoted\" text");
  auto j = nlohmann::json::parse(slurp(dir / ("stdin." + t2)));
  using kamstrup::test::support::reading;
  EXPECT_EQ(reading(j["registers"], "heat_energy")["value"].dump(), "55.012");
  EXPECT_EQ(reading(j["registers"], "note")["text"], "a,\"quoted\" text");
}

TEST(ExecSink, NonZeroExitIsASinkErrorWithTheFirstStderrLine) {
  ExecSink s({{"/bin/sh", "-c", "echo 'first problem' >&2; echo 'second' >&2; exit 3"},
              std::chrono::milliseconds(10000)});
  std::string what = what_of(s, {poll1()});
  EXPECT_NE(what.find("exec: /bin/sh"), std::string::npos) << what;
  EXPECT_NE(what.find("exit status 3: first problem"), std::string::npos) << what;
  EXPECT_EQ(what.find("second"), std::string::npos) << what;
}

TEST(ExecSink, NonZeroExitWithoutStderr) {
  TempDir dir;
  std::string script = write_recorder_script(dir);
  ExecSink s({{script, dir.path().string(), "7"}, std::chrono::milliseconds(10000)});
  std::string what = what_of(s, {poll1(), poll2()});
  EXPECT_NE(what.find("exit status 7 (no stderr output)"), std::string::npos) << what;
  // The first failure stops the batch: the second poll was not run.
  EXPECT_TRUE(fs::exists(dir / ("env." + std::to_string(kT1))));
  EXPECT_FALSE(fs::exists(dir / ("env." + std::to_string(kT1 + 60000))));
}

TEST(ExecSink, KilledBySignal) {
  ExecSink s({{"/bin/sh", "-c", "kill -TERM $$"}, std::chrono::milliseconds(10000)});
  std::string what = what_of(s, {poll1()});
  EXPECT_NE(what.find("killed by signal 15 (SIGTERM)"), std::string::npos) << what;
}

TEST(ExecSink, MissingCommandIsASinkError) {
  ExecSink s({{"/nonexistent/kamstrup-hook"}, std::chrono::milliseconds(10000)});
  std::string what = what_of(s, {poll1()});
  EXPECT_NE(what.find("/nonexistent/kamstrup-hook"), std::string::npos) << what;
  EXPECT_NE(what.find("cannot run"), std::string::npos) << what;
}

TEST(ExecSink, SearchesPathForTheCommand) {
  ExecSink s(
      {{"sh", "-c", "test \"$KAMSTRUP_HEAT_ENERGY\" = 55.006"}, std::chrono::milliseconds(10000)});
  EXPECT_NO_THROW(deliver(s, {poll1()}));
}

TEST(ExecSink, EmptyCommandIsRejected) {
  EXPECT_THROW(ExecSink({{}, std::chrono::milliseconds(1000)}), std::invalid_argument);
}

TEST(ExecSink, CommandThatClosesStdinDoesNotHurtTheDaemon) {
  // The write to its stdin fails with EPIPE: no SIGPIPE may reach this process.
  ExecSink s({{"/bin/sh", "-c", "exec 0<&-; sleep 0.2; exit 0"}, std::chrono::milliseconds(10000)});
  Poll big = poll1();
  for (int i = 0; i < 3000; ++i)  // more than a pipe buffer of JSON
    big.values.push_back(Value{-1, "r" + std::to_string(i), "1.5", "", "kWh"});
  EXPECT_NO_THROW(deliver(s, {big}));
}

TEST(ExecSink, TimeoutKillsTheWholeProcessGroup) {
  TempDir dir;
  std::string pidfile = dir / "child.pid";
  // sh starts a grandchild that would outlive a kill of sh alone.
  ExecSink s({{"/bin/sh", "-c", "sleep 60 & echo $! > '" + pidfile + "'; wait"},
              std::chrono::milliseconds(500)});
  std::string what = what_of(s, {poll1()});
  EXPECT_NE(what.find("timed out after 500 ms (killed)"), std::string::npos) << what;

  std::string pid_text = slurp(pidfile);
  ASSERT_FALSE(pid_text.empty());
  pid_t pid = static_cast<pid_t>(std::stol(pid_text));
  // The grandchild got SIGKILL too: it disappears or is a zombie awaiting its new parent.
  // (A bounded wait for the kernel to deliver the signal, not a timing assertion.)
  bool dead = false;
  for (int i = 0; i < 500 && !dead; ++i) {
    std::string stat = slurp("/proc/" + std::to_string(pid) + "/stat");
    auto close_paren = stat.rfind(')');
    dead = stat.empty() || (close_paren != std::string::npos && stat.size() > close_paren + 2 &&
                            (stat[close_paren + 2] == 'Z' || stat[close_paren + 2] == 'X'));
    if (!dead) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_TRUE(dead) << "grandchild " << pid << " still alive";
  if (!dead) ::kill(pid, SIGKILL);
}
