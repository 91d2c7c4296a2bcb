#include "sinks/file.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <stdexcept>
#include <system_error>
#include <utility>

#include "sinks/format.hpp"
#include "text/time.hpp"

namespace kamstrup::sinks {

namespace {

using text::csv_field;

std::string errno_text(int err) {
  return std::error_code(err, std::generic_category()).message();
}

std::string parent_dir(const std::string& path) {
  auto slash = path.rfind('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

}  // namespace

std::string poll_csv(const store::Poll& poll) {
  std::string out;
  std::string time = text::utc_text(poll.time_ms);
  for (const auto& v : poll.values) {
    out += time;
    out += ',';
    out += csv_field(poll.meter);
    out += ',';
    out += csv_field(v.name);
    out += ',';
    if (v.register_id >= 0) out += std::to_string(v.register_id);
    out += ',';
    out += csv_field(v.value);
    out += ',';
    out += csv_field(v.unit);
    out += ',';
    out += csv_field(v.text);
    out += ',';
    out += csv_field(poll.source);
    out += '\n';
  }
  return out;
}

FileSink::FileSink(FileOutputConfig config) : cfg_(std::move(config)) {
  if (cfg_.path.empty()) throw std::invalid_argument("file output: path is empty");
  if (cfg_.format == "csv")
    csv_ = true;
  else if (cfg_.format != "jsonl")
    throw std::invalid_argument("file output " + cfg_.path + ": unknown format \"" + cfg_.format +
                                "\" (jsonl | csv)");
}

FileSink::~FileSink() {
  close();
}

void FileSink::close() {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
}

void FileSink::fail(const std::string& what, int err) {
  throw SinkError("file:" + cfg_.path + ": " + what + " " + cfg_.path + ": " + errno_text(err));
}

void FileSink::ensure_open() {
  if (fd_ >= 0) {
    // Rotated away (renamed, deleted) or replaced by another file: start a new one.
    struct stat at_path {};
    struct stat open_file {};
    if (::stat(cfg_.path.c_str(), &at_path) != 0 || ::fstat(fd_, &open_file) != 0 ||
        at_path.st_dev != open_file.st_dev || at_path.st_ino != open_file.st_ino)
      close();
  }
  if (fd_ >= 0) return;

  bool created = false;
  int fd = ::open(cfg_.path.c_str(), O_WRONLY | O_APPEND | O_CLOEXEC);
  if (fd < 0 && errno == ENOENT) {
    fd = ::open(cfg_.path.c_str(), O_WRONLY | O_APPEND | O_CLOEXEC | O_CREAT | O_EXCL, 0644);
    created = fd >= 0;
    if (fd < 0 && errno == EEXIST) fd = ::open(cfg_.path.c_str(), O_WRONLY | O_APPEND | O_CLOEXEC);
  }
  if (fd < 0) fail("cannot open", errno);
  fd_ = fd;
  if (created) {
    // Make the new directory entry durable too, not only the file's data.
    int dfd = ::open(parent_dir(cfg_.path).c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {
      ::fsync(dfd);
      ::close(dfd);
    }
  }
}

void FileSink::deliver(std::span<const store::Poll> polls) {
  std::string data;
  for (const auto& p : polls) {
    if (csv_) {
      data += poll_csv(p);
    } else {
      data += poll_json(p);
      data += '\n';
    }
  }
  if (data.empty()) return;

  ensure_open();
  struct stat st {};
  if (::fstat(fd_, &st) != 0) {
    int err = errno;
    close();
    fail("cannot stat", err);
  }
  if (csv_ && st.st_size == 0) data = std::string(kCsvHeader) + "\n" + data;

  std::size_t done = 0;
  while (done < data.size()) {
    ssize_t n = ::write(fd_, data.data() + done, data.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      int err = n < 0 ? errno : EIO;
      // Leave no half batch behind (the whole batch is retried). Best effort: if this fails
      // too, the retry appends after the partial batch.
      [[maybe_unused]] int rc = ::ftruncate(fd_, st.st_size);
      close();
      fail("cannot write", err);
    }
    done += static_cast<std::size_t>(n);
  }
  if (::fsync(fd_) != 0) {
    int err = errno;
    close();  // the page cache state is unknown after a failed fsync: reopen next time
    fail("cannot fsync", err);
  }
}

const config::Table<FileOutputConfig>& file_keys() {
  using C = FileOutputConfig;
  using namespace config;
  static const Table<C> t{
      "files[]",
      "Each entry appends every poll to a file, flushed to disk per delivery and reopened after "
      "log rotation. Two entries cannot write one file.",
      {
          required(file_path<C>("path", &C::path, PathRule::FileInExistingDir,
                                "the file (its directory must exist)",
                                "/var/lib/kamstrup/readings.jsonl")),
          choice<C, std::string>("format", &C::format, {{"jsonl", "jsonl"}, {"csv", "csv"}},
                                 "`jsonl` (one JSON object per poll, docs/formats.md) or `csv` "
                                 "(one row per register)"),
      },
      [](C& c, const std::string& path, Context& ctx) {
        ctx.claim_file(c.path, join(path, "path"));
      }};
  return t;
}

}  // namespace kamstrup::sinks
