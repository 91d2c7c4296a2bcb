// KMP application layer (docs/protocol.md §2.3, §3; official doc 5512-447 §6). Pure encode/decode
// of CID + data; framing is in frame.hpp.
//
// GetRegister (0x10) request data:  n (1..8) · n × RID (16 bit BE)
// GetRegister reply data:           per *supported* register, in request order:
//                                   RID (16) · unit (8) · NoB (8) · SiEx (8) · mantissa (NoB, BE)
//   SiEx: bit 7 sign of value, bit 6 sign of exponent, bits 5..0 exponent magnitude.
//   Unsupported registers are omitted, so replies are matched by RID, never by position.
// GetType (0x01) reply:     meter type (16) · software revision (16: letter 1=A.., number)
// GetSerialNo (0x02) reply: serial number (32, unsigned BE)
// SetClock (0x09) request:  date YYMMDD (32) · time HHMMSS (32), decimal digits as binary ints
// PutRegister (0x11):       password (16) · RID (16) · unit · NoB · SiEx · value
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <variant>
#include <vector>

#include "kmp/decimal.hpp"
#include "kmp/error.hpp"
#include "kmp/frame.hpp"
#include "kmp/units.hpp"

namespace kamstrup::kmp {

inline constexpr std::uint8_t kCidGetType = 0x01;
inline constexpr std::uint8_t kCidGetSerialNo = 0x02;
inline constexpr std::uint8_t kCidSetClock = 0x09;
inline constexpr std::uint8_t kCidGetRegister = 0x10;
inline constexpr std::uint8_t kCidPutRegister = 0x11;
inline constexpr std::size_t kMaxRegistersPerRequest = 8;
inline constexpr std::size_t kMaxMantissaBytes = 16;

// A decoded register value. Numbers keep their exact mantissa/exponent; dates and times also get
// readable text; ASCII and RTC-type values have no number, only text.
struct RegisterValue {
  std::uint8_t unit_code = 0;
  std::string unit;               // symbol from the unit table
  std::optional<Decimal> number;  // absent for ASCII and RTC-type units
  std::string text;               // "2022-01-12", "20:02:43", ASCII text, RTC bytes as hex
  std::vector<std::uint8_t> raw;  // mantissa bytes as received
  std::uint8_t siex = 0;
};

struct RegisterBlock {
  std::uint16_t id = 0;
  Result<RegisterValue> value = Error::Malformed;  // UnknownUnit / BadLength for that block only
};

// Decodes one value from its wire fields (unit code, SiEx, mantissa bytes).
Result<RegisterValue> decode_value(std::uint8_t unit_code, std::uint8_t siex,
                                   std::span<const std::uint8_t> mantissa);

// Encodes a number for the wire with a fixed NoB and the value's own exponent.
// Fails with BadLength when the mantissa does not fit NoB bytes or |exponent| > 63.
struct EncodedValue {
  std::uint8_t siex;
  std::vector<std::uint8_t> mantissa;
};
Result<EncodedValue> encode_value(const Decimal& d, std::size_t nob);

// ---- Requests -------------------------------------------------------------------------------
struct GetTypeRequest {
  bool operator==(const GetTypeRequest&) const = default;
};
struct GetSerialNoRequest {
  bool operator==(const GetSerialNoRequest&) const = default;
};
struct GetRegisterRequest {
  std::vector<std::uint16_t> ids;  // 1..8
  bool operator==(const GetRegisterRequest&) const = default;
};
struct SetClockRequest {
  std::uint32_t yymmdd = 0;  // 2007-07-30 → 70730
  std::uint32_t hhmmss = 0;  // 16:15:57 → 161557
  bool operator==(const SetClockRequest&) const = default;
};
struct PutRegisterRequest {
  std::uint16_t password = 0;
  std::uint16_t id = 0;
  std::uint8_t unit_code = 0;
  std::uint8_t siex = 0;
  std::vector<std::uint8_t> mantissa;
  bool operator==(const PutRegisterRequest&) const = default;
};
using Request = std::variant<GetTypeRequest, GetSerialNoRequest, GetRegisterRequest,
                             SetClockRequest, PutRegisterRequest>;

// Wire bytes for a request to `dst`. A GetRegister with 0 or more than 8 ids is Malformed.
Result<std::vector<std::uint8_t>> encode_request(const Request& req, std::uint8_t dst = kDstMeter);
// Application-layer view of a request frame (used by the simulator and `kamstrup decode`).
Result<Request> decode_request(const Frame& frame);
std::uint8_t cid_of(const Request& req);

// ---- Responses ------------------------------------------------------------------------------
struct TypeResponse {
  std::uint16_t meter_type = 0;
  std::string sw_revision;  // "F1"; "" when the meter sends 00 00
  std::uint16_t sw_raw = 0;
};
struct SerialResponse {
  std::uint32_t serial = 0;
};
struct RegisterResponse {
  std::vector<RegisterBlock> blocks;  // in the meter's order
  [[nodiscard]] const RegisterBlock* find(std::uint16_t id) const;
};

Result<TypeResponse> decode_type_response(const Frame& frame);
Result<SerialResponse> decode_serial_response(const Frame& frame);
// Parses a GetRegister reply. A block overrunning the frame makes the whole reply Truncated;
// an unknown unit or bad NoB fails only that block. Zero blocks is a valid reply.
Result<RegisterResponse> decode_register_response(const Frame& frame);

// Builders for the reply side (simulator, property tests).
struct OutgoingRegister {
  std::uint16_t id = 0;
  std::uint8_t unit_code = 0;
  std::uint8_t siex = 0;
  std::vector<std::uint8_t> mantissa;
};
std::vector<std::uint8_t> encode_register_response(std::span<const OutgoingRegister> regs,
                                                   std::uint8_t dst = kDstMeter);
std::vector<std::uint8_t> encode_type_response(std::uint16_t meter_type, std::uint16_t sw_revision,
                                               std::uint8_t dst = kDstMeter);
std::vector<std::uint8_t> encode_serial_response(std::uint32_t serial,
                                                 std::uint8_t dst = kDstMeter);

// A model name for GetType's meter type where a source names it (docs/protocol.md §2.7), else "".
std::string meter_type_name(std::uint16_t meter_type);

// "F1" from 0x0601; "" for 0x0000.
std::string sw_revision_text(std::uint16_t raw);

}  // namespace kamstrup::kmp
