// emoncms output (its input API):
//
//   one poll:  GET {url}/input/post?node=kamstrup&time=1795443900
//                  &fulljson=%7B%22heat_energy%22%3A55.006%2C%22volume%22%3A1875.56%7D
//   a backlog: POST {url}/input/bulk   data=[[1795443900,"kamstrup",{"heat_energy":55.006},
//                  {"volume":1875.56}],[1795443960,...]]&time=0   (form-encoded)
//   both with  Authorization: Bearer KEY   (emoncms reads the API key there; never in the URL)
//
// - fulljson: {"heat_energy":55.006,"volume":1875.56}, the registers with a number, each as
//   the exact decimal text (a JSON number token; emoncms inputs are numeric, so text-only
//   registers are left out, and a poll without any number sends nothing).
// - time: the poll's read time in Unix seconds (emoncms' resolution), so a replayed backlog
//   lands at the time it was read, not the time it arrived.
// - node: explicit per meter in `nodes`; otherwise the first configured meter's inputs go to
//   `node` (as they always did for a single meter) and every other meter's to "<node>_<meter>",
//   so adding a meter never renames another's inputs.
// - Accepted = HTTP 2xx and the body "ok" (input/post) or {"success": true}; emoncms reports
//   errors as HTTP 200 with another body ("Error: ...", {"success": false, ...}), which
//   becomes a SinkError with that body (retried). An HTTP 4xx that refuses the data
//   (http::classify) → SinkRejected (skipped by the fan-out). The apikey is never shown in
//   error messages.
#pragma once

#include <chrono>
#include <functional>
#include <span>
#include <string>

#include "config/keys.hpp"
#include "sinks/http_client.hpp"
#include "sinks/sink.hpp"

namespace kamstrup::sinks {

// The `emoncms:` section.
struct EmoncmsConfig {
  std::string url;  // e.g. http://emonpi.local/emoncms (the input/post path is appended)
  config::Secret apikey;
  std::string node = "kamstrup";
  std::vector<std::pair<std::string, std::string>> nodes;  // meter -> node, explicit
  std::string first_meter;   // derived: the first configured meter (gets `node` itself)
  http::ClientOptions http;  // timeout, connect_timeout, ca_file, tls_insecure, proxy, no_proxy
  bool operator==(const EmoncmsConfig&) const = default;
};

const config::Table<EmoncmsConfig>& emoncms_keys();

// The input/bulk data of several polls: [[unix_seconds, "node", {"name": value}, ...], ...]
// (one object per input: emoncms reads only the first key of each), or "" when no poll has a
// number.
std::string emoncms_bulk(std::span<const store::Poll> polls,
                         const std::function<std::string(const std::string&)>& node_for);

class EmoncmsSink : public Sink {
 public:
  explicit EmoncmsSink(EmoncmsConfig config);
  [[nodiscard]] std::string id() const override { return "emoncms"; }
  [[nodiscard]] std::string probe_url() const override { return cfg_.url; }
  void deliver(std::span<const store::Poll> polls) override;

  // The node a meter's inputs go to.
  [[nodiscard]] std::string node_for(const std::string& meter) const;

 private:
  void send(const std::string& method, const std::string& path, const std::string& query,
            const std::string& body, const std::string& what);

  EmoncmsConfig cfg_;
  std::string base_;
  http::HttpClient client_;
};

// {"heat_energy":55.006,...}: the poll's numeric registers, or "" when it has none.
std::string emoncms_fulljson(const store::Poll& poll);

}  // namespace kamstrup::sinks
