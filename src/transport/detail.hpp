// Internals shared by the Port implementations. Not part of the public API.
#pragma once

#include "transport/port.hpp"

#include <asio/any_io_executor.hpp>
#include <asio/awaitable.hpp>
#include <asio/buffer.hpp>
#include <asio/error.hpp>
#include <asio/experimental/deferred.hpp>
#include <asio/experimental/parallel_group.hpp>
#include <asio/redirect_error.hpp>
#include <asio/steady_timer.hpp>
#include <asio/use_awaitable.hpp>

#include <cctype>
#include <string>
#include <system_error>

namespace kamstrup::transport::detail {

// "Connection refused" -> "connection refused": messages read as "<port>: <reason>".
inline std::string reason(const std::error_code& ec) {
  std::string text = ec.message();
  if (!text.empty()) text[0] = static_cast<char>(std::tolower(static_cast<unsigned char>(text[0])));
  return text;
}

struct ReadResult {
  bool timed_out = false;  // the deadline passed with nothing read
  std::error_code ec;
  std::size_t bytes = 0;
};

// One async_read_some raced against the deadline. The read is cancelled when the timer wins,
// but bytes that completed in the same instant are still reported: dropping them would lose
// data that the kernel already handed over.
template <typename Stream>
asio::awaitable<ReadResult> read_some_until(Stream& stream, asio::mutable_buffer buf,
                                            Clock::time_point deadline) {
  asio::steady_timer timer(stream.get_executor(), deadline);
  auto [order, read_ec, n, timer_ec] =
      co_await asio::experimental::make_parallel_group(
          stream.async_read_some(buf, asio::experimental::deferred),
          timer.async_wait(asio::experimental::deferred))
          .async_wait(asio::experimental::wait_for_one(), asio::use_awaitable);
  (void)order;
  (void)timer_ec;
  if (n > 0) co_return ReadResult{false, {}, n};
  if (read_ec == asio::error::operation_aborted || !read_ec) co_return ReadResult{true, {}, 0};
  co_return ReadResult{false, read_ec, 0};
}

// Sleeps until the deadline; used where nothing can arrive (a dropped stream connection) so that
// callers polling read() in a loop do not spin.
inline asio::awaitable<void> sleep_until(asio::any_io_executor ex, Clock::time_point deadline) {
  asio::steady_timer timer(ex, deadline);
  std::error_code ec;
  co_await timer.async_wait(asio::redirect_error(asio::use_awaitable, ec));
}

// Validates the parts of LineSettings every port relies on (char_time() divides by baud).
void check_line(const std::string& name, const LineSettings& s);

}  // namespace kamstrup::transport::detail
