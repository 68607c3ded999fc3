// tls_isolation_test: BoringSSL (static, hidden symbols) and Debian's gRPC
// (dynamically linked against OpenSSL 3) work side by side in one process.
//
// If the isolation breaks, either BoringSSL's calls land in OpenSSL or gRPC's
// calls land in BoringSSL, and one of these checks fails or crashes.

#include <memory>
#include <string>

#include <dlfcn.h>
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <openssl/bio.h>
#include <openssl/bytestring.h>
#include <openssl/crypto.h>
#include <openssl/ec_key.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "tests/build/echo.grpc.pb.h"

namespace tether {
namespace {

struct SelfSigned {
  bssl::UniquePtr<EVP_PKEY> key;
  bssl::UniquePtr<X509> cert;
  std::string key_pem;
  std::string cert_pem;
};

std::string ToPem(int (*write)(BIO*, void*), void* obj) {
  bssl::UniquePtr<BIO> bio(BIO_new(BIO_s_mem()));
  if (!write(bio.get(), obj)) return "";
  const uint8_t* data;
  size_t len;
  BIO_mem_contents(bio.get(), &data, &len);
  return std::string(reinterpret_cast<const char*>(data), len);
}

// Makes a self-signed ECDSA P-256 certificate for "localhost" with BoringSSL.
SelfSigned MakeSelfSigned() {
  SelfSigned out;
  bssl::UniquePtr<EC_KEY> ec(EC_KEY_new_by_curve_name(NID_X9_62_prime256v1));
  EXPECT_TRUE(EC_KEY_generate_key(ec.get()));
  out.key.reset(EVP_PKEY_new());
  EXPECT_TRUE(EVP_PKEY_assign_EC_KEY(out.key.get(), ec.release()));

  out.cert.reset(X509_new());
  X509* x = out.cert.get();
  EXPECT_TRUE(X509_set_version(x, X509_VERSION_3));
  ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
  X509_gmtime_adj(X509_getm_notBefore(x), -60);
  X509_gmtime_adj(X509_getm_notAfter(x), 3600);
  X509_NAME* name = X509_get_subject_name(x);
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                             reinterpret_cast<const uint8_t*>("localhost"), -1, -1, 0);
  X509_set_issuer_name(x, name);
  X509_set_pubkey(x, out.key.get());
  X509V3_CTX ctx;
  X509V3_set_ctx(&ctx, x, x, nullptr, nullptr, 0);
  for (const auto& [nid, value] : {std::pair{NID_subject_alt_name, "DNS:localhost,IP:127.0.0.1"},
                                   std::pair{NID_basic_constraints, "critical,CA:TRUE"}}) {
    bssl::UniquePtr<X509_EXTENSION> ext(X509V3_EXT_nconf_nid(nullptr, &ctx, nid, value));
    EXPECT_NE(ext, nullptr);
    X509_add_ext(x, ext.get(), -1);
  }
  EXPECT_TRUE(X509_sign(x, out.key.get(), EVP_sha256()));
  out.cert_pem =
      ToPem([](BIO* b, void* o) { return PEM_write_bio_X509(b, static_cast<X509*>(o)); }, x);
  out.key_pem = ToPem(
      [](BIO* b, void* o) {
        return PEM_write_bio_PrivateKey(b, static_cast<EVP_PKEY*>(o), nullptr, nullptr, 0, nullptr,
                                        nullptr);
      },
      out.key.get());
  return out;
}

TEST(TlsIsolation, OurOpenSslVersionIsBoringSsl) {
  EXPECT_NE(std::string(OpenSSL_version(OPENSSL_VERSION)).find("BoringSSL"), std::string::npos);
}

TEST(TlsIsolation, DynamicLookupFindsOpenSslNotBoringSsl) {
  // gRPC loaded libcrypto.so.3; the dynamic linker must find OpenSSL's
  // OpenSSL_version, because our BoringSSL copy is not exported.
  using VersionFn = const char* (*)(int);
  auto dynamic = reinterpret_cast<VersionFn>(dlsym(RTLD_DEFAULT, "OpenSSL_version"));
  ASSERT_NE(dynamic, nullptr) << "libcrypto.so.3 is not loaded: is gRPC linked?";
  EXPECT_NE(reinterpret_cast<void*>(dynamic), reinterpret_cast<void*>(&OpenSSL_version));
  std::string version = dynamic(0 /* OPENSSL_VERSION */);
  EXPECT_EQ(version.rfind("OpenSSL 3", 0), 0u) << version;
}

TEST(TlsIsolation, BoringSslTls13HandshakeWithClientCertificate) {
  SelfSigned id = MakeSelfSigned();
  bssl::UniquePtr<SSL_CTX> server_ctx(SSL_CTX_new(TLS_method()));
  bssl::UniquePtr<SSL_CTX> client_ctx(SSL_CTX_new(TLS_method()));
  for (SSL_CTX* ctx : {server_ctx.get(), client_ctx.get()}) {
    ASSERT_TRUE(SSL_CTX_set_min_proto_version(ctx, TLS1_3_VERSION));
    ASSERT_TRUE(SSL_CTX_use_certificate(ctx, id.cert.get()));
    ASSERT_TRUE(SSL_CTX_use_PrivateKey(ctx, id.key.get()));
    X509_STORE_add_cert(SSL_CTX_get_cert_store(ctx), id.cert.get());
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, nullptr);
  }
  bssl::UniquePtr<SSL> server(SSL_new(server_ctx.get()));
  bssl::UniquePtr<SSL> client(SSL_new(client_ctx.get()));
  BIO *server_bio, *client_bio;
  ASSERT_TRUE(BIO_new_bio_pair(&server_bio, 0, &client_bio, 0));
  SSL_set_bio(server.get(), server_bio, server_bio);
  SSL_set_bio(client.get(), client_bio, client_bio);
  SSL_set_accept_state(server.get());
  SSL_set_connect_state(client.get());

  bool server_done = false, client_done = false;
  for (int round = 0; round < 20 && !(server_done && client_done); ++round) {
    if (!client_done) {
      int rc = SSL_do_handshake(client.get());
      client_done = rc == 1;
      if (!client_done) {
        ASSERT_EQ(SSL_get_error(client.get(), rc), SSL_ERROR_WANT_READ);
      }
    }
    if (!server_done) {
      int rc = SSL_do_handshake(server.get());
      server_done = rc == 1;
      if (!server_done) {
        ASSERT_EQ(SSL_get_error(server.get(), rc), SSL_ERROR_WANT_READ);
      }
    }
  }
  ASSERT_TRUE(server_done && client_done);
  EXPECT_EQ(SSL_version(client.get()), TLS1_3_VERSION);
  bssl::UniquePtr<X509> peer(SSL_get_peer_certificate(server.get()));
  ASSERT_NE(peer, nullptr);
  EXPECT_EQ(X509_cmp(peer.get(), id.cert.get()), 0);

  const std::string message = "through BoringSSL";
  ASSERT_EQ(SSL_write(client.get(), message.data(), message.size()),
            static_cast<int>(message.size()));
  char buf[64];
  int n = SSL_read(server.get(), buf, sizeof(buf));
  ASSERT_GT(n, 0);
  EXPECT_EQ(std::string(buf, n), message);
}

class EchoService final : public tests::build::Echo::Service {
  grpc::Status Say(grpc::ServerContext*, const tests::build::EchoRequest* request,
                   tests::build::EchoResponse* response) override {
    response->set_text("echo: " + request->text());
    return grpc::Status::OK;
  }
};

TEST(TlsIsolation, GrpcCallOverTlsWithBoringSslMadeCertificate) {
  // The certificate comes from BoringSSL; gRPC's OpenSSL must parse and use it.
  SelfSigned id = MakeSelfSigned();
  grpc::SslServerCredentialsOptions server_opts;
  server_opts.pem_key_cert_pairs.push_back({id.key_pem, id.cert_pem});
  EchoService service;
  int port = 0;
  grpc::ServerBuilder builder;
  builder.AddListeningPort("127.0.0.1:0", grpc::SslServerCredentials(server_opts), &port);
  builder.RegisterService(&service);
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  ASSERT_NE(server, nullptr);
  ASSERT_GT(port, 0);

  grpc::SslCredentialsOptions client_opts;
  client_opts.pem_root_certs = id.cert_pem;
  grpc::ChannelArguments args;
  args.SetSslTargetNameOverride("localhost");
  auto channel = grpc::CreateCustomChannel("127.0.0.1:" + std::to_string(port),
                                           grpc::SslCredentials(client_opts), args);
  auto stub = tests::build::Echo::NewStub(channel);
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(20));
  tests::build::EchoRequest request;
  request.set_text("hello");
  tests::build::EchoResponse response;
  grpc::Status status = stub->Say(&ctx, request, &response);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(response.text(), "echo: hello");
  auto auth = ctx.auth_context();
  ASSERT_NE(auth, nullptr);
  auto security = auth->FindPropertyValues(GRPC_TRANSPORT_SECURITY_TYPE_PROPERTY_NAME);
  ASSERT_EQ(security.size(), 1u);
  EXPECT_EQ(std::string(security[0].data(), security[0].size()), "ssl");
  server->Shutdown();
}

}  // namespace
}  // namespace tether
