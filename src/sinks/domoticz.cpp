#include "sinks/domoticz.hpp"

#include <nlohmann/json.hpp>

#include <optional>
#include <utility>

namespace kamstrup::sinks {

DomoticzSink::DomoticzSink(DomoticzConfig config)
    : cfg_(std::move(config)),
      base_(http::trim_base_url(cfg_.url)),
      client_(http::ClientOptions{.timeout = cfg_.timeout}) {}

const int* DomoticzSink::find_idx(const std::string& meter, const std::string& reg) const {
  for (const auto& [m, regs] : cfg_.devices) {
    if (m != meter) continue;
    for (const auto& [name, idx] : regs)
      if (name == reg) return &idx;
  }
  return nullptr;
}

void DomoticzSink::deliver(std::span<const store::Poll> polls) {
  // The newest value per device, in the order the devices first appear.
  struct Update {
    int idx;
    std::string svalue;
  };
  std::vector<Update> updates;
  for (const auto& p : polls) {
    for (const auto& v : p.values) {
      const int* idx = find_idx(p.meter, v.name);
      if (idx == nullptr) continue;
      const std::string& s = v.value.empty() ? v.text : v.value;
      if (s.empty()) continue;
      bool found = false;
      for (auto& u : updates) {
        if (u.idx == *idx) {
          u.svalue = s;
          found = true;
        }
      }
      if (!found) updates.push_back({*idx, s});
    }
  }

  std::optional<http::BasicAuth> auth;
  if (!cfg_.username.empty()) auth = http::BasicAuth{cfg_.username, cfg_.password};
  for (const auto& u : updates) {
    std::string url = base_ + "/json.htm?type=command&param=udevice&idx=" + std::to_string(u.idx) +
                      "&nvalue=0&svalue=" + http::url_encode(u.svalue);
    http::Response r;
    try {
      r = client_.request("GET", url, {}, {}, auth);
    } catch (const http::HttpError& e) {
      throw SinkError(std::string("domoticz: ") + e.what());
    }
    std::string where = "domoticz: GET " + http::redact_url(url) + ": ";
    http::check_status(where, r);
    auto json = nlohmann::json::parse(r.body, nullptr, /*allow_exceptions=*/false);
    if (!json.is_object() || !json.contains("status") || json["status"] != "OK")
      throw SinkError(where + "device idx " + std::to_string(u.idx) +
                      " not updated: " + http::body_excerpt(r.body));
  }
}

}  // namespace kamstrup::sinks
