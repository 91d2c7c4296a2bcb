// The history API (docs/api.md; contract shared with the dashboard): GET /api/history (a series
// at the resolution that fits the range), GET /api/consumption (consumption per local day, month
// or year), GET /api/live (server-sent events, one per stored poll). JSON by default, CSV with
// `Accept: text/csv` or `format=csv`. Exact decimals travel as strings, each with a `_num` twin
// for charts.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <thread>
#include <vector>

#include "store/store.hpp"
#include "web/server.hpp"

namespace kamstrup::web {

// The /api/live feed: subscribes to the store's inserts and pushes each stored poll to every open
// stream, with a keep-alive comment every 15 s (which also finds clients that went away).
class LiveFeed {
 public:
  // `meters` names the configured meters for the hello event.
  LiveFeed(store::Store& store, std::function<std::vector<std::string>()> meters,
           std::chrono::milliseconds keepalive = std::chrono::seconds(15));
  ~LiveFeed();
  LiveFeed(const LiveFeed&) = delete;
  LiveFeed& operator=(const LiveFeed&) = delete;

  // The handler of GET /api/live. Last-Event-ID (header, or the `last_event_id` argument)
  // replays the stored polls after that seq, at most the last kReplay.
  Response open(const Request& request);
  static constexpr std::size_t kReplay = 100;

  // Streams open now (tests, metrics).
  [[nodiscard]] std::size_t streams() const;

 private:
  struct Client {
    std::shared_ptr<Stream> stream;
    std::int64_t last_seq = 0;  // the newest poll sent: replay and live never send one twice
  };
  void publish(std::span<const store::Poll> polls);
  void keepalive_loop(std::chrono::milliseconds every);

  store::Store& store_;
  std::function<std::vector<std::string>()> meters_;
  int subscription_ = 0;
  mutable std::mutex mu_;
  std::vector<Client> clients_;
  std::condition_variable cv_;
  bool stopping_ = false;
  std::thread thread_;
};

// Adds /api/history and /api/consumption (reading `store`) and /api/live (from `live`).
// `now_ms` is the clock for defaults and for `complete` (tests fix it).
void add_history_api(Routes& routes, store::Store& store, std::shared_ptr<LiveFeed> live,
                     std::function<std::int64_t()> now_ms = {});

}  // namespace kamstrup::web
