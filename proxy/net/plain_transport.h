// PlainTransport: a Transport straight over a non-blocking TCP socket.
//
//   bool connecting;
//   absl::StatusOr<UniqueFd> fd = ConnectNonBlocking(addr, &connecting);
//   auto upstream = std::make_unique<PlainTransport>(*std::move(fd));
//
// Handshake is a no-op. Read returns kEof on the peer's FIN and kError on a
// reset (error() "reset") or another socket error (ErrnoWord). Writes never
// raise SIGPIPE. The transport owns the socket: destruction closes it
// (orderly), Abort() closes it with a reset.
#ifndef TETHER_PROXY_NET_PLAIN_TRANSPORT_H_
#define TETHER_PROXY_NET_PLAIN_TRANSPORT_H_

#include <string>

#include "proxy/net/socket.h"
#include "proxy/net/transport.h"

namespace tether::proxy {

class PlainTransport final : public Transport {
 public:
  explicit PlainTransport(UniqueFd fd) : fd_(std::move(fd)) {}

  IoStatus Handshake() override { return IoStatus::kOk; }
  IoStatus Read(uint8_t* buf, size_t len, size_t* n) override;
  IoStatus Write(const uint8_t* buf, size_t len, size_t* n) override;
  bool HasBufferedData() const override { return false; }
  IoStatus ShutdownWrite() override;
  void Abort() override;
  int fd() const override { return fd_.get(); }
  const std::string& error() const override { return error_; }

 private:
  IoStatus Fail(int err);

  UniqueFd fd_;
  std::string error_;
};

}  // namespace tether::proxy

#endif  // TETHER_PROXY_NET_PLAIN_TRANSPORT_H_
