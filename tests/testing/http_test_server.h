// HttpTestServer: a small HTTP/1.1 origin for tests (LoopbackServer), with
// keep-alive. Every request (bodies by Content-Length) is answered:
//   /status/NNN        -> status NNN, body "status NNN\n"
//   /slow/MS           -> 200 after MS milliseconds
//   /flaky             -> 503 and 200 in turn (the first is 503), across
//                         every connection
//   anything else      -> 200, body "ok <method> <target>\n"
// HEAD gets the headers only; "Connection: close" (or HTTP/1.0) closes
// after the answer. requests() counts the requests answered; SetDelay makes
// every answer wait that long first (a slow replica).
#ifndef TETHER_TESTS_TESTING_HTTP_TEST_SERVER_H_
#define TETHER_TESTS_TESTING_HTTP_TEST_SERVER_H_

#include <atomic>

#include "tests/testing/loopback_server.h"

namespace tether::testing {

class HttpTestServer : public LoopbackServer {
 public:
  HttpTestServer() : LoopbackServer([this](int fd) { Serve(fd); }) {}
  int requests() const { return requests_.load(); }
  void SetDelay(int ms) { delay_ms_ = ms; }

 private:
  void Serve(int fd);
  std::atomic<int> requests_{0};
  std::atomic<int> flaky_{0};
  std::atomic<int> delay_ms_{0};
};

}  // namespace tether::testing

#endif  // TETHER_TESTS_TESTING_HTTP_TEST_SERVER_H_
