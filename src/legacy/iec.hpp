// IEC 62056-21 (IEC 61107) mode A readout as Kamstrup meters give it (docs/protocol.md §6.5), pure.
//
//   reader → meter   "/?!" CR LF                                  (300 baud, 7E1/7E2)
//   meter  → reader  "/KAM 0 MC" CR LF                            identification line
//   reader → meter   [ACK "000" CR LF]                            MC III / MC41 / MC401 want it
//   meter  → reader  STX  "0.0(00054042)" CR LF  "6.8(0012345*GJ)" CR LF ... "!" CR LF  ETX  BCC
//
// BCC is Kamstrup's: the 7-bit arithmetic sum (mod 128) of every character after STX up to and
// including ETX — not the ISO 1155 XOR (vector IEC-1). Values use a decimal comma or point
// ("000018,3*kW" = 18.3 kW) and become exact decimals; units are normalised to the KMP symbols
// ("m3" → "m³").
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "kmp/decimal.hpp"
#include "legacy/error.hpp"
#include "legacy/standard.hpp"

namespace kamstrup::legacy {

inline constexpr char kStx = 0x02;
inline constexpr char kEtx = 0x03;

// 7-bit arithmetic sum of `block` (the characters after STX, ETX included).
std::uint8_t iec_bcc(std::string_view block);

struct IecItem {
  std::string code;                    // "6.8", "1.6*1", "0.0"
  std::string value_text;              // as sent: "0012345", "000018,3"
  std::string unit;                    // as sent: "GJ", "m3", "" when absent
  std::optional<kmp::Decimal> number;  // when value_text is digits with at most one , or .
};
// Same code, text and unit, and the same number representation (mantissa and exponent).
bool operator==(const IecItem& a, const IecItem& b);

struct IecReadout {
  std::string identification;  // "/KAM 685-382-OK-15" (no CR LF)
  std::vector<IecItem> items;
};

// Parses a complete readout: optional bytes before the identification (our echoed request
// "/?!" is skipped), the identification line, anything up to STX (an echoed ACK), the data
// block to ETX and the BCC. Bit 7 is stripped. Errors: NoIdentification, NoStx, NoEtx, NoBcc,
// BadBcc, BadItem, Overlong (more than IecReceiver::kMaxBytes).
Result<IecReadout> decode_iec_readout(std::string_view bytes);

// The readout a meter sends: identification CR LF, STX, one item per line, "!" after the last
// item, CR LF, ETX, BCC. Values are written as given in value_text (or from number with a
// decimal comma when value_text is empty).
std::string encode_iec_readout(std::string_view identification, std::span<const IecItem> items);

// An item from a decimal: "000018,3" for 18.3 with width 8.
IecItem make_iec_item(std::string code, const kmp::Decimal& number, std::string unit,
                      std::size_t width = 7);

// The readout's items as values under catalogue names (6.8 heat_energy, 6.26 volume,
// 6.31 hour_counter, 0.0 customer_number, 1.20 energy_in, 1.31 hour_counter, 1.6 max_power,
// ...); codes without a catalogue name become "iec_<code>" with id -1 ('.' and '*' as '_').
// Items without a number keep their text only.
std::vector<Value> iec_values(const IecReadout& readout);

// Collects a readout from the line, byte by byte (the session): skips everything before '/',
// skips an echoed "/?!" request, and completes at the character after ETX.
class IecReceiver {
 public:
  static constexpr std::size_t kMaxBytes = 2048;
  enum class Event : std::uint8_t { None, Identification, Complete, Overlong };
  Event feed(std::uint8_t byte);
  // Everything from the identification's '/' through the BCC, when Complete.
  [[nodiscard]] std::string_view bytes() const { return buf_; }
  [[nodiscard]] bool started() const { return state_ != State::Idle; }
  // Our own "/?!" request came back (optical echo).
  [[nodiscard]] bool saw_echo() const { return echo_; }
  void reset();

 private:
  enum class State : std::uint8_t { Idle, Ident, BeforeStx, Data, Bcc, Done };
  State state_ = State::Idle;
  std::string buf_;
  bool echo_ = false;
};

}  // namespace kamstrup::legacy
