// CaTestClient: a blocking client of the certificate stream for tests: real
// gRPC over TLS against a real control plane, with or without a client
// certificate. HttpGet: a plain HTTP GET for the admin port.
#ifndef TETHER_TESTS_CONTROL_CA_TEST_CLIENT_H_
#define TETHER_TESTS_CONTROL_CA_TEST_CLIENT_H_

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <arpa/inet.h>
#include <grpcpp/grpcpp.h>
#include <grpcpp/security/tls_certificate_provider.h>
#include <grpcpp/security/tls_credentials_options.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "api/tether/ca/v1/ca.grpc.pb.h"
#include "common/pki/csr.h"
#include "common/pki/keys.h"
#include "control/control_plane.h"

namespace tether::testing {

struct ClientIdentity {
  std::string key_pem;
  std::string chain_pem;
};

class CaTestClient {
 public:
  // Connects to `host`:`port` (host "[::1]" for IPv6 loopback, so that a
  // test has two peer addresses), trusting `roots_pem`, presenting
  // `identity` when given.
  CaTestClient(int port, const std::string& roots_pem,
               std::optional<ClientIdentity> identity = std::nullopt,
               const std::string& host = "127.0.0.1") {
    std::shared_ptr<grpc::experimental::CertificateProviderInterface> provider;
    if (identity) {
      provider = std::make_shared<grpc::experimental::StaticDataCertificateProvider>(
          roots_pem, std::vector<grpc::experimental::IdentityKeyCertPair>{
                         {identity->key_pem, identity->chain_pem}});
    } else {
      provider = std::make_shared<grpc::experimental::StaticDataCertificateProvider>(roots_pem);
    }
    grpc::experimental::TlsChannelCredentialsOptions opts;
    opts.set_certificate_provider(provider);
    opts.watch_root_certs();
    if (identity) opts.watch_identity_key_cert_pairs();
    grpc::ChannelArguments args;
    args.SetSslTargetNameOverride(control::kControlServerName);
    channel_ = grpc::CreateCustomChannel(absl::StrCat(host, ":", port),
                                         grpc::experimental::TlsCredentials(opts), args);
    stub_ = tether::ca::v1::CertificateService::NewStub(channel_);
    context_.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
    stream_ = stub_->Stream(&context_);
  }

  bool SendHello(const std::string& join_token = "") {
    tether::ca::v1::StreamRequest req;
    auto* hello = req.mutable_hello();
    if (!join_token.empty()) hello->set_join_token(join_token);
    hello->set_workload_name("test-workload");
    hello->set_proxy_version("test");
    return stream_->Write(req);
  }

  bool SendKubernetesHello(const std::string& token) {
    tether::ca::v1::StreamRequest req;
    auto* hello = req.mutable_hello();
    hello->set_kubernetes_token(token);
    hello->set_workload_name("test-pod");
    hello->set_proxy_version("test");
    return stream_->Write(req);
  }

  // Send writes any request as is.
  bool Send(const tether::ca::v1::StreamRequest& req) { return stream_->Write(req); }

  bool SendCsr(uint64_t id, const std::string& der, int64_t ttl_seconds = 0) {
    tether::ca::v1::StreamRequest req;
    req.mutable_certificate_request()->set_request_id(id);
    req.mutable_certificate_request()->set_csr_der(der);
    req.mutable_certificate_request()->set_ttl_seconds(ttl_seconds);
    return stream_->Write(req);
  }

  // Read returns the next message, or nullopt when the stream ended (then
  // Finish() gives the status).
  // Read: the next message, but discovery updates, which every stream
  // carries and most tests do not look at: those are kept in discovery().
  std::optional<tether::ca::v1::StreamResponse> Read() {
    tether::ca::v1::StreamResponse resp;
    while (stream_->Read(&resp)) {
      if (!resp.has_discovery()) return resp;
      discovery_.push_back(resp.discovery());
    }
    return std::nullopt;
  }
  // ReadDiscovery: the next discovery update (one Read skipped, or the
  // next to arrive; other messages then are dropped).
  std::optional<tether::discovery::v1::DiscoveryUpdate> ReadDiscovery() {
    while (discovery_read_ >= discovery_.size()) {
      tether::ca::v1::StreamResponse resp;
      if (!stream_->Read(&resp)) return std::nullopt;
      if (resp.has_discovery()) discovery_.push_back(resp.discovery());
    }
    return discovery_[discovery_read_++];
  }
  // Every discovery update Read skipped, in order.
  const std::vector<tether::discovery::v1::DiscoveryUpdate>& discovery() const {
    return discovery_;
  }

  // ReadWelcome reads Welcome, TrustBundle, RevocationList and the
  // workload's PolicySnapshot, in that order, and returns the Welcome's SPIFFE ID; when the stream
  // ended instead, its status; anything else is Internal.
  absl::StatusOr<std::string> ReadWelcome() {
    auto welcome = Read();
    if (!welcome) {
      grpc::Status st = Finish();
      return absl::Status(static_cast<absl::StatusCode>(st.error_code()), st.error_message());
    }
    if (!welcome->has_welcome()) {
      return absl::InternalError("first answer is not a Welcome: " + welcome->DebugString());
    }
    auto bundle = Read();
    if (!bundle || !bundle->has_trust_bundle()) {
      return absl::InternalError("no TrustBundle after Welcome");
    }
    auto revocations = Read();
    if (!revocations || !revocations->has_revocations()) {
      return absl::InternalError("no RevocationList after TrustBundle");
    }
    auto policy = Read();
    if (!policy || !policy->has_policy()) {
      return absl::InternalError("no PolicySnapshot after RevocationList");
    }
    return welcome->welcome().spiffe_id();
  }

  grpc::Status Finish() {
    stream_->WritesDone();
    tether::ca::v1::StreamResponse ignored;
    while (stream_->Read(&ignored)) {
    }
    return stream_->Finish();
  }

 private:
  std::vector<tether::discovery::v1::DiscoveryUpdate> discovery_;
  size_t discovery_read_ = 0;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<tether::ca::v1::CertificateService::Stub> stub_;
  grpc::ClientContext context_;
  std::unique_ptr<
      grpc::ClientReaderWriter<tether::ca::v1::StreamRequest, tether::ca::v1::StreamResponse>>
      stream_;
};

// HttpGet returns the raw answer to GET http://127.0.0.1:`port``path` (""
// when the connection fails), read with a plain socket.
inline std::string HttpGet(int port, const std::string& path) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr = {};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    close(fd);
    return "";
  }
  std::string req = absl::StrCat("GET ", path, " HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
  (void)!write(fd, req.data(), req.size());
  std::string out;
  char buf[4096];
  ssize_t n;
  while ((n = read(fd, buf, sizeof(buf))) > 0) out.append(buf, n);
  close(fd);
  return out;
}

}  // namespace tether::testing

#endif  // TETHER_TESTS_CONTROL_CA_TEST_CLIENT_H_
