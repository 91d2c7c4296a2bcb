// A writer killed with SIGKILL at random moments: every poll whose insert() returned is there
// with all its values, no poll is torn, and the file passes integrity_check.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <map>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "store/store.hpp"
#include "store_test_util.hpp"

namespace kamstrup::store {
namespace {

using test::make_poll;
using test::RawDb;
using test::TempDir;

constexpr std::int64_t kChildFailed = -1;

// The child: inserts polls as fast as it can, the i-th at time_ms = i with values tagged i, and
// reports each seq on the pipe once insert() has returned. Never returns.
[[noreturn]] void insert_forever(const std::string& path, int out) {
  try {
    Store s(path);
    for (std::int64_t i = 1;; ++i) {
      Poll p = make_poll("m", i, i);
      std::int64_t seq = s.insert(p);
      // Pipe writes up to PIPE_BUF are atomic: the parent sees whole seqs or none.
      if (::write(out, &seq, sizeof seq) != static_cast<ssize_t>(sizeof seq)) ::_exit(3);
    }
  } catch (...) {
    std::int64_t failed = kChildFailed;
    (void)!::write(out, &failed, sizeof failed);
    ::_exit(2);
  }
}

// Reads whole seqs from the pipe until `want` have arrived (0: until EOF).
bool read_seqs(int fd, std::vector<std::int64_t>& seqs, std::size_t want) {
  while (want == 0 || seqs.size() < want) {
    std::int64_t seq = 0;
    std::size_t got = 0;
    while (got < sizeof seq) {
      ssize_t n = ::read(fd, reinterpret_cast<char*>(&seq) + got, sizeof seq - got);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) return want == 0 && got == 0;
      got += static_cast<std::size_t>(n);
    }
    if (seq == kChildFailed) return false;
    seqs.push_back(seq);
  }
  return true;
}

TEST(StoreCrash, KillNineKeepsEveryConfirmedPollWhole) {
  const unsigned seed = std::random_device{}();
  SCOPED_TRACE("seed " + std::to_string(seed));
  std::mt19937 rng(seed);
  for (int round = 0; round < 10; ++round) {
    SCOPED_TRACE("round " + std::to_string(round));
    TempDir dir;
    const std::string path = dir / "kamstrup.db";
    int fds[2];
    ASSERT_EQ(::pipe(fds), 0);
    const pid_t pid = ::fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      ::close(fds[0]);
      insert_forever(path, fds[1]);
    }
    ::close(fds[1]);

    // Kill after 50..400 confirmed inserts, plus up to 3 ms so the signal lands anywhere inside
    // an insert (the child keeps inserting meanwhile; the pipe holds far more than that).
    std::vector<std::int64_t> confirmed;
    const auto target = std::uniform_int_distribution<std::size_t>(50, 400)(rng);
    const bool reached = read_seqs(fds[0], confirmed, target);
    std::this_thread::sleep_for(
        std::chrono::microseconds(std::uniform_int_distribution<int>(0, 3000)(rng)));
    ::kill(pid, SIGKILL);
    // Whatever the child confirmed before it died is still in the pipe.
    const bool drained = read_seqs(fds[0], confirmed, 0);
    ::close(fds[0]);
    int status = 0;
    ASSERT_EQ(::waitpid(pid, &status, 0), pid);
    ASSERT_TRUE(reached && drained) << "the child failed on its own";
    ASSERT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL) << "status " << status;
    ASSERT_GE(confirmed.size(), 50U);
    for (std::size_t i = 1; i < confirmed.size(); ++i) {
      ASSERT_GT(confirmed[i], confirmed[i - 1]);
    }

    Store s(path);
    EXPECT_EQ(s.integrity_check(), "ok");
    const auto polls = s.polls_after(0, 100'000);
    std::map<std::int64_t, const Poll*> by_seq;
    for (const auto& p : polls) by_seq[p.seq] = &p;
    for (std::int64_t seq : confirmed) {
      auto it = by_seq.find(seq);
      ASSERT_NE(it, by_seq.end()) << "confirmed seq " << seq << " is missing";
      ASSERT_EQ(it->second->values.size(), 8U) << "seq " << seq;
    }
    // Whole polls only, each exactly as written; at most one more than confirmed (committed,
    // killed before it could report).
    for (const auto& p : polls) {
      Poll want = make_poll("m", p.time_ms, p.time_ms);
      want.seq = p.seq;
      EXPECT_EQ(p, want) << "seq " << p.seq;
    }
    EXPECT_TRUE(polls.size() == confirmed.size() || polls.size() == confirmed.size() + 1)
        << polls.size() << " polls stored, " << confirmed.size() << " confirmed";
    // And the rollups a restarted writer resumes agree with the polls that survived.
    std::int64_t hour_count = 0;
    for (const auto& r : s.rollups({"m", "temp2", Step::Hour, 0, 1'000'000'000'000'000}).rows)
      hour_count += r.count;
    EXPECT_EQ(hour_count, static_cast<std::int64_t>(polls.size()));
    if (::testing::Test::HasFailure()) return;
  }
}

}  // namespace
}  // namespace kamstrup::store
