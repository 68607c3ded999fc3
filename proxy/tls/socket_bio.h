// SocketBio: the BIO under a TlsTransport: a non-blocking TCP socket, read
// ahead. BoringSSL reads a record in two BIO_reads (its 5-byte header, then
// the body) and a socket BIO turns each into a recv(2); this one recv()s up
// to kReadAhead bytes at once and serves BoringSSL's reads from them, so a
// record usually costs one system call, and several records arriving together
// one for all.
//
//   SocketBio sb(fd);
//   SSL_set_bio(ssl, sb.bio(), sb.bio());  // after BIO_up_ref: the SSL owns one reference
//   ... SSL_read ...
//
// The read-ahead buffer is allocated when a recv() needs it and freed once
// BoringSSL consumed it, so an idle connection holds none. Writes go straight
// to send(2) (MSG_NOSIGNAL). Not thread-safe; the SocketBio must outlive the
// SSL that uses its BIO.
#ifndef TETHER_PROXY_TLS_SOCKET_BIO_H_
#define TETHER_PROXY_TLS_SOCKET_BIO_H_

#include <cstddef>
#include <cstdint>
#include <memory>

#include <openssl/bio.h>

namespace tether::proxy {

class SocketBio {
 public:
  // Enough for a full TLS record (16 KiB + overhead) and then some.
  static constexpr size_t kReadAhead = 32 * 1024;

  explicit SocketBio(int fd);
  ~SocketBio();
  SocketBio(const SocketBio&) = delete;
  SocketBio& operator=(const SocketBio&) = delete;

  BIO* bio() const { return bio_.get(); }
  // buffered: bytes read from the socket that BoringSSL has not taken yet.
  size_t buffered() const { return end_ - begin_; }

 private:
  static int Read(BIO* bio, char* out, int len);
  static int Write(BIO* bio, const char* in, int len);
  static long Ctrl(BIO* bio, int cmd, long larg, void* parg);

  const int fd_;
  bssl::UniquePtr<BIO> bio_;
  std::unique_ptr<uint8_t[]> buf_;
  size_t begin_ = 0;
  size_t end_ = 0;
};

}  // namespace tether::proxy

#endif  // TETHER_PROXY_TLS_SOCKET_BIO_H_
