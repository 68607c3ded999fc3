// CaConnector: opens certificate streams to the control plane. The seam
// between the identity manager and gRPC; tests substitute a fake.
#ifndef TETHER_PROXY_IDENTITY_CA_CONNECTOR_H_
#define TETHER_PROXY_IDENTITY_CA_CONNECTOR_H_

#include <memory>
#include <optional>
#include <string>

#include "absl/status/status.h"
#include "api/tether/ca/v1/ca.pb.h"

namespace tether::proxy {

// A client certificate for the stream's TLS (PEM key and chain).
struct ClientCredential {
  std::string key_pem;
  std::string chain_pem;
};

// CaStream: one bidirectional stream. Write and Read may be called from two
// different threads at once; TryCancel from any thread makes a blocked Read
// return false.
class CaStream {
 public:
  virtual ~CaStream() = default;
  virtual bool Write(const tether::ca::v1::StreamRequest& request) = 0;
  virtual bool Read(tether::ca::v1::StreamResponse* response) = 0;
  virtual void TryCancel() = 0;
  // Finish returns the stream's final status once Read returned false.
  virtual absl::Status Finish() = 0;
};

class CaConnector {
 public:
  virtual ~CaConnector() = default;
  // Open starts a stream over TLS trusting `roots_pem`, presenting `client`
  // when given. Never blocks on the network (failures surface as Read
  // returning false and Finish's status).
  virtual std::unique_ptr<CaStream> Open(const std::string& roots_pem,
                                         const std::optional<ClientCredential>& client) = 0;
};

// GrpcCaConnector dials `address` ("host:port") and checks the control
// plane's certificate for `server_name`.
std::unique_ptr<CaConnector> MakeGrpcCaConnector(std::string address, std::string server_name);

}  // namespace tether::proxy

#endif  // TETHER_PROXY_IDENTITY_CA_CONNECTOR_H_
