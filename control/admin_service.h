// AdminService: the operators' gRPC API (api/tether/admin/v1), used by tetherctl.
#ifndef TETHER_CONTROL_ADMIN_SERVICE_H_
#define TETHER_CONTROL_ADMIN_SERVICE_H_

#include "api/tether/admin/v1/admin.grpc.pb.h"
#include "common/clock.h"
#include "control/ca/audit_log.h"
#include "control/ca/ca_store.h"
#include "control/ca/join_tokens.h"
#include "control/ca/registry.h"
#include "control/ca/revocation_sync.h"
#include "control/ca/stream_service.h"
#include "control/discovery/endpoint_registry.h"
#include "control/policy/policy_store.h"

namespace tether::control {

class AdminService final : public tether::admin::v1::AdminService::Service {
 public:
  AdminService(CaStore* store, CertificateRegistry* registry, JoinTokens* tokens,
               PolicyStore* policies, StreamService* streams, AuditLog* audit,
               absl::Duration cert_ttl, const Clock* clock)
      : store_(store),
        registry_(registry),
        tokens_(tokens),
        policies_(policies),
        streams_(streams),
        audit_(audit),
        cert_ttl_(cert_ttl),
        clock_(clock) {}
  // SetRevocationSync: every revocation is stored at once where the
  // replicas share the list (its failure is UNAVAILABLE: the revocation
  // holds on this replica, which retries every `poll`); call before serving.
  void SetRevocationSync(RevocationSync* sync, absl::Duration poll) {
    revocation_sync_ = sync;
    revocation_sync_poll_ = poll;
  }
  // SetEndpoints lets join tokens bind addresses and serves ListEndpoints
  // (without it, both are FAILED_PRECONDITION); call before serving.
  void SetEndpoints(EndpointRegistry* endpoints) { endpoints_ = endpoints; }

  grpc::Status CreateJoinToken(grpc::ServerContext*,
                               const tether::admin::v1::CreateJoinTokenRequest* request,
                               tether::admin::v1::CreateJoinTokenResponse* response) override;
  grpc::Status ListCertificates(grpc::ServerContext*,
                                const tether::admin::v1::ListCertificatesRequest* request,
                                tether::admin::v1::ListCertificatesResponse* response) override;
  grpc::Status ListWorkloads(grpc::ServerContext*,
                             const tether::admin::v1::ListWorkloadsRequest* request,
                             tether::admin::v1::ListWorkloadsResponse* response) override;
  grpc::Status Revoke(grpc::ServerContext*, const tether::admin::v1::RevokeRequest* request,
                      tether::admin::v1::RevokeResponse* response) override;
  grpc::Status RotateCa(grpc::ServerContext*, const tether::admin::v1::RotateCaRequest* request,
                        tether::admin::v1::RotateCaResponse* response) override;
  grpc::Status GetTrustBundle(grpc::ServerContext*,
                              const tether::admin::v1::GetTrustBundleRequest* request,
                              tether::admin::v1::GetTrustBundleResponse* response) override;
  grpc::Status ApplyPolicies(grpc::ServerContext*,
                             const tether::admin::v1::ApplyPoliciesRequest* request,
                             tether::admin::v1::ApplyPoliciesResponse* response) override;
  grpc::Status ListPolicies(grpc::ServerContext*,
                            const tether::admin::v1::ListPoliciesRequest* request,
                            tether::admin::v1::ListPoliciesResponse* response) override;
  grpc::Status DeletePolicy(grpc::ServerContext*,
                            const tether::admin::v1::DeletePolicyRequest* request,
                            tether::admin::v1::DeletePolicyResponse* response) override;
  grpc::Status CheckAuthorization(grpc::ServerContext*,
                                  const tether::admin::v1::CheckAuthorizationRequest* request,
                                  tether::admin::v1::CheckAuthorizationResponse* response) override;
  grpc::Status ListEndpoints(grpc::ServerContext*,
                             const tether::admin::v1::ListEndpointsRequest* request,
                             tether::admin::v1::ListEndpointsResponse* response) override;

 private:
  CaStore* const store_;
  CertificateRegistry* const registry_;
  JoinTokens* const tokens_;
  PolicyStore* const policies_;
  StreamService* const streams_;
  AuditLog* const audit_;
  const absl::Duration cert_ttl_;
  const Clock* const clock_;
  EndpointRegistry* endpoints_ = nullptr;
  RevocationSync* revocation_sync_ = nullptr;
  absl::Duration revocation_sync_poll_;
};

}  // namespace tether::control

#endif  // TETHER_CONTROL_ADMIN_SERVICE_H_
