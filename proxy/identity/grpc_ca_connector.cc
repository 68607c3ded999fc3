#include <grpcpp/grpcpp.h>
#include <grpcpp/security/tls_certificate_provider.h>
#include <grpcpp/security/tls_credentials_options.h>

#include "api/tether/ca/v1/ca.grpc.pb.h"
#include "proxy/identity/ca_connector.h"

namespace tether::proxy {
namespace {

using tether::ca::v1::StreamRequest;
using tether::ca::v1::StreamResponse;

class GrpcCaStream final : public CaStream {
 public:
  explicit GrpcCaStream(std::shared_ptr<grpc::Channel> channel)
      : stub_(tether::ca::v1::CertificateService::NewStub(channel)) {
    stream_ = stub_->Stream(&context_);
  }
  ~GrpcCaStream() override {
    if (!finished_) {
      context_.TryCancel();
      StreamResponse ignored;
      while (stream_->Read(&ignored)) {
      }
      stream_->Finish();
    }
  }
  bool Write(const StreamRequest& request) override { return stream_->Write(request); }
  bool Read(StreamResponse* response) override { return stream_->Read(response); }
  void TryCancel() override { context_.TryCancel(); }
  absl::Status Finish() override {
    finished_ = true;
    grpc::Status st = stream_->Finish();
    return absl::Status(static_cast<absl::StatusCode>(st.error_code()), st.error_message());
  }

 private:
  grpc::ClientContext context_;
  std::unique_ptr<tether::ca::v1::CertificateService::Stub> stub_;
  std::unique_ptr<grpc::ClientReaderWriter<StreamRequest, StreamResponse>> stream_;
  bool finished_ = false;
};

class GrpcCaConnector final : public CaConnector {
 public:
  GrpcCaConnector(std::string address, std::string server_name)
      : address_(std::move(address)), server_name_(std::move(server_name)) {}

  std::unique_ptr<CaStream> Open(const std::string& roots_pem,
                                 const std::optional<ClientCredential>& client) override {
    std::shared_ptr<grpc::experimental::StaticDataCertificateProvider> provider;
    if (client) {
      provider = std::make_shared<grpc::experimental::StaticDataCertificateProvider>(
          roots_pem, std::vector<grpc::experimental::IdentityKeyCertPair>{
                         {client->key_pem, client->chain_pem}});
    } else {
      provider = std::make_shared<grpc::experimental::StaticDataCertificateProvider>(roots_pem);
    }
    grpc::experimental::TlsChannelCredentialsOptions opts;
    opts.set_certificate_provider(provider);
    opts.watch_root_certs();
    if (client) opts.watch_identity_key_cert_pairs();
    grpc::ChannelArguments args;
    args.SetSslTargetNameOverride(server_name_);
    // Notice a dead control plane within ~30 s even when no message flows.
    args.SetInt(GRPC_ARG_KEEPALIVE_TIME_MS, 20000);
    args.SetInt(GRPC_ARG_KEEPALIVE_TIMEOUT_MS, 10000);
    args.SetInt(GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, 1);
    args.SetInt(GRPC_ARG_HTTP2_MAX_PINGS_WITHOUT_DATA, 0);
    // Each stream gets its own connection, so a new client certificate is
    // used when the stream is reopened.
    args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
    auto channel =
        grpc::CreateCustomChannel(address_, grpc::experimental::TlsCredentials(opts), args);
    return std::make_unique<GrpcCaStream>(std::move(channel));
  }

 private:
  const std::string address_;
  const std::string server_name_;
};

}  // namespace

std::unique_ptr<CaConnector> MakeGrpcCaConnector(std::string address, std::string server_name) {
  return std::make_unique<GrpcCaConnector>(std::move(address), std::move(server_name));
}

}  // namespace tether::proxy
