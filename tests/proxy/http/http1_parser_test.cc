#include "proxy/http/http1_parser.h"

#include <string>

#include "absl/strings/match.h"
#include "gtest/gtest.h"

namespace tether::proxy {
namespace {

absl::Span<const uint8_t> Bytes(const std::string& s) {
  return absl::MakeConstSpan(reinterpret_cast<const uint8_t*>(s.data()), s.size());
}

struct Parsed {
  std::vector<Http1Head> heads;
  std::vector<std::string> bodies;  // raw, framing included
  int completes = 0;
  bool error = false;
};

// Feed `wire` in pieces of `piece` bytes (then the end of the stream).
Parsed FeedAll(Http1Parser::Type type, const std::string& wire, size_t piece) {
  Http1Parser p(type);
  Parsed out;
  std::string body;
  size_t off = 0;
  for (int guard = 0; guard < 100000; ++guard) {
    const size_t n = std::min(piece, wire.size() - off);
    const Http1Parser::Result r = p.Feed(Bytes(wire).subspan(off, n));
    body.append(r.body.begin(), r.body.end());
    off += r.used;
    if (r.event == Http1Parser::Event::kError) {
      out.error = true;
      break;
    }
    if (r.event == Http1Parser::Event::kHead) out.heads.push_back(p.head());
    if (r.event == Http1Parser::Event::kComplete) {
      ++out.completes;
      out.bodies.push_back(body);
      body.clear();
    }
    if (n == 0) break;  // the end was given
  }
  return out;
}

TEST(Http1ParserTest, ChunkedRequestWithTrailersAtEverySplit) {
  const std::string chunked = "5\r\nhello\r\n0\r\nGrpc-Status: 0\r\n\r\n";
  const std::string wire =
      "POST /a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n" + chunked +
      "GET /b HTTP/1.1\r\n\r\n";
  for (size_t piece = 1; piece <= wire.size(); ++piece) {
    SCOPED_TRACE(piece);
    Parsed p = FeedAll(Http1Parser::kRequest, wire, piece);
    ASSERT_FALSE(p.error);
    ASSERT_EQ(p.completes, 2);
    EXPECT_EQ(p.heads[0].method, "POST");
    EXPECT_TRUE(p.heads[0].chunked);
    EXPECT_EQ(p.bodies[0], chunked);  // forwarded as received
    EXPECT_EQ(p.heads[1].target, "/b");
    EXPECT_EQ(p.bodies[1], "");
  }
}

TEST(Http1ParserTest, ResponsesInterimBodilessAndUntilEof) {
  const std::string wire =
      "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
      "HTTP/1.1 204 No Content\r\n\r\nHTTP/1.1 200 OK\r\n\r\nuntil the end";
  for (size_t piece : {1, 3, 7, 1000}) {
    Parsed p = FeedAll(Http1Parser::kResponse, wire, piece);
    ASSERT_FALSE(p.error) << piece;
    ASSERT_EQ(p.completes, 4) << piece;
    EXPECT_EQ(p.heads[0].status, 100);
    EXPECT_EQ(p.bodies[1], "ok");
    EXPECT_EQ(p.heads[2].status, 204);
    EXPECT_TRUE(p.heads[3].body_until_eof);
    EXPECT_EQ(p.bodies[3], "until the end");
  }
}

TEST(Http1ParserTest, AResponseToHeadHasNoBody) {
  Http1Parser p(Http1Parser::kResponse);
  p.SetAnsweringHead(true);
  const std::string wire = "HTTP/1.1 200 OK\r\nContent-Length: 99\r\n\r\nHTTP/1.1 200 OK\r\n";
  Http1Parser::Result r = p.Feed(Bytes(wire));
  ASSERT_EQ(r.event, Http1Parser::Event::kHead);
  r = p.Feed(Bytes(wire).subspan(r.used));
  EXPECT_EQ(r.event, Http1Parser::Event::kComplete);
  EXPECT_TRUE(r.body.empty());
}

TEST(Http1ParserTest, GarbageAndOversizedHeadsAreErrors) {
  EXPECT_TRUE(FeedAll(Http1Parser::kRequest, "\x16\x03\x01 hello", 100).error);
  Http1Parser small(Http1Parser::kRequest, 64);
  const std::string big = "GET / HTTP/1.1\r\nX: " + std::string(100, 'a') + "\r\n\r\n";
  EXPECT_EQ(small.Feed(Bytes(big)).event, Http1Parser::Event::kError);
  EXPECT_TRUE(small.head_too_large());
  // A request cut within its body is an error at the end of the stream.
  EXPECT_TRUE(FeedAll(Http1Parser::kRequest, "POST / HTTP/1.1\r\nContent-Length: 9\r\n\r\nab", 100)
                  .error);
}

TEST(Http1ParserTest, SerializeHeadDropsHopByHopHeaders) {
  Http1Parser p(Http1Parser::kRequest);
  const std::string wire =
      "GET /a HTTP/1.1\r\nHost: x\r\nConnection: keep-alive, X-Hop\r\nKeep-Alive: 5\r\n"
      "X-Hop: 1\r\nX-End: 2\r\n\r\n";
  ASSERT_EQ(p.Feed(Bytes(wire)).event, Http1Parser::Event::kHead);
  EXPECT_EQ(SerializeHead(p.head(), true, false), "GET /a HTTP/1.1\r\nHost: x\r\nX-End: 2\r\n\r\n");
  EXPECT_TRUE(absl::EndsWith(SerializeHead(p.head(), true, true), "Connection: close\r\n\r\n"));
}

}  // namespace
}  // namespace tether::proxy
