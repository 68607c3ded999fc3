// StreamService: the CertificateService gRPC stream (api/tether/ca/v1), one
// callback reactor per connected proxy.
//
//   StreamService service(&ca, store, registry, tokens, /*kubernetes=*/nullptr, clock);
//   builder.RegisterService(&service);
//   store->SetOnChange([&] { service.BroadcastTrustBundle(); });
//
// A stream authenticates with its first message (Hello): a join token, a
// Kubernetes token, or, with neither, the TLS client certificate (which
// gRPC requests but does not verify: VerifyChain does, against the current
// bundle, revocations and this service's clock). The identity of a stream
// never changes; every CSR on it must ask for that identity.
#ifndef TETHER_CONTROL_CA_STREAM_SERVICE_H_
#define TETHER_CONTROL_CA_STREAM_SERVICE_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "absl/synchronization/mutex.h"
#include "api/tether/ca/v1/ca.grpc.pb.h"
#include "common/clock.h"
#include "control/ca/authenticator.h"
#include "control/ca/authority.h"
#include "control/ca/ca_store.h"
#include "control/ca/join_tokens.h"
#include "control/ca/registry.h"

namespace tether::control {

struct WorkloadInfo {
  std::string spiffe_id;
  std::string workload_name;
  std::string proxy_version;
  std::string peer;
  absl::Time connected_since;
  std::string serial_hex;
  absl::Time not_after;
  std::string authenticated_by;
};

class CertStream;

class StreamService final : public tether::ca::v1::CertificateService::CallbackService {
 public:
  StreamService(CertificateAuthority* ca, CaStore* store, CertificateRegistry* registry,
                JoinTokens* tokens, Authenticator* kubernetes, AuditLog* audit, const Clock* clock);
  ~StreamService() override;

  grpc::ServerBidiReactor<tether::ca::v1::StreamRequest, tether::ca::v1::StreamResponse>* Stream(
      grpc::CallbackServerContext* context) override;

  // Push the current bundle / revocation list to every authenticated stream.
  void BroadcastTrustBundle();
  void BroadcastRevocations();

  std::vector<WorkloadInfo> Workloads() const;
  size_t stream_count() const;

  // Observes stream opens (+1) and closes (-1), for metrics.
  void SetStreamObserver(std::function<void(int delta)> observer) {
    stream_observer_ = std::move(observer);
  }
  // Observes streams refused at authentication: "unauthenticated",
  // "permission_denied" or "invalid_argument".
  void SetRejectObserver(std::function<void(absl::string_view reason)> observer) {
    reject_observer_ = std::move(observer);
  }

 private:
  friend class CertStream;
  void Register(CertStream* stream);
  void Unregister(CertStream* stream);

  CertificateAuthority* const ca_;
  CaStore* const store_;
  CertificateRegistry* const registry_;
  JoinTokens* const tokens_;
  Authenticator* const kubernetes_;
  AuditLog* const audit_;
  const Clock* const clock_;
  std::function<void(int)> stream_observer_;
  std::function<void(absl::string_view)> reject_observer_;

  mutable absl::Mutex mu_;
  absl::CondVar all_done_;
  absl::flat_hash_set<CertStream*> streams_ ABSL_GUARDED_BY(mu_);
};

// TrustBundleMessage / RevocationMessage build the pushed messages.
tether::ca::v1::TrustBundle TrustBundleMessage(const CaSnapshot& ca);
tether::ca::v1::RevocationList RevocationMessage(const RevocationSnapshot& revocations);

}  // namespace tether::control

#endif  // TETHER_CONTROL_CA_STREAM_SERVICE_H_
