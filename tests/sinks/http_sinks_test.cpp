// HTTP outputs.
//
// InfluxDB 1.x: against a real influxd (Debian package influxdb, /usr/bin/influxd) started by the
// suite with its own config, ports and data directories in a temp dir; points are read back with
// InfluxQL.
//
// InfluxDB 2.x, Domoticz and emoncms: no packaged server exists for these in Debian, so a local
// cpp-httplib server stands in: it records every request (method, path, raw target, query
// parameters, headers, body) and returns canned answers modelled on the real servers' (204 for
// /api/v2/write, {"status" : "OK", ...} for Domoticz, "ok" for emoncms' input/post).
#include <gtest/gtest.h>
#include <httplib.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "../support/http_recorder.hpp"
#include "../support/servers.hpp"
#include "sinks/domoticz.hpp"
#include "sinks/emoncms.hpp"
#include "sinks/http_client.hpp"
#include "sinks/influxdb.hpp"

namespace fs = std::filesystem;
using kamstrup::sinks::DomoticzConfig;
using kamstrup::sinks::DomoticzSink;
using kamstrup::sinks::EmoncmsConfig;
using kamstrup::sinks::EmoncmsSink;
using kamstrup::sinks::InfluxConfig;
using kamstrup::sinks::InfluxSink;
using kamstrup::sinks::MeterInfo;
using kamstrup::sinks::SinkError;
using kamstrup::store::Poll;
using kamstrup::store::Value;
namespace http = kamstrup::sinks::http;
using kamstrup::test::Recorded;
using kamstrup::test::Recorder;
using kamstrup::test::support::free_port;
using kamstrup::test::support::Influxd;
using kamstrup::test::support::slurp;
using kamstrup::test::support::TempDir;

namespace {

// ---------------------------------------------------------------- helpers

void deliver(kamstrup::sinks::Sink& s, const std::vector<Poll>& polls) {
  s.deliver(std::span<const Poll>(polls.data(), polls.size()));
}

std::string what_of(kamstrup::sinks::Sink& s, const std::vector<Poll>& polls) {
  try {
    deliver(s, polls);
  } catch (const SinkError& e) {
    return e.what();
  }
  return "(no SinkError)";
}

// An InfluxDB 1.x output config: database `db` at `url`.
InfluxConfig v1_config(const std::string& url, const std::string& db = "k") {
  InfluxConfig c;
  c.url = url;
  c.database = db;
  return c;
}

// "ok", "rejected" (SinkRejected: the fan-out skips the poll) or "retry" (any other SinkError).
std::string outcome(kamstrup::sinks::Sink& s, const std::vector<Poll>& polls) {
  try {
    deliver(s, polls);
  } catch (const kamstrup::sinks::SinkRejected&) {
    return "rejected";
  } catch (const SinkError&) {
    return "retry";
  }
  return "ok";
}

// 2026-11-23T14:25:00.123Z
constexpr std::int64_t kT1 = 1795443900123;

// Values with at most 15 significant digits, so the double InfluxDB stores (and its JSON
// answer) converts back to exactly the number the text names: comparing strtod(text) with
// the returned double is an exact check of the value written.
Poll heat_poll(std::int64_t t = kT1) {
  Poll p;
  p.seq = 1;
  p.meter = "heat";
  p.time_ms = t;
  p.source = "poll";
  p.values = {
      Value{60, "heat_energy", "55.006", "", "MWh"}, Value{68, "volume", "1875.56", "", "m³"},
      Value{86, "temp1", "-0.50", "", "°C"},         Value{80, "power", "0.0", "", "kW"},
      Value{-1, "big", "123456789012.345", "", ""},  Value{1002, "clock", "", "14:25:00", ""},
  };
  return p;
}

Poll cool_poll(std::int64_t t = kT1) {
  Poll p;
  p.seq = 2;
  p.meter = "cool";
  p.time_ms = t;
  p.source = "logger";
  p.values = {Value{60, "heat_energy", "7", "", "MWh"}};
  return p;
}

std::string basic(const std::string& user, const std::string& pass) {
  static constexpr char kB64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string in = user + ":" + pass, out;
  std::size_t i = 0;
  for (; i + 2 < in.size(); i += 3) {
    unsigned n = static_cast<unsigned>(static_cast<unsigned char>(in[i])) << 16 |
                 static_cast<unsigned>(static_cast<unsigned char>(in[i + 1])) << 8 |
                 static_cast<unsigned char>(in[i + 2]);
    for (int k = 18; k >= 0; k -= 6) out += kB64[(n >> k) & 63];
  }
  if (i < in.size()) {
    unsigned n = static_cast<unsigned>(static_cast<unsigned char>(in[i])) << 16;
    if (i + 1 < in.size()) n |= static_cast<unsigned>(static_cast<unsigned char>(in[i + 1])) << 8;
    out += kB64[(n >> 18) & 63];
    out += kB64[(n >> 12) & 63];
    out += i + 1 < in.size() ? kB64[(n >> 6) & 63] : '=';
    out += '=';
  }
  return "Basic " + out;
}

}  // namespace

// ---------------------------------------------------------------- InfluxDB line protocol

namespace {
kamstrup::sinks::InfluxLine line_opts(const std::string& measurement, const std::string& serial,
                                      bool unit_in_field) {
  kamstrup::sinks::InfluxLine o;
  o.measurement = measurement;
  o.serial = serial;
  o.unit_in_field = unit_in_field;
  return o;
}
}  // namespace

TEST(InfluxLine, FieldsNamedWithTheirUnitTagsAndTimestamp) {
  EXPECT_EQ(kamstrup::sinks::influx_line(heat_poll(), line_opts("kamstrup", "6543210", true)),
            "kamstrup,meter=heat,serial=6543210,source=poll heat_energy_mwh=55.006,"
            "volume_m3=1875.56,temp1_degc=-0.50,power_kw=0.0,big=123456789012.345,"
            "clock_text=\"14:25:00\" 1795443900123");
  EXPECT_EQ(kamstrup::sinks::influx_line(cool_poll(), line_opts("kamstrup", "", true)),
            "kamstrup,meter=cool,source=logger heat_energy_mwh=7 1795443900123");
}

TEST(InfluxLine, TheOldLayoutWithoutUnitsStaysAvailable) {
  EXPECT_EQ(kamstrup::sinks::influx_line(heat_poll(), line_opts("kamstrup", "6543210", false)),
            "kamstrup,meter=heat,serial=6543210,source=poll heat_energy=55.006,volume=1875.56,"
            "temp1=-0.50,power=0.0,big=123456789012.345,clock_text=\"14:25:00\" 1795443900123");
}

TEST(InfluxLine, UnitSuffixes) {
  using kamstrup::sinks::unit_suffix;
  EXPECT_EQ(unit_suffix("MWh"), "mwh");
  EXPECT_EQ(unit_suffix("m³"), "m3");
  EXPECT_EQ(unit_suffix("m³/h"), "m3_per_h");
  EXPECT_EQ(unit_suffix("l/h"), "l_per_h");
  EXPECT_EQ(unit_suffix("°C"), "degc");
  EXPECT_EQ(unit_suffix("K"), "k");
  EXPECT_EQ(unit_suffix("m³×°C"), "m3xdegc");
  EXPECT_EQ(unit_suffix("US gal/min"), "us_gal_per_min");
  EXPECT_EQ(unit_suffix(""), "");
}

TEST(InfluxLine, StaticTagsSortedAndEnergyConvertedExactly) {
  const std::vector<std::pair<std::string, std::string>> tags = {{"site", "north"},
                                                                 {"location", "home"}};
  auto o = line_opts("kamstrup", "6543210", true);
  o.tags = &tags;
  o.energy_unit = "kWh";
  EXPECT_EQ(kamstrup::sinks::influx_line(heat_poll(), o),
            "kamstrup,location=home,meter=heat,serial=6543210,site=north,source=poll "
            "heat_energy_kwh=55006,volume_m3=1875.56,temp1_degc=-0.50,power_kw=0.0,"
            "big=123456789012.345,clock_text=\"14:25:00\" 1795443900123");
  EXPECT_EQ(kamstrup::sinks::influx_line(cool_poll(), o),
            "kamstrup,location=home,meter=cool,serial=6543210,site=north,source=logger "
            "heat_energy_kwh=7000 1795443900123");
  // GJ -> kWh has no finite decimal: the meter's unit stays, and the field name says so.
  Poll gj = cool_poll();
  gj.values = {Value{60, "heat_energy", "123.456", "", "GJ"}};
  EXPECT_EQ(kamstrup::sinks::influx_line(gj, o),
            "kamstrup,location=home,meter=cool,serial=6543210,site=north,source=logger "
            "heat_energy_gj=123.456 1795443900123");
}

TEST(InfluxLine, Escaping) {
  Poll p;
  p.meter = "a b,c=d";
  p.time_ms = 5;
  p.source = "poll";
  p.values = {Value{-1, "x y=z,w", "1.5", "say \"hi\" \\o/", ""}};
  EXPECT_EQ(kamstrup::sinks::influx_line(p, line_opts("my meas,x=1", "", true)),
            R"(my\ meas\,x=1,meter=a\ b\,c\=d,source=poll x\ y\=z\,w=1.5,)"
            R"(x\ y\=z\,w_text="say \"hi\" \\o/" 5)");
}

TEST(InfluxLine, NothingForAPollWithoutFields) {
  Poll p;
  p.meter = "heat";
  p.values = {Value{1, "x", "", "", "kWh"}, Value{2, "y", "1e5", "", ""}};
  EXPECT_EQ(kamstrup::sinks::influx_line(p, line_opts("kamstrup", "", true)), "");
}

TEST(InfluxSink, RejectsAConfigWithoutDatabaseOrBucket) {
  EXPECT_THROW(InfluxSink(InfluxConfig{}), std::invalid_argument);
  InfluxConfig v2;
  v2.bucket = "b";
  EXPECT_THROW(InfluxSink{v2}, std::invalid_argument);  // no org
}

// ---------------------------------------------------------------- InfluxDB 1.x, real server

class InfluxV1 : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    server_ = new Influxd();
    server_->start();
  }
  static void TearDownTestSuite() {
    delete server_;
    server_ = nullptr;
  }
  static InfluxConfig config(const std::string& db) {
    InfluxConfig c;
    c.url = server_->url() + "/";  // a trailing slash is tolerated
    c.database = db;
    return c;
  }
  static Influxd* server_;
};
Influxd* InfluxV1::server_ = nullptr;

TEST_F(InfluxV1, WritesExactValuesTagsAndTimestamps) {
  server_->create_database("exact");
  InfluxSink sink(config("exact"));
  EXPECT_EQ(sink.id(), "influxdb");
  MeterInfo info;
  info.name = "heat";
  info.serial = "6543210";
  sink.meter_info(info);
  deliver(sink, {heat_poll(), cool_poll(kT1 + 1000)});

  auto pts = server_->points("exact");
  ASSERT_EQ(pts.size(), 2U);
  // Ordered by time: heat, then cool.
  auto& h = pts[0];
  EXPECT_EQ(h["time"].get<std::int64_t>(), kT1);
  EXPECT_EQ(h["meter"], "heat");
  EXPECT_EQ(h["serial"], "6543210");
  EXPECT_EQ(h["source"], "poll");
  for (const auto& v : heat_poll().values) {
    if (v.value.empty()) continue;
    const std::string field =
        v.unit.empty() ? v.name : v.name + "_" + kamstrup::sinks::unit_suffix(v.unit);
    ASSERT_TRUE(h[field].is_number()) << field << ": " << h[field];
    EXPECT_EQ(h[field].get<double>(), std::strtod(v.value.c_str(), nullptr)) << field;
  }
  EXPECT_EQ(h["clock_text"], "14:25:00");

  auto& c = pts[1];
  EXPECT_EQ(c["time"].get<std::int64_t>(), kT1 + 1000);
  EXPECT_EQ(c["meter"], "cool");
  EXPECT_TRUE(c["serial"].is_null());  // not known yet: tag omitted
  EXPECT_EQ(c["source"], "logger");
  EXPECT_EQ(c["heat_energy_mwh"].get<double>(), 7.0);
}

// Static tags of the output and of the meter reach influxd as tags (the meter's win), and a
// text field with a backslash and quotes round-trips exactly.
TEST_F(InfluxV1, StaticTagsAndEscapedTextReachTheServer) {
  server_->create_database("tags");
  InfluxConfig c = config("tags");
  c.tags = {{"location", "home"}, {"site", "north"}};
  c.meter_tags = {{"heat", {{"room", "cellar"}, {"site", "south"}}}};
  InfluxSink sink(c);
  Poll p = heat_poll();
  p.values.push_back(Value{-1, "note", "", "a \\ b \"q\" \\", ""});
  deliver(sink, {p, cool_poll(kT1 + 1000)});
  auto pts = server_->points("tags");
  ASSERT_EQ(pts.size(), 2U);
  EXPECT_EQ(pts[0]["location"], "home");
  EXPECT_EQ(pts[0]["room"], "cellar");
  EXPECT_EQ(pts[0]["site"], "south");
  EXPECT_EQ(pts[0]["note_text"], "a \\ b \"q\" \\");
  EXPECT_EQ(pts[1]["site"], "north");
  EXPECT_TRUE(pts[1]["room"].is_null());
}

TEST_F(InfluxV1, ReplayOverwritesInsteadOfDuplicating) {
  server_->create_database("replay");
  InfluxSink sink(config("replay"));
  std::vector<Poll> polls = {heat_poll(kT1), heat_poll(kT1 + 60000), cool_poll(kT1)};
  deliver(sink, polls);
  deliver(sink, polls);  // the fan-out retrying after a lost acknowledgement
  InfluxSink restarted(config("replay"));
  deliver(restarted, polls);
  EXPECT_EQ(server_->points("replay").size(), 3U);
}

TEST_F(InfluxV1, BatchesReachTheServerCompletely) {
  server_->create_database("batches");
  InfluxConfig c = config("batches");
  c.batch = 2;
  InfluxSink sink(c);
  std::vector<Poll> polls;
  for (int i = 0; i < 5; ++i) polls.push_back(heat_poll(kT1 + i * 1000));
  deliver(sink, polls);
  auto pts = server_->points("batches");
  ASSERT_EQ(pts.size(), 5U);
  for (int i = 0; i < 5; ++i) EXPECT_EQ(pts[static_cast<std::size_t>(i)]["time"], kT1 + i * 1000);
}

TEST_F(InfluxV1, UnknownDatabaseIsASinkErrorWithTheServersMessage) {
  InfluxSink sink(config("does_not_exist"));
  std::string what = what_of(sink, {heat_poll()});
  EXPECT_NE(what.find("influxdb: POST " + server_->url() + "/write?db=does_not_exist"),
            std::string::npos)
      << what;
  EXPECT_NE(what.find("HTTP 404"), std::string::npos) << what;
  EXPECT_NE(what.find("database not found"), std::string::npos) << what;
}

TEST_F(InfluxV1, ServerDownIsASinkErrorAndRecoveryWorks) {
  server_->create_database("outage");
  InfluxSink sink(config("outage"));
  deliver(sink, {heat_poll(kT1)});

  server_->stop();
  std::string what = what_of(sink, {heat_poll(kT1 + 1000)});
  EXPECT_NE(what.find("influxdb: POST " + server_->url() + "/write?db=outage&precision=ms"),
            std::string::npos)
      << what;

  server_->start();
  deliver(sink, {heat_poll(kT1 + 1000)});  // the same sink, reconnecting
  auto pts = server_->points("outage");
  ASSERT_EQ(pts.size(), 2U);
  EXPECT_EQ(pts[1]["time"], kT1 + 1000);
}

// ---------------------------------------------------------------- InfluxDB 2.x, recorder

TEST(InfluxV2, WritesBatchesWithTokenAuth) {
  Recorder rec;
  InfluxConfig c;
  c.url = rec.url();
  c.org = "my org";
  c.bucket = "heat&co";
  c.token = kamstrup::config::Secret::of("s3cr3t-token");
  c.measurement = "meters";
  c.batch = 2;
  InfluxSink sink(c);
  EXPECT_EQ(sink.write_url(),
            rec.url() + "/api/v2/write?org=my%20org&bucket=heat%26co&precision=ms");
  MeterInfo info;
  info.name = "heat";
  info.serial = "42";
  sink.meter_info(info);
  std::vector<Poll> polls;
  for (int i = 0; i < 5; ++i) polls.push_back(heat_poll(kT1 + i));
  deliver(sink, polls);

  auto reqs = rec.requests();
  ASSERT_EQ(reqs.size(), 3U);  // 2 + 2 + 1 polls
  for (const auto& r : reqs) {
    EXPECT_EQ(r.method, "POST");
    EXPECT_EQ(r.path, "/api/v2/write");
    EXPECT_EQ(r.target, "/api/v2/write?org=my%20org&bucket=heat%26co&precision=ms");
    EXPECT_EQ(r.param("org"), "my org");
    EXPECT_EQ(r.param("bucket"), "heat&co");
    EXPECT_EQ(r.param("precision"), "ms");
    EXPECT_EQ(r.header("Authorization"), "Token s3cr3t-token");
    EXPECT_EQ(r.header("Content-Type"), "text/plain; charset=utf-8");
  }
  auto line = [](std::int64_t t) {
    return "meters,meter=heat,serial=42,source=poll heat_energy_mwh=55.006,volume_m3=1875.56,"
           "temp1_degc=-0.50,power_kw=0.0,big=123456789012.345,clock_text=\"14:25:00\" " +
           std::to_string(t) + "\n";
  };
  EXPECT_EQ(reqs[0].body, line(kT1) + line(kT1 + 1));
  EXPECT_EQ(reqs[1].body, line(kT1 + 2) + line(kT1 + 3));
  EXPECT_EQ(reqs[2].body, line(kT1 + 4));
}

TEST(HttpSinks, RefusedDataIsRejectedAndEverythingElseRetried) {
  Recorder rec;
  InfluxSink influx(v1_config(rec.url()));
  DomoticzConfig dc;
  dc.url = rec.url();
  dc.devices = {{"heat", "heat_energy", 7, kamstrup::sinks::DomoticzType::Custom, ""}};
  DomoticzSink domoticz(dc);
  EmoncmsConfig ec;
  ec.url = rec.url();
  ec.apikey = kamstrup::config::Secret::of("k");
  EmoncmsSink emoncms(ec);
  for (kamstrup::sinks::Sink* s :
       std::initializer_list<kamstrup::sinks::Sink*>{&influx, &domoticz, &emoncms}) {
    SCOPED_TRACE(s->id());
    rec.answer(400, R"({"error":"partial write: field type conflict"})");
    EXPECT_EQ(outcome(*s, {heat_poll()}), "rejected");
    EXPECT_NE(what_of(*s, {heat_poll()}).find("field type conflict"), std::string::npos);
    rec.answer(422, "unprocessable", "text/plain");
    EXPECT_EQ(outcome(*s, {heat_poll()}), "rejected");
    for (int st : {401, 403, 404, 408, 429, 500, 503}) {
      rec.answer(st, "nope", "text/plain");
      EXPECT_EQ(outcome(*s, {heat_poll()}), "retry") << st;
    }
  }
}

TEST(InfluxV2, ErrorStatusesAreSinkErrorsWithTheBody) {
  Recorder rec;
  InfluxConfig c;
  c.url = rec.url();
  c.org = "o";
  c.bucket = "b";
  c.token = kamstrup::config::Secret::of("t");
  InfluxSink sink(c);

  rec.answer(400, R"({"code":"invalid","message":"unable to parse 'x'"})");
  std::string what = what_of(sink, {heat_poll()});
  EXPECT_NE(what.find("influxdb: POST " + rec.url() + "/api/v2/write?org=o&bucket=b"),
            std::string::npos)
      << what;
  EXPECT_NE(what.find("HTTP 400 (the server rejected the data"), std::string::npos) << what;
  EXPECT_NE(what.find("unable to parse 'x'"), std::string::npos) << what;

  rec.answer(401, R"({"code":"unauthorized","message":"unauthorized access"})");
  what = what_of(sink, {heat_poll()});
  EXPECT_NE(what.find("HTTP 401 (authentication failed)"), std::string::npos) << what;

  rec.answer(429, "slow down", "text/plain");
  what = what_of(sink, {heat_poll()});
  EXPECT_NE(what.find("HTTP 429: slow down"), std::string::npos) << what;

  rec.answer(503, "overloaded", "text/plain");
  what = what_of(sink, {heat_poll()});
  EXPECT_NE(what.find("HTTP 503: overloaded"), std::string::npos) << what;

  rec.answer(204, "");
  EXPECT_NO_THROW(deliver(sink, {heat_poll()}));
}

TEST(InfluxV1Recorded, BasicAuthAndPath) {
  Recorder rec;
  InfluxConfig c;
  c.url = rec.url();
  c.database = "k db";
  c.username = "writer";
  c.password = kamstrup::config::Secret::of("pa:ss");
  InfluxSink sink(c);
  deliver(sink, {cool_poll()});
  auto reqs = rec.requests();
  ASSERT_EQ(reqs.size(), 1U);
  EXPECT_EQ(reqs[0].target, "/write?db=k%20db&precision=ms");
  EXPECT_EQ(reqs[0].header("Authorization"), basic("writer", "pa:ss"));
  EXPECT_EQ(reqs[0].body, "kamstrup,meter=cool,source=logger heat_energy_mwh=7 1795443900123\n");
}

TEST(InfluxV1Recorded, PollsWithoutFieldsSendNothing) {
  Recorder rec;
  InfluxSink sink(v1_config(rec.url()));
  Poll empty = cool_poll();
  empty.values = {Value{1, "x", "", "", ""}};
  deliver(sink, {empty});
  EXPECT_TRUE(rec.requests().empty());
}

TEST(InfluxV1Recorded, ConnectionRefusedIsASinkError) {
  InfluxConfig c;
  c.url = "http://127.0.0.1:" + std::to_string(free_port());
  c.database = "k";
  InfluxSink sink(c);
  std::string what = what_of(sink, {heat_poll()});
  EXPECT_NE(what.find("influxdb: POST " + c.url + "/write?db=k&precision=ms: "), std::string::npos)
      << what;
}

// ---------------------------------------------------------------- Domoticz, recorder

namespace {
DomoticzConfig domoticz_config(const Recorder& rec) {
  DomoticzConfig c;
  c.url = rec.url();
  c.username = "admin";
  c.password = kamstrup::config::Secret::of("s3cret");
  c.devices = {{"heat", "heat_energy", 12, kamstrup::sinks::DomoticzType::Custom, ""},
               {"heat", "temp1", 14, kamstrup::sinks::DomoticzType::Custom, ""},
               {"heat", "clock", 15, kamstrup::sinks::DomoticzType::Custom, ""},
               {"cool", "heat_energy", 20, kamstrup::sinks::DomoticzType::Custom, ""}};
  return c;
}
const char* kDomoticzOk = R"({ "status" : "OK", "title" : "Update Device" })";
}  // namespace

TEST(Domoticz, UpdatesMappedDevicesWithBasicAuth) {
  Recorder rec;
  rec.answer(200, kDomoticzOk);
  DomoticzSink sink(domoticz_config(rec));
  EXPECT_EQ(sink.id(), "domoticz");
  deliver(sink, {heat_poll()});

  auto reqs = rec.requests();
  ASSERT_EQ(reqs.size(), 3U);  // volume, power, big: not mapped
  EXPECT_EQ(reqs[0].target, "/json.htm?type=command&param=udevice&idx=12&nvalue=0&svalue=55.006");
  EXPECT_EQ(reqs[1].target, "/json.htm?type=command&param=udevice&idx=14&nvalue=0&svalue=-0.50");
  EXPECT_EQ(reqs[2].target,
            "/json.htm?type=command&param=udevice&idx=15&nvalue=0&svalue=14%3A25%3A00");
  for (const auto& r : reqs) {
    EXPECT_EQ(r.method, "GET");
    EXPECT_EQ(r.path, "/json.htm");
    EXPECT_EQ(r.param("type"), "command");
    EXPECT_EQ(r.param("param"), "udevice");
    EXPECT_EQ(r.param("nvalue"), "0");
    EXPECT_EQ(r.header("Authorization"), basic("admin", "s3cret"));
  }
  EXPECT_EQ(reqs[2].param("svalue"), "14:25:00");

  rec.clear();
  deliver(sink, {cool_poll()});
  reqs = rec.requests();
  ASSERT_EQ(reqs.size(), 1U);
  EXPECT_EQ(reqs[0].param("idx"), "20");
  EXPECT_EQ(reqs[0].param("svalue"), "7");
}

TEST(Domoticz, BacklogSendsOnlyTheNewestValuePerDevice) {
  Recorder rec;
  rec.answer(200, kDomoticzOk);
  DomoticzConfig c = domoticz_config(rec);
  c.username.clear();
  DomoticzSink sink(c);
  Poll newer = heat_poll(kT1 + 60000);
  newer.values[0].value = "55.100";
  deliver(sink, {heat_poll(), cool_poll(), newer});
  auto reqs = rec.requests();
  ASSERT_EQ(reqs.size(), 4U);
  EXPECT_EQ(reqs[0].param("idx"), "12");
  EXPECT_EQ(reqs[0].param("svalue"), "55.100");
  EXPECT_EQ(reqs[3].param("idx"), "20");
  EXPECT_EQ(reqs[0].header("Authorization"), "(none)");
}

TEST(Domoticz, StatusErrIsASinkError) {
  Recorder rec;
  rec.answer(200, R"({ "status" : "ERR" })");
  DomoticzSink sink(domoticz_config(rec));
  std::string what = what_of(sink, {heat_poll()});
  EXPECT_NE(what.find("domoticz: GET " + rec.url() + "/json.htm?"), std::string::npos) << what;
  EXPECT_NE(what.find("device idx 12 not updated"), std::string::npos) << what;
  EXPECT_NE(what.find("\"ERR\""), std::string::npos) << what;
  EXPECT_EQ(rec.requests().size(), 1U);  // stops at the first failure
}

TEST(Domoticz, HttpErrorsAndGarbageAreSinkErrors) {
  Recorder rec;
  DomoticzSink sink(domoticz_config(rec));
  rec.answer(401, "Unauthorized", "text/html");
  std::string what = what_of(sink, {heat_poll()});
  EXPECT_NE(what.find("HTTP 401 (authentication failed): Unauthorized"), std::string::npos) << what;
  rec.answer(500, "oops", "text/plain");
  what = what_of(sink, {heat_poll()});
  EXPECT_NE(what.find("HTTP 500: oops"), std::string::npos) << what;
  rec.answer(200, "<html>not the API</html>", "text/html");
  what = what_of(sink, {heat_poll()});
  EXPECT_NE(what.find("not updated: <html>"), std::string::npos) << what;

  DomoticzConfig down = domoticz_config(rec);
  down.url = "http://127.0.0.1:" + std::to_string(free_port());
  DomoticzSink dead(down);
  what = what_of(dead, {heat_poll()});
  EXPECT_NE(what.find("domoticz: GET " + down.url + "/json.htm?"), std::string::npos) << what;
}

// ---------------------------------------------------------------- emoncms, recorder

namespace {
EmoncmsConfig emoncms_config(const Recorder& rec) {
  EmoncmsConfig c;
  c.url = rec.url() + "/emoncms/";
  c.apikey = kamstrup::config::Secret::of("KEY123");
  c.node = "kamstrup";
  return c;
}
const std::string kHeatJson =
    R"({"heat_energy":55.006,"volume":1875.56,"temp1":-0.50,"power":0.0,"big":123456789012.345})";
}  // namespace

// emoncms reads the API key from "Authorization: Bearer" (its index.php, RFC 6750), so it never
// appears in a URL (proxy and server logs); a single poll goes to input/post with fulljson.
TEST(Emoncms, PostsFullJsonWithTimeAndNodeAndTheKeyInTheHeader) {
  Recorder rec;
  rec.answer(200, "ok", "text/plain");
  EmoncmsSink sink(emoncms_config(rec));
  EXPECT_EQ(sink.id(), "emoncms");
  deliver(sink, {heat_poll()});
  deliver(sink, {cool_poll(kT1 + 5000)});
  auto reqs = rec.requests();
  ASSERT_EQ(reqs.size(), 2U);
  EXPECT_EQ(reqs[0].method, "GET");
  EXPECT_EQ(reqs[0].path, "/emoncms/input/post");
  EXPECT_EQ(reqs[0].param("node"), "kamstrup_heat");
  EXPECT_EQ(reqs[0].param("time"), "1795443900");
  EXPECT_EQ(reqs[0].param("fulljson"), kHeatJson);
  EXPECT_EQ(reqs[0].target, "/emoncms/input/post?node=kamstrup_heat&time=1795443900&fulljson=" +
                                http::url_encode(kHeatJson));
  EXPECT_EQ(reqs[0].header("Authorization"), "Bearer KEY123");
  EXPECT_EQ(reqs[0].target.find("KEY123"), std::string::npos);
  EXPECT_EQ(reqs[1].param("node"), "kamstrup_cool");
  EXPECT_EQ(reqs[1].param("time"), "1795443905");
  EXPECT_EQ(reqs[1].param("fulljson"), R"({"heat_energy":7})");
}

// A backlog goes as one input/bulk request (emoncms' input_methods.php bulk(): items
// [time, node, {name: value}, ...], one object per input, time=0 for absolute times).
TEST(Emoncms, ABacklogIsOneBulkRequestWithEveryPollAtItsTime) {
  Recorder rec;
  rec.answer(200, "ok", "text/plain");
  EmoncmsSink sink(emoncms_config(rec));
  Poll text_only = heat_poll();
  text_only.time_ms = kT1 + 7000;
  text_only.values = {Value{1002, "clock", "", "14:25:07", ""}};
  deliver(sink, {heat_poll(), cool_poll(kT1 + 5000), text_only});
  auto reqs = rec.requests();
  ASSERT_EQ(reqs.size(), 1U);
  EXPECT_EQ(reqs[0].method, "POST");
  EXPECT_EQ(reqs[0].path, "/emoncms/input/bulk");
  EXPECT_EQ(reqs[0].header("Authorization"), "Bearer KEY123");
  EXPECT_EQ(reqs[0].header("Content-Type"), "application/x-www-form-urlencoded");
  EXPECT_EQ(reqs[0].param("time"), "0");
  EXPECT_EQ(reqs[0].param("data"),
            R"([[1795443900,"kamstrup_heat",{"heat_energy":55.006},{"volume":1875.56},)"
            R"({"temp1":-0.50},{"power":0.0},{"big":123456789012.345}],)"
            R"([1795443905,"kamstrup_cool",{"heat_energy":7}]])");
  EXPECT_EQ(reqs[0].body.find("KEY123"), std::string::npos);
  EXPECT_EQ(reqs[0].target.find("KEY123"), std::string::npos);
}

TEST(Emoncms, SingleMeterUsesThePlainNodeAndJsonSuccessIsAccepted) {
  Recorder rec;
  rec.answer(200, R"({"success": true})");
  EmoncmsConfig c = emoncms_config(rec);
  c.first_meter = "heat";
  EmoncmsSink sink(c);
  deliver(sink, {heat_poll()});
  auto reqs = rec.requests();
  ASSERT_EQ(reqs.size(), 1U);
  EXPECT_EQ(reqs[0].param("node"), "kamstrup");
}

TEST(Emoncms, PollWithoutNumbersSendsNothing) {
  Recorder rec;
  EmoncmsSink sink(emoncms_config(rec));
  Poll p = heat_poll();
  p.values = {Value{1002, "clock", "", "14:25:00", ""}};
  deliver(sink, {p});
  EXPECT_TRUE(rec.requests().empty());
}

TEST(Emoncms, RefusalsAreSinkErrorsWithoutTheApiKey) {
  Recorder rec;
  EmoncmsSink sink(emoncms_config(rec));
  rec.answer(200, R"({"success": false, "message": "Invalid API key"})");
  std::string what = what_of(sink, {heat_poll()});
  EXPECT_NE(what.find("emoncms: GET " + rec.url() +
                      "/emoncms/input/post (node kamstrup_heat, time 1795443900): not accepted: "),
            std::string::npos)
      << what;
  EXPECT_NE(what.find("Invalid API key"), std::string::npos) << what;
  EXPECT_EQ(what.find("KEY123"), std::string::npos) << what;

  rec.answer(200, "Error: Format error, json value is not numeric", "text/plain");
  what = what_of(sink, {heat_poll()});
  EXPECT_NE(what.find("not accepted: Error: Format error"), std::string::npos) << what;

  rec.answer(500, "Internal Server Error", "text/plain");
  what = what_of(sink, {heat_poll()});
  EXPECT_NE(what.find("HTTP 500: Internal Server Error"), std::string::npos) << what;

  EmoncmsConfig down = emoncms_config(rec);
  down.url = "http://127.0.0.1:" + std::to_string(free_port());
  EmoncmsSink dead(down);
  what = what_of(dead, {heat_poll()});
  EXPECT_NE(what.find("emoncms: GET " + down.url + "/input/post (node kamstrup_heat"),
            std::string::npos)
      << what;
  EXPECT_EQ(what.find("KEY123"), std::string::npos) << what;
}
