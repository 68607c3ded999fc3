// CaTestClient: a blocking client of the certificate stream for tests: real
// gRPC over TLS against a real control plane, with or without a client
// certificate.
#ifndef TETHER_TESTS_CONTROL_CA_TEST_CLIENT_H_
#define TETHER_TESTS_CONTROL_CA_TEST_CLIENT_H_

#include <memory>
#include <optional>
#include <string>

#include <grpcpp/grpcpp.h>
#include <grpcpp/security/tls_certificate_provider.h>
#include <grpcpp/security/tls_credentials_options.h>

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
  // Connects to 127.0.0.1:`port`, trusting `roots_pem`, presenting `identity`
  // when given.
  CaTestClient(int port, const std::string& roots_pem,
               std::optional<ClientIdentity> identity = std::nullopt) {
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
    channel_ = grpc::CreateCustomChannel(absl::StrCat("127.0.0.1:", port),
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

  bool SendCsr(uint64_t id, const std::string& der, int64_t ttl_seconds = 0) {
    tether::ca::v1::StreamRequest req;
    req.mutable_certificate_request()->set_request_id(id);
    req.mutable_certificate_request()->set_csr_der(der);
    req.mutable_certificate_request()->set_ttl_seconds(ttl_seconds);
    return stream_->Write(req);
  }

  // Read returns the next message, or nullopt when the stream ended (then
  // Finish() gives the status).
  std::optional<tether::ca::v1::StreamResponse> Read() {
    tether::ca::v1::StreamResponse resp;
    if (!stream_->Read(&resp)) return std::nullopt;
    return resp;
  }

  grpc::Status Finish() {
    stream_->WritesDone();
    tether::ca::v1::StreamResponse ignored;
    while (stream_->Read(&ignored)) {
    }
    return stream_->Finish();
  }

 private:
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<tether::ca::v1::CertificateService::Stub> stub_;
  grpc::ClientContext context_;
  std::unique_ptr<
      grpc::ClientReaderWriter<tether::ca::v1::StreamRequest, tether::ca::v1::StreamResponse>>
      stream_;
};

}  // namespace tether::testing

#endif  // TETHER_TESTS_CONTROL_CA_TEST_CLIENT_H_
