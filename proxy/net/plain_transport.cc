#include "proxy/net/plain_transport.h"

#include <cerrno>

#include <sys/socket.h>

namespace tether::proxy {

IoStatus PlainTransport::Fail(int err) {
  absl::string_view word = ErrnoWord(err);
  error_.assign(word.data(), word.size());
  return IoStatus::kError;
}

IoStatus PlainTransport::Read(uint8_t* buf, size_t len, size_t* n) {
  for (;;) {
    ssize_t rc = recv(fd_.get(), buf, len, 0);
    if (rc > 0) {
      *n = static_cast<size_t>(rc);
      return IoStatus::kOk;
    }
    if (rc == 0) return len == 0 ? IoStatus::kWouldBlock : IoStatus::kEof;
    if (errno == EINTR) continue;
    if (errno == EAGAIN) return IoStatus::kWouldBlock;
    return Fail(errno);
  }
}

IoStatus PlainTransport::Write(const uint8_t* buf, size_t len, size_t* n) {
  for (;;) {
    ssize_t rc = send(fd_.get(), buf, len, MSG_NOSIGNAL);
    if (rc >= 0) {
      *n = static_cast<size_t>(rc);
      return IoStatus::kOk;
    }
    if (errno == EINTR) continue;
    if (errno == EAGAIN) return IoStatus::kWouldBlock;
    return Fail(errno);
  }
}

IoStatus PlainTransport::ShutdownWrite() {
  if (shutdown(fd_.get(), SHUT_WR) != 0) return Fail(errno);
  return IoStatus::kOk;
}

void PlainTransport::Abort() { AbortiveClose(std::move(fd_)); }

}  // namespace tether::proxy
