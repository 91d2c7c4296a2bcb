#include "transport/detail.hpp"
#include "transport/port.hpp"

#include <cctype>

namespace kamstrup::transport {

namespace {

char parity_letter(Parity p) {
  switch (p) {
    case Parity::None:
      return 'N';
    case Parity::Even:
      return 'E';
    case Parity::Odd:
      return 'O';
  }
  return '?';
}

}  // namespace

std::string LineSettings::to_string() const {
  return std::to_string(baud) + ' ' + std::to_string(data_bits) + parity_letter(parity) +
         std::to_string(stop_bits);
}

std::optional<LineSettings> parse_frame_format(unsigned baud, const std::string& format) {
  if (baud == 0 || format.size() != 3) return std::nullopt;
  LineSettings s;
  s.baud = baud;
  if (format[0] < '5' || format[0] > '8') return std::nullopt;
  s.data_bits = static_cast<unsigned>(format[0] - '0');
  switch (std::toupper(static_cast<unsigned char>(format[1]))) {
    case 'N':
      s.parity = Parity::None;
      break;
    case 'E':
      s.parity = Parity::Even;
      break;
    case 'O':
      s.parity = Parity::Odd;
      break;
    default:
      return std::nullopt;
  }
  if (format[2] != '1' && format[2] != '2') return std::nullopt;
  s.stop_bits = static_cast<unsigned>(format[2] - '0');
  return s;
}

namespace detail {

void check_line(const std::string& name, const LineSettings& s) {
  if (s.baud == 0) throw PortError(name + ": baud rate must be positive");
  if (s.data_bits < 5 || s.data_bits > 8) {
    throw PortError(name + ": " + std::to_string(s.data_bits) + " data bits (expected 5 to 8)");
  }
  if (s.stop_bits != 1 && s.stop_bits != 2) {
    throw PortError(name + ": " + std::to_string(s.stop_bits) + " stop bits (expected 1 or 2)");
  }
}

}  // namespace detail

}  // namespace kamstrup::transport
