#include "common/http/request.h"

#include <string>

#include <gtest/gtest.h>

#include "absl/strings/str_cat.h"

namespace tether::http {
namespace {

using State = HttpParseResult::State;

HttpParseResult Parse(const std::string& buffer, const HttpParseLimits& limits = {}) {
  return ParseHttpRequest(buffer, limits);
}

// ExpectError checks that `buffer` is refused with `status`.
void ExpectError(const std::string& buffer, int status, const HttpParseLimits& limits = {}) {
  const HttpParseResult r = Parse(buffer, limits);
  EXPECT_EQ(r.state, State::kError) << buffer.substr(0, 80);
  EXPECT_EQ(r.error_status, status) << buffer.substr(0, 80) << ": " << r.error_reason;
  EXPECT_FALSE(r.error_reason.empty());
}

TEST(ParseHttpRequest, SimpleGet) {
  const std::string req =
      "GET /metrics?name=a%20b HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept:  text/plain \r\n\r\n";
  const HttpParseResult r = Parse(req);
  ASSERT_EQ(r.state, State::kComplete) << r.error_reason;
  EXPECT_EQ(r.consumed, req.size());
  EXPECT_EQ(r.request.method, "GET");
  EXPECT_EQ(r.request.target, "/metrics?name=a%20b");
  EXPECT_EQ(r.request.path, "/metrics");
  EXPECT_EQ(r.request.query, "name=a%20b");
  EXPECT_EQ(r.request.version_minor, 1);
  ASSERT_EQ(r.request.headers.size(), 2u);
  EXPECT_EQ(r.request.headers[1].first, "Accept");
  EXPECT_EQ(r.request.headers[1].second, "text/plain");  // surrounding whitespace trimmed
  EXPECT_TRUE(r.request.body.empty());
}

TEST(ParseHttpRequest, HeaderLookupIgnoresCase) {
  const HttpParseResult r =
      Parse("GET / HTTP/1.1\r\nX-Thing: one\r\nx-thing: two\r\nContent-TYPE: a/b\r\n\r\n");
  ASSERT_EQ(r.state, State::kComplete);
  EXPECT_EQ(r.request.Header("x-THING"), "one");  // the first of repeated headers
  EXPECT_EQ(r.request.Header("content-type"), "a/b");
  EXPECT_EQ(r.request.Header("Missing"), std::nullopt);
}

TEST(ParseHttpRequest, QueryParameters) {
  const HttpParseResult r =
      Parse("GET /x?a=1&b=hello+world&c=%2Fpath%3F&flag&a=2&bad=%zz&%6Bey=v&e= HTTP/1.1\r\n\r\n");
  ASSERT_EQ(r.state, State::kComplete);
  const HttpRequest& q = r.request;
  EXPECT_EQ(q.QueryParam("a"), "1");  // first wins
  EXPECT_EQ(q.QueryParam("b"), "hello world");
  EXPECT_EQ(q.QueryParam("c"), "/path?");
  EXPECT_EQ(q.QueryParam("flag"), "");
  EXPECT_EQ(q.QueryParam("bad"), "%zz");  // malformed escapes are kept
  EXPECT_EQ(q.QueryParam("key"), "v");    // names are decoded too
  EXPECT_EQ(q.QueryParam("e"), "");
  EXPECT_EQ(q.QueryParam("missing"), std::nullopt);
  EXPECT_EQ(q.path, "/x");
}

TEST(ParseHttpRequest, PercentDecode) {
  EXPECT_EQ(PercentDecode("a%41%4a%4A%", false), "aAJJ%");
  EXPECT_EQ(PercentDecode("a+b%2", false), "a+b%2");
  EXPECT_EQ(PercentDecode("a+b", true), "a b");
  EXPECT_EQ(PercentDecode("%00", false), std::string(1, '\0'));
}

TEST(ParseHttpRequest, TargetForms) {
  HttpParseResult r = Parse("GET http://localhost:15000/stats?x=1 HTTP/1.1\r\n\r\n");
  ASSERT_EQ(r.state, State::kComplete);
  EXPECT_EQ(r.request.path, "/stats");
  EXPECT_EQ(r.request.query, "x=1");

  r = Parse("GET http://localhost:15000 HTTP/1.1\r\n\r\n");
  ASSERT_EQ(r.state, State::kComplete);
  EXPECT_EQ(r.request.path, "/");

  r = Parse("OPTIONS * HTTP/1.1\r\n\r\n");
  ASSERT_EQ(r.state, State::kComplete);
  EXPECT_EQ(r.request.path, "*");

  r = Parse("GET /a#frag HTTP/1.1\r\n\r\n");
  ASSERT_EQ(r.state, State::kComplete);
  EXPECT_EQ(r.request.path, "/a");

  ExpectError("GET * HTTP/1.1\r\n\r\n", 400);
  ExpectError("GET metrics HTTP/1.1\r\n\r\n", 400);
}

TEST(ParseHttpRequest, Body) {
  const std::string req = "POST /level HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello";
  const HttpParseResult r = Parse(req);
  ASSERT_EQ(r.state, State::kComplete);
  EXPECT_EQ(r.request.body, "hello");
  EXPECT_EQ(r.consumed, req.size());

  // A repeated identical Content-Length is tolerated.
  EXPECT_EQ(Parse("POST / HTTP/1.1\r\nContent-Length: 2\r\nContent-Length: 2\r\n\r\nhi").state,
            State::kComplete);
}

TEST(ParseHttpRequest, ExpectContinue) {
  HttpParseResult r = Parse("POST / HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\n");
  EXPECT_EQ(r.state, State::kNeedMore);
  EXPECT_TRUE(r.expect_continue);
  r = Parse("POST / HTTP/1.1\r\nContent-Length: 3\r\n\r\n");
  EXPECT_EQ(r.state, State::kNeedMore);
  EXPECT_FALSE(r.expect_continue);
}

TEST(ParseHttpRequest, Pipelined) {
  const std::string first = "GET /a HTTP/1.1\r\n\r\n";
  const std::string second = "POST /b HTTP/1.1\r\nContent-Length: 3\r\n\r\nxyz";
  const std::string third = "GET /c HTTP/1.1\r\n";  // incomplete
  std::string buffer = first + second + third;

  HttpParseResult r = Parse(buffer);
  ASSERT_EQ(r.state, State::kComplete);
  EXPECT_EQ(r.request.path, "/a");
  EXPECT_EQ(r.consumed, first.size());
  buffer.erase(0, r.consumed);

  r = Parse(buffer);
  ASSERT_EQ(r.state, State::kComplete);
  EXPECT_EQ(r.request.path, "/b");
  EXPECT_EQ(r.request.body, "xyz");
  EXPECT_EQ(r.consumed, second.size());
  buffer.erase(0, r.consumed);

  EXPECT_EQ(Parse(buffer).state, State::kNeedMore);
}

TEST(ParseHttpRequest, EveryPrefixNeedsMore) {
  const std::string req =
      "PUT /config?x=1 HTTP/1.1\r\nHost: h\r\nContent-Length: 10\r\nX: y\r\n\r\n0123456789";
  for (size_t n = 0; n < req.size(); ++n) {
    const HttpParseResult r = Parse(req.substr(0, n));
    EXPECT_EQ(r.state, State::kNeedMore) << "prefix of " << n << " bytes: " << r.error_reason;
  }
  const HttpParseResult r = Parse(req);
  ASSERT_EQ(r.state, State::kComplete);
  EXPECT_EQ(r.request.body, "0123456789");
}

TEST(ParseHttpRequest, LeadingEmptyLinesAreSkipped) {
  const std::string req = "\r\n\r\nGET / HTTP/1.1\r\n\r\n";
  const HttpParseResult r = Parse(req);
  ASSERT_EQ(r.state, State::kComplete);
  EXPECT_EQ(r.consumed, req.size());
  EXPECT_EQ(Parse("\r").state, State::kNeedMore);
  EXPECT_EQ(Parse("\r\n").state, State::kNeedMore);
}

TEST(ParseHttpRequest, KeepAlive) {
  auto keep_alive = [](const std::string& req) {
    const HttpParseResult r = Parse(req);
    EXPECT_EQ(r.state, State::kComplete);
    return r.request.KeepAlive();
  };
  EXPECT_TRUE(keep_alive("GET / HTTP/1.1\r\n\r\n"));
  EXPECT_FALSE(keep_alive("GET / HTTP/1.1\r\nConnection: close\r\n\r\n"));
  EXPECT_FALSE(keep_alive("GET / HTTP/1.1\r\nconnection: Upgrade, CLOSE\r\n\r\n"));
  EXPECT_FALSE(keep_alive("GET / HTTP/1.0\r\n\r\n"));
  EXPECT_TRUE(keep_alive("GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"));
}

TEST(ParseHttpRequest, MalformedIs400) {
  ExpectError("GET /\r\n\r\n", 400);
  ExpectError("GET  / HTTP/1.1\r\n\r\n", 400);
  ExpectError("GET / HTTP/1.1 \r\n\r\n", 400);
  ExpectError("G(T / HTTP/1.1\r\n\r\n", 400);
  ExpectError("GET /a\x01 HTTP/1.1\r\n\r\n", 400);
  ExpectError("GET / HTTX/1.1\r\n\r\n", 400);
  ExpectError("GET / HTTP/1.10\r\n\r\n", 400);
  ExpectError("GET / HTTP/1.1\n\r\n", 400);                                // bare LF
  ExpectError("GET / HTTP/1.1\r\nA: b\r\n folded\r\n\r\n", 400);           // obs-fold
  ExpectError("GET / HTTP/1.1\r\nNoColon\r\n\r\n", 400);                   // no colon
  ExpectError("GET / HTTP/1.1\r\nName : v\r\n\r\n", 400);                  // space before colon
  ExpectError("GET / HTTP/1.1\r\n: v\r\n\r\n", 400);                       // empty name
  ExpectError("GET / HTTP/1.1\r\nA: b\x01\r\n\r\n", 400);                  // control in value
  ExpectError(std::string("GET / HTTP/1.1\r\nA: b\0c\r\n\r\n", 26), 400);  // NUL in value
  ExpectError("GET / HTTP/1.1\r\nA: b\rc\r\n\r\n", 400);                   // bare CR in value
  ExpectError("POST / HTTP/1.1\r\nContent-Length: -1\r\n\r\n", 400);
  ExpectError("POST / HTTP/1.1\r\nContent-Length: 1,1\r\n\r\n", 400);
  ExpectError("POST / HTTP/1.1\r\nContent-Length: \r\n\r\n", 400);
  ExpectError("POST / HTTP/1.1\r\nContent-Length: 0x10\r\n\r\n", 400);
  ExpectError("POST / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab", 400);
}

TEST(ParseHttpRequest, GarbageIsRefusedBeforeTheLineEnds) {
  // A TLS ClientHello sent to the plaintext admin port.
  ExpectError(std::string("\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", 11), 400);
  ExpectError("GE\x7fT", 400);
  // A plausible method with no line end yet only needs more.
  EXPECT_EQ(Parse("GET /still-coming").state, State::kNeedMore);
}

TEST(ParseHttpRequest, BodyOverLimitIs413) {
  HttpParseLimits limits;
  limits.max_body = 10;
  EXPECT_EQ(Parse("POST / HTTP/1.1\r\nContent-Length: 10\r\n\r\n0123456789", limits).state,
            State::kComplete);
  ExpectError("POST / HTTP/1.1\r\nContent-Length: 11\r\n\r\n", 413, limits);
  // The default is 1 MiB; the error comes before any of the body is read.
  ExpectError("POST / HTTP/1.1\r\nContent-Length: 1048577\r\n\r\n", 413);
  EXPECT_EQ(Parse("POST / HTTP/1.1\r\nContent-Length: 1048576\r\n\r\n").state, State::kNeedMore);
  // Too many digits for any integer type.
  ExpectError("POST / HTTP/1.1\r\nContent-Length: 99999999999999999999999999\r\n\r\n", 413);
}

TEST(ParseHttpRequest, RequestLineOverLimitIs414) {
  // 8 KiB exactly is fine; one byte more is not, whether or not the line ended.
  const std::string fixed = "GET / HTTP/1.1";
  const std::string at_limit = "GET /" + std::string(8192 - fixed.size(), 'a') + " HTTP/1.1";
  ASSERT_EQ(at_limit.size(), 8192u);
  EXPECT_EQ(Parse(at_limit + "\r\n\r\n").state, State::kComplete);
  EXPECT_EQ(Parse(at_limit + "\r").state, State::kNeedMore);
  const std::string over = "GET /" + std::string(8193 - fixed.size(), 'a') + " HTTP/1.1";
  ExpectError(over + "\r\n\r\n", 414);
  ExpectError(over, 414);
  ExpectError("GET /" + std::string(10000, 'a'), 414);
}

TEST(ParseHttpRequest, HeaderSectionOverLimitIs431) {
  // Header lines with their CRLFs plus the final CRLF: 16 KiB exactly is fine.
  const std::string line = "GET / HTTP/1.1\r\n";
  const std::string at_limit = "X: " + std::string(16384 - 3 - 4, 'v') + "\r\n";
  EXPECT_EQ(Parse(line + at_limit + "\r\n").state, State::kComplete);
  EXPECT_EQ(Parse(line + at_limit + "\r").state, State::kNeedMore);
  const std::string over = "X: " + std::string(16384 - 3 - 3, 'v') + "\r\n";
  ExpectError(line + over + "\r\n", 431);
  // ... and without waiting for the end of the headers.
  ExpectError(line + "X: " + std::string(20000, 'v'), 431);
  ExpectError(line + over, 431);
}

TEST(ParseHttpRequest, TooManyHeadersIs431) {
  std::string headers;
  for (int i = 0; i < 100; ++i) absl::StrAppend(&headers, "H", i, ": v\r\n");
  EXPECT_EQ(Parse("GET / HTTP/1.1\r\n" + headers + "\r\n").state, State::kComplete);
  ExpectError("GET / HTTP/1.1\r\n" + headers + "One-More: v\r\n\r\n", 431);

  HttpParseLimits limits;
  limits.max_headers = 2;
  ExpectError("GET / HTTP/1.1\r\nA: 1\r\nB: 2\r\nC: 3\r\n\r\n", 431, limits);
}

TEST(ParseHttpRequest, TransferEncodingIs501) {
  ExpectError("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n", 501);
  ExpectError("POST / HTTP/1.1\r\ntransfer-encoding: gzip, chunked\r\n\r\n", 501);
  ExpectError("POST / HTTP/1.1\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n", 501);
}

TEST(ParseHttpRequest, OtherHttpVersionsAre505) {
  ExpectError("GET / HTTP/2.0\r\n\r\n", 505);
  ExpectError("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", 505);
  ExpectError("GET / HTTP/1.2\r\n\r\n", 505);
  ExpectError("GET / HTTP/0.9\r\n\r\n", 505);
  EXPECT_EQ(Parse("GET / HTTP/1.0\r\n\r\n").request.version_minor, 0);
}

}  // namespace
}  // namespace tether::http
