// ProcStats: what /proc says about a process, for tests that check a
// program's resource use from outside (descriptors, memory, CPU time).
//
//   int fds = tether::testing::OpenFds(pid);          // -1 if unreadable
//   int64_t rss = tether::testing::RssBytes(pid);     // -1 if unreadable
//   double cpu = tether::testing::CpuSeconds(pid);    // user + system
//   ASSERT_TRUE(tether::testing::SetFdLimit(pid, 64).ok());
//
// Linux only. Test code only.
#ifndef TETHER_TESTS_TESTING_PROC_STATS_H_
#define TETHER_TESTS_TESTING_PROC_STATS_H_

#include <cstdint>
#include <string>

#include <sys/types.h>

#include "absl/status/status.h"

namespace tether::testing {

// OpenFds counts the entries of /proc/<pid>/fd; -1 if it cannot be read.
int OpenFds(pid_t pid);

// DescribeFds lists /proc/<pid>/fd as "3 -> socket:[1234]" lines, to say
// what leaked when a count is off.
std::string DescribeFds(pid_t pid);

// RssBytes is the resident set size (VmRSS of /proc/<pid>/status); -1 if
// it cannot be read.
int64_t RssBytes(pid_t pid);

// CpuSeconds is the user + system CPU time the process used so far (all of
// its threads, from /proc/<pid>/stat); -1 if it cannot be read.
double CpuSeconds(pid_t pid);

// kMemoryScale: how many times the memory of a normal build a process of
// this build may use. Sanitizers add shadow memory, redzones and (ASan) a
// quarantine of freed blocks, so tests scale their byte bounds by it; the
// programs they start are built with the same sanitizer as the test.
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
inline constexpr int64_t kMemoryScale = 8;
#else
inline constexpr int64_t kMemoryScale = 1;
#endif
#if defined(__SANITIZE_ADDRESS__)
inline constexpr bool kAddressSanitizer = true;
#else
inline constexpr bool kAddressSanitizer = false;
#endif

// SetFdLimit sets RLIMIT_NOFILE (soft and hard) of `pid` with prlimit(2);
// pid 0 is this process.
absl::Status SetFdLimit(pid_t pid, uint64_t limit);

}  // namespace tether::testing

#endif  // TETHER_TESTS_TESTING_PROC_STATS_H_
