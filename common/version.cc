#include "common/version.h"

#include <grpcpp/grpcpp.h>
#include <openssl/crypto.h>

namespace tether {

std::string VersionString(const std::string& program) {
  return program + " " + kTetherVersion + " (" + OpenSSL_version(OPENSSL_VERSION) + ", gRPC " +
         grpc::Version() + ")";
}

}  // namespace tether
