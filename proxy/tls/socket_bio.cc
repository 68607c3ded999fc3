#include "proxy/tls/socket_bio.h"

#include <algorithm>
#include <cerrno>
#include <cstring>

#include <sys/socket.h>

namespace tether::proxy {
namespace {

const BIO_METHOD* Method(int (*read)(BIO*, char*, int), int (*write)(BIO*, const char*, int),
                         long (*ctrl)(BIO*, int, long, void*)) {
  static const BIO_METHOD* method = [&] {
    BIO_METHOD* m = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "tether socket");
    BIO_meth_set_read(m, read);
    BIO_meth_set_write(m, write);
    BIO_meth_set_ctrl(m, ctrl);
    return m;
  }();
  return method;
}

}  // namespace

SocketBio::SocketBio(int fd) : fd_(fd) {
  bio_.reset(BIO_new(Method(&SocketBio::Read, &SocketBio::Write, &SocketBio::Ctrl)));
  BIO_set_data(bio_.get(), this);
  BIO_set_init(bio_.get(), 1);
}

SocketBio::~SocketBio() {
  if (bio_) BIO_set_data(bio_.get(), nullptr);
}

int SocketBio::Read(BIO* bio, char* out, int len) {
  auto* self = static_cast<SocketBio*>(BIO_get_data(bio));
  BIO_clear_retry_flags(bio);
  if (self == nullptr || len <= 0) return 0;
  const auto want = static_cast<size_t>(len);
  if (self->begin_ < self->end_) {
    const size_t n = std::min(want, self->end_ - self->begin_);
    memcpy(out, self->buf_.get() + self->begin_, n);
    self->begin_ += n;
    if (self->begin_ == self->end_) {
      self->buf_.reset();
      self->begin_ = self->end_ = 0;
    }
    return static_cast<int>(n);
  }
  if (self->buf_ == nullptr) self->buf_ = std::make_unique_for_overwrite<uint8_t[]>(kReadAhead);
  for (;;) {
    ssize_t rc = recv(self->fd_, self->buf_.get(), kReadAhead, 0);
    if (rc > 0) {
      const auto got = static_cast<size_t>(rc);
      const size_t n = std::min(want, got);
      memcpy(out, self->buf_.get(), n);
      if (n < got) {
        self->begin_ = n;
        self->end_ = got;
      } else {
        self->buf_.reset();
      }
      return static_cast<int>(n);
    }
    self->buf_.reset();
    if (rc == 0) return 0;  // end of stream
    if (errno == EINTR) continue;
    if (errno == EAGAIN) BIO_set_retry_read(bio);
    return -1;  // errno tells the caller why
  }
}

int SocketBio::Write(BIO* bio, const char* in, int len) {
  auto* self = static_cast<SocketBio*>(BIO_get_data(bio));
  BIO_clear_retry_flags(bio);
  if (self == nullptr) return -1;
  for (;;) {
    ssize_t rc = send(self->fd_, in, static_cast<size_t>(len), MSG_NOSIGNAL);
    if (rc >= 0) return static_cast<int>(rc);
    if (errno == EINTR) continue;
    if (errno == EAGAIN) BIO_set_retry_write(bio);
    return -1;
  }
}

long SocketBio::Ctrl(BIO*, int cmd, long, void*) { return cmd == BIO_CTRL_FLUSH ? 1 : 0; }

}  // namespace tether::proxy
