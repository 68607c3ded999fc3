#include "tests/proxy/integration/traffic.h"

#include <cerrno>
#include <cstring>
#include <random>

#include <sys/socket.h>
#include <unistd.h>

#include "absl/strings/str_cat.h"
#include "tests/proxy/integration/mesh_fixture.h"
#include "tests/testing/net_helpers.h"

namespace tether::testing {
namespace {

constexpr size_t kMaxErrors = 20;

// ReadExactly reads `n` bytes; a short read is reported in `error`.
bool ReadExactly(int fd, size_t n, std::string* out, std::string* error) {
  out->resize(n);
  size_t got = 0;
  while (got < n) {
    ssize_t r = read(fd, out->data() + got, n - got);
    if (r <= 0) {
      *error = r == 0 ? absl::StrCat("EOF after ", got, " of ", n, " bytes")
                      : absl::StrCat("read after ", got, " of ", n, " bytes: ", strerror(errno));
      return false;
    }
    got += static_cast<size_t>(r);
  }
  return true;
}

void Pause(absl::Duration d) { std::this_thread::sleep_for(absl::ToChronoMilliseconds(d)); }

}  // namespace

bool Traffic::Start() {
  std::vector<int> fds;
  for (int i = 0; i < options_.long_lived; ++i) {
    int fd = ConnectLoopback(options_.port);
    if (fd < 0 || !Exchange(fd, RandomBytes(options_.chunk, 1000 + i))) {
      Error(absl::StrCat("long-lived connection ", i, " could not start"));
      if (fd >= 0) close(fd);
      for (int f : fds) close(f);
      return false;
    }
    exchanges_ok_++;
    long_lived_bytes_ += options_.chunk;
    fds.push_back(fd);
  }
  long_lived_open_ = options_.long_lived;
  for (int i = 0; i < options_.long_lived; ++i) {
    threads_.emplace_back([this, i, fd = fds[i]] { LongLived(i, fd); });
  }
  for (int i = 0; i < options_.request_threads; ++i) {
    threads_.emplace_back([this, i] { Requests(i); });
  }
  return true;
}

bool Traffic::Exchange(int fd, const std::string& out) {
  if (!WriteAll(fd, out)) {
    Error(absl::StrCat("long-lived write: ", strerror(errno)));
    return false;
  }
  std::string back, error;
  if (!ReadExactly(fd, out.size(), &back, &error)) {
    Error(absl::StrCat("long-lived: ", error));
    return false;
  }
  if (back != out) {
    Error("long-lived: the echo differs from what was sent");
    return false;
  }
  return true;
}

void Traffic::LongLived(int index, int fd) {
  bool ok = true;
  for (uint64_t round = 1; ok && !stopping_; ++round) {
    ok = Exchange(fd, RandomBytes(options_.chunk, (uint64_t{1000} + index) * 1000000 + round));
    if (ok) {
      exchanges_ok_++;
      long_lived_bytes_ += options_.chunk;
      Pause(options_.exchange_pause);
    }
  }
  if (ok) {
    // A clean end: our half-close comes back as EOF, with nothing before it.
    shutdown(fd, SHUT_WR);
    char byte;
    ssize_t r = read(fd, &byte, 1);
    if (r != 0) {
      Error(r > 0 ? "long-lived: bytes after the last exchange"
                  : absl::StrCat("long-lived: no clean EOF: ", strerror(errno)));
      ok = false;
    }
  }
  close(fd);
  if (!ok) {
    long_lived_open_--;
    long_lived_failed_++;
  }
}

void Traffic::Requests(int index) {
  std::mt19937_64 rng(77 + index);
  const bool half_close =
      options_.request_end == RequestEnd::kHalfClose ||
      (options_.request_end == RequestEnd::kMixed && index % 2 == 0);
  for (uint64_t n = 0; !stopping_; ++n) {
    const std::string payload =
        RandomBytes(1 + rng() % options_.max_request, (uint64_t{77} + index) << 32 | n);
    int fd = ConnectLoopback(options_.port);
    bool ok = fd >= 0;
    if (!ok) Error(absl::StrCat("request: connect: ", strerror(errno)));
    if (ok && !WriteAll(fd, payload)) {
      Error(absl::StrCat("request: write: ", strerror(errno)));
      ok = false;
    }
    if (ok) {
      if (half_close) shutdown(fd, SHUT_WR);
      // Without the half-close the echo ends at the payload's length.
      std::string reply = ReadAll(fd, payload.size() + (half_close ? 1 : 0));
      if (reply != payload) {
        Error(absl::StrCat("request: ", reply.size(), " bytes back for ", payload.size(),
                           reply.size() == payload.size() ? " (different)" : ""));
        ok = false;
      }
    }
    if (fd >= 0) close(fd);
    (ok ? requests_ok_ : requests_failed_)++;
    if (ok) request_bytes_ += payload.size();
    Pause(options_.request_pause);
  }
}

void Traffic::Error(const std::string& what) {
  std::lock_guard<std::mutex> lock(mu_);
  if (errors_.size() < kMaxErrors) {
    errors_.push_back(
        absl::StrCat(absl::FormatTime("%H:%M:%E3S ", absl::Now(), absl::UTCTimeZone()), what));
  }
}

Traffic::Counts Traffic::Snapshot() const {
  Counts c;
  c.requests_ok = requests_ok_;
  c.requests_failed = requests_failed_;
  c.exchanges_ok = exchanges_ok_;
  c.request_bytes = request_bytes_;
  c.long_lived_bytes = long_lived_bytes_;
  c.long_lived_open = long_lived_open_;
  c.long_lived_failed = long_lived_failed_;
  std::lock_guard<std::mutex> lock(mu_);
  c.errors = errors_;
  return c;
}

Traffic::Counts Traffic::Stop() {
  if (!stopped_) {
    stopped_ = true;
    stopping_ = true;
    for (auto& t : threads_) t.join();
    threads_.clear();
  }
  return Snapshot();
}

}  // namespace tether::testing
