#include "proxy/sniff/protocol_detector.h"

#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <openssl/ssl.h>

namespace tether::proxy {
namespace {

// ClientHello returns the first flight of a real BoringSSL client.
std::vector<uint8_t> ClientHello(const char* alpn, const char* sni, uint16_t max_version) {
  bssl::UniquePtr<SSL_CTX> ctx(SSL_CTX_new(TLS_method()));
  SSL_CTX_set_max_proto_version(ctx.get(), max_version);
  bssl::UniquePtr<SSL> ssl(SSL_new(ctx.get()));
  if (alpn != nullptr) {
    std::string wire = std::string(1, static_cast<char>(strlen(alpn))) + alpn;
    SSL_set_alpn_protos(ssl.get(), reinterpret_cast<const uint8_t*>(wire.data()), wire.size());
  }
  if (sni != nullptr) SSL_set_tlsext_host_name(ssl.get(), sni);
  BIO* rbio = BIO_new(BIO_s_mem());
  BIO* wbio = BIO_new(BIO_s_mem());
  SSL_set_bio(ssl.get(), rbio, wbio);
  SSL_set_connect_state(ssl.get());
  SSL_do_handshake(ssl.get());
  const uint8_t* data;
  size_t len;
  BIO_mem_contents(wbio, &data, &len);
  return std::vector<uint8_t>(data, data + len);
}

TEST(ProtocolDetector, MeshClientHelloOffersTetherAlpn) {
  auto hello = ClientHello(kTetherAlpn, "svc.shop", TLS1_3_VERSION);
  Detection d = DetectProtocol(hello);
  EXPECT_EQ(d.kind, Detection::kTls);
  EXPECT_TRUE(d.tether_alpn);
  EXPECT_EQ(d.sni, "svc.shop");
  EXPECT_EQ(d.max_version, TLS1_3_VERSION);
}

TEST(ProtocolDetector, OtherTlsAndTls12Only) {
  Detection h2 = DetectProtocol(ClientHello("h2", nullptr, TLS1_3_VERSION));
  EXPECT_EQ(h2.kind, Detection::kTls);
  EXPECT_FALSE(h2.tether_alpn);
  Detection old = DetectProtocol(ClientHello(kTetherAlpn, nullptr, TLS1_2_VERSION));
  EXPECT_EQ(old.kind, Detection::kTls);
  EXPECT_EQ(old.max_version, TLS1_2_VERSION);
}

TEST(ProtocolDetector, EveryPrefixIsNeedMoreUntilTheHelloIsComplete) {
  auto hello = ClientHello(kTetherAlpn, nullptr, TLS1_3_VERSION);
  for (size_t n = 0; n < hello.size(); ++n) {
    Detection d = DetectProtocol(absl::MakeConstSpan(hello.data(), n));
    EXPECT_EQ(d.kind, Detection::kNeedMore) << n;
  }
  EXPECT_EQ(DetectProtocol(hello).kind, Detection::kTls);
}

TEST(ProtocolDetector, Plaintext) {
  for (std::string s : {"GET / HTTP/1.1\r\n", "PRI * HTTP/2.0", "\x16", "\x16\x01", "x"}) {
    Detection d =
        DetectProtocol(absl::MakeConstSpan(reinterpret_cast<const uint8_t*>(s.data()), s.size()));
    if (s == "\x16") {
      EXPECT_EQ(d.kind, Detection::kNeedMore);
    } else {
      EXPECT_EQ(d.kind, Detection::kPlaintext) << s;
    }
  }
  const uint8_t alert[] = {0x15, 0x03, 0x03, 0x00, 0x02, 0x02, 0x28};
  EXPECT_EQ(DetectProtocol(alert).kind, Detection::kPlaintext);
  const uint8_t server_hello[] = {0x16, 0x03, 0x03, 0x00, 0x04, 0x02, 0x00, 0x00, 0x00};
  EXPECT_EQ(DetectProtocol(server_hello).kind, Detection::kPlaintext);
}

TEST(ProtocolDetector, HelloSpanningRecordsIsTlsWithUnknownDetails) {
  // Record says 10 bytes, handshake message claims 1000.
  const uint8_t data[] = {0x16, 0x03, 0x01, 0x00, 0x0a, 0x01, 0x00, 0x03,
                          0xe8, 0x03, 0x03, 0,    0,    0,    0};
  Detection d = DetectProtocol(data);
  EXPECT_EQ(d.kind, Detection::kTls);
  EXPECT_FALSE(d.tether_alpn);
}

TEST(ProtocolDetector, CorruptBytesAnywhereNeverCrash) {
  auto hello = ClientHello(kTetherAlpn, nullptr, TLS1_3_VERSION);
  for (size_t i = 9; i < hello.size(); ++i) {
    auto copy = hello;
    copy[i] ^= 0xff;
    (void)DetectProtocol(copy);
  }
}

}  // namespace
}  // namespace tether::proxy
