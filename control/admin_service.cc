#include "control/admin_service.h"

#include "absl/strings/str_cat.h"
#include "common/pki/certs.h"
#include "common/pki/spiffe_id.h"
#include "common/policy/policy_proto.h"
#include "control/discovery/discovery_update.h"
#include "control/discovery/endpoint_address.h"

namespace tether::control {
namespace {

grpc::Status ToGrpc(const absl::Status& st) {
  return grpc::Status(static_cast<grpc::StatusCode>(st.code()), std::string(st.message()));
}

}  // namespace

grpc::Status AdminService::CreateJoinToken(grpc::ServerContext*,
                                           const tether::admin::v1::CreateJoinTokenRequest* req,
                                           tether::admin::v1::CreateJoinTokenResponse* resp) {
  auto ca = store_->Current();
  absl::StatusOr<pki::SpiffeId> id =
      pki::SpiffeId::Make(ca->trust_domain, req->namespace_(), req->service_account());
  if (!id.ok()) return ToGrpc(id.status());
  std::vector<std::string> addresses;
  if (req->addresses_size() > 0 && endpoints_ == nullptr) {
    return grpc::Status(grpc::StatusCode::FAILED_PRECONDITION,
                        "this control plane keeps no endpoint registry");
  }
  if (static_cast<size_t>(req->addresses_size()) > kMaxAddressesPerWorkload) {
    return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                        absl::StrCat("at most ", kMaxAddressesPerWorkload, " addresses per token"));
  }
  for (const std::string& a : req->addresses()) {
    absl::StatusOr<EndpointAddress> parsed = ParseEndpointAddress(a);
    if (!parsed.ok()) return ToGrpc(parsed.status());
    addresses.push_back(parsed->ToString());
  }
  absl::StatusOr<JoinTokens::Minted> minted =
      tokens_->Create(*id, absl::Seconds(req->ttl_seconds()), addresses);
  if (!minted.ok()) return ToGrpc(minted.status());
  audit_->Record("join_token_created", {{"spiffe_id", id->ToString()},
                                        {"expires", absl::ToUnixSeconds(minted->expires)},
                                        {"addresses", addresses}});
  resp->set_token(minted->token);
  resp->set_spiffe_id(id->ToString());
  resp->set_expires_unix(absl::ToUnixSeconds(minted->expires));
  return grpc::Status::OK;
}

grpc::Status AdminService::ListCertificates(grpc::ServerContext*,
                                            const tether::admin::v1::ListCertificatesRequest* req,
                                            tether::admin::v1::ListCertificatesResponse* resp) {
  auto revoked = registry_->Revocations();
  for (const IssuedRecord& r : registry_->List(req->spiffe_id())) {
    auto* c = resp->add_certificates();
    c->set_serial_hex(r.serial_hex);
    c->set_spiffe_id(r.spiffe_id);
    c->set_not_before_unix(absl::ToUnixSeconds(r.not_before));
    c->set_not_after_unix(absl::ToUnixSeconds(r.not_after));
    c->set_issuer_serial_hex(r.issuer_serial_hex);
    c->set_revoked(revoked->revoked.serials.contains(r.serial_hex) ||
                   revoked->revoked.spiffe_ids.contains(r.spiffe_id));
  }
  return grpc::Status::OK;
}

grpc::Status AdminService::ListWorkloads(grpc::ServerContext*,
                                         const tether::admin::v1::ListWorkloadsRequest*,
                                         tether::admin::v1::ListWorkloadsResponse* resp) {
  for (const WorkloadInfo& w : streams_->Workloads()) {
    auto* out = resp->add_workloads();
    out->set_spiffe_id(w.spiffe_id);
    out->set_workload_name(w.workload_name);
    out->set_proxy_version(w.proxy_version);
    out->set_peer_address(w.peer);
    out->set_connected_since_unix(absl::ToUnixSeconds(w.connected_since));
    out->set_serial_hex(w.serial_hex);
    if (!w.serial_hex.empty()) out->set_not_after_unix(absl::ToUnixSeconds(w.not_after));
    out->set_authenticated_by(w.authenticated_by);
  }
  return grpc::Status::OK;
}

grpc::Status AdminService::Revoke(grpc::ServerContext*, const tether::admin::v1::RevokeRequest* req,
                                  tether::admin::v1::RevokeResponse* resp) {
  absl::StatusOr<uint64_t> version;
  std::string target;
  switch (req->target_case()) {
    case tether::admin::v1::RevokeRequest::kSerialHex:
      target = req->serial_hex();
      version = registry_->RevokeSerial(target);
      break;
    case tether::admin::v1::RevokeRequest::kSpiffeId:
      target = req->spiffe_id();
      version = registry_->RevokeIdentity(target);
      break;
    default:
      return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                          "name a serial or a SPIFFE ID to revoke");
  }
  if (!version.ok()) return ToGrpc(version.status());
  audit_->Record("revoked", {{"target", target}, {"version", *version}});
  if (revocation_sync_ != nullptr) {
    if (absl::Status st = revocation_sync_->SyncOnce(); !st.ok()) {
      return grpc::Status(
          grpc::StatusCode::UNAVAILABLE,
          absl::StrCat("revoked on this replica, and pushed to its proxies, but not yet stored "
                       "for the other replicas (",
                       st.message(), "); this replica retries every ",
                       absl::FormatDuration(revocation_sync_poll_)));
    }
    resp->set_shared_in(revocation_sync_->Describe());
  }
  resp->set_revocations_version(registry_->Revocations()->version);
  return grpc::Status::OK;
}

grpc::Status AdminService::RotateCa(grpc::ServerContext*,
                                    const tether::admin::v1::RotateCaRequest* req,
                                    tether::admin::v1::RotateCaResponse* resp) {
  absl::Duration overlap =
      req->overlap_seconds() > 0 ? absl::Seconds(req->overlap_seconds()) : 2 * cert_ttl_;
  absl::StatusOr<RotateResult> result = store_->Rotate(overlap);
  if (!result.ok()) return ToGrpc(result.status());
  audit_->Record("ca_rotated",
                 {{"new_root", result->new_root_serial},
                  {"old_root", result->old_root_serial},
                  {"old_root_dropped", absl::ToUnixSeconds(result->old_root_dropped)}});
  resp->set_new_root_serial_hex(result->new_root_serial);
  resp->set_old_root_serial_hex(result->old_root_serial);
  resp->set_old_root_dropped_unix(absl::ToUnixSeconds(result->old_root_dropped));
  return grpc::Status::OK;
}

grpc::Status AdminService::GetTrustBundle(grpc::ServerContext*,
                                          const tether::admin::v1::GetTrustBundleRequest*,
                                          tether::admin::v1::GetTrustBundleResponse* resp) {
  auto ca = store_->Current();
  resp->set_trust_domain(ca->trust_domain);
  resp->set_roots_pem(ca->bundle.ToPem());
  resp->set_version(ca->version);
  return grpc::Status::OK;
}

grpc::Status AdminService::ApplyPolicies(grpc::ServerContext*,
                                         const tether::admin::v1::ApplyPoliciesRequest* req,
                                         tether::admin::v1::ApplyPoliciesResponse* resp) {
  absl::StatusOr<std::vector<std::string>> results =
      policies_->Apply(req->yaml(), req->origin().empty() ? "request" : req->origin());
  if (!results.ok()) return ToGrpc(results.status());
  for (std::string& line : *results) resp->add_results(std::move(line));
  resp->set_version(policies_->Current()->version);
  return grpc::Status::OK;
}

grpc::Status AdminService::ListPolicies(grpc::ServerContext*,
                                        const tether::admin::v1::ListPoliciesRequest*,
                                        tether::admin::v1::ListPoliciesResponse* resp) {
  std::shared_ptr<const PolicyState> state = policies_->Current();
  *resp->mutable_policies() = policy::ToProto(state->set);
  resp->mutable_policies()->set_version(state->version);
  resp->set_yaml(policy::ToYaml(state->set));
  resp->set_reload_error(policies_->reload_error());
  return grpc::Status::OK;
}

grpc::Status AdminService::DeletePolicy(grpc::ServerContext*,
                                        const tether::admin::v1::DeletePolicyRequest* req,
                                        tether::admin::v1::DeletePolicyResponse* resp) {
  if (absl::Status st = policies_->Delete(req->kind(), req->namespace_(), req->name()); !st.ok()) {
    return ToGrpc(st);
  }
  resp->set_version(policies_->Current()->version);
  return grpc::Status::OK;
}

grpc::Status AdminService::CheckAuthorization(
    grpc::ServerContext*, const tether::admin::v1::CheckAuthorizationRequest* req,
    tether::admin::v1::CheckAuthorizationResponse* resp) {
  absl::StatusOr<pki::SpiffeId> to = pki::SpiffeId::Parse(req->to_spiffe_id());
  if (!to.ok()) {
    return ToGrpc(absl::InvalidArgumentError(absl::StrCat("--to: ", to.status().message())));
  }
  policy::Peer peer;
  if (!req->from_spiffe_id().empty()) {
    absl::StatusOr<pki::SpiffeId> from = pki::SpiffeId::Parse(req->from_spiffe_id());
    if (!from.ok()) {
      return ToGrpc(absl::InvalidArgumentError(absl::StrCat("--from: ", from.status().message())));
    }
    peer.id = *from;
  }
  if (req->port() < 1 || req->port() > 65535) {
    return ToGrpc(
        absl::InvalidArgumentError(absl::StrCat("--port: ", req->port(), " is not a port")));
  }
  std::shared_ptr<const PolicyState> state = policies_->Current();
  policy::Decision d =
      policy::CompiledPolicy::Compile(state->set, *to)->Evaluate(peer, req->port());
  resp->set_allowed(d.allowed);
  resp->set_decided_by(d.decided_by);
  for (const std::string& a : d.audited_by) resp->add_audited_by(a);
  for (const policy::AuthorizationPolicy& p : policy::SelectFor(state->set, *to).policies) {
    resp->add_selecting_policies(absl::StrCat(p.namespace_name, "/", p.name));
  }
  return grpc::Status::OK;
}

grpc::Status AdminService::ListEndpoints(grpc::ServerContext*,
                                         const tether::admin::v1::ListEndpointsRequest*,
                                         tether::admin::v1::ListEndpointsResponse* resp) {
  if (endpoints_ == nullptr) {
    return grpc::Status(grpc::StatusCode::FAILED_PRECONDITION,
                        "this control plane keeps no endpoint registry");
  }
  std::shared_ptr<const EndpointSnapshot> snap = endpoints_->Current();
  tether::discovery::v1::DiscoveryUpdate full = FullUpdate(*snap);
  resp->set_version(snap->version);
  for (int i = 0; i < full.endpoints_size(); ++i) {
    auto* out = resp->add_endpoints();
    *out->mutable_endpoint() = full.endpoints(i);
    const Endpoint& e = snap->endpoints[i];
    auto since = snap->since.find(absl::StrCat(e.ip, "|", e.port));
    if (since != snap->since.end()) out->set_since_unix(absl::ToUnixSeconds(since->second));
  }
  return grpc::Status::OK;
}

}  // namespace tether::control
