// The daemon's logger: stderr (stdout carries the console output scripts parse). On a terminal
// or into a file a line has spdlog's usual timestamp and level; when stderr is the systemd
// journal, a line is "<N>message" with the sd-daemon(3) priority N (3 error ... 7 debug) and no
// timestamp of its own, so journald records the right priority and its own time.
#pragma once

#include <string_view>

namespace kamstrup::daemon {

// Installs the "kamstrup" logger as spdlog's default (once; later calls keep it).
void setup_logging();

// True when $JOURNAL_STREAM ("DEVICE:INODE", set by systemd for a unit whose stderr goes to the
// journal) names the file stderr is: a child that redirected stderr elsewhere keeps the variable
// but not the stream.
bool stderr_is_journal();
// The same test on a given $JOURNAL_STREAM value and file descriptor.
bool is_journal_stream(std::string_view journal_stream, int fd);

}  // namespace kamstrup::daemon
