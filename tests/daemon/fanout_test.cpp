// The fan-out against a real SQLite store. The outputs here are recording test doubles
// (they stand in for "an output that is up / down"; every real output has its own tests against
// its real server): what is checked is the delivery guarantee itself.
#include <gtest/gtest.h>

#include <atomic>
#include <filesystem>
#include <mutex>
#include <thread>

#include "daemon/fanout.hpp"

using namespace kamstrup;
using namespace std::chrono_literals;

namespace {

class RecordingSink : public sinks::Sink {
 public:
  RecordingSink(std::string id, std::atomic<bool>& up) : id_(std::move(id)), up_(up) {}
  std::string id() const override { return id_; }
  void deliver(std::span<const store::Poll> polls) override {
    ++attempts;
    if (!up_) throw sinks::SinkError(id_ + ": down");
    std::lock_guard lock(mu);
    for (const auto& p : polls) seqs.push_back(p.seq);
  }
  void meter_online(const std::string& meter, bool online) override {
    std::lock_guard lock(mu);
    events.push_back(meter + (online ? ":online" : ":offline"));
  }
  std::vector<std::int64_t> delivered() {
    std::lock_guard lock(mu);
    return seqs;
  }
  std::atomic<int> attempts{0};
  std::mutex mu;
  std::vector<std::int64_t> seqs;
  std::vector<std::string> events;

 private:
  std::string id_;
  std::atomic<bool>& up_;
};

std::string temp_db(const std::string& name) {
  auto dir = std::filesystem::path(::testing::TempDir()) / ("kamstrup-fanout-" + name);
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  return (dir / "k.db").string();
}

store::Poll poll(int i) {
  store::Poll p;
  p.meter = "heat";
  p.time_ms = 1700000000000 + i * 1000;
  p.values.push_back({60, "heat_energy", std::to_string(i) + ".001", "", "MWh"});
  return p;
}

template <typename F>
bool eventually(F f, std::chrono::milliseconds limit = 10s) {
  auto end = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < end) {
    if (f()) return true;
    std::this_thread::sleep_for(10ms);
  }
  return f();
}

TEST(Fanout, DeadOutputKeepsItsBacklogAndCatchesUpInOrderWithoutBlockingOthers) {
  store::Store st(temp_db("dead"));
  std::atomic<bool> a_up{true}, b_up{false};
  auto a = std::make_unique<RecordingSink>("a", a_up);
  auto b = std::make_unique<RecordingSink>("b", b_up);
  auto* ra = a.get();
  auto* rb = b.get();
  std::vector<std::unique_ptr<sinks::Sink>> sinks;
  sinks.push_back(std::move(a));
  sinks.push_back(std::move(b));
  daemon::Fanout f(st, std::move(sinks));
  f.start();
  for (int i = 0; i < 20; ++i) {
    auto p = poll(i);
    st.insert(p);
    f.notify();
  }
  ASSERT_TRUE(eventually([&] { return ra->delivered().size() == 20; }));
  EXPECT_TRUE(rb->delivered().empty());
  EXPECT_GE(rb->attempts.load(), 1);
  auto health = f.health();
  EXPECT_EQ(health[1].backlog, 20);
  EXPECT_FALSE(health[1].last_error.empty());

  b_up = true;  // the output comes back; the fan-out retries after its backoff
  ASSERT_TRUE(eventually([&] { return rb->delivered().size() == 20; }));
  auto got = rb->delivered();
  for (std::size_t i = 1; i < got.size(); ++i) EXPECT_LT(got[i - 1], got[i]) << "out of order";
  f.stop(1s);
  EXPECT_EQ(st.cursor("b"), got.back());
}

TEST(Fanout, ARestartResumesFromTheDurableCursor) {
  std::string path = temp_db("restart");
  std::atomic<bool> up{true};
  std::int64_t last = 0;
  {
    store::Store st(path);
    auto s = std::make_unique<RecordingSink>("out", up);
    auto* r = s.get();
    std::vector<std::unique_ptr<sinks::Sink>> v;
    v.push_back(std::move(s));
    daemon::Fanout f(st, std::move(v));
    f.start();
    for (int i = 0; i < 5; ++i) {
      auto p = poll(i);
      last = st.insert(p);
      f.notify();
    }
    ASSERT_TRUE(eventually([&] { return r->delivered().size() == 5; }));
    f.stop(1s);
  }
  {
    store::Store st(path);
    for (int i = 5; i < 8; ++i) {  // stored while the output was not running
      auto p = poll(i);
      st.insert(p);
    }
    auto s = std::make_unique<RecordingSink>("out", up);
    auto* r = s.get();
    std::vector<std::unique_ptr<sinks::Sink>> v;
    v.push_back(std::move(s));
    daemon::Fanout f(st, std::move(v));
    f.start();
    f.notify();
    ASSERT_TRUE(eventually([&] { return r->delivered().size() == 3; }));
    auto got = r->delivered();
    EXPECT_EQ(got.front(), last + 1);  // nothing already confirmed is sent again, nothing skipped
    f.stop(1s);
  }
}

TEST(Fanout, MeterEventsReachEveryOutputInOrder) {
  store::Store st(temp_db("events"));
  std::atomic<bool> up{true};
  auto s = std::make_unique<RecordingSink>("out", up);
  auto* r = s.get();
  std::vector<std::unique_ptr<sinks::Sink>> v;
  v.push_back(std::move(s));
  daemon::Fanout f(st, std::move(v));
  f.start();
  f.meter_online("heat", true);
  f.meter_online("heat", false);
  ASSERT_TRUE(eventually([&] {
    std::lock_guard lock(r->mu);
    return r->events.size() == 2;
  }));
  std::lock_guard lock(r->mu);
  EXPECT_EQ(r->events, (std::vector<std::string>{"heat:online", "heat:offline"}));
}

}  // namespace
