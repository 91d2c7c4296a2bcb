// File output: appends every poll to a file, as JSON lines (poll_json, one poll per line) or
// CSV (one row per register value):
//
//   {"meter": "heat", "time": "2026-11-23T14:25:00.123Z", "source": "poll", "registers": {...}}
//
//   time,meter,register,id,value,unit,text,source
//   2026-11-23T14:25:00.123Z,heat,heat_energy,60,55.006,MWh,,poll
//
// - The CSV header is written whenever the file is new or empty (also after copytruncate).
//   Fields with a comma, quote or line break are quoted (RFC 4180); "id" is empty for values
//   without a KMP register id.
// - Durable: each deliver() writes its polls and fsyncs before returning, so an acknowledged
//   poll is on disk. A failed write is truncated away again (best effort) before the SinkError.
// - logrotate-friendly: before each deliver() the path is checked; when the file was renamed
//   or deleted (or replaced: another inode) a new file is created at the path. copytruncate
//   works too (appends follow the truncation).
// - The file is created with mode 0644 (less the umask); its directory must exist: a missing
//   directory is a SinkError naming the path (retried, so creating it later is enough).
#pragma once

#include <string>

#include "config/keys.hpp"
#include "sinks/sink.hpp"

namespace kamstrup::sinks {

// One entry of the `files:` list.
struct FileOutputConfig {
  std::string path;
  std::string format = "jsonl";  // jsonl | csv
  bool operator==(const FileOutputConfig&) const = default;
};

const config::Table<FileOutputConfig>& file_keys();

class FileSink : public Sink {
 public:
  // Throws std::invalid_argument for an empty path or an unknown format. Opens nothing yet.
  explicit FileSink(FileOutputConfig config);
  ~FileSink() override;
  FileSink(const FileSink&) = delete;
  FileSink& operator=(const FileSink&) = delete;

  [[nodiscard]] std::string id() const override { return "file:" + cfg_.path; }
  void deliver(std::span<const store::Poll> polls) override;
  void close() override;

  static constexpr const char* kCsvHeader = "time,meter,register,id,value,unit,text,source";

 private:
  void ensure_open();
  [[noreturn]] void fail(const std::string& what, int err);

  FileOutputConfig cfg_;
  bool csv_ = false;
  int fd_ = -1;
};

// The CSV rows of one poll, each ending in "\n" (no header).
std::string poll_csv(const store::Poll& poll);

}  // namespace kamstrup::sinks
