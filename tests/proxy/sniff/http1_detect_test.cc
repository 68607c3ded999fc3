#include "proxy/sniff/http1_detect.h"

#include <string>

#include "gtest/gtest.h"

namespace tether::proxy {
namespace {

Http11Detection Detect(const std::string& s) {
  return DetectHttp11Request(
      absl::MakeConstSpan(reinterpret_cast<const uint8_t*>(s.data()), s.size()));
}

TEST(Http1DetectTest, AWholeHttp11HeadIsHttp11) {
  EXPECT_EQ(Detect("GET /a?b HTTP/1.1\r\nHost: x\r\n\r\n"), Http11Detection::kHttp11);
  EXPECT_EQ(Detect("POST /o HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc"), Http11Detection::kHttp11);
  EXPECT_EQ(Detect("GET / HTTP/1.1\r\n\r\n"), Http11Detection::kHttp11);
}

TEST(Http1DetectTest, EveryPrefixWaitsForMore) {
  const std::string req = "GET /a HTTP/1.1\r\nHost: x\r\n\r\n";
  for (size_t n = 0; n < req.size(); ++n) {
    EXPECT_EQ(Detect(req.substr(0, n)), Http11Detection::kNeedMore) << n;
  }
}

TEST(Http1DetectTest, OtherProtocolsAreRelayed) {
  EXPECT_EQ(Detect("GET / HTTP/1.0\r\n\r\n"), Http11Detection::kOther);
  EXPECT_EQ(Detect("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"), Http11Detection::kOther);
  EXPECT_EQ(Detect("\x16\x03\x01\x02\x00"), Http11Detection::kOther);
  EXPECT_EQ(Detect("CONNECT a:443 HTTP/1.1\r\n\r\n"), Http11Detection::kOther);
  EXPECT_EQ(Detect("get / HTTP/1.1\r\n\r\n"), Http11Detection::kOther);
  EXPECT_EQ(Detect("EHLO a\r\n"), Http11Detection::kOther);
  EXPECT_EQ(Detect("GET /chat HTTP/1.1\r\nHost: b\r\nupgrade: websocket\r\n\r\n"),
            Http11Detection::kOther);
  EXPECT_EQ(Detect("GET " + std::string(kMaxDetectRequestLine, 'a')), Http11Detection::kOther);
}

}  // namespace
}  // namespace tether::proxy
