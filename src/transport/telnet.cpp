#include "transport/telnet.hpp"

#include <string_view>

namespace kamstrup::transport::telnet {

namespace {

// A subnegotiation longer than this is garbage; cap it rather than buffer without bound.
constexpr std::size_t kMaxSubnegotiation = 256;

constexpr std::string_view kSignatureText = "kamstrup-reader";

}  // namespace

void escape(std::span<const std::uint8_t> data, std::vector<std::uint8_t>& out) {
  out.reserve(out.size() + data.size());
  for (auto b : data) {
    out.push_back(b);
    if (b == kIac) out.push_back(kIac);
  }
}

Client::Client() {
  may_will_[kOptComPort] = true;
  may_will_[kOptBinary] = true;
  may_will_[kOptSga] = true;
  may_do_[kOptBinary] = true;
  may_do_[kOptSga] = true;
}

void Client::reset() {
  state_ = State::Data;
  us_.fill(OptionState::No);
  him_.fill(OptionState::No);
  sb_data_.clear();
  out_.clear();
  forget_com_port_replies();
}

void Client::start() {
  for (std::uint8_t opt : {kOptComPort, kOptBinary, kOptSga}) {
    if (us_[opt] == OptionState::No) {
      us_[opt] = OptionState::WantYes;
      send_command(kWill, opt);
    }
  }
  for (std::uint8_t opt : {kOptBinary, kOptSga}) {
    if (him_[opt] == OptionState::No) {
      him_[opt] = OptionState::WantYes;
      send_command(kDo, opt);
    }
  }
}

void Client::feed(std::span<const std::uint8_t> in, std::vector<std::uint8_t>& data) {
  for (auto b : in) {
    switch (state_) {
      case State::Data:
        if (b == kIac) {
          state_ = State::Iac;
        } else {
          data.push_back(b);
        }
        break;
      case State::Iac:
        switch (b) {
          case kIac:
            data.push_back(kIac);
            state_ = State::Data;
            break;
          case kWill:
            state_ = State::Will;
            break;
          case kWont:
            state_ = State::Wont;
            break;
          case kDo:
            state_ = State::Do;
            break;
          case kDont:
            state_ = State::Dont;
            break;
          case kSb:
            state_ = State::SbOption;
            break;
          default:
            // NOP, GA, DM, AYT, ...: two-byte commands that carry nothing for a data stream.
            state_ = State::Data;
            break;
        }
        break;
      case State::Will:
      case State::Wont:
      case State::Do:
      case State::Dont: {
        const std::uint8_t command = state_ == State::Will   ? kWill
                                     : state_ == State::Wont ? kWont
                                     : state_ == State::Do   ? kDo
                                                             : kDont;
        state_ = State::Data;
        on_command(command, b);
        break;
      }
      case State::SbOption:
        sb_option_ = b;
        sb_data_.clear();
        state_ = State::SbData;
        break;
      case State::SbData:
        if (b == kIac) {
          state_ = State::SbIac;
        } else if (sb_data_.size() < kMaxSubnegotiation) {
          sb_data_.push_back(b);
        }
        break;
      case State::SbIac:
        if (b == kIac) {
          if (sb_data_.size() < kMaxSubnegotiation) sb_data_.push_back(kIac);
          state_ = State::SbData;
        } else if (b == kSe) {
          state_ = State::Data;
          on_subnegotiation();
        } else {
          // IAC <command> inside a subnegotiation: the server forgot IAC SE. End the
          // subnegotiation there and treat the byte as the command it introduces.
          on_subnegotiation();
          state_ = State::Iac;
          const std::uint8_t command[] = {b};
          feed(command, data);
        }
        break;
    }
  }
}

void Client::on_command(std::uint8_t command, std::uint8_t option) {
  switch (command) {
    case kDo:
      switch (us_[option]) {
        case OptionState::No:
          if (may_will_[option]) {
            us_[option] = OptionState::Yes;
            send_command(kWill, option);
          } else {
            send_command(kWont, option);
          }
          break;
        case OptionState::WantYes:
          us_[option] = OptionState::Yes;
          break;
        case OptionState::WantNo:
          us_[option] = OptionState::No;
          break;
        case OptionState::Yes:
          break;
      }
      break;
    case kDont:
      if (us_[option] == OptionState::Yes) send_command(kWont, option);
      us_[option] = OptionState::No;
      break;
    case kWill:
      switch (him_[option]) {
        case OptionState::No:
          if (may_do_[option]) {
            him_[option] = OptionState::Yes;
            send_command(kDo, option);
          } else {
            send_command(kDont, option);
          }
          break;
        case OptionState::WantYes:
          him_[option] = OptionState::Yes;
          break;
        case OptionState::WantNo:
          him_[option] = OptionState::No;
          break;
        case OptionState::Yes:
          break;
      }
      break;
    case kWont:
      if (him_[option] == OptionState::Yes) send_command(kDont, option);
      him_[option] = OptionState::No;
      break;
    default:
      break;
  }
}

void Client::on_subnegotiation() {
  if (sb_option_ != kOptComPort || sb_data_.empty()) return;
  const std::uint8_t code = sb_data_[0];
  const std::span<const std::uint8_t> value(sb_data_.data() + 1, sb_data_.size() - 1);
  if (code == com::kServerOffset + com::kSignature && value.empty()) {
    // An empty signature is the server asking for ours (RFC 2217, SIGNATURE).
    const std::vector<std::uint8_t> text(kSignatureText.begin(), kSignatureText.end());
    send_com_port(com::kSignature, text);
    return;
  }
  if (code >= com::kServerOffset) {
    replies_[static_cast<std::size_t>(code - com::kServerOffset)] =
        std::vector<std::uint8_t>(value.begin(), value.end());
  }
}

void Client::send_command(std::uint8_t command, std::uint8_t option) {
  out_.insert(out_.end(), {kIac, command, option});
}

void Client::send_com_port(std::uint8_t code, std::span<const std::uint8_t> value) {
  out_.insert(out_.end(), {kIac, kSb, kOptComPort});
  const std::uint8_t c[] = {code};
  escape(c, out_);
  escape(value, out_);
  out_.insert(out_.end(), {kIac, kSe});
}

std::vector<std::uint8_t> Client::take_output() {
  std::vector<std::uint8_t> out;
  out.swap(out_);
  return out;
}

void Client::forget_com_port_replies() {
  for (auto& r : replies_) r.reset();
}

}  // namespace kamstrup::transport::telnet
