// `kamstrup read --protocol legacy|iec` end to end: the real binary against `kamstrup simulate
// --profile multical66c|multical401` in its own process over a real pty. The simulator checks
// through termios that `/#n` arrives at 300 baud and that the reader switched to 1200 before it
// answers. Every value printed is compared, as raw text, with what the simulator logged as sent,
// and with the digits the program number's scale implies.
#include <fstream>

#include "e2e.hpp"

namespace kamstrup::e2e {
namespace {

struct Want {
  const char* name;
  Json id;  // number, or null for a quantity without a KMP register
  const char* unit;
};

// The /#1 quantities in the reader's order, for a scale.
std::vector<Want> standard_quantities(const char* energy, const char* power, const char* flow) {
  return {{"heat_energy", 60, energy},
          {"volume", 68, "m³"},
          {"hour_counter", 1004, "h"},
          {"temp1", 86, "°C"},
          {"temp2", 87, "°C"},
          {"temp_diff", 89, "K"},
          {"power", 80, power},
          {"flow", 74, flow},
          {"peak_power", nullptr, power},
          {"info", 99, ""}};
}

// The JSON of a read against what the simulator sent in `tx` (its "values" by name): names,
// ids (null for -1), units in order, and each value token exactly the sent text.
void expect_values(const std::string& out, const std::vector<Want>& want, const Json& tx) {
  const Json j = parse_json(out);
  ASSERT_TRUE(j.contains("registers")) << out;
  const Json& regs = j.at("registers");
  ASSERT_EQ(regs.size(), want.size()) << out;
  const auto tokens = raw_value_tokens(out);
  ASSERT_EQ(tokens.size(), want.size()) << out;
  const Json& sent = tx.at("values");
  for (std::size_t i = 0; i < want.size(); ++i) {
    SCOPED_TRACE(want[i].name);
    EXPECT_EQ(regs[i].at("name"), want[i].name);
    EXPECT_EQ(regs[i].at("id"), want[i].id);
    EXPECT_EQ(regs[i].at("unit"), want[i].unit);
    ASSERT_TRUE(sent.contains(want[i].name)) << tx.dump();
    EXPECT_EQ(tokens[i], sent.at(want[i].name).get<std::string>()) << out;
  }
  EXPECT_EQ(j.at("failed"), Json::array());
  EXPECT_EQ(j.at("unsupported"), Json::array());
}

std::string value_token(const std::string& out, const std::string& name) {
  const Json j = parse_json(out);
  const auto tokens = raw_value_tokens(out);
  for (std::size_t i = 0; i < j.at("registers").size() && i < tokens.size(); ++i) {
    if (j.at("registers")[i].at("name") == name) return tokens[i];
  }
  return "";
}

std::string write_profile(const TempDir& dir, const std::string& yaml) {
  const std::string path = dir / "profile.yaml";
  std::ofstream(path) << yaml;
  return path;
}

// One /#1 read: /#2 once for the program number, then /#1, both answered at 1200 after the
// reader switched; the printed values are the sent ones, scaled by the program number.
void expect_standard_read(Sim& sim, const std::vector<Want>& want, const std::string& energy,
                          const std::string& volume) {
  const RunResult r = kamstrup({"read", "--port", sim.port(), "--protocol", "legacy", "--json"});
  ASSERT_EQ(r.status, 0) << describe(r) << sim.diag();
  const auto rx = sim.rx();
  const auto tx = sim.tx();
  ASSERT_EQ(rx.size(), 2U) << sim.diag();
  ASSERT_EQ(tx.size(), 2U) << sim.diag();
  EXPECT_EQ(rx[0].at("request"), "/#2");
  EXPECT_EQ(rx[1].at("request"), "/#1");
  for (const auto& line : rx) {
    EXPECT_EQ(line.at("hex").get<std::string>().substr(0, 4), "2F23");  // "/#", no terminator
    EXPECT_EQ(line.at("bytes"), 3);
    // 300 baud, 2 stop bits (a pty cannot show 7E, so it reads 8N).
    EXPECT_EQ(line.at("line"), "300 8N2");
  }
  for (const auto& line : tx) {
    EXPECT_EQ(line.at("sent"), true) << sim.diag();
    EXPECT_TRUE(line.at("fault").is_null());
    EXPECT_EQ(line.at("line"), "1200 7E2");
  }
  expect_values(r.out, want, tx[1]);
  EXPECT_EQ(value_token(r.out, "heat_energy"), energy) << r.out;
  EXPECT_EQ(value_token(r.out, "volume"), volume) << r.out;
}

TEST(LegacyE2E, StandardData1WithProgram44119IsMwhWithThreeDecimals) {
  TempDir dir;
  Sim sim(dir, 201, {"--profile", "multical66c", "--echo"});
  ASSERT_TRUE(sim.started()) << sim.diag();
  EXPECT_EQ(sim.profile(), "multical66c");
  expect_standard_read(sim, standard_quantities("MWh", "kW", "l/h"), "507.109", "12966.26");
  // The tx text of /#2 carries the program number the reader derived the scale from.
  EXPECT_NE(sim.tx()[0].at("text").get<std::string>().find(" 0044119 "), std::string::npos);
}

TEST(LegacyE2E, StandardData1WithProgram42119IsGjWithTwoDecimals) {
  TempDir dir;
  const std::string profile =
      write_profile(dir, "base: multical66c\nprogram_number: \"0042119\"\n");
  Sim sim(dir, 202, {"--profile-file", profile});
  ASSERT_TRUE(sim.started()) << sim.diag();
  // The same digits as on the MWh meter: 0507109 is 5071.09 GJ here.
  expect_standard_read(sim, standard_quantities("GJ", "kW", "l/h"), "5071.09", "12966.26");
}

TEST(LegacyE2E, StandardData1WithProgram42170HasMegawattsAndCubicMetresPerHour) {
  TempDir dir;
  const std::string profile =
      write_profile(dir, "base: multical66c\nprogram_number: \"0042170\"\n");
  Sim sim(dir, 203, {"--profile-file", profile});
  ASSERT_TRUE(sim.started()) << sim.diag();
  expect_standard_read(sim, standard_quantities("GJ", "MW", "m³/h"), "507109", "1296626");
}

// Over TCP (a ser2net-like raw port with an echoing head) there is no line to switch; the
// echo is skipped and a reply that starts early is kept. Named registers only; one the meter
// does not have is reported unsupported (exit 1).
TEST(LegacyE2E, StandardOverTcpWithEchoAndNamedRegisters) {
  TempDir dir;
  Sim sim(dir, 209, {"--profile", "multical66c", "--echo"}, Sim::On::Tcp);
  ASSERT_TRUE(sim.started()) << sim.diag();
  const RunResult r = kamstrup({"read", "--port", sim.port(), "--protocol", "legacy", "--json",
                                "peak_power", "heat_energy", "cooling_energy"});
  ASSERT_EQ(r.status, 1) << describe(r) << sim.diag();
  const auto tx = sim.tx();
  ASSERT_EQ(tx.size(), 2U) << sim.diag();
  EXPECT_TRUE(sim.rx()[0].at("line").is_null());
  const Json j = parse_json(r.out);
  ASSERT_EQ(j.at("registers").size(), 2U) << r.out;
  EXPECT_EQ(j.at("registers")[0].at("name"), "peak_power");
  EXPECT_TRUE(j.at("registers")[0].at("id").is_null());
  EXPECT_EQ(value_token(r.out, "peak_power"), tx[1].at("values").at("peak_power"));
  EXPECT_EQ(value_token(r.out, "heat_energy"), "507.109");
  EXPECT_EQ(j.at("unsupported"), Json::array({63})) << r.out;
}

TEST(LegacyE2E, UnknownProgramNumberAsksForTheScaleInsteadOfGuessing) {
  TempDir dir;
  const std::string profile =
      write_profile(dir,
                    "base: multical66c\nprogram_number: \"0044999\"\n"
                    "scale: \"energy=MWh:2,volume=m3:1,power=kW:1,flow=l/h:0\"\n");
  Sim sim(dir, 204, {"--profile-file", profile});
  ASSERT_TRUE(sim.started()) << sim.diag();
  const RunResult guess =
      kamstrup({"read", "--port", sim.port(), "--protocol", "legacy", "--json"});
  EXPECT_EQ(guess.status, 1) << describe(guess);
  EXPECT_NE(guess.err.find("0044999"), std::string::npos) << guess.err;
  EXPECT_NE(guess.err.find("set the scale in the configuration"), std::string::npos) << guess.err;
  EXPECT_TRUE(raw_value_tokens(guess.out).empty()) << "no value without a scale: " << guess.out;
  const Json failed = parse_json(guess.out).at("failed");
  ASSERT_EQ(failed.size(), 10U) << guess.out;
  EXPECT_EQ(failed[0].at("error"), "UnknownProgram");
  // Only /#2 was asked: no /#1 without a scale.
  EXPECT_EQ(sim.rx().size(), 1U) << sim.diag();

  // With the scale given, /#2 is not needed and /#1 is scaled by it.
  const RunResult given = kamstrup({"read", "--port", sim.port(), "--protocol", "legacy", "--json",
                                    "--scale", "energy=MWh:2,volume=m3:1,power=kW:1,flow=l/h:0"});
  ASSERT_EQ(given.status, 0) << describe(given) << sim.diag();
  const auto tx = sim.tx();
  ASSERT_EQ(tx.size(), 2U) << sim.diag();
  EXPECT_EQ(tx[1].at("request"), "/#1");
  expect_values(given.out, standard_quantities("MWh", "kW", "l/h"), tx[1]);
  EXPECT_EQ(value_token(given.out, "heat_energy"), "5071.09");
  EXPECT_EQ(value_token(given.out, "volume"), "129662.6");
}

TEST(LegacyE2E, IecReadoutOverPtyWithAck) {
  TempDir dir;
  Sim sim(dir, 205, {"--profile", "multical401"});
  ASSERT_TRUE(sim.started()) << sim.diag();
  const RunResult r = kamstrup({"read", "--port", sim.port(), "--protocol", "iec", "--json"});
  ASSERT_EQ(r.status, 0) << describe(r) << sim.diag();
  const auto rx = sim.rx();
  const auto tx = sim.tx();
  ASSERT_EQ(rx.size(), 2U) << sim.diag();
  ASSERT_EQ(tx.size(), 2U) << sim.diag();
  EXPECT_EQ(rx[0].at("request"), "/?!");
  EXPECT_EQ(rx[0].at("hex"), "2F3F210D0A");
  EXPECT_EQ(rx[0].at("line"), "300 8N1");
  EXPECT_EQ(rx[1].at("request"), "ACK");
  EXPECT_EQ(rx[1].at("hex"), "063030300D0A");
  EXPECT_EQ(rx[1].at("valid"), true);
  EXPECT_EQ(tx[0].at("text"), "/KAM0MCC\r\n");
  EXPECT_EQ(tx[1].at("part"), "data");
  EXPECT_EQ(tx[1].at("line"), "300 7E1");
  const std::vector<Want> want = {{"customer_number", nullptr, ""},
                                  {"heat_energy", 60, "GJ"},
                                  {"volume", 68, "m³"},
                                  {"hour_counter", 1004, "h"}};
  expect_values(r.out, want, tx[1]);
  EXPECT_EQ(value_token(r.out, "heat_energy"), "5071.09");
  EXPECT_EQ(value_token(r.out, "customer_number"), "40117");
}

TEST(LegacyE2E, IecReadoutOfAMeterThatSendsAtOnce) {
  TempDir dir;
  Sim sim(dir, 206, {"--profile", "multical66c"});
  ASSERT_TRUE(sim.started()) << sim.diag();
  const RunResult r =
      kamstrup({"read", "--port", sim.port(), "--protocol", "iec", "--no-iec-ack", "--csv"});
  ASSERT_EQ(r.status, 0) << describe(r) << sim.diag();
  const auto tx = sim.tx();
  ASSERT_EQ(tx.size(), 1U) << sim.diag();
  const Json& v = tx[0].at("values");
  EXPECT_EQ(r.out, "name,id,value,unit,text\ncustomer_number,," +
                       v.at("customer_number").get<std::string>() +
                       ",,00000060017\nheat_energy,60," + v.at("heat_energy").get<std::string>() +
                       ",MWh,\nvolume,68," + v.at("volume").get<std::string>() +
                       ",m³,\nhour_counter,1004," + v.at("hour_counter").get<std::string>() +
                       ",h,\n");
  EXPECT_EQ(v.at("heat_energy"), "507.109");
}

TEST(LegacyE2E, SilentWhenTheReaderDoesNotSwitchTo1200) {
  TempDir dir;
  Sim sim(dir, 207, {"--profile", "multical66c"});
  ASSERT_TRUE(sim.started()) << sim.diag();
  // The reader listens at 2400 instead of switching to 1200: the meter stays silent.
  const RunResult r = kamstrup({"read", "--port", sim.port(), "--protocol", "legacy",
                                "--reply-baud", "2400", "--retries", "0", "--json"});
  EXPECT_EQ(r.status, 3) << describe(r);
  const Json j = parse_json(r.out);
  EXPECT_EQ(j.at("failure"), "Silent") << r.out;
  EXPECT_NE(r.err.find(kSilentPhrase), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("(1 attempt)"), std::string::npos) << r.err;
  const auto rx = sim.rx();
  const auto tx = sim.tx();
  ASSERT_EQ(rx.size(), 1U) << sim.diag();
  ASSERT_EQ(tx.size(), 1U) << sim.diag();
  EXPECT_EQ(rx[0].at("line"), "300 8N2");
  EXPECT_EQ(tx[0].at("sent"), false);
  EXPECT_EQ(tx[0].at("fault"), "line");
  EXPECT_NE(tx[0].at("reason").get<std::string>().find("did not switch to 1200"), std::string::npos)
      << sim.diag();
}

TEST(LegacyE2E, SilentWhenTheRequestIsNotAt300Baud) {
  TempDir dir;
  // The meter expects requests at 600 baud (a profile line other than the reader's 300).
  const std::string profile = write_profile(dir, "base: multical66c\nline: \"600 7E2\"\n");
  Sim sim(dir, 208, {"--profile-file", profile, "--echo"});
  ASSERT_TRUE(sim.started()) << sim.diag();
  const RunResult r =
      kamstrup({"read", "--port", sim.port(), "--protocol", "legacy", "--retries", "1", "--json"});
  EXPECT_EQ(r.status, 3) << describe(r);
  // Only the echo of our own request came back, twice (one retry, 5 s later).
  EXPECT_EQ(parse_json(r.out).at("failure"), "EchoOnly") << r.out;
  EXPECT_NE(r.err.find(kEchoOnlyPhrase), std::string::npos) << r.err;
  const auto rx = sim.rx();
  ASSERT_EQ(rx.size(), 2U) << sim.diag();
  // (the simulator stamps a request when it reads it: 10 ms of scheduling jitter allowed)
  EXPECT_GE(rx[1].at("mono").get<double>() - rx[0].at("mono").get<double>(), 4.99);
  for (const auto& tx : sim.tx()) EXPECT_EQ(tx.at("fault"), "line") << sim.diag();
}

}  // namespace
}  // namespace kamstrup::e2e
