// Telnet framing for RFC 2217 (COM-PORT-OPTION) clients: option negotiation, IAC escaping and
// the COM-PORT subnegotiations. Pure: bytes in, bytes out, no I/O. Used by the rfc2217:// port
// and exposed so its state machine can be tested byte by byte.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

namespace kamstrup::transport::telnet {

inline constexpr std::uint8_t kIac = 255;
inline constexpr std::uint8_t kDont = 254;
inline constexpr std::uint8_t kDo = 253;
inline constexpr std::uint8_t kWont = 252;
inline constexpr std::uint8_t kWill = 251;
inline constexpr std::uint8_t kSb = 250;
inline constexpr std::uint8_t kSe = 240;

inline constexpr std::uint8_t kOptBinary = 0;
inline constexpr std::uint8_t kOptEcho = 1;
inline constexpr std::uint8_t kOptSga = 3;
inline constexpr std::uint8_t kOptComPort = 44;

// RFC 2217 client-to-server command codes; the server answers with code + 100.
namespace com {
inline constexpr std::uint8_t kSignature = 0;
inline constexpr std::uint8_t kSetBaudrate = 1;
inline constexpr std::uint8_t kSetDatasize = 2;
inline constexpr std::uint8_t kSetParity = 3;
inline constexpr std::uint8_t kSetStopsize = 4;
inline constexpr std::uint8_t kSetControl = 5;
inline constexpr std::uint8_t kPurgeData = 12;
inline constexpr std::uint8_t kServerOffset = 100;
inline constexpr std::uint8_t kParityNone = 1;
inline constexpr std::uint8_t kParityOdd = 2;
inline constexpr std::uint8_t kParityEven = 3;
inline constexpr std::uint8_t kControlNoFlow = 1;
inline constexpr std::uint8_t kPurgeReceive = 1;
}  // namespace com

// Appends `data` to `out` with every 0xFF doubled, as telnet requires for data bytes.
void escape(std::span<const std::uint8_t> data, std::vector<std::uint8_t>& out);

// One side of an option, after RFC 1143 (the "Q method"): a request we sent is pending until
// the peer answers, so an answer is never mistaken for a new request and answered again.
enum class OptionState : std::uint8_t { No, Yes, WantYes, WantNo };

class Client {
 public:
  // Options we offer to perform (WILL) and to let the server perform (DO). Anything else the
  // server proposes is refused.
  Client();

  // Forgets all state, as for a fresh connection.
  void reset();

  // Queues the opening negotiation: WILL COM-PORT-OPTION, binary both ways, suppress go-ahead.
  void start();

  // Parses bytes from the server. Data bytes (unescaped) are appended to `data`; replies to
  // negotiation are queued for take_output(); COM-PORT replies are recorded. Any split of the
  // stream across calls is fine: the parser keeps its state.
  void feed(std::span<const std::uint8_t> in, std::vector<std::uint8_t>& data);

  // Queues IAC SB COM-PORT-OPTION <code> <value> IAC SE (value escaped).
  void send_com_port(std::uint8_t code, std::span<const std::uint8_t> value);

  // Bytes to send to the server (negotiation and subnegotiation), emptied by the call.
  std::vector<std::uint8_t> take_output();

  [[nodiscard]] OptionState us(std::uint8_t option) const { return us_[option]; }
  [[nodiscard]] OptionState him(std::uint8_t option) const { return him_[option]; }

  // The last COM-PORT reply the server sent for a client command code (1 for SET-BAUDRATE...),
  // with its value bytes; cleared by forget_com_port_replies().
  [[nodiscard]] const std::optional<std::vector<std::uint8_t>>& com_port_reply(
      std::uint8_t code) const {
    return replies_[code];
  }
  void forget_com_port_replies();

 private:
  enum class State : std::uint8_t { Data, Iac, Will, Wont, Do, Dont, SbOption, SbData, SbIac };

  void on_command(std::uint8_t command, std::uint8_t option);
  void on_subnegotiation();
  void send_command(std::uint8_t command, std::uint8_t option);

  State state_ = State::Data;
  std::array<OptionState, 256> us_{};
  std::array<OptionState, 256> him_{};
  std::array<bool, 256> may_will_{};
  std::array<bool, 256> may_do_{};
  std::uint8_t sb_option_ = 0;
  std::vector<std::uint8_t> sb_data_;
  std::vector<std::uint8_t> out_;
  std::array<std::optional<std::vector<std::uint8_t>>, 256> replies_{};
};

}  // namespace kamstrup::transport::telnet
