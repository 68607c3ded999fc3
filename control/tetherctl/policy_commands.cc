#include "control/tetherctl/policy_commands.h"

#include <chrono>
#include <iostream>
#include <iterator>
#include <vector>

#include "absl/flags/declare.h"
#include "absl/flags/flag.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/time.h"
#include "common/files.h"
#include "common/policy/policy.h"
#include "common/policy/policy_proto.h"
#include "control/tetherctl/control_address.h"

ABSL_FLAG(std::string, kind, "AuthorizationPolicy",
          "policy delete: AuthorizationPolicy, DefaultPolicy or TrafficPolicy");
ABSL_FLAG(std::string, name, "", "policy delete: the policy's name");
ABSL_FLAG(std::string, output, "table", "policy list: table or yaml");
ABSL_FLAG(std::string, from, "",
          "authz check: the caller's SPIFFE ID (empty: plaintext caller); stat: only edges from "
          "this client (a SPIFFE ID or NAMESPACE/SERVICEACCOUNT)");
ABSL_FLAG(std::string, to, "",
          "authz check: the destination's SPIFFE ID; stat: only edges to this server (a SPIFFE "
          "ID or NAMESPACE/SERVICEACCOUNT)");
ABSL_FLAG(int, port, 0, "authz check: the destination port");
ABSL_FLAG(std::string, policy_file, "",
          "authz check: evaluate this YAML file instead of the control plane's policy");
ABSL_DECLARE_FLAG(std::string, f);
ABSL_DECLARE_FLAG(std::string, namespace);
ABSL_DECLARE_FLAG(std::string, admin);

namespace tether::tetherctl {
namespace {

namespace admin = tether::admin::v1;

std::unique_ptr<grpc::ClientContext> Context() {
  auto ctx = std::make_unique<grpc::ClientContext>();
  ctx->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
  return ctx;
}

int Fail(absl::string_view message) {
  std::cerr << "tetherctl: " << message << "\n";
  return 1;
}

int Fail(const grpc::Status& st) {
  std::string hint;
  if (st.error_code() == grpc::StatusCode::UNAVAILABLE) {
    hint = UnreachableHint(absl::GetFlag(FLAGS_admin));
  }
  return Fail(st.error_message() + hint);
}

absl::StatusOr<std::string> ReadInput(const std::string& file) {
  if (file != "-") return ReadFile(file, 1 << 20);
  std::string all(std::istreambuf_iterator<char>(std::cin), {});
  return all;
}

int Apply(admin::AdminService::Stub& stub) {
  const std::string file = absl::GetFlag(FLAGS_f);
  if (file.empty()) return Fail("policy apply needs -f FILE (or -f - for standard input)");
  absl::StatusOr<std::string> yaml = ReadInput(file);
  if (!yaml.ok()) return Fail(yaml.status().message());
  admin::ApplyPoliciesRequest req;
  req.set_yaml(*yaml);
  req.set_origin(file == "-" ? "stdin" : file);
  admin::ApplyPoliciesResponse resp;
  grpc::Status st = stub.ApplyPolicies(Context().get(), req, &resp);
  if (!st.ok()) return Fail(st);
  for (const std::string& line : resp.results()) std::cout << line << "\n";
  std::cout << "(version " << resp.version() << ", pushed to every connected proxy)\n";
  return 0;
}

const char* ActionName(tether::policy::v1::Action a) {
  switch (a) {
    case tether::policy::v1::ALLOW:
      return "ALLOW";
    case tether::policy::v1::DENY:
      return "DENY";
    case tether::policy::v1::AUDIT:
      return "AUDIT";
    default:
      return "?";
  }
}

// TrafficSummary: "timeout=2s,retries=2" ("-" when neither is set).
std::string TrafficSummary(const tether::policy::v1::TrafficPolicy& t) {
  std::vector<std::string> parts;
  if (t.timeout_ms() > 0) {
    parts.push_back(
        absl::StrCat("timeout=", absl::FormatDuration(absl::Milliseconds(t.timeout_ms()))));
  }
  if (t.retry().attempts() > 0) parts.push_back(absl::StrCat("retries=", t.retry().attempts()));
  return parts.empty() ? "-" : absl::StrJoin(parts, ",");
}

int List(admin::AdminService::Stub& stub) {
  admin::ListPoliciesResponse resp;
  grpc::Status st = stub.ListPolicies(Context().get(), admin::ListPoliciesRequest(), &resp);
  if (!st.ok()) return Fail(st);
  if (!resp.reload_error().empty()) {
    std::cerr << "warning: the policy source has a problem; the policy below is what is in "
                 "force: "
              << resp.reload_error() << "\n";
  }
  if (absl::GetFlag(FLAGS_output) == "yaml") {
    std::cout << resp.yaml();
    return 0;
  }
  std::vector<std::vector<std::string>> rows = {
      {"KIND", "NAMESPACE", "NAME", "ACTION", "SELECTS", "RULES"}};
  for (const auto& d : resp.policies().defaults()) {
    rows.push_back({"DefaultPolicy", d.namespace_().empty() ? "(mesh)" : d.namespace_(), d.name(),
                    d.action() == tether::policy::v1::DENY_ALL ? "DENY" : "ALLOW_AUTHENTICATED",
                    "-", "-"});
  }
  for (const auto& p : resp.policies().policies()) {
    rows.push_back({"AuthorizationPolicy", p.namespace_(), p.name(), ActionName(p.action()),
                    p.service_accounts().empty() ? "all" : absl::StrJoin(p.service_accounts(), ","),
                    std::to_string(p.rules_size())});
  }
  for (const auto& t : resp.policies().traffic_policies()) {
    rows.push_back(
        {"TrafficPolicy", t.namespace_(), t.name(), TrafficSummary(t),
         absl::StrCat("sa ", t.service_account(), t.port() == 0 ? "" : absl::StrCat(":", t.port())),
         std::to_string(t.routes_size())});
  }
  std::vector<size_t> width(rows[0].size(), 0);
  for (const auto& row : rows) {
    for (size_t i = 0; i < row.size(); ++i) width[i] = std::max(width[i], row[i].size());
  }
  for (const auto& row : rows) {
    std::string line;
    for (size_t i = 0; i < row.size(); ++i) {
      line += row[i];
      if (i + 1 < row.size()) line += std::string(width[i] - row[i].size() + 2, ' ');
    }
    std::cout << line << "\n";
  }
  std::cout << "(version " << resp.policies().version() << ")\n";
  return 0;
}

int Delete(admin::AdminService::Stub& stub) {
  admin::DeletePolicyRequest req;
  req.set_kind(absl::GetFlag(FLAGS_kind));
  req.set_namespace_(absl::GetFlag(FLAGS_namespace));
  req.set_name(absl::GetFlag(FLAGS_name));
  if (req.name().empty()) return Fail("policy delete needs --name (and --namespace)");
  admin::DeletePolicyResponse resp;
  grpc::Status st = stub.DeletePolicy(Context().get(), req, &resp);
  if (!st.ok()) return Fail(st);
  std::cout << req.kind() << " " << (req.namespace_().empty() ? "" : req.namespace_() + "/")
            << req.name() << " deleted\n";
  return 0;
}

// PrintDecision prints the answer and returns 0 when allowed, 1 when denied
// (as `kubectl auth can-i`).
int PrintDecision(const admin::CheckAuthorizationRequest& req,
                  const admin::CheckAuthorizationResponse& resp) {
  std::cout << (resp.allowed() ? "ALLOW" : "DENY") << ": "
            << (req.from_spiffe_id().empty() ? "a plaintext caller" : req.from_spiffe_id())
            << " -> " << req.to_spiffe_id() << " port " << req.port() << "\n"
            << "  decided by: " << resp.decided_by() << "\n"
            << "  policies selecting the destination: "
            << (resp.selecting_policies().empty() ? "none"
                                                  : absl::StrJoin(resp.selecting_policies(), ", "))
            << "\n";
  if (!resp.audited_by().empty()) {
    std::cout << "  audited by: " << absl::StrJoin(resp.audited_by(), ", ") << "\n";
  }
  return resp.allowed() ? 0 : 1;
}

// CheckOffline evaluates a policy file here, as the control plane would.
int CheckOffline(const admin::CheckAuthorizationRequest& req, const std::string& file) {
  absl::StatusOr<std::string> yaml = ReadInput(file);
  if (!yaml.ok()) return Fail(yaml.status().message());
  absl::StatusOr<policy::PolicySet> set = policy::ParsePolicies(*yaml, file);
  if (!set.ok()) return Fail(set.status().message());
  absl::StatusOr<pki::SpiffeId> to = pki::SpiffeId::Parse(req.to_spiffe_id());
  if (!to.ok()) return Fail(absl::StrCat("--to: ", to.status().message()));
  policy::Peer peer;
  if (!req.from_spiffe_id().empty()) {
    absl::StatusOr<pki::SpiffeId> from = pki::SpiffeId::Parse(req.from_spiffe_id());
    if (!from.ok()) return Fail(absl::StrCat("--from: ", from.status().message()));
    peer.id = *from;
  }
  policy::Decision d = policy::CompiledPolicy::Compile(*set, *to)->Evaluate(peer, req.port());
  admin::CheckAuthorizationResponse resp;
  resp.set_allowed(d.allowed);
  resp.set_decided_by(d.decided_by);
  for (const std::string& a : d.audited_by) resp.add_audited_by(a);
  for (const auto& p : policy::SelectFor(*set, *to).policies) {
    resp.add_selecting_policies(absl::StrCat(p.namespace_name, "/", p.name));
  }
  return PrintDecision(req, resp);
}

int Check(admin::AdminService::Stub& stub) {
  admin::CheckAuthorizationRequest req;
  req.set_from_spiffe_id(absl::GetFlag(FLAGS_from));
  req.set_to_spiffe_id(absl::GetFlag(FLAGS_to));
  req.set_port(absl::GetFlag(FLAGS_port));
  if (req.to_spiffe_id().empty() || req.port() <= 0 || req.port() > 65535) {
    std::cerr << "tetherctl: authz check needs --to SPIFFE_ID and --port 1-65535 (and --from "
                 "SPIFFE_ID, or none for a plaintext caller)\n";
    return 2;
  }
  if (const std::string file = absl::GetFlag(FLAGS_policy_file); !file.empty()) {
    return CheckOffline(req, file);
  }
  admin::CheckAuthorizationResponse resp;
  grpc::Status st = stub.CheckAuthorization(Context().get(), req, &resp);
  if (!st.ok()) return Fail(st) + 1;  // 2: could not tell
  return PrintDecision(req, resp);
}

}  // namespace

std::optional<int> RunPolicyCommand(const std::string& cmd, admin::AdminService::Stub& stub) {
  if (cmd == "policy apply") return Apply(stub);
  if (cmd == "policy list") return List(stub);
  if (cmd == "policy delete") return Delete(stub);
  if (cmd == "authz check") return Check(stub);
  return std::nullopt;
}

}  // namespace tether::tetherctl
