// Transport: one side of a proxied connection: a non-blocking socket, read
// and written either directly (PlainTransport) or through TLS (TlsTransport,
// BoringSSL on the socket). The relay only ever talks to this interface.
//
//   size_t n;
//   switch (t->Read(buf, sizeof(buf), &n)) {
//     case IoStatus::kOk: ...          // n > 0 bytes
//     case IoStatus::kWouldBlock: ...  // wait for the next readiness event
//     case IoStatus::kEof: ...         // peer finished sending (FIN / close_notify)
//     case IoStatus::kError: ...       // reset or protocol error: t->error()
//   }
#ifndef TETHER_PROXY_NET_TRANSPORT_H_
#define TETHER_PROXY_NET_TRANSPORT_H_

#include <cstddef>
#include <cstdint>
#include <string>

namespace tether::proxy {

enum class IoStatus { kOk, kWouldBlock, kEof, kError };

class Transport {
 public:
  virtual ~Transport() = default;

  // Handshake advances connection setup (TLS handshake; nothing for plain).
  // kOk when done, kWouldBlock to be called again on the next event, kError
  // with error() set. Read/Write may only be used once it returned kOk.
  virtual IoStatus Handshake() = 0;

  // Read reads up to `len` bytes into `buf`; *n is set on kOk (n > 0).
  // A transport may hold decrypted bytes that are not visible as socket
  // readiness: after a Read returns kOk because `len` ran out, the caller must
  // call Read again before waiting for an event (HasBufferedData says so).
  virtual IoStatus Read(uint8_t* buf, size_t len, size_t* n) = 0;

  // Write writes up to `len` bytes; *n on kOk may be less than `len`
  // (partial write). After kWouldBlock, retry later with the same bytes.
  virtual IoStatus Write(const uint8_t* buf, size_t len, size_t* n) = 0;

  // HasBufferedData: Read can return data without the socket being readable.
  virtual bool HasBufferedData() const = 0;

  // ShutdownWrite ends the sending direction (half-close): TLS sends
  // close_notify, then the socket is shut down for writing. kWouldBlock means
  // call again on the next event.
  virtual IoStatus ShutdownWrite() = 0;

  // Abort closes the socket so that the peer sees a reset (SO_LINGER 0).
  virtual void Abort() = 0;

  virtual int fd() const = 0;

  // A stable word describing the last kError, for metrics and logs:
  // "reset", "tls_handshake_failed", "untrusted", ... (empty if none).
  virtual const std::string& error() const = 0;
};

}  // namespace tether::proxy

#endif  // TETHER_PROXY_NET_TRANSPORT_H_
