// tetherctl: the operator's command line for a Tether mesh.
//
//   tetherctl token create --namespace shop --service-account cart   #
//   unix:/run/tether/control.sock tetherctl --admin unix:/var/lib/x/control.sock ...   # or
//   HOST:PORT, or $TETHER_ADMIN tetherctl certs list tetherctl workloads tetherctl revoke --serial
//   9f3a... | --spiffe-id spiffe://mesh.local/ns/shop/sa/cart tetherctl ca rotate [--overlap 2h]
//   tetherctl ca bundle > roots.pem
//   tetherctl ca init --out cacerts [--trust-domain cluster.local]   # offline
//   tetherctl inject -f deployment.yaml | kubectl apply -f -
//   tetherctl uninject -f injected.yaml
//   tetherctl check [--proxy 127.0.0.1:15000,...] [--no-control]
//   tetherctl diagnose --proxy 127.0.0.1:15000
//   tetherctl stat --proxy 127.0.0.1:15000,127.0.0.1:15001
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

#include <grpcpp/grpcpp.h>

#include "absl/flags/declare.h"
#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/time/time.h"
#include "api/tether/admin/v1/admin.grpc.pb.h"
#include "common/files.h"
#include "common/flags.h"
#include "common/pki/certs.h"
#include "common/pki/issuer.h"
#include "common/pki/keys.h"
#include "common/version.h"
#include "control/admin_address.h"
#include "control/inject/flags.h"
#include "control/inject/injector.h"
#include "control/tetherctl/check_command.h"
#include "control/tetherctl/control_address.h"
#include "control/tetherctl/diagnose_command.h"
#include "control/tetherctl/endpoints_command.h"
#include "control/tetherctl/policy_commands.h"
#include "control/tetherctl/proxy_admin.h"
#include "control/tetherctl/stat_command.h"
#include "control/tetherctl/top_command.h"
#include "control/tetherctl/table.h"

ABSL_FLAG(std::string, admin, "",
          "tether-control's admin address: unix:PATH or HOST:PORT (default: $TETHER_ADMIN, else "
          "unix:/run/tether/control.sock)");
ABSL_FLAG(std::string, namespace, "", "token create: the workload's namespace");
ABSL_FLAG(std::string, service_account, "", "token create: the workload's service account");
ABSL_FLAG(absl::Duration, ttl, absl::Minutes(10), "token create: how long the token is valid");
ABSL_FLAG(std::string, serial, "", "revoke: a certificate serial (hex)");
ABSL_FLAG(std::string, spiffe_id, "", "revoke: an identity; certs list: filter");
ABSL_FLAG(absl::Duration, overlap, absl::ZeroDuration(),
          "ca rotate: how long the old root stays trusted (default: twice the cert TTL)");
ABSL_FLAG(std::string, out, "", "ca init: the directory to write the CA into (created)");
ABSL_FLAG(std::string, trust_domain, "cluster.local", "ca init: the mesh's trust domain");
ABSL_FLAG(absl::Duration, validity, absl::Hours(24 * 3650), "ca init: the root's lifetime");
ABSL_FLAG(std::string, f, "",
          "inject, uninject, policy apply: the YAML file to read ('-' for stdin)");
ABSL_FLAG(std::string, proxy, "",
          "check, diagnose, stat: proxies' admin addresses (--admin-listen), comma-separated");
ABSL_FLAG(bool, no_control, false, "check: check the proxies only, not the control plane");
ABSL_FLAG(int, limit, 20, "diagnose: the most failures shown per proxy");
// Defined with `authz check` (policy_commands.cc); stat filters edges by them.
ABSL_DECLARE_FLAG(std::string, from);
ABSL_DECLARE_FLAG(std::string, to);
ABSL_FLAG(absl::Duration, interval, absl::Seconds(1), "top: how often the table is refreshed");
ABSL_FLAG(int, iterations, 0, "top: stop after this many tables (0: until interrupted)");
ABSL_FLAG(bool, routes, false, "stat: per HTTP route (success rate, RPS, p50/p95/p99)");
ABSL_FLAG(absl::Duration, window, absl::Seconds(5),
          "stat --routes: the window the rates and quantiles are taken over (0: since the start)");
ABSL_FLAG(bool, version, false, "Print the version and exit");

namespace {

namespace admin = tether::admin::v1;

constexpr char kUsage[] =
    "the Tether command line.\n"
    "  tetherctl [--admin IP:PORT] token create --namespace NS --service-account SA [--ttl 10m]\n"
    "           [--address IP[:PORT] ...]\n"
    "  tetherctl certs list [--spiffe-id ID]\n"
    "  tetherctl workloads\n"
    "  tetherctl endpoints\n"
    "  tetherctl revoke --serial HEX | --spiffe-id ID\n"
    "  tetherctl ca rotate [--overlap DURATION]\n"
    "  tetherctl ca bundle\n"
    "  tetherctl ca init --out DIR [--trust-domain cluster.local] [--validity 87600h]\n"
    "  tetherctl inject -f FILE|- [--proxy-image IMAGE] [--inject-native-sidecar=false]\n"
    "  tetherctl uninject -f FILE|-\n"
    "  tetherctl policy apply -f FILE|-\n"
    "  tetherctl policy list [--output table|yaml]\n"
    "  tetherctl policy delete [--kind AuthorizationPolicy|DefaultPolicy|TrafficPolicy]\n"
    "                          --namespace NS --name N\n"
    "  tetherctl authz check [--from SPIFFE_ID] --to SPIFFE_ID --port P [--policy-file FILE]\n"
    "  tetherctl check [--proxy ADMIN[,ADMIN...]] [--no-control]\n"
    "  tetherctl diagnose --proxy ADMIN[,ADMIN...] [--limit 20]\n"
    "  tetherctl stat --proxy ADMIN[,ADMIN...] [--routes [--window 5s]] [--from ID] [--to ID]\n"
    "  tetherctl top --proxy ADMIN[,ADMIN...] [--interval 1s] [--iterations N]\n"
    "(--admin is tether-control's admin address; --proxy lists proxies' admin addresses)";

std::string Time(int64_t unix) {
  return absl::FormatTime("%Y-%m-%dT%H:%M:%SZ", absl::FromUnixSeconds(unix), absl::UTCTimeZone());
}

int Fail(const grpc::Status& st) {
  std::string hint;
  if (st.error_code() == grpc::StatusCode::UNAVAILABLE) {
    hint = tether::tetherctl::UnreachableHint(absl::GetFlag(FLAGS_admin));
  }
  std::cerr << "tetherctl: " << st.error_message() << hint << "\n";
  return 1;
}

int Usage(absl::string_view problem) {
  std::cerr << "tetherctl: " << problem << "\nusage: " << kUsage << "\n";
  return 2;
}

std::unique_ptr<grpc::ClientContext> Context() {
  auto ctx = std::make_unique<grpc::ClientContext>();
  ctx->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
  return ctx;
}

// CaInit writes a new self-signed root CA in the layout of Istio's cacerts
// Secret, which tether-control --ca-dir reads: every replica given it signs
// alike. Nothing is overwritten.
int CaInit() {
  const std::string dir = absl::GetFlag(FLAGS_out);
  if (dir.empty()) return Usage("ca init needs --out DIR");
  const char* kFiles[] = {"ca-cert.pem", "ca-key.pem", "cert-chain.pem", "root-cert.pem"};
  for (const char* f : kFiles) {
    if (tether::FileExists(absl::StrCat(dir, "/", f))) {
      std::cerr << "tetherctl: " << dir << "/" << f << " exists; not overwriting a CA\n";
      return 1;
    }
  }
  auto key = tether::pki::GenerateP256Key();
  if (!key.ok()) return Usage(key.status().message());
  auto root = tether::pki::CreateRootCa(key->get(), absl::GetFlag(FLAGS_trust_domain), absl::Now(),
                                        absl::GetFlag(FLAGS_validity));
  if (!root.ok()) {
    std::cerr << "tetherctl: " << root.status().message() << "\n";
    return 1;
  }
  const std::string cert = tether::pki::CertToPem(root->get());
  struct File {
    const char* name;
    std::string contents;
    mode_t mode;
  };
  const File files[] = {{"ca-key.pem", tether::pki::PrivateKeyToPem(key->get()), 0600},
                        {"ca-cert.pem", cert, 0644},
                        {"cert-chain.pem", cert, 0644},
                        {"root-cert.pem", cert, 0644}};
  if (absl::Status st = tether::MakeDirs(dir, 0700); !st.ok()) {
    std::cerr << "tetherctl: " << st.message() << "\n";
    return 1;
  }
  for (const File& f : files) {
    if (absl::Status st =
            tether::WriteFileAtomic(absl::StrCat(dir, "/", f.name), f.contents, f.mode);
        !st.ok()) {
      std::cerr << "tetherctl: " << st.message() << "\n";
      return 1;
    }
  }
  std::cout << "wrote a root CA for trust domain " << absl::GetFlag(FLAGS_trust_domain) << " to "
            << dir << " (ca-key.pem is the secret: store it as a Kubernetes Secret, e.g.\n"
            << "  kubectl -n tether-system create secret generic tether-cacerts --from-file=" << dir
            << ")\n";
  return 0;
}

// InjectCommand runs `inject` or `uninject`: YAML from -f to stdout, one
// line per object on stderr.
int InjectCommand(bool inject) {
  namespace inj = tether::control::inject;
  const std::string file = absl::GetFlag(FLAGS_f);
  if (file.empty()) {
    return Usage(
        absl::StrCat(inject ? "inject" : "uninject", " needs -f FILE (or -f - for stdin)"));
  }
  std::stringstream text;
  if (file == "-") {
    text << std::cin.rdbuf();
  } else {
    std::ifstream in(file, std::ios::binary);
    if (!in) {
      std::cerr << "tetherctl: cannot read " << file << "\n";
      return 1;
    }
    text << in.rdbuf();
  }
  std::vector<inj::InjectReport> reports;
  absl::StatusOr<std::string> out;
  if (inject) {
    absl::StatusOr<inj::InjectOptions> options = inj::InjectOptionsFromFlags();
    if (!options.ok()) return Usage(options.status().message());
    out = inj::InjectYaml(text.str(), *options, &reports);
  } else {
    out = inj::UninjectYaml(text.str(), &reports);
  }
  if (!out.ok()) {
    std::cerr << "tetherctl: " << (file == "-" ? "stdin" : file) << ": " << out.status().message()
              << "\n";
    return 1;
  }
  std::cout << *out;
  for (const inj::InjectReport& r : reports) {
    std::cerr << r.object << ": " << inj::InjectOutcomeName(r.outcome) << "\n";
  }
  return 0;
}

// The values of every --address (a flag that may repeat, which Abseil's
// flags cannot), taken out of the arguments by FileFlagArgs.
std::vector<std::string>& Addresses() {
  static auto* addresses = new std::vector<std::string>();
  return *addresses;
}

// FileFlagArgs rewrites kubectl's spellings `-f X` and `--filename X` (X
// may be "-", which Abseil would question) as `--f=X`, and takes out every
// `--address X` / `--address=X` (comma-separated values allowed).
std::vector<std::string> FileFlagArgs(int argc, char** argv) {
  std::vector<std::string> out;
  for (int i = 0; i < argc; ++i) {
    const std::string arg = argv[i];
    if ((arg == "--address" || arg == "-address") && i + 1 < argc) {
      for (absl::string_view a : absl::StrSplit(argv[++i], ',', absl::SkipEmpty())) {
        Addresses().emplace_back(a);
      }
      continue;
    }
    if (absl::StartsWith(arg, "--address=")) {
      for (absl::string_view a :
           absl::StrSplit(arg.substr(strlen("--address=")), ',', absl::SkipEmpty())) {
        Addresses().emplace_back(a);
      }
      continue;
    }
    const bool file_flag = arg == "-f" || arg == "--f" || arg == "--filename";
    if (file_flag && i + 1 < argc) {
      out.push_back(absl::StrCat("--f=", argv[++i]));
    } else if (absl::StartsWith(arg, "--filename=")) {
      out.push_back(absl::StrCat("--f=", arg.substr(strlen("--filename="))));
    } else {
      out.push_back(arg);
    }
  }
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage(kUsage);
  std::vector<std::string> rewritten = FileFlagArgs(argc, argv);
  std::vector<char*> rewritten_argv;
  rewritten_argv.reserve(rewritten.size());
  for (std::string& a : rewritten) rewritten_argv.push_back(a.data());
  std::vector<char*> args = tether::ParseCommandLineWithDashes(
      static_cast<int>(rewritten_argv.size()), rewritten_argv.data());
  if (absl::GetFlag(FLAGS_version)) {
    std::cout << tether::VersionString("tetherctl") << "\n";
    return 0;
  }
  absl::SetFlag(&FLAGS_admin,
                tether::tetherctl::ResolveControlAdmin(
                    absl::GetFlag(FLAGS_admin), std::getenv(tether::control::kAdminAddressEnv)));
  std::vector<std::string> words(args.begin() + 1, args.end());
  if (words.empty()) return Usage("no command");
  if (words == std::vector<std::string>{"ca", "init"}) return CaInit();
  if (words.size() == 1 && (words[0] == "inject" || words[0] == "uninject")) {
    return InjectCommand(words[0] == "inject");
  }
  const std::vector<std::string> proxies =
      tether::tetherctl::SplitAddresses(absl::GetFlag(FLAGS_proxy));
  if (words.size() == 1 && (words[0] == "diagnose" || words[0] == "stat" || words[0] == "top")) {
    if (proxies.empty()) {
      return Usage(absl::StrCat(words[0],
                                " needs --proxy ADMIN[,ADMIN...] (a proxy's "
                                "--admin-listen address, e.g. 127.0.0.1:15000)"));
    }
    if (words[0] == "top") {
      tether::tetherctl::TopOptions opts;
      opts.interval = absl::GetFlag(FLAGS_interval);
      opts.iterations = absl::GetFlag(FLAGS_iterations);
      if (opts.interval <= absl::ZeroDuration()) return Usage("--interval must be positive");
      if (opts.iterations < 0) return Usage("--iterations must not be negative");
      opts.redraw = isatty(STDOUT_FILENO) != 0;
      return tether::tetherctl::RunTop(proxies, opts, std::cout, std::cerr);
    }
    if (words[0] == "stat") {
      tether::tetherctl::StatOptions opts;
      opts.routes = absl::GetFlag(FLAGS_routes);
      opts.window = absl::GetFlag(FLAGS_window);
      opts.from = absl::GetFlag(FLAGS_from);
      opts.to = absl::GetFlag(FLAGS_to);
      if (opts.window < absl::ZeroDuration()) return Usage("--window must not be negative");
      return tether::tetherctl::RunStat(proxies, opts, std::cout, std::cerr);
    }
    const int limit = absl::GetFlag(FLAGS_limit);
    if (limit < 0) return Usage("--limit must not be negative");
    return tether::tetherctl::RunDiagnose(proxies, static_cast<size_t>(limit), std::cout);
  }
  auto stub = admin::AdminService::NewStub(
      grpc::CreateChannel(absl::GetFlag(FLAGS_admin), grpc::InsecureChannelCredentials()));
  const std::string cmd = absl::StrJoin(words, " ");

  if (cmd == "token create") {
    admin::CreateJoinTokenRequest req;
    req.set_namespace_(absl::GetFlag(FLAGS_namespace));
    req.set_service_account(absl::GetFlag(FLAGS_service_account));
    if (req.namespace_().empty() || req.service_account().empty()) {
      return Usage("token create needs --namespace and --service-account");
    }
    req.set_ttl_seconds(absl::ToInt64Seconds(absl::GetFlag(FLAGS_ttl)));
    for (const std::string& a : Addresses()) req.add_addresses(a);
    admin::CreateJoinTokenResponse resp;
    grpc::Status st = stub->CreateJoinToken(Context().get(), req, &resp);
    if (!st.ok()) return Fail(st);
    // The token alone on stdout, so that scripts can capture it.
    std::cout << resp.token() << "\n";
    std::cerr << "join token for " << resp.spiffe_id() << ", single use, expires "
              << Time(resp.expires_unix());
    if (!Addresses().empty()) std::cerr << ", answers at " << absl::StrJoin(Addresses(), ", ");
    std::cerr << "\n";
    return 0;
  }
  if (cmd == "certs list") {
    admin::ListCertificatesRequest req;
    req.set_spiffe_id(absl::GetFlag(FLAGS_spiffe_id));
    admin::ListCertificatesResponse resp;
    grpc::Status st = stub->ListCertificates(Context().get(), req, &resp);
    if (!st.ok()) return Fail(st);
    std::vector<std::vector<std::string>> rows = {
        {"SERIAL", "SPIFFE ID", "NOT BEFORE", "NOT AFTER", "ISSUER", "STATUS"}};
    for (const auto& c : resp.certificates()) {
      rows.push_back({c.serial_hex(), c.spiffe_id(), Time(c.not_before_unix()),
                      Time(c.not_after_unix()), c.issuer_serial_hex().substr(0, 12),
                      c.revoked() ? "revoked" : "valid"});
    }
    tether::tetherctl::PrintTable(std::cout, rows);
    return 0;
  }
  if (cmd == "workloads") {
    admin::ListWorkloadsResponse resp;
    grpc::Status st = stub->ListWorkloads(Context().get(), admin::ListWorkloadsRequest(), &resp);
    if (!st.ok()) return Fail(st);
    std::vector<std::vector<std::string>> rows = {
        {"SPIFFE ID", "WORKLOAD", "PEER", "AUTH", "SERIAL", "NOT AFTER", "SINCE"}};
    for (const auto& w : resp.workloads()) {
      rows.push_back({w.spiffe_id(), w.workload_name(), w.peer_address(), w.authenticated_by(),
                      w.serial_hex(), w.serial_hex().empty() ? "-" : Time(w.not_after_unix()),
                      Time(w.connected_since_unix())});
    }
    tether::tetherctl::PrintTable(std::cout, rows);
    return 0;
  }
  if (cmd == "endpoints") return tether::tetherctl::RunEndpoints(*stub, std::cout, std::cerr);
  if (cmd == "revoke") {
    admin::RevokeRequest req;
    const std::string serial = absl::GetFlag(FLAGS_serial);
    const std::string id = absl::GetFlag(FLAGS_spiffe_id);
    if (serial.empty() == id.empty()) return Usage("revoke needs one of --serial or --spiffe-id");
    if (!serial.empty()) {
      req.set_serial_hex(serial);
    } else {
      req.set_spiffe_id(id);
    }
    admin::RevokeResponse resp;
    grpc::Status st = stub->Revoke(Context().get(), req, &resp);
    if (!st.ok()) return Fail(st);
    std::cout << "revoked " << (serial.empty() ? id : serial) << " (revocation list version "
              << resp.revocations_version() << ", pushed to every connected proxy"
              << (resp.shared_in().empty()
                      ? std::string()
                      : absl::StrCat("; every replica reads it from ", resp.shared_in()))
              << ")\n";
    return 0;
  }
  if (cmd == "ca rotate") {
    admin::RotateCaRequest req;
    req.set_overlap_seconds(absl::ToInt64Seconds(absl::GetFlag(FLAGS_overlap)));
    admin::RotateCaResponse resp;
    grpc::Status st = stub->RotateCa(Context().get(), req, &resp);
    if (!st.ok()) return Fail(st);
    std::cout << "new root " << resp.new_root_serial_hex() << " signs from now on\n"
              << "old root " << resp.old_root_serial_hex() << " stays trusted until "
              << Time(resp.old_root_dropped_unix()) << "\n";
    return 0;
  }
  if (std::optional<int> code = tether::tetherctl::RunPolicyCommand(cmd, *stub)) return *code;
  if (cmd == "check") {
    const bool no_control = absl::GetFlag(FLAGS_no_control);
    if (no_control && proxies.empty()) return Usage("check --no-control needs --proxy");
    return tether::tetherctl::RunCheck(no_control ? nullptr : stub.get(),
                                       absl::GetFlag(FLAGS_admin), proxies, std::cout);
  }
  if (cmd == "ca bundle") {
    admin::GetTrustBundleResponse resp;
    grpc::Status st = stub->GetTrustBundle(Context().get(), admin::GetTrustBundleRequest(), &resp);
    if (!st.ok()) return Fail(st);
    std::cout << resp.roots_pem();
    return 0;
  }
  return Usage(absl::StrCat("unknown command \"", cmd, "\""));
}
