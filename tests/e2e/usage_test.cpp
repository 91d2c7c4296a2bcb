// Usage errors and help: exit 2 with a one-line message naming the culprit; --help and
// --version exit 0. (Every run is also checked for crashes and uncaught exceptions.)
#include "e2e.hpp"

namespace kamstrup::e2e {
namespace {

// Exit 2, nothing on stdout, and a single "kamstrup: ..." line on stderr that contains `culprit`.
void expect_usage_error(const RunResult& r, const std::string& culprit) {
  EXPECT_EQ(r.status, 2) << describe(r);
  EXPECT_EQ(r.out, "") << describe(r);
  EXPECT_EQ(r.err.rfind("kamstrup: ", 0), 0U) << r.err;
  EXPECT_NE(r.err.find(culprit), std::string::npos) << "does not name " << culprit << ": " << r.err;
}

std::size_t lines(const std::string& s) {
  return static_cast<std::size_t>(std::count(s.begin(), s.end(), '\n'));
}

TEST(UsageE2E, NonexistentPort) {
  for (const std::string cmd : {"read", "info", "scan"}) {
    SCOPED_TRACE(cmd);
    const RunResult r = kamstrup({cmd, "--port", "/dev/ttyNOPE0", "--json"});
    expect_usage_error(r, "/dev/ttyNOPE0");
    EXPECT_NE(r.err.find("no such device"), std::string::npos) << r.err;
    EXPECT_EQ(lines(r.err), 1U) << r.err;
  }
}

TEST(UsageE2E, RegularFileIsNotATty) {
  TempDir dir;
  const std::string file = dir / "not-a-tty";
  std::ofstream(file) << "hello\n";
  const RunResult r = kamstrup({"read", "--port", file});
  expect_usage_error(r, file);
  EXPECT_NE(r.err.find("not a tty"), std::string::npos) << r.err;
  EXPECT_EQ(lines(r.err), 1U) << r.err;
}

TEST(UsageE2E, BadPortSpecs) {
  RunResult r = kamstrup({"read", "--port", "ftp://meter:21"});
  expect_usage_error(r, "ftp://meter:21");
  r = kamstrup({"read", "--port", "socket://127.0.0.1"});
  expect_usage_error(r, "socket://127.0.0.1");
  // Refused at open: nothing listens on a port we just found free.
  const std::string port = "socket://127.0.0.1:" + std::to_string(test::free_tcp_port());
  r = kamstrup({"read", "--port", port});
  expect_usage_error(r, port);
}

TEST(UsageE2E, UnknownRegisterSuggestsTheNearestName) {
  // Registers are checked before the port is opened.
  const RunResult r = kamstrup({"read", "--port", "/dev/ttyNOPE0", "heat_energi"});
  expect_usage_error(r, "heat_energi");
  EXPECT_NE(r.err.find("did you mean heat_energy"), std::string::npos) << r.err;
  EXPECT_EQ(lines(r.err), 1U) << r.err;
  const RunResult id = kamstrup({"read", "--port", "/dev/ttyNOPE0", "0x10000"});
  expect_usage_error(id, "0x10000");
}

TEST(UsageE2E, BadOptionValues) {
  RunResult r = kamstrup({"read", "--port", "/dev/ttyNOPE0", "--baud", "1234"});
  expect_usage_error(r, "1234");
  r = kamstrup({"read", "--port", "/dev/ttyNOPE0", "--json", "--csv"});
  expect_usage_error(r, "--csv");
  r = kamstrup({"read", "--port", "/dev/ttyNOPE0", "--retries", "-1"});
  expect_usage_error(r, "--retries");
  r = kamstrup({"read"});
  expect_usage_error(r, "--port");
}

TEST(UsageE2E, EverySubcommandHasHelp) {
  const std::vector<std::pair<std::string, std::vector<std::string>>> commands = {
      {"read",
       {"--port", "--json", "--csv", "--timeout", "--retries", "--baud", "--parity", "--databits",
        "--stopbits", "REG"}},
      {"info", {"--port", "--json", "--timeout", "--retries", "--baud"}},
      {"scan", {"--port", "--json", "--timeout", "--retries", "--baud"}},
      {"decode", {"--json", "HEX"}},
      {"registers", {"--json"}},
      {"ports", {"--json", "by-id", "by-path", "CH340", "CP210x"}},
      {"simulate",
       {"--pty", "--tcp", "--log", "--seed", "--echo", "--noise", "--asleep", "--drop", "--corrupt",
        "--profile", "--profile-file", "--count", "--baud", "--stopbits"}},
  };
  for (const auto& [cmd, options] : commands) {
    SCOPED_TRACE(cmd);
    const RunResult r = kamstrup({cmd, "--help"});
    EXPECT_EQ(r.status, 0) << describe(r);
    EXPECT_NE(r.out.find("Usage: kamstrup " + cmd), std::string::npos) << r.out;
    for (const auto& o : options) EXPECT_NE(r.out.find(o), std::string::npos) << o << "\n" << r.out;
  }
  const RunResult top = kamstrup({"--help"});
  EXPECT_EQ(top.status, 0) << describe(top);
  for (const auto& [cmd, options] : commands) {
    EXPECT_NE(top.out.find("  " + cmd + " "), std::string::npos) << cmd << "\n" << top.out;
  }
}

TEST(UsageE2E, VersionIsPrinted) {
  const RunResult r = kamstrup({"--version"});
  EXPECT_EQ(r.status, 0) << describe(r);
  EXPECT_TRUE(std::regex_match(
      r.out, std::regex(R"(kamstrup \d+\.\d+\.\d+(\+git\.[0-9a-z.]+)?(\+dirty)?\n)")))
      << r.out;
}

TEST(UsageE2E, NoSubcommandIsAUsageError) {
  const RunResult r = kamstrup({});
  EXPECT_EQ(r.status, 2) << describe(r);
  EXPECT_EQ(r.out, "");
  EXPECT_NE(r.err.find("kamstrup: no command given"), std::string::npos) << r.err;
}

// A mistyped subcommand must be named, like every other bad input.
TEST(UsageE2E, UnknownSubcommandIsNamed) {
  const RunResult r = kamstrup({"raed", "--port", "/dev/ttyNOPE0"});
  EXPECT_EQ(r.status, 2) << describe(r);
  EXPECT_EQ(r.out, "");
  EXPECT_NE(r.err.find("raed"), std::string::npos) << "does not name 'raed': " << r.err;
}

TEST(UsageE2E, RegistersListsTheCatalogue) {
  const RunResult j = kamstrup({"registers", "--json"});
  ASSERT_EQ(j.status, 0) << describe(j);
  const Json list = parse_json(j.out);
  ASSERT_TRUE(list.is_array());
  bool found = false;
  for (const auto& reg : list) {
    if (reg.at("name") == "heat_energy") {
      found = true;
      EXPECT_EQ(reg.at("id"), 60);
    }
  }
  EXPECT_TRUE(found);
  const RunResult t = kamstrup({"registers"});
  ASSERT_EQ(t.status, 0) << describe(t);
  EXPECT_EQ(lines(t.out), list.size() + 1) << "a header and one line per register";
  EXPECT_NE(t.out.find("heat_energy"), std::string::npos);
}

}  // namespace
}  // namespace kamstrup::e2e
