// Bootstrap: the credential a proxy uses when it holds no valid mesh
// certificate (first start, or after its certificate expired, e.g. across a
// laptop suspend or a long control-plane outage).
//
// Files are re-read every time: kubelet rotates projected service-account
// tokens, and an operator can drop a new join token into the file of a
// proxy that needs one, without restarting it.
#ifndef TETHER_PROXY_IDENTITY_BOOTSTRAP_H_
#define TETHER_PROXY_IDENTITY_BOOTSTRAP_H_

#include <string>

#include "absl/status/statusor.h"
#include "api/tether/ca/v1/ca.pb.h"

namespace tether::proxy {

struct BootstrapOptions {
  // Exactly one of these is used; join_token_file wins if both are set.
  std::string join_token_file;
  std::string kubernetes_token_file;
};

// LoadBootstrap fills the credential of `hello` from the configured file.
// FailedPrecondition naming the file when it is missing or empty, or when no
// file is configured.
absl::Status LoadBootstrap(const BootstrapOptions& options, tether::ca::v1::Hello* hello);

}  // namespace tether::proxy

#endif  // TETHER_PROXY_IDENTITY_BOOTSTRAP_H_
