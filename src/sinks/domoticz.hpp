// Domoticz output: sets mapped virtual devices through the JSON API,
//
//   GET {url}/json.htm?type=command&param=udevice&idx=12&nvalue=0&svalue=55.006
//
// one request per mapped (meter, register), with HTTP basic auth when a username is set.
// Accepted = HTTP 2xx and a JSON answer with "status": "OK"; anything else (Domoticz answers
// "status": "ERR" for an unknown idx) → SinkError naming the endpoint and idx, retried; an
// HTTP 4xx that refuses the data (http::classify) → SinkRejected, skipped by the fan-out.
//
// svalue is the register's exact decimal text in the meter's unit (its text, e.g. a date, when
// it has no number), so a "Custom sensor" (or text) virtual device fits; registers not in the
// mapping are ignored.
//
// Domoticz has no timestamp parameter: it stamps every update with its arrival time. A batch
// of backlog (after an outage) therefore sends only the newest value per device, once, instead
// of replaying every old value as if it were current; a live poll is always sent.
#pragma once

#include <chrono>
#include <string>
#include <utility>
#include <vector>

#include "sinks/http_client.hpp"
#include "sinks/sink.hpp"

namespace kamstrup::sinks {

// Same field names as daemon::DomoticzSection.
struct DomoticzConfig {
  std::string url;  // e.g. http://127.0.0.1:8080
  std::string username, password;
  // meter name → register name → Domoticz device idx
  std::vector<std::pair<std::string, std::vector<std::pair<std::string, int>>>> devices;
  std::chrono::milliseconds timeout{10000};
};

class DomoticzSink : public Sink {
 public:
  explicit DomoticzSink(DomoticzConfig config);
  [[nodiscard]] std::string id() const override { return "domoticz"; }
  void deliver(std::span<const store::Poll> polls) override;

 private:
  [[nodiscard]] const int* find_idx(const std::string& meter, const std::string& reg) const;

  DomoticzConfig cfg_;
  std::string base_;
  http::HttpClient client_;
};

}  // namespace kamstrup::sinks
