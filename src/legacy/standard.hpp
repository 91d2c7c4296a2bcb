// The legacy MULTICAL 66/III/401/41 optical protocol (docs/protocol.md §6.1-§6.4), pure: requests,
// a bounded line receiver, field validation, the program number ABCCC and the scale it implies,
// and the /#1 and /#2 replies as exact values under the KMP register names.
//
// Wire: requests `/#1` ... `/#9`, `/#B`, `/#C`, `/#D`, `/#J` at 300 baud 7E2, sent without a
// terminator (Kamstrup's VB example, pynuts, golles; `\r` and `\r\n` also work); the reply comes
// at 1200 baud 7E1/7E2 as ASCII digit fields separated by spaces, each line ending with CR.
//
// Scale (docs/protocol.md §6.4), per meter, from the program number ABCCC in field 7 of /#2:
//   B   = energy unit: 2 GJ, 3 kWh, 4 MWh, 5 Gcal
//   CCC = flow-sensor code; its row gives the decimals of every quantity:
//     116 119 136 197 198 (qp 0.6-3.0)   kWh 0, MWh/Gcal 3, GJ 2; m³ 2; l/h 0;     kW 1
//     120 137 151 178 179 (qp 3.5-25)    MWh/Gcal 2, GJ 1;        m³ 1; l/h 0;     kW 1
//     158 (qp 40)                        MWh/Gcal 1, GJ 0;        m³ 0; m³/h 2;    kW 0
//     147 170 180 (qp 60-150)            MWh/Gcal 1, GJ 0;        m³ 0; m³/h 2;    MW 3
//   Temperatures (T1, T2, ΔT) always have 2 decimals, hours and info none; peak power uses the
//   power decimals. A code outside this table is UnknownProgram: the user sets the scale in the
//   configuration instead (parse_scale), never a guess.
//
// Scale text (configuration, `--scale`): four comma-separated `quantity=UNIT:DECIMALS` items,
//   energy=GJ|kWh|MWh|Gcal   volume=m3   power=kW|MW   flow=l/h|m3/h   decimals 0..6, e.g.
//   "energy=MWh:3,volume=m3:2,power=kW:1,flow=l/h:0"   (what scale_to_string prints)
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "kmp/decimal.hpp"
#include "kmp/messages.hpp"
#include "legacy/error.hpp"

namespace kamstrup::legacy {

// ---- requests ------------------------------------------------------------------------------

// '1'..'9', 'B', 'C', 'D', 'J'.
bool is_request_code(char c);
// The bytes to send for a request code: "1", "#1" or "/#1" → "/#1" (no terminator). Lower-case
// letters are accepted ("b" → "/#B"). BadRequest for anything else.
Result<std::string> request_bytes(std::string_view code);

// IEC 62056-21 mode A: the sign-on request and the acknowledgement some MULTICALs want after
// the identification line (MC III, MC41/401 per [ML] and the volkszaehler wiki).
inline constexpr std::string_view kIecRequest = "/?!\r\n";
inline constexpr std::string_view kIecAck =
    "\x06"
    "000\r\n";

// What a meter hears (the simulator): bytes in, one event per complete request. `/#X` is
// complete at its code character (a terminator, if any, is ignored), `/?!` at the '!', the ACK
// at its third character. Bit 7 is stripped; anything else is skipped.
class RequestScanner {
 public:
  enum class Event : std::uint8_t { None, Standard, Iec, Ack };
  Event feed(std::uint8_t byte);
  // The code of the last Standard event ('1'..'9', 'B', 'C', 'D', 'J').
  [[nodiscard]] char code() const { return code_; }
  void reset() { state_ = 0; }

 private:
  int state_ = 0;
  int ack_digits_ = 0;
  char code_ = 0;
};

// ---- the reply line receiver ---------------------------------------------------------------

// Collects one CR-terminated line. LF is ignored; NUL (a character whose parity check failed)
// is kept, so the line fails validation instead of silently losing a digit. Bit 7 is
// stripped (a 7-bit line read as 8 bits delivers the parity bit), and a line longer than the
// cap is reported once as Overlong and dropped up to its CR.
class LineReceiver {
 public:
  static constexpr std::size_t kMaxLine = 256;
  enum class Event : std::uint8_t { None, Line, Overlong };
  Event feed(std::uint8_t byte);
  // The last complete line, without its CR.
  [[nodiscard]] std::string_view line() const { return line_; }
  // Characters of a line not yet terminated.
  [[nodiscard]] bool in_line() const { return !partial_.empty() || overlong_; }
  [[nodiscard]] std::string_view partial() const { return partial_; }
  void reset();

 private:
  std::string partial_;
  std::string line_;
  bool overlong_ = false;
};

// ---- fields --------------------------------------------------------------------------------

struct Field {
  std::string_view text;  // the digits as sent (leading zeros kept)
  kmp::uint128 value = 0;
};

// Splits a reply line into exactly `count` space-separated fields of at least `min_width` and
// at most 20 digits each. Leading/trailing spaces are ignored, runs of spaces separate. Errors:
// Empty, MissingField, ExtraField, ShortField, LongField, BadDigit — never a shifted value.
Result<std::vector<Field>> split_fields(std::string_view line, std::size_t count,
                                        std::size_t min_width = 7);

// ---- program number and scale --------------------------------------------------------------

struct ProgramNumber {
  unsigned a = 0;    // flow-sensor placement (4 = inlet ... ), not used for scaling
  unsigned b = 0;    // energy unit
  unsigned ccc = 0;  // flow-sensor code
  std::string text;  // the field as sent ("0044119")
  bool operator==(const ProgramNumber&) const = default;
};
// The last five digits of the /#2 field are ABCCC; digits before them must be zeros.
Result<ProgramNumber> parse_program_number(std::string_view field);

struct QuantityScale {
  std::string unit;  // symbol as the KMP unit table spells it ("MWh", "m³", "kW", "l/h")
  int decimals = 0;
  bool operator==(const QuantityScale&) const = default;
};
struct Scale {
  QuantityScale energy{"MWh", 3};
  QuantityScale volume{"m³", 2};
  QuantityScale power{"kW", 1};
  QuantityScale flow{"l/h", 0};
  bool operator==(const Scale&) const = default;
};

// The scale of a program number; UnknownProgram when B or CCC is outside the table (or the
// table has no decimals for that B with that CCC, e.g. kWh on a qp 40 sensor).
Result<Scale> scale_for(const ProgramNumber& program);
// A scale from its text (see the header comment); BadScaleSpec when malformed or incomplete.
Result<Scale> parse_scale(std::string_view text);
std::string scale_to_string(const Scale& scale);

// ---- values --------------------------------------------------------------------------------

// One quantity of a reply, under its catalogue name: `id` is the KMP register id, or -1 for a
// quantity KMP has no register for (peak_power, customer_number, ...). The value has the KMP
// unit code and symbol, an exact number and, for dates, text.
struct Value {
  std::int32_t id = -1;
  std::string name;
  kmp::RegisterValue value;
};

// The /#1 reply: ten fields (energy, volume, hours, T1, T2, T1-T2, power, flow, peak power,
// info), scaled exactly.
Result<std::vector<Value>> decode_standard1(std::string_view line, const Scale& scale);

// The /#2 reply: customer number, TA2, TL2, TA3, TL3, In-A, In-B, program number ABCCC,
// DDEFFGG, date YYMMDD.
struct Standard2 {
  ProgramNumber program;
  std::vector<Value> values;  // customer_number, tariff2/3 (only with a scale), tariff limits,
                              // input_a/b, program_number, config_number_legacy, date
};
// `scale` null: the tariff registers (energy, scale-dependent) are left out.
Result<Standard2> decode_standard2(std::string_view line, const Scale* scale = nullptr);

// ---- logger replies (/#5-/#9, /#J) -------------------------------------------------------------

// One record of a logger reply: its date and the raw digit fields after it (the meter documents
// no scale for them: /#6 and /#7 fields are 5 digits wide). `names` of the LogTable name them.
struct LogRow {
  unsigned yymmdd = 0;
  std::string date;                  // "2017-10-28"
  std::vector<kmp::uint128> fields;  // in reply order, the date left out
};
struct LogTable {
  char code = 0;
  std::vector<std::string> names;  // one per field of a row ("field_<n>" where the layout is
                                   // not documented)
  std::vector<LogRow> rows;        // in reply order (newest first on the meters seen)
};
// Parses the lines of a logger reply. Layouts (docs/protocol.md §6.2):
//   /#6 daily, /#7 hourly: date E1-E2 Mass1 Mass2 In-A In-B P1mid P2mid T1mid T3mid T2mid Info
//                          (12 fields of at least 5 digits)
//   /#8 monthly, /#9 yearly: date E1-E2 Vol1 TA2 TA3 In-A In-B then peak, Vol2, E_cold, Info
//                          (the peak part varies: any count ≥ 4, the same on every line)
//   /#5 monthly data: a header line like /#3 (9 fields), then date-first lines (same count)
//   /#J info logger: info date clock E1-E2 (4 fields)
// Every line must have the same field count and a valid YYMMDD date; BadRequest for another
// code, MissingField for no record at all.
Result<LogTable> decode_log(char code, std::span<const std::string> lines);

// ---- builders (the simulator, property tests) ------------------------------------------------

// The quantities of a /#1 reply. Each is written with its scale's decimals, truncated toward
// zero (the meter's display resolution), negative values as 0, wrapping at 10^width like the
// meter's counters.
struct Standard1 {
  kmp::Decimal heat_energy, volume, hour_counter, temp1, temp2, temp_diff, power, flow, peak_power,
      info;
};
// One reply line, CR included: fields of `width` digits (7 on a MULTICAL 66).
std::string encode_standard1(const Standard1& values, const Scale& scale, std::size_t width = 7);
// Any fields as one reply line, CR included, each zero-padded to at least `width` digits.
std::string encode_fields(std::span<const kmp::uint128> fields, std::size_t width = 7);
// `value` with exactly `decimals` decimals, truncated toward zero, as an integer of digits.
kmp::uint128 digits_at(const kmp::Decimal& value, int decimals);

// The KMP unit code for a symbol ("MWh" → 3); 0 (no unit) for "" or a symbol outside the table.
std::uint8_t unit_code_of(std::string_view symbol);
// A numeric value with its unit: mantissa `digits`, exponent -decimals.
kmp::RegisterValue make_value(kmp::uint128 digits, int decimals, std::string_view unit);

}  // namespace kamstrup::legacy
