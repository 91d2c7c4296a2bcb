// `kamstrup decode`: captured frame bytes in, the decoded message out.
#include <iostream>
#include <string>

#include "cli/common.hpp"
#include "kmp/catalogue.hpp"
#include "kmp/frame.hpp"
#include "kmp/messages.hpp"
#include "meter/report.hpp"

namespace kamstrup::cli {

namespace {

using text::json_quote;

// Hex digits with optional spaces; throws ExitCode(2) naming the first bad position (1-based,
// counting characters of the joined input).
std::vector<std::uint8_t> parse_hex(const std::string& text) {
  std::vector<std::uint8_t> out;
  int pending = -1;
  std::size_t digits = 0;
  for (std::size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    if (c == ' ' || c == '\t' || c == ':') continue;
    int v = -1;
    if (c >= '0' && c <= '9') v = c - '0';
    if (c >= 'a' && c <= 'f') v = c - 'a' + 10;
    if (c >= 'A' && c <= 'F') v = c - 'A' + 10;
    if (v < 0) {
      throw ExitCode(kExitUsage, "malformed hex: '" + std::string(1, c) + "' at position " +
                                     std::to_string(i + 1) + " is not a hex digit");
    }
    ++digits;
    if (pending < 0) {
      pending = v;
    } else {
      out.push_back(static_cast<std::uint8_t>(pending * 16 + v));
      pending = -1;
    }
  }
  if (pending >= 0) {
    throw ExitCode(kExitUsage, "malformed hex: odd number of hex digits (" +
                                   std::to_string(digits) + "); the last byte is incomplete");
  }
  if (out.empty()) throw ExitCode(kExitUsage, "malformed hex: no bytes given");
  return out;
}

std::string date_text(std::uint32_t yymmdd) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "20%02u-%02u-%02u", yymmdd / 10000 % 100, yymmdd / 100 % 100,
                yymmdd % 100);
  return buf;
}
std::string time_text(std::uint32_t hhmmss) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "%02u:%02u:%02u", hhmmss / 10000 % 100, hhmmss / 100 % 100,
                hhmmss % 100);
  return buf;
}

struct Decoded {
  bool ok = false;
  std::string json;
  std::string text;
};

Decoded decode_one(const std::vector<std::uint8_t>& wire) {
  Decoded d;
  auto fail = [&](kmp::Error e) {
    d.json = "{\"kind\": \"invalid\", \"error\": " + json_quote(kmp::to_string(e)) + "}";
    d.text = "invalid frame: " + std::string(kmp::to_string(e));
    return d;
  };
  auto frame = kmp::decode_frame(wire);
  if (!frame.ok()) return fail(frame.error());
  const kmp::Frame& f = *frame;
  if (f.is_ack) {
    d.ok = true;
    d.json = "{\"kind\": \"ack\"}";
    d.text = "ACK";
    return d;
  }
  std::string head = "\"cid\": " + std::to_string(f.cid) + ", \"dst\": " + std::to_string(f.dst);
  if (f.direction == kmp::Direction::ToMeter) {
    auto req = kmp::decode_request(f);
    if (!req.ok()) return fail(req.error());
    std::string body;
    std::string text = "request cid " + std::to_string(f.cid);
    if (const auto* g = std::get_if<kmp::GetRegisterRequest>(&*req)) {
      body = ", \"register_ids\": [";
      text = "GetRegister request:";
      for (std::size_t i = 0; i < g->ids.size(); ++i) {
        body += (i ? ", " : "") + std::to_string(g->ids[i]);
        text += " " + kmp::register_name(g->ids[i]) + " (" + std::to_string(g->ids[i]) + ")";
      }
      body += "]";
    } else if (std::holds_alternative<kmp::GetTypeRequest>(*req)) {
      text = "GetType request";
    } else if (std::holds_alternative<kmp::GetSerialNoRequest>(*req)) {
      text = "GetSerialNo request";
    } else if (const auto* c = std::get_if<kmp::SetClockRequest>(&*req)) {
      body = ", \"date\": " + json_quote(date_text(c->yymmdd)) +
             ", \"time\": " + json_quote(time_text(c->hhmmss));
      text = "SetClock request: " + date_text(c->yymmdd) + " " + time_text(c->hhmmss);
    } else if (const auto* p = std::get_if<kmp::PutRegisterRequest>(&*req)) {
      body = ", \"register_id\": " + std::to_string(p->id) +
             ", \"unit_code\": " + std::to_string(p->unit_code);
      auto v = kmp::decode_value(p->unit_code, p->siex, p->mantissa);
      if (v.ok() && v->number) body += ", \"value\": " + v->number->to_string();
      text = "PutRegister request: register " + std::to_string(p->id);
    }
    d.ok = true;
    d.json = "{\"kind\": \"request\", " + head + body + "}";
    d.text = text;
    return d;
  }
  if (f.cid == kmp::kCidGetType) {
    auto t = kmp::decode_type_response(f);
    if (!t.ok()) return fail(t.error());
    d.ok = true;
    d.json = "{\"kind\": \"response\", " + head +
             ", \"meter_type\": " + std::to_string(t->meter_type) +
             ", \"sw_revision\": " + json_quote(t->sw_revision) + "}";
    d.text = "GetType response: meter type " + std::to_string(t->meter_type) + ", software " +
             t->sw_revision;
    return d;
  }
  if (f.cid == kmp::kCidGetSerialNo) {
    auto s = kmp::decode_serial_response(f);
    if (!s.ok()) return fail(s.error());
    d.ok = true;
    d.json =
        "{\"kind\": \"response\", " + head + ", \"serial\": " + std::to_string(s->serial) + "}";
    d.text = "GetSerialNo response: serial " + std::to_string(s->serial);
    return d;
  }
  if (f.cid == kmp::kCidGetRegister) {
    auto r = kmp::decode_register_response(f);
    if (!r.ok()) return fail(r.error());
    std::string regs, failed;
    d.text = "GetRegister response:";
    if (r->blocks.empty()) d.text += " (no registers)";
    for (const auto& b : r->blocks) {
      std::string name = kmp::register_name(b.id);
      if (b.value.ok()) {
        regs += (regs.empty() ? "" : ", ") + meter::register_json(b.id, name, *b.value);
        d.text += "\n  " + name + " (" + std::to_string(b.id) +
                  ") = " + meter::display_value(*b.value) + " " + b.value->unit;
      } else {
        failed += std::string(failed.empty() ? "" : ", ") + "{\"id\": " + std::to_string(b.id) +
                  ", \"error\": " + json_quote(kmp::to_string(b.value.error())) + "}";
        d.text += "\n  " + name + " (" + std::to_string(b.id) +
                  "): " + std::string(kmp::to_string(b.value.error()));
      }
    }
    d.ok = true;
    d.json = "{\"kind\": \"response\", " + head + ", \"registers\": [" + regs + "], \"failed\": [" +
             failed + "]}";
    return d;
  }
  // A reply we have no decoder for yet: report its framing only.
  std::string hex = kmp::to_hex(f.data);
  d.ok = true;
  d.json = "{\"kind\": \"response\", " + head + ", \"data\": " + json_quote(hex) + "}";
  d.text = "response cid " + std::to_string(f.cid) + ", data " + hex;
  return d;
}

}  // namespace

void add_decode_command(CLI::App& app) {
  auto* cmd = app.add_subcommand(
      "decode",
      "Decode a captured KMP frame given as hex (spaces allowed; the arguments are joined into "
      "one frame), or with `-` one frame per line from stdin. Exit: 0 decoded, 1 an invalid "
      "frame (its typed error is printed), 2 malformed hex.");
  auto hex = std::make_shared<std::vector<std::string>>();
  auto json = std::make_shared<bool>(false);
  cmd->add_option("HEX", *hex, "Frame bytes in hex, e.g. 403F10003C0304430000D6DE03220D")
      ->required();
  cmd->add_flag("--json", *json, "Print JSON");
  cmd->callback([hex, json] {
    auto print = [&](const Decoded& d) { std::cout << (*json ? d.json : d.text) << "\n"; };
    if (hex->size() == 1 && (*hex)[0] == "-") {
      bool all_ok = true;
      std::string line;
      std::size_t lineno = 0;
      while (std::getline(std::cin, line)) {
        ++lineno;
        if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
        if (!line.empty() && line.back() == '\r') line.pop_back();
        std::vector<std::uint8_t> bytes;
        try {
          bytes = parse_hex(line);
        } catch (const ExitCode& e) {
          throw ExitCode(e.code, "line " + std::to_string(lineno) + ": " + e.what());
        }
        auto d = decode_one(bytes);
        all_ok = all_ok && d.ok;
        print(d);
      }
      if (!all_ok) throw ExitCode(kExitPartial, "");
      return;
    }
    std::string joined;
    for (const auto& h : *hex) joined += h + " ";
    auto d = decode_one(parse_hex(joined));
    print(d);
    if (!d.ok) throw ExitCode(kExitPartial, "");
  });
}

}  // namespace kamstrup::cli
