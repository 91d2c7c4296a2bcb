#include "meter/report.hpp"

#include <algorithm>
#include <chrono>

#include "text/time.hpp"

namespace kamstrup::meter {

using text::json_quote;

std::string id_json(std::int32_t id) {
  return id < 0 ? std::string("null") : std::to_string(id);
}

std::string id_text(std::int32_t id) {
  return id < 0 ? std::string("-") : std::to_string(id);
}

std::string register_json(std::int32_t id, const std::string& name, const kmp::RegisterValue& v,
                          const std::optional<std::vector<kmp::InfoFlag>>& flags) {
  const std::string number = v.number ? v.number->to_string() : std::string();
  std::vector<std::string> names;
  if (flags) {
    for (const auto& f : *flags) names.push_back(f.name);
  }
  return text::reading_json({id, name, number, v.unit, v.text, flags ? &names : nullptr});
}

std::optional<std::vector<kmp::InfoFlag>> info_flags(const Reading& rd, kmp::InfoCodes table) {
  constexpr std::int32_t kInfoCode = 99;  // register 0x0063, also the /#1 reply's info field
  if (rd.id != kInfoCode || !rd.value || !rd.value->number) return std::nullopt;
  return kmp::decode_info_code(table, *rd.value->number);
}

std::string info_flags_text(const std::vector<kmp::InfoFlag>& flags, kmp::InfoCodes table) {
  std::string names;
  for (const auto& f : flags) names += (names.empty() ? "" : ", ") + f.name;
  if (names.empty()) names = "none";
  return names + (table == kmp::InfoCodes::Unknown
                      ? " (bits only: the meter's model is not known)"
                      : " (" + std::string(kmp::info_codes_title(table)) + " info codes)");
}

std::string read_result_json(std::string_view port, std::string_view time, const ReadResult& r,
                             std::string_view protocol) {
  std::string regs, unsupported, failed;
  for (const auto& rd : r.readings) {
    if (rd.value) {
      if (!regs.empty()) regs += ", ";
      regs += register_json(rd.id, rd.name, *rd.value, info_flags(rd, r.info_codes));
    } else if (rd.unsupported()) {
      if (!unsupported.empty()) unsupported += ", ";
      unsupported += rd.id < 0 ? json_quote(rd.name) : std::to_string(rd.id);
    } else {
      if (!failed.empty()) failed += ", ";
      failed += "{\"id\": " + id_json(rd.id) + ", \"name\": " + json_quote(rd.name) +
                ", \"error\": " + json_quote(rd.error()) + "}";
    }
  }
  return "{\"port\": " + json_quote(port) + ", \"time\": " + json_quote(time) +
         ", \"protocol\": " + json_quote(protocol) + ", \"registers\": [" + regs +
         "], \"unsupported\": [" + unsupported + "], \"failed\": [" + failed + "]}";
}

std::string display_value(const kmp::RegisterValue& v) {
  if (!v.text.empty()) return v.text;
  if (v.number) return v.number->to_string();
  return "";
}

namespace {
// Display width of UTF-8 text: count code points, not bytes ("°C" is 2 wide, 3 bytes).
std::size_t width(std::string_view s) {
  return static_cast<std::size_t>(std::count_if(
      s.begin(), s.end(), [](char c) { return (static_cast<unsigned char>(c) & 0xC0) != 0x80; }));
}
std::string pad(std::string s, std::size_t w) {
  std::size_t have = width(s);
  if (have < w) s.append(w - have, ' ');
  return s;
}
std::string lpad(std::string s, std::size_t w) {
  std::size_t have = width(s);
  if (have < w) s.insert(0, w - have, ' ');
  return s;
}
}  // namespace

std::string read_result_table(const ReadResult& r) {
  struct Row {
    std::string name, id, value, unit;
    std::string below;  // a line under the row (the info code's flags), "" for none
  };
  std::vector<Row> rows;
  std::string notes;
  for (const auto& rd : r.readings) {
    if (rd.value) {
      const auto flags = info_flags(rd, r.info_codes);
      rows.push_back({rd.name, id_text(rd.id), display_value(*rd.value), rd.value->unit,
                      flags ? "  flags: " + info_flags_text(*flags, r.info_codes) : ""});
    } else if (rd.unsupported()) {
      notes += rd.name + " (" + id_text(rd.id) + "): not supported by this meter\n";
    } else {
      notes += rd.name + " (" + id_text(rd.id) + "): failed: " + std::string(rd.error()) + "\n";
    }
  }
  std::size_t wn = 8, wi = 2, wv = 5;
  for (const auto& row : rows) {
    wn = std::max(wn, width(row.name));
    wi = std::max(wi, width(row.id));
    wv = std::max(wv, width(row.value));
  }
  std::string out;
  if (!rows.empty()) {
    out += pad("register", wn) + "  " + lpad("id", wi) + "  " + lpad("value", wv) + "  unit\n";
    for (const auto& row : rows) {
      out += pad(row.name, wn) + "  " + lpad(row.id, wi) + "  " + lpad(row.value, wv) + "  " +
             row.unit + "\n";
      if (!row.below.empty()) out += row.below + "\n";
    }
  }
  return out + notes;
}

std::string utc_now_rfc3339() {
  const auto now =
      std::chrono::time_point_cast<std::chrono::milliseconds>(std::chrono::system_clock::now());
  return text::utc_text(now.time_since_epoch().count());
}

}  // namespace kamstrup::meter
