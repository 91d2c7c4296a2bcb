// `kamstrup info` and `kamstrup scan` end to end against the simulated meter.
#include "e2e.hpp"

namespace kamstrup::e2e {
namespace {

// "151548" (hh:mm:ss digits) → "15:15:48"; "261123" (yy:mm:dd) → "2026-11-23".
std::string six(const std::string& raw) {
  return std::string(6 - std::min<std::size_t>(6, raw.size()), '0') + raw;
}
std::string clock_text(const std::string& raw) {
  const std::string d = six(raw);
  return d.substr(0, 2) + ":" + d.substr(2, 2) + ":" + d.substr(4, 2);
}
std::string date_text(const std::string& raw) {
  const std::string d = six(raw);
  return "20" + d.substr(0, 2) + "-" + d.substr(2, 2) + "-" + d.substr(4, 2);
}

// One info run: GetType, GetSerialNo, then clock and date in one GetRegister.
void expect_info_requests(const std::vector<Json>& rx) {
  ASSERT_EQ(rx.size(), 3U);
  EXPECT_EQ(rx[0].at("cid"), 1);
  EXPECT_EQ(rx[1].at("cid"), 2);
  EXPECT_EQ(rx[2].at("cid"), 16);
  EXPECT_EQ(rx[2].at("ids"), Json::array({1002, 1003}));
}

TEST(InfoE2E, JsonAndTableIdentifyTheMeter) {
  TempDir dir;
  Sim sim(dir, 31, {"--echo", "--noise"});
  ASSERT_TRUE(sim.started()) << sim.diag();

  const RunResult r = kamstrup({"info", "--port", sim.port(), "--json"});
  ASSERT_EQ(r.status, 0) << describe(r) << sim.diag();
  auto log = sim.log();
  const auto rx = with_dir(log, "rx");
  const auto tx = with_dir(log, "tx");
  expect_info_requests(rx);
  ASSERT_EQ(tx.size(), 3U) << sim.diag();
  const Json& clock_values = tx[2].at("values");
  const Json j = parse_json(r.out);
  ASSERT_TRUE(j.is_object()) << r.out;
  // multical403: meter type 0x0403, software 0x0102 ("A2").
  EXPECT_EQ(j.at("meter_type"), 0x0403) << r.out;
  EXPECT_EQ(j.at("meter_type_hex"), "0x0403") << r.out;
  EXPECT_EQ(j.at("sw_revision"), "A2") << r.out;
  EXPECT_EQ(j.at("serial").dump(), sim.serial()) << r.out;
  EXPECT_EQ(j.at("clock"), clock_text(clock_values.at("1002").get<std::string>())) << r.out;
  EXPECT_EQ(j.at("date"), date_text(clock_values.at("1003").get<std::string>())) << r.out;
  EXPECT_EQ(j.at("port"), sim.port());
  EXPECT_EQ(j.at("line"), "1200 8N2");

  const RunResult t = kamstrup({"info", "--port", sim.port()});
  ASSERT_EQ(t.status, 0) << describe(t);
  log = sim.log();
  ASSERT_EQ(log.size(), 12U) << sim.diag();
  const std::vector<Json> second(log.begin() + 6, log.end());
  expect_info_requests(with_dir(second, "rx"));
  const auto tx2 = with_dir(second, "tx");
  ASSERT_EQ(tx2.size(), 3U);
  const Json& v = tx2[2].at("values");
  EXPECT_NE(t.out.find("meter type     0x0403"), std::string::npos) << t.out;
  EXPECT_NE(t.out.find("software       A2"), std::string::npos) << t.out;
  EXPECT_NE(t.out.find("serial number  " + sim.serial()), std::string::npos) << t.out;
  EXPECT_NE(t.out.find("clock          " + clock_text(v.at("1002").get<std::string>())),
            std::string::npos)
      << t.out;
  EXPECT_NE(t.out.find("date           " + date_text(v.at("1003").get<std::string>())),
            std::string::npos)
      << t.out;
}

// The number of catalogued register ids, from `kamstrup registers --json`.
std::size_t catalogued_ids() {
  const RunResult r = kamstrup({"registers", "--json"});
  EXPECT_EQ(r.status, 0) << describe(r);
  const Json j = parse_json(r.out);
  std::size_t n = 0;
  for (const auto& reg : j) {
    if (!reg.at("id").is_null()) ++n;
  }
  return n;
}

TEST(ScanE2E, ProbesEveryCataloguedRegisterEightPerRequest) {
  const std::size_t ids = catalogued_ids();
  ASSERT_GT(ids, 8U);
  TempDir dir;
  Sim sim(dir, 32, {"--echo", "--noise"});
  ASSERT_TRUE(sim.started()) << sim.diag();
  const RunResult r = kamstrup({"scan", "--port", sim.port()});
  ASSERT_EQ(r.status, 0) << describe(r) << sim.diag();
  const auto rx = sim.rx();
  const auto tx = sim.tx();
  const std::size_t frames = (ids + 7) / 8;
  EXPECT_EQ(rx.size(), frames) << sim.diag();
  std::size_t probed = 0;
  Json sent = Json::object();
  for (const auto& line : rx) {
    EXPECT_LE(line.at("ids").size(), 8U);
    probed += line.at("ids").size();
  }
  EXPECT_EQ(probed, ids);
  for (const auto& line : tx) {
    EXPECT_TRUE(line.at("fault").is_null());
    sent.update(line.at("values"));
  }

  // Every row of the table is a register the meter sent, with exactly the sent value.
  std::istringstream table(r.out);
  std::string row;
  std::size_t rows = 0;
  bool heat_energy = false;
  std::getline(table, row);
  EXPECT_EQ(row.rfind("register", 0), 0U) << r.out;
  while (std::getline(table, row)) {
    std::istringstream fields(row);
    std::string name, id, value;
    if (!(fields >> name >> id >> value) || id.find_first_not_of("0123456789") != std::string::npos)
      continue;
    ++rows;
    SCOPED_TRACE(row);
    ASSERT_TRUE(sent.contains(id)) << "the meter never sent register " << id;
    const auto raw = sent.at(id).get<std::string>();
    if (row.find("hh:mm:ss") != std::string::npos) {
      EXPECT_EQ(value, clock_text(raw));
    } else if (row.find("yy:mm:dd") != std::string::npos) {
      EXPECT_EQ(value, date_text(raw));
    } else {
      EXPECT_EQ(value, raw);
    }
    heat_energy = heat_energy || name == "heat_energy";
  }
  EXPECT_TRUE(heat_energy) << r.out;
  EXPECT_EQ(rows, sent.size()) << r.out;
  const std::string summary = std::to_string(sent.size()) + " of " + std::to_string(ids) +
                              " catalogued registers answered (" +
                              std::to_string(ids - sent.size()) + " not supported), " +
                              std::to_string(frames) + " requests.";
  EXPECT_NE(r.out.find(summary), std::string::npos) << r.out;
}

// A sleeping meter: info and scan give up after their first exchange, exit 3, and still print a
// JSON object with the diagnosis.
TEST(InfoE2E, InfoAndScanOfASleepingMeterExit3WithADiagnosis) {
  TempDir dir;
  Sim sim(dir, 33, {"--asleep", "--echo"});
  ASSERT_TRUE(sim.started()) << sim.diag();
  for (const std::string cmd : {"info", "scan"}) {
    SCOPED_TRACE(cmd);
    const std::size_t before = sim.rx().size();
    const RunResult r =
        cmd == "info"
            ? kamstrup({cmd, "--port", sim.port(), "--protocol", "kmp", "--json", "--timeout",
                        "0.5", "--retries", "0"})
            : kamstrup({cmd, "--port", sim.port(), "--json", "--timeout", "0.5", "--retries", "0"});
    EXPECT_EQ(r.status, 3) << describe(r);
    EXPECT_NE(r.err.find(kEchoOnlyPhrase), std::string::npos) << r.err;
    const Json j = parse_json(r.out);
    EXPECT_EQ(j.value("failure", ""), "EchoOnly") << r.out;
    EXPECT_NE(j.value("diagnosis", "").find(kEchoOnlyPhrase), std::string::npos) << r.out;
    EXPECT_TRUE(j.contains("error")) << r.out;
    EXPECT_EQ(sim.rx().size(), before + 1) << "one request, then give up\n" << sim.diag();
  }
}

}  // namespace
}  // namespace kamstrup::e2e
