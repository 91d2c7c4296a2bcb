// Typed outcomes of the pure legacy core (MULTICAL 66/III/401 `/#n` and IEC 62056-21 mode A).
// Never thrown: returned in Result<T>, like kmp::Result.
#pragma once

#include <cstdint>
#include <string_view>

#include "kmp/error.hpp"

namespace kamstrup::legacy {

enum class Error : std::uint8_t {
  Empty,             // no characters at all where a reply line was expected
  MissingField,      // fewer space-separated fields than the reply has
  ExtraField,        // more fields than the reply has
  ShortField,        // a field with fewer digits than its minimum width
  LongField,         // a field with more digits than any meter sends (> 20)
  BadDigit,          // a character other than 0-9 inside a numeric field
  Overlong,          // more characters than the receiver's cap without a terminator
  BadProgramNumber,  // the /#2 program-number field is not ABCCC digits
  UnknownProgram,    // a B (energy unit) or CCC (flow sensor) code outside the table
  BadScaleSpec,      // a scale string from the config that does not parse
  BadDate,           // a date field that is not YYMMDD
  NoIdentification,  // IEC readout without the "/XXX..." identification line
  NoStx,             // IEC readout without STX before the data
  NoEtx,             // IEC data block without ETX (cut short)
  NoBcc,             // ETX without the block check character after it
  BadBcc,            // the block check character does not match (7-bit arithmetic sum)
  BadItem,           // an IEC data item that is not code(value[*unit])
  BadRequest,        // not one of the request codes /#1-/#9, /#B, /#C, /#D, /#J
};

constexpr std::string_view to_string(Error e) {
  switch (e) {
    case Error::Empty:
      return "Empty";
    case Error::MissingField:
      return "MissingField";
    case Error::ExtraField:
      return "ExtraField";
    case Error::ShortField:
      return "ShortField";
    case Error::LongField:
      return "LongField";
    case Error::BadDigit:
      return "BadDigit";
    case Error::Overlong:
      return "Overlong";
    case Error::BadProgramNumber:
      return "BadProgramNumber";
    case Error::UnknownProgram:
      return "UnknownProgram";
    case Error::BadScaleSpec:
      return "BadScaleSpec";
    case Error::BadDate:
      return "BadDate";
    case Error::NoIdentification:
      return "NoIdentification";
    case Error::NoStx:
      return "NoStx";
    case Error::NoEtx:
      return "NoEtx";
    case Error::NoBcc:
      return "NoBcc";
    case Error::BadBcc:
      return "BadBcc";
    case Error::BadItem:
      return "BadItem";
    case Error::BadRequest:
      return "BadRequest";
  }
  return "?";
}

// A value or an Error of the legacy set.
template <typename T>
using Result = kmp::Result<T, Error>;

}  // namespace kamstrup::legacy
