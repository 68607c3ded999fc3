// EchoServer: a blocking TCP echo server on 127.0.0.1:0 for tests
// (LoopbackServer): each connection is echoed until EOF, then half-closed.
#ifndef TETHER_TESTS_TESTING_ECHO_SERVER_H_
#define TETHER_TESTS_TESTING_ECHO_SERVER_H_

#include "tests/testing/loopback_server.h"

namespace tether::testing {

class EchoServer : public LoopbackServer {
 public:
  EchoServer() : LoopbackServer(&Serve) {}

 private:
  static void Serve(int fd);
};

}  // namespace tether::testing

#endif  // TETHER_TESTS_TESTING_ECHO_SERVER_H_
