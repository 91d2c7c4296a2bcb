// TCP ports: socket:// (raw bytes, as ser2net's tcp accepter serves them) and rfc2217:// (telnet
// with COM-PORT-OPTION, ser2net's telnet(rfc2217) accepter). Both reconnect on the next write()
// after the connection drops, because ser2net restarts and network blips must not leave a meter
// unreadable until the daemon restarts.
#include "transport/detail.hpp"
#include "transport/ports.hpp"
#include "transport/telnet.hpp"

#include <asio/connect.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/write.hpp>

#include <sys/socket.h>
#include <algorithm>
#include <array>
#include <cerrno>

namespace kamstrup::transport::detail {

namespace {

using namespace std::chrono_literals;
using asio::ip::tcp;

constexpr auto kConnectTimeout = 3s;
// How long an RFC 2217 server may take to answer negotiation and line settings.
constexpr auto kNegotiationTimeout = 3s;
// How long to wait for the server to confirm PURGE-DATA before assuming it never does.
constexpr auto kPurgeTimeout = 1s;

bool is_drop(const std::error_code& ec) {
  return ec == asio::error::eof || ec == asio::error::connection_reset ||
         ec == asio::error::broken_pipe || ec == asio::error::connection_aborted ||
         ec == asio::error::not_connected || ec == asio::error::timed_out ||
         ec == asio::error::network_unreachable || ec == asio::error::host_unreachable;
}

class StreamPort : public Port {
 public:
  StreamPort(asio::any_io_executor ex, std::string name, std::string host, std::string service,
             const LineSettings& settings)
      : socket_(std::move(ex)),
        name_(std::move(name)),
        host_(std::move(host)),
        service_(std::move(service)),
        line_(settings) {}

  ~StreamPort() override { close(); }

  asio::awaitable<void> open() override {
    check_line(name_, line_);
    close();
    co_await connect();
    opened_ = true;
  }

  asio::awaitable<void> write(std::span<const std::uint8_t> bytes) override {
    require_open();
    // A peer that closed while we were idle is only noticed on a read; without this check the
    // request would vanish into a half-closed socket.
    if (connected_ && peer_closed()) drop();
    if (!connected_) co_await connect();
    wire_.clear();
    encode(bytes, wire_);
    auto ec = co_await send(wire_);
    if (ec && is_drop(ec)) {
      drop();
      co_await connect();
      wire_.clear();
      encode(bytes, wire_);
      ec = co_await send(wire_);
    }
    if (ec) {
      drop();
      throw PortError(name_ + ": write failed: " + reason(ec));
    }
  }

  asio::awaitable<std::size_t> read(std::span<std::uint8_t> buf,
                                    Clock::time_point deadline) override {
    require_open();
    if (buf.empty()) co_return 0;
    while (rx_.empty()) {
      if (!connected_) {
        // Nothing can arrive until write() reconnects; wait out the deadline, don't spin.
        co_await sleep_until(socket_.get_executor(), deadline);
        co_return 0;
      }
      auto r = co_await receive(deadline);
      if (r.timed_out) co_return 0;
      if (r.ec) {
        drop();
        if (is_drop(r.ec)) break;  // return what arrived before the close, maybe nothing
        throw PortError(name_ + ": read failed: " + reason(r.ec));
      }
    }
    co_return take(buf);
  }

  asio::awaitable<void> discard_input() override {
    require_open();
    drain_available();
    rx_.clear();
    co_return;
  }

  void close() override {
    drop();
    opened_ = false;
    rx_.clear();
  }

  [[nodiscard]] const std::string& name() const override { return name_; }
  [[nodiscard]] const LineSettings& line() const override { return line_; }

 protected:
  // Called after each TCP connect, before the connection counts as usable.
  virtual asio::awaitable<void> on_connected() { co_return; }
  // Turns caller bytes into wire bytes.
  virtual void encode(std::span<const std::uint8_t> bytes, std::vector<std::uint8_t>& out) {
    out.insert(out.end(), bytes.begin(), bytes.end());
  }
  // Takes bytes from the wire, appending payload to rx_.
  virtual void ingest(std::span<const std::uint8_t> bytes) {
    rx_.insert(rx_.end(), bytes.begin(), bytes.end());
  }
  // Bytes the protocol itself needs to send (telnet replies), sent after each ingest.
  virtual std::vector<std::uint8_t> take_control_output() { return {}; }

  void require_open() const {
    if (!opened_) throw PortError(name_ + ": port is not open");
  }

  // True when the server has closed the connection (or reset it) without our noticing.
  bool peer_closed() {
    std::uint8_t byte = 0;
    const auto n = ::recv(socket_.native_handle(), &byte, 1, MSG_PEEK | MSG_DONTWAIT);
    if (n == 0) return true;
    return n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR;
  }

  void drop() {
    connected_ = false;
    std::error_code ignored;
    socket_.close(ignored);
  }

  asio::awaitable<std::error_code> send(std::span<const std::uint8_t> bytes) {
    std::error_code ec;
    co_await asio::async_write(socket_, asio::buffer(bytes.data(), bytes.size()),
                               asio::redirect_error(asio::use_awaitable, ec));
    co_return ec;
  }

  // Sends pending control bytes; a failure there is a dropped connection.
  asio::awaitable<void> flush_control() {
    auto out = take_control_output();
    if (out.empty() || !connected_) co_return;
    if (auto ec = co_await send(out)) {
      drop();
      throw PortError(name_ + ": connection lost: " + reason(ec));
    }
  }

  // One read from the socket, fed through ingest(), then any replies it calls for are sent.
  // A failure of either is reported in ec (payload already ingested stays in rx_); the caller
  // decides whether that drops the connection.
  asio::awaitable<ReadResult> receive(Clock::time_point deadline) {
    auto r = co_await read_some_until(socket_, asio::buffer(raw_), deadline);
    if (r.bytes > 0) {
      ingest(std::span<const std::uint8_t>(raw_.data(), r.bytes));
      const auto out = take_control_output();
      if (!out.empty()) r.ec = co_await send(out);
    }
    co_return r;
  }

  // Feeds bytes that already arrived through ingest() without waiting.
  void drain_available() {
    while (connected_) {
      std::error_code ec;
      const std::size_t available = socket_.available(ec);
      if (ec || available == 0) break;
      const std::size_t n = socket_.read_some(asio::buffer(raw_), ec);
      if (ec) {
        drop();
        break;
      }
      ingest(std::span<const std::uint8_t>(raw_.data(), n));
    }
  }

  // Reads until pred() holds; false if the deadline passed first. Throws if the connection
  // drops, naming `during`.
  template <typename Pred>
  asio::awaitable<bool> pump_until(Pred pred, Clock::time_point deadline, const char* during) {
    while (!pred()) {
      auto r = co_await receive(deadline);
      if (r.timed_out) co_return pred();
      if (r.ec) {
        drop();
        throw PortError(name_ + ": connection lost during " + during + ": " + reason(r.ec));
      }
    }
    co_return true;
  }

  tcp::socket socket_;
  std::string name_;
  std::string host_;
  std::string service_;
  LineSettings line_;
  bool opened_ = false;
  bool connected_ = false;
  std::vector<std::uint8_t> rx_;  // payload received but not yet read

 private:
  asio::awaitable<void> connect() {
    drop();
    rx_.clear();
    auto ex = socket_.get_executor();
    tcp::resolver resolver(ex);
    std::error_code ec;
    auto endpoints = co_await resolver.async_resolve(host_, service_,
                                                     asio::redirect_error(asio::use_awaitable, ec));
    if (ec) throw PortError(name_ + ": cannot resolve " + host_ + ": " + reason(ec));

    asio::steady_timer timer(ex, kConnectTimeout);
    auto [order, connect_ec, endpoint, timer_ec] =
        co_await asio::experimental::make_parallel_group(
            asio::async_connect(socket_, endpoints, asio::experimental::deferred),
            timer.async_wait(asio::experimental::deferred))
            .async_wait(asio::experimental::wait_for_one(), asio::use_awaitable);
    (void)endpoint;
    (void)timer_ec;
    if (order[0] == 1 && connect_ec == asio::error::operation_aborted) {
      drop();
      throw PortError(name_ + ": connection timed out after " +
                      std::to_string(kConnectTimeout.count()) + " s");
    }
    if (connect_ec) {
      drop();
      throw PortError(name_ + ": " + reason(connect_ec));
    }
    // KMP allows at most 27 ms between request bytes: never let Nagle hold part of a frame.
    socket_.set_option(tcp::no_delay(true), ec);
    socket_.set_option(asio::socket_base::keep_alive(true), ec);
    connected_ = true;
    try {
      co_await on_connected();
    } catch (...) {
      drop();
      throw;
    }
  }

  std::size_t take(std::span<std::uint8_t> buf) {
    const std::size_t n = std::min(buf.size(), rx_.size());
    std::copy_n(rx_.begin(), n, buf.begin());
    rx_.erase(rx_.begin(), rx_.begin() + static_cast<std::ptrdiff_t>(n));
    return n;
  }

  std::array<std::uint8_t, 1024> raw_{};
  std::vector<std::uint8_t> wire_;
};

class SocketPort final : public StreamPort {
 public:
  using StreamPort::StreamPort;

  // ser2net applies the line settings from its own configuration; there is no way to change
  // them over a raw TCP connection.
  asio::awaitable<void> set_line(const LineSettings& settings) override {
    check_line(name_, settings);
    line_ = settings;
    co_return;
  }
};

std::array<std::uint8_t, 4> big_endian(unsigned v) {
  return {static_cast<std::uint8_t>(v >> 24), static_cast<std::uint8_t>(v >> 16),
          static_cast<std::uint8_t>(v >> 8), static_cast<std::uint8_t>(v)};
}

class Rfc2217Port final : public StreamPort {
 public:
  using StreamPort::StreamPort;

  asio::awaitable<void> set_line(const LineSettings& settings) override {
    check_line(name_, settings);
    if (connected_ && peer_closed()) drop();
    if (connected_) co_await send_line(settings);
    // Not connected: the next connect (on write) applies it.
    line_ = settings;
  }

  asio::awaitable<void> discard_input() override {
    require_open();
    if (connected_ && peer_closed()) drop();
    drain_available();
    rx_.clear();
    if (!connected_ || !purge_confirmed_.value_or(true)) co_return;
    // Bytes the server read from the meter before the purge may still be on their way; the
    // server's confirmation marks where the stale data ends.
    try {
      codec_.forget_com_port_replies();
      const std::uint8_t purge[] = {telnet::com::kPurgeReceive};
      codec_.send_com_port(telnet::com::kPurgeData, purge);
      co_await flush_control();
      const bool confirmed = co_await pump_until(
          [this] { return codec_.com_port_reply(telnet::com::kPurgeData).has_value(); },
          Clock::now() + kPurgeTimeout, "PURGE-DATA");
      if (!purge_confirmed_) purge_confirmed_ = confirmed;
    } catch (const PortError&) {
      // The connection dropped: nothing left to discard, and the next write() reconnects.
      drop();
    }
    rx_.clear();
  }

 protected:
  asio::awaitable<void> on_connected() override {
    codec_.reset();
    codec_.start();
    co_await flush_control();
    const auto deadline = Clock::now() + kNegotiationTimeout;
    const bool answered = co_await pump_until(
        [this] {
          const auto s = codec_.us(telnet::kOptComPort);
          return s == telnet::OptionState::Yes || s == telnet::OptionState::No;
        },
        deadline, "telnet negotiation");
    if (!answered) {
      throw PortError(name_ +
                      ": no RFC 2217 negotiation from the server (is it a telnet(rfc2217) "
                      "accepter?)");
    }
    if (codec_.us(telnet::kOptComPort) != telnet::OptionState::Yes) {
      throw PortError(name_ + ": the server refused RFC 2217 COM-PORT control");
    }
    co_await send_line(line_);
  }

  void encode(std::span<const std::uint8_t> bytes, std::vector<std::uint8_t>& out) override {
    // Replies the codec still owes go first, so they are not reordered behind data.
    auto pending = codec_.take_output();
    out.insert(out.end(), pending.begin(), pending.end());
    telnet::escape(bytes, out);
  }

  void ingest(std::span<const std::uint8_t> bytes) override { codec_.feed(bytes, rx_); }

  std::vector<std::uint8_t> take_control_output() override { return codec_.take_output(); }

 private:
  // Sends the whole line configuration and waits until the server confirms each value, so that
  // when set_line() returns the serial port really runs at the new settings.
  asio::awaitable<void> send_line(const LineSettings& s) {
    namespace com = telnet::com;
    const auto baud = big_endian(s.baud);
    const std::uint8_t datasize[] = {static_cast<std::uint8_t>(s.data_bits)};
    const std::uint8_t parity[] = {s.parity == Parity::None  ? com::kParityNone
                                   : s.parity == Parity::Odd ? com::kParityOdd
                                                             : com::kParityEven};
    const std::uint8_t stopsize[] = {static_cast<std::uint8_t>(s.stop_bits)};
    const std::uint8_t control[] = {com::kControlNoFlow};
    codec_.forget_com_port_replies();
    codec_.send_com_port(com::kSetBaudrate, baud);
    codec_.send_com_port(com::kSetDatasize, datasize);
    codec_.send_com_port(com::kSetParity, parity);
    codec_.send_com_port(com::kSetStopsize, stopsize);
    codec_.send_com_port(com::kSetControl, control);
    co_await flush_control();

    struct Expect {
      std::uint8_t code;
      std::span<const std::uint8_t> value;
      const char* what;
    };
    const Expect expected[] = {{com::kSetBaudrate, baud, "baud rate"},
                               {com::kSetDatasize, datasize, "data size"},
                               {com::kSetParity, parity, "parity"},
                               {com::kSetStopsize, stopsize, "stop size"}};
    co_await pump_until(
        [&] {
          for (const auto& e : expected) {
            if (!codec_.com_port_reply(e.code)) return false;
          }
          return true;
        },
        Clock::now() + kNegotiationTimeout, "RFC 2217 line setup");
    for (const auto& e : expected) {
      const auto& reply = codec_.com_port_reply(e.code);
      if (!reply) {
        throw PortError(name_ + ": the server did not confirm the " + e.what + " for " +
                        s.to_string());
      }
      if (!std::equal(reply->begin(), reply->end(), e.value.begin(), e.value.end())) {
        throw PortError(name_ + ": the server did not accept the " + e.what + " for " +
                        s.to_string());
      }
    }
  }

  telnet::Client codec_;
  // Unknown until the first purge: whether this server confirms PURGE-DATA at all.
  std::optional<bool> purge_confirmed_;
};

}  // namespace

std::unique_ptr<Port> make_socket_port(asio::any_io_executor ex, std::string name, std::string host,
                                       std::string service, const LineSettings& settings) {
  return std::make_unique<SocketPort>(std::move(ex), std::move(name), std::move(host),
                                      std::move(service), settings);
}

std::unique_ptr<Port> make_rfc2217_port(asio::any_io_executor ex, std::string name,
                                        std::string host, std::string service,
                                        const LineSettings& settings) {
  return std::make_unique<Rfc2217Port>(std::move(ex), std::move(name), std::move(host),
                                       std::move(service), settings);
}

}  // namespace kamstrup::transport::detail
