// The history API (docs/api.md) over a real loopback socket on a real store: JSON and CSV
// shapes, the auto step, errors, consumption with local DST days, and /api/live with resume.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <httplib.h>
#include <stdlib.h>

#include <atomic>
#include <condition_variable>
#include <filesystem>
#include <mutex>
#include <nlohmann/json.hpp>
#include <thread>

#include "store/store.hpp"
#include "web/history_api.hpp"
#include "web/server.hpp"

namespace kamstrup::web {
namespace {

using ::testing::HasSubstr;
using json = nlohmann::json;
using namespace std::chrono_literals;

constexpr std::int64_t kMin = 60'000;
constexpr std::int64_t kHour = 3'600'000;
// 2026-10-24 22:00 UTC = 2026-10-25 00:00 CEST, the start of the 25-hour day.
constexpr std::int64_t kDay25 = 1792879200000;

class Api : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = (std::filesystem::temp_directory_path() / "kamstrup-api-XXXXXX").string();
    ASSERT_NE(mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
    store::StoreConfig c;
    c.path = dir_ + "/k.db";
    c.timezone = "Europe/Copenhagen";
    store_ = std::make_unique<store::Store>(c);
    // Two days every 10 minutes from the start of the 25-hour day: energy +0.001 MWh a poll,
    // temp1 cycling; a date register (text only).
    for (std::int64_t i = 0; i < 2 * 25 * 6; ++i) {
      store::Poll p;
      p.meter = "heat";
      p.time_ms = kDay25 + i * 10 * kMin;
      p.values = {{60, "heat_energy", "55." + std::to_string(100 + i), "", "MWh"},
                  {86, "temp1", std::to_string(60 + i % 5) + ".50", "", "°C"},
                  {1003, "date", "", "2026-10-25", ""}};
      store_->insert(p);
    }
    live_ = std::make_shared<LiveFeed>(
        *store_, [] { return std::vector<std::string>{"heat"}; }, 200ms);
    Routes routes;
    add_history_api(routes, *store_, live_, [] { return kDay25 + 3 * 24 * kHour; });
    ServerOptions o;
    o.port = 0;
    server_ = std::make_unique<Server>(o, std::move(routes));
    client_ = std::make_unique<httplib::Client>("127.0.0.1", server_->port());
  }
  void TearDown() override {
    client_.reset();
    server_.reset();
    live_.reset();
    store_.reset();
    std::filesystem::remove_all(dir_);
  }
  json get_json(const std::string& path, int status = 200) {
    auto r = client_->Get(path);
    EXPECT_TRUE(r);
    if (!r) return {};
    EXPECT_EQ(r->status, status) << path << ": " << r->body;
    EXPECT_EQ(r->get_header_value("Content-Type"), "application/json");
    return json::parse(r->body);
  }

  std::string dir_;
  std::unique_ptr<store::Store> store_;
  std::shared_ptr<LiveFeed> live_;
  std::unique_ptr<Server> server_;
  std::unique_ptr<httplib::Client> client_;
};

TEST_F(Api, HistoryPicksRawForADayAndHoursForAWeekWithExactStrings) {
  auto raw = get_json(
      "/api/history?meter=heat&register=temp1&from=2026-10-25T00:00:00%2B02:00"
      "&to=2026-10-25T01:00:00%2B02:00");
  EXPECT_EQ(raw["step"], "raw");
  EXPECT_EQ(raw["unit"], "°C");
  EXPECT_EQ(raw["quantity"], "temperature");
  EXPECT_EQ(raw["cumulative"], false);
  EXPECT_EQ(raw["timezone"], "Europe/Copenhagen");
  EXPECT_EQ(raw["from"], "2026-10-24T22:00:00.000Z");
  ASSERT_EQ(raw["points"].size(), 6U);
  EXPECT_EQ(raw["points"][0], json::parse(R"({"time": "2026-10-24T22:00:00.000Z", "value": "60.50",
                                             "value_num": 60.5})"));
  auto hours = get_json("/api/history?meter=heat&register=temp1&from=" + std::to_string(kDay25) +
                        "&to=" + std::to_string(kDay25 + 7 * 24 * kHour));
  EXPECT_EQ(hours["step"], "hour");
  ASSERT_EQ(hours["points"].size(), 50U);
  // Six readings an hour, 60.50 .. 64.50 cycling: the first hour is 60,61,62,63,64,60 (.50),
  // mean 62.1666... rounded half-even to 3 more digits than the readings have.
  EXPECT_EQ(hours["points"][0], json::parse(R"({"time": "2026-10-24T22:00:00.000Z", "min": "60.50",
      "max": "64.50", "mean": "62.16667", "min_num": 60.5, "max_num": 64.5,
      "mean_num": 62.16667, "count": 6})"));
  auto energy = get_json("/api/history?meter=heat&register=heat_energy&step=day&from=" +
                         std::to_string(kDay25) + "&to=" + std::to_string(kDay25 + 25 * kHour));
  EXPECT_EQ(energy["cumulative"], true);
  ASSERT_EQ(energy["points"].size(), 1U);
  // A counter read exactly at midnight is the counter at that edge: the reading at the day's
  // start is its `first`, the one at its end (25 hours on) its `last`.
  EXPECT_EQ(energy["points"][0]["first"], "55.100");
  EXPECT_EQ(energy["points"][0]["last"], "55.250");
  EXPECT_EQ(energy["points"][0]["consumption"], "0.150");
  EXPECT_EQ(energy["points"][0]["consumption_num"], 0.15);
}

TEST_F(Api, AutoNeverReturnsMoreThan2000PointsAndRawCanBeRefused) {
  // Two days of raw 10-minute readings is 300 points: raw. Ask for more than 20000 hours: 400.
  auto r = client_->Get("/api/history?meter=heat&register=temp1&step=hour&from=0&to=" +
                        std::to_string(kDay25));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 400);
  EXPECT_THAT(r->body, HasSubstr("step"));
  auto all = get_json("/api/history?meter=heat&register=heat_energy&from=0&to=" +
                      std::to_string(kDay25 + 3 * 24 * kHour));
  EXPECT_EQ(all["step"], "month");
  EXPECT_LE(all["points"].size(), 2000U);
}

TEST_F(Api, ErrorsNameTheParameter) {
  EXPECT_THAT(get_json("/api/history?register=temp1", 400)["error"], HasSubstr("meter"));
  EXPECT_THAT(get_json("/api/history?meter=heat", 400)["error"], HasSubstr("register"));
  EXPECT_THAT(get_json("/api/history?meter=heat&register=temp1&from=yesterday", 400)["error"],
              HasSubstr("from"));
  EXPECT_THAT(get_json("/api/history?meter=heat&register=temp1&from=20&to=10", 400)["error"],
              HasSubstr("from"));
  EXPECT_THAT(get_json("/api/history?meter=heat&register=temp1&step=week", 400)["error"],
              HasSubstr("step"));
  EXPECT_THAT(get_json("/api/history?meter=cold&register=temp1", 404)["error"], HasSubstr("meter"));
  EXPECT_THAT(get_json("/api/history?meter=heat&register=flow", 404)["error"],
              HasSubstr("register"));
  EXPECT_THAT(get_json("/api/consumption?meter=heat&register=temp1", 400)["error"],
              HasSubstr("cumulative"));
  EXPECT_THAT(
      get_json("/api/consumption?meter=heat&register=heat_energy&period=week", 400)["error"],
      HasSubstr("period"));
  // A text-only register has raw history but no rollups.
  auto dates = get_json("/api/history?meter=heat&register=date&from=" + std::to_string(kDay25) +
                        "&to=" + std::to_string(kDay25 + kHour));
  EXPECT_EQ(dates["points"][0]["value"], "2026-10-25");
  EXPECT_TRUE(dates["points"][0]["value_num"].is_null());
}

TEST_F(Api, ConsumptionPerLocalDayWithOffsetsAndCsv) {
  auto c = get_json("/api/consumption?meter=heat&register=heat_energy&period=day&from=" +
                    std::to_string(kDay25) + "&to=" + std::to_string(kDay25 + 49 * kHour));
  EXPECT_EQ(c["unit"], "MWh");
  EXPECT_EQ(c["period"], "day");
  ASSERT_EQ(c["buckets"].size(), 2U);
  EXPECT_EQ(c["buckets"][0], json::parse(R"({"start": "2026-10-25T00:00:00+02:00",
      "end": "2026-10-26T00:00:00+01:00", "consumption": "0.150", "consumption_num": 0.15,
      "complete": true, "resets": 0})"));              // 25 hours x 6 readings
  EXPECT_EQ(c["buckets"][1]["consumption"], "0.144");  // 24 hours x 6
  EXPECT_EQ(c["buckets"][1]["complete"], true);
  auto r = client_->Get(
      "/api/consumption?meter=heat&register=heat_energy&period=day&format=csv"
      "&from=" +
      std::to_string(kDay25) + "&to=" + std::to_string(kDay25 + 49 * kHour));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->get_header_value("Content-Type"), "text/csv; charset=utf-8");
  EXPECT_EQ(r->body,
            "start,end,consumption,complete,resets\n"
            "2026-10-25T00:00:00+02:00,2026-10-26T00:00:00+01:00,0.150,true,0\n"
            "2026-10-26T00:00:00+01:00,2026-10-27T00:00:00+01:00,0.144,true,0\n");
  auto h = client_->Get("/api/history?meter=heat&register=temp1&from=" + std::to_string(kDay25) +
                            "&to=" + std::to_string(kDay25 + 20 * kMin),
                        {{"Accept", "text/csv"}});
  ASSERT_TRUE(h);
  EXPECT_EQ(h->body,
            "time,value\n2026-10-24T22:00:00.000Z,60.50\n2026-10-24T22:10:00.000Z,61.50\n");
}

TEST_F(Api, LiveSendsHelloThenEachStoredPollAndResumesFromLastEventId) {
  std::mutex mu;
  std::condition_variable cv;
  std::string got;
  std::atomic<bool> stop{false};
  auto reader = [&](httplib::Headers headers) {
    return std::thread([&, headers] {
      httplib::Client c("127.0.0.1", server_->port());
      c.Get("/api/live", headers, [&](const char* data, std::size_t n) {
        std::lock_guard lock(mu);
        got.append(data, n);
        cv.notify_all();
        return !stop.load();
      });
    });
  };
  auto wait_for = [&](const std::string& what) {
    std::unique_lock lock(mu);
    return cv.wait_for(lock, 10s, [&] { return got.find(what) != std::string::npos; });
  };
  std::thread t = reader({});
  ASSERT_TRUE(wait_for("event: hello\ndata: {\"meters\": [\"heat\"]}\n\n"));
  store::Poll p;
  p.meter = "heat";
  p.time_ms = kDay25 + 60 * kHour;
  p.values = {{86, "temp1", "70.25", "", "°C"}};
  const std::int64_t seq = store_->insert(p);
  ASSERT_TRUE(wait_for("id: " + std::to_string(seq) + "\n"));
  EXPECT_THAT(got, HasSubstr("event: poll\nid: " + std::to_string(seq) + "\ndata: {"));
  EXPECT_THAT(got, HasSubstr("\"value\": 70.25"));
  ASSERT_TRUE(wait_for(": keepalive\n\n"));
  stop = true;
  store_->insert(p);  // wakes the receiver so that it can stop
  t.join();
  // A reconnect with Last-Event-ID gets what it missed, once, and then the live polls.
  {
    std::lock_guard lock(mu);
    got.clear();
  }
  stop = false;
  std::thread t2 = reader({{"Last-Event-ID", std::to_string(seq - 2)}});
  ASSERT_TRUE(wait_for("id: " + std::to_string(seq + 1) + "\n"));
  {
    std::lock_guard lock(mu);
    EXPECT_THAT(got, HasSubstr("id: " + std::to_string(seq - 1) + "\n"));
    EXPECT_THAT(got, HasSubstr("id: " + std::to_string(seq) + "\n"));
    EXPECT_EQ(got.find("id: " + std::to_string(seq - 2) + "\n"), std::string::npos);
  }
  stop = true;
  store_->insert(p);
  t2.join();
}

}  // namespace
}  // namespace kamstrup::web
