// What protocol auto-detection found on a port, kept between runs of the reader. Detecting a
// pre-KMP meter means waiting through silent KMP probes first (about 20 s with the default
// timeouts); remembered, the next `kamstrup read` of that port asks the meter's own protocol
// first and takes 2 s. The memory is only a hint: a remembered protocol that does not answer
// leads to the full detection, whose result replaces it. It lives in
// $XDG_CACHE_HOME/kamstrup/protocols.json (default ~/.cache/kamstrup/protocols.json), one entry
// per port as given on the command line; a file that cannot be read or written is ignored.
#pragma once

#include <optional>
#include <string>

#include "meter/detect.hpp"
#include "transport/port.hpp"

namespace kamstrup::cli {

struct RememberedProtocol {
  meter::Protocol protocol = meter::Protocol::Kmp;
  transport::LineSettings line;  // KMP only: the line it answered at
};

// The file, or "" when neither XDG_CACHE_HOME nor HOME is set.
std::string protocol_memory_path();

std::optional<RememberedProtocol> recall_protocol(const std::string& port);

// Keeps what detection found. KMP at 1200 8N2 (what is tried first anyway) is forgotten instead,
// so readers of ordinary KMP meters leave no file behind; a `/#n` memory is not replaced by the
// IEC readout (meters answering both are read with `/#n`). True when an entry was written.
// Never throws.
bool remember_protocol(const std::string& port, const RememberedProtocol& found);

// The same two on the file's text (JSON), without the file (for tests and fuzzing):
// what `json_text` holds for `port` (nullopt for no entry, an entry of another shape, or text
// that is no JSON object), and the text to write once `found` is kept for `port` (nullopt when
// the file stays as it is). Never throw.
std::optional<RememberedProtocol> recall_protocol_in(const std::string& json_text,
                                                     const std::string& port);
std::optional<std::string> remember_protocol_in(const std::string& json_text,
                                                const std::string& port,
                                                const RememberedProtocol& found);

}  // namespace kamstrup::cli
