#include "tests/proxy/integration/in_process_mesh.h"

#include <unistd.h>

#include "absl/strings/str_cat.h"
#include "common/files.h"
#include "common/pki/issuer.h"
#include "common/pki/keys.h"
#include "common/pki/spiffe_id.h"
#include "tests/proxy/integration/mesh_fixture.h"
#include "tests/testing/net_helpers.h"

namespace tether::testing {

void InProcessMeshTest::SetUp() {
  dir_ = MakeTempDir(options_.name);
  control::ControlPlaneOptions opts;
  opts.state_dir = dir_ + "/state";
  opts.trust_domain = kTrustDomain;
  opts.grpc_listen = "127.0.0.1:0";
  opts.admin_listen = "127.0.0.1:0";
  if (options_.cert_ttl) opts.cert_ttl = *options_.cert_ttl;
  opts.requests_per_minute = options_.requests_per_minute;
  opts.close_denied_connections = options_.close_denied_connections;
  auto cp = control::ControlPlane::Start(opts, clock());
  ASSERT_TRUE(cp.ok()) << cp.status();
  cp_ = std::move(*cp);
  ASSERT_TRUE(WriteFileAtomic(dir_ + "/roots.pem", cp_->store()->Current()->bundle.ToPem()).ok());
}

void InProcessMeshTest::TearDown() {
  for (auto& p : proxies_) p->Drain(absl::ZeroDuration());
  proxies_.clear();
  connectors_.clear();
  // Destroyed here, before a clock of the derived fixture.
  if (cp_) cp_->Stop();
  cp_.reset();
}

proxy::ProxyConfig InProcessMeshTest::BaseConfig(const std::string& sa, const std::string& token) {
  std::string value = token;
  if (value.empty()) {
    auto minted =
        cp_->tokens()->Create(*pki::SpiffeId::Make(kTrustDomain, "shop", sa), options_.join_token_ttl);
    EXPECT_TRUE(minted.ok());
    if (minted.ok()) value = minted->token;
  }
  const std::string token_file = absl::StrCat(dir_, "/", sa, ".token");
  EXPECT_TRUE(WriteFileAtomic(token_file, value).ok());
  proxy::ProxyConfig c;
  c.control_address = absl::StrCat("127.0.0.1:", cp_->grpc_port());
  c.ca_bundle_file = dir_ + "/roots.pem";
  c.bootstrap.join_token_file = token_file;
  c.transparent = false;
  c.admin_listen = "127.0.0.1:0";
  if (options_.handshake_timeout) c.handshake_timeout = *options_.handshake_timeout;
  return c;
}

proxy::ProxyServer* InProcessMeshTest::Run(const proxy::ProxyConfig& config, bool wait_ready) {
  connectors_.push_back(
      proxy::MakeGrpcCaConnector(config.control_address, config.control_server_name));
  auto server = proxy::ProxyServer::Start(config, connectors_.back().get(), clock());
  EXPECT_TRUE(server.ok()) << server.status();
  if (!server.ok()) return nullptr;
  proxy::ProxyServer* raw = server->get();
  proxies_.push_back(std::move(*server));
  if (wait_ready) {
    EXPECT_TRUE(WaitFor([raw] { return raw->identity()->Current() != nullptr; }))
        << "no certificate: " << raw->identity()->status().last_error;
  }
  return raw;
}

proxy::ProxyServer* InProcessMeshTest::StartProxy(const std::string& sa,
                                                  const std::string& inbound_forward,
                                                  const std::string& outbound_forward,
                                                  const std::string& expect_identity,
                                                  const std::string& policy_yaml) {
  proxy::ProxyConfig c = BaseConfig(sa);
  c.inbound_listen = inbound_forward.empty() ? "" : "127.0.0.1:0";
  c.inbound_forward = inbound_forward;
  c.outbound_listen = outbound_forward.empty() ? "" : "127.0.0.1:0";
  c.outbound_forward = outbound_forward;
  if (!expect_identity.empty()) c.outbound_expect_identity = *pki::SpiffeId::Parse(expect_identity);
  if (!policy_yaml.empty()) {
    c.policy_file = absl::StrCat(dir_, "/", sa, ".policy.yaml");
    EXPECT_TRUE(WriteFileAtomic(c.policy_file, policy_yaml).ok());
  }
  return Run(c);
}

Presented InProcessMeshTest::MeshLeaf(const std::string& sa, absl::Time from, absl::Duration ttl) {
  Presented out;
  out.key = std::move(*pki::GenerateP256Key());
  pki::LeafRequest req;
  req.public_key = out.key.get();
  req.spiffe_id = *pki::SpiffeId::Make(kTrustDomain, "shop", sa);
  req.now = from;
  req.ttl = ttl;
  out.chain.push_back(std::move(*cp_->store()->Current()->issuer->SignLeaf(req)));
  return out;
}

std::string InProcessMeshTest::SpiffeId(const std::string& sa) {
  return absl::StrCat("spiffe://", kTrustDomain, "/ns/shop/sa/", sa);
}

bool TlsClient(int port, const Presented* who, uint16_t max_version, bool renegotiate) {
  bssl::UniquePtr<SSL_CTX> ctx(SSL_CTX_new(TLS_method()));
  SSL_CTX_set_max_proto_version(ctx.get(), max_version);
  if (who != nullptr) {
    SSL_CTX_use_PrivateKey(ctx.get(), who->key.get());
    SSL_CTX_use_certificate(ctx.get(), who->chain.front().get());
    for (size_t i = 1; i < who->chain.size(); ++i) {
      SSL_CTX_add1_chain_cert(ctx.get(), who->chain[i].get());
    }
  }
  const uint8_t alpn[] = {6, 't', 'e', 't', 'h', 'e', 'r'};
  SSL_CTX_set_alpn_protos(ctx.get(), alpn, sizeof(alpn));
  int fd = ConnectLoopback(port);
  bssl::UniquePtr<SSL> ssl(SSL_new(ctx.get()));
  SSL_set_fd(ssl.get(), fd);
  if (renegotiate) SSL_set_renegotiate_mode(ssl.get(), ssl_renegotiate_freely);
  bool got = false;
  if (SSL_connect(ssl.get()) == 1 && SSL_write(ssl.get(), "ping", 4) == 4) {
    char buf[16];
    got = SSL_read(ssl.get(), buf, sizeof(buf)) > 0;
  }
  close(fd);
  return got;
}

}  // namespace tether::testing
