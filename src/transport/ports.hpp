// Constructors of the concrete ports, used by make_port(). Not part of the public API.
#pragma once

#include "transport/port.hpp"

#include <termios.h>
#include <memory>
#include <string>

namespace kamstrup::transport::detail {

// A local tty. `usb_spec` non-empty means "resolve usb:VID:PID[:SERIAL] at each open()".
std::unique_ptr<Port> make_tty_port(asio::any_io_executor ex, std::string path,
                                    std::string usb_spec, const LineSettings& settings);

// `name` is the spec as the user wrote it ("socket://host:port"); it prefixes every error.
std::unique_ptr<Port> make_socket_port(asio::any_io_executor ex, std::string name, std::string host,
                                       std::string service, const LineSettings& settings);
std::unique_ptr<Port> make_rfc2217_port(asio::any_io_executor ex, std::string name,
                                        std::string host, std::string service,
                                        const LineSettings& settings);

// Turns `t` into a raw termios for `settings`; throws PortError (prefixed with `label`) for a
// baud rate termios has no constant for.
void configure_termios(termios& t, const std::string& label, const LineSettings& settings);

// Throws PortError unless `spec` is a well-formed usb:VID:PID[:SERIAL].
void check_usb_spec(const std::string& spec);

}  // namespace kamstrup::transport::detail
