// Traffic: continuous, checked load through a proxy pair to an echo backend,
// of two kinds at once:
//  - long-lived connections, opened once, that keep exchanging chunks of
//    seeded random bytes and compare every echo byte for byte;
//  - requests: a fresh connection each, one payload, the whole echo read and
//    compared; the request either half-closes after its payload and reads
//    until EOF, or reads its echo and then closes (as HTTP clients do).
//
// A client proxy that forwards a half-close before the server's session
// tickets have arrived sends close_notify first, and BoringSSL then ignores
// the tickets: half-closing requests mostly make full handshakes, requests
// that read first are mostly resumed.
//
//   Traffic traffic({.port = a->outbound_port()});
//   traffic.Start();
//   ... rotate, kill, restart ...
//   Traffic::Counts c = traffic.Stop();   // long-lived connections closed cleanly
//   EXPECT_EQ(c.requests_failed, 0);
//
// A long-lived connection that fails is not reopened: it counts in
// long_lived_failed and stays dead. Stop half-closes each live long-lived
// connection and expects a clean EOF with nothing extra. Counts are exact.
#ifndef TETHER_TESTS_PROXY_INTEGRATION_TRAFFIC_H_
#define TETHER_TESTS_PROXY_INTEGRATION_TRAFFIC_H_

#include <atomic>
#include <cstdint>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "absl/time/time.h"

namespace tether::testing {

class Traffic {
 public:
  enum class RequestEnd {
    kHalfClose,     // payload, half-close, read until EOF
    kReadThenClose, // payload, read the echo, close
    kMixed,         // even-numbered request threads half-close, odd ones read first
  };
  struct Options {
    int port = 0;  // the outbound listener of the client-side proxy
    int long_lived = 4;
    int request_threads = 2;
    // Pauses between a thread's exchanges / requests, to keep the load
    // steady on a shared machine.
    absl::Duration exchange_pause = absl::Milliseconds(20);
    absl::Duration request_pause = absl::Milliseconds(20);
    size_t chunk = 16 * 1024;        // bytes per long-lived exchange
    size_t max_request = 32 * 1024;  // request payloads are 1 .. this
    RequestEnd request_end = RequestEnd::kHalfClose;
  };
  struct Counts {
    uint64_t requests_ok = 0;
    uint64_t requests_failed = 0;
    uint64_t exchanges_ok = 0;
    uint64_t request_bytes = 0;       // payloads of the requests that succeeded
    uint64_t long_lived_bytes = 0;    // echoed and checked (each byte went there and back)
    int long_lived_open = 0;          // opened and not failed
    int long_lived_failed = 0;        // broken, or not closed cleanly by Stop
    std::vector<std::string> errors;  // the first few, with a timestamp
  };

  explicit Traffic(Options options) : options_(options) {}
  ~Traffic() { Stop(); }
  Traffic(const Traffic&) = delete;
  Traffic& operator=(const Traffic&) = delete;

  // Start opens the long-lived connections (false, with errors, if one
  // cannot complete a first exchange) and starts every thread.
  bool Start();
  // Counts so far.
  Counts Snapshot() const;
  // Stop ends the traffic, closes the long-lived connections, and returns
  // the final counts. Idempotent.
  Counts Stop();

 private:
  void LongLived(int index, int fd);
  void Requests(int index);
  bool Exchange(int fd, const std::string& out);
  void Error(const std::string& what);

  const Options options_;
  std::atomic<bool> stopping_{false};
  std::atomic<uint64_t> requests_ok_{0};
  std::atomic<uint64_t> requests_failed_{0};
  std::atomic<uint64_t> exchanges_ok_{0};
  std::atomic<uint64_t> request_bytes_{0};
  std::atomic<uint64_t> long_lived_bytes_{0};
  std::atomic<int> long_lived_open_{0};
  std::atomic<int> long_lived_failed_{0};
  mutable std::mutex mu_;
  std::vector<std::string> errors_;
  std::vector<std::thread> threads_;
  bool stopped_ = false;
};

}  // namespace tether::testing

#endif  // TETHER_TESTS_PROXY_INTEGRATION_TRAFFIC_H_
