#include "tests/testing/echo_server.h"

#include <sys/socket.h>
#include <unistd.h>

namespace tether::testing {

void EchoServer::Serve(int fd) {
  char buf[65536];
  while (true) {
    ssize_t n = read(fd, buf, sizeof(buf));
    if (n <= 0) break;
    ssize_t off = 0;
    while (off < n) {
      ssize_t w = send(fd, buf + off, n - off, MSG_NOSIGNAL);
      if (w <= 0) break;
      off += w;
    }
  }
  shutdown(fd, SHUT_WR);
  close(fd);
}

}  // namespace tether::testing
