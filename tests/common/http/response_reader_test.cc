#include "common/http/response_reader.h"

#include <algorithm>
#include <string>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace tether::http {
namespace {

using ::testing::HasSubstr;

constexpr char kOkHead[] = "HTTP/1.1 200 OK\r\n";

absl::Status ParseError(absl::string_view raw, size_t max_body = kMaxHttpBodyBytes) {
  absl::StatusOr<HttpResult> r = ParseHttpResponse(raw, max_body);
  EXPECT_FALSE(r.ok()) << "parsed: " << raw;
  return r.ok() ? absl::OkStatus() : r.status();
}

TEST(HttpResponse, ContentLengthBody) {
  absl::StatusOr<HttpResult> r = ParseHttpResponse(
      "HTTP/1.1 201 Created\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->status, 201);
  EXPECT_EQ(r->reason, "Created");
  EXPECT_EQ(r->body, "{}");
  ASSERT_NE(r->Header("content-type"), nullptr);
  EXPECT_EQ(*r->Header("Content-Type"), "application/json");
  EXPECT_EQ(r->Header("x-missing"), nullptr);
}

TEST(HttpResponse, StopsAtContentLength) {
  absl::StatusOr<HttpResult> r =
      ParseHttpResponse(absl::StrCat(kOkHead, "Content-Length: 3\r\n\r\nabcTRAILING GARBAGE"));
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->body, "abc");
}

TEST(HttpResponse, HeaderValuesAreTrimmedAndNamesLowercased) {
  absl::StatusOr<HttpResult> r = ParseHttpResponse(
      absl::StrCat(kOkHead, "X-Thing:   spaced value \t\r\nContent-Length:0\r\n\r\n"));
  ASSERT_TRUE(r.ok()) << r.status();
  ASSERT_EQ(r->headers.size(), 2u);
  EXPECT_EQ(r->headers[0].first, "x-thing");
  EXPECT_EQ(r->headers[0].second, "spaced value");
  EXPECT_EQ(r->body, "");
}

TEST(HttpResponse, ChunkedBodyWithExtensionsAndTrailers) {
  absl::StatusOr<HttpResult> r = ParseHttpResponse(absl::StrCat(kOkHead,
                                                                "Transfer-Encoding: chunked\r\n\r\n"
                                                                "5;name=value\r\nhello\r\n"
                                                                "1\r\n \r\n"
                                                                "A\r\n0123456789\r\n"
                                                                "0\r\nX-Trailer: yes\r\n\r\n"));
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->body, "hello 0123456789");
}

TEST(HttpResponse, ChunkedOverridesContentLength) {
  absl::StatusOr<HttpResult> r = ParseHttpResponse(absl::StrCat(
      kOkHead, "Content-Length: 100\r\nTransfer-Encoding: Chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n"));
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->body, "ok");
}

TEST(HttpResponse, BodyToEndOfStreamWithoutFraming) {
  absl::StatusOr<HttpResult> r =
      ParseHttpResponse("HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\nuntil the end");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->body, "until the end");
}

TEST(HttpResponse, AcceptsBareLineFeedsAndEmptyReason) {
  absl::StatusOr<HttpResult> r = ParseHttpResponse("HTTP/1.1 200\nContent-Length: 1\n\nx");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->reason, "");
  EXPECT_EQ(r->body, "x");
}

TEST(HttpResponse, SkipsInterimResponses) {
  absl::StatusOr<HttpResult> r = ParseHttpResponse(
      "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </x>\r\n\r\n"
      "HTTP/1.1 500 Internal Server Error\r\nContent-Length: 4\r\n\r\nboom");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->status, 500);
  EXPECT_EQ(r->body, "boom");
  EXPECT_EQ(r->Header("link"), nullptr);
}

TEST(HttpResponse, NoBodyFor204And304) {
  for (const char* raw : {"HTTP/1.1 204 No Content\r\n\r\n", "HTTP/1.1 304 Not Modified\r\n\r\n"}) {
    absl::StatusOr<HttpResult> r = ParseHttpResponse(raw);
    ASSERT_TRUE(r.ok()) << raw << ": " << r.status();
    EXPECT_EQ(r->body, "");
  }
}

TEST(HttpResponse, RejectsBadStatusLines) {
  for (const char* raw :
       {"", "garbage\r\n\r\n", "HTTP/2 200 OK\r\n\r\n", "HTTP/1.1 20 OK\r\n\r\n",
        "HTTP/1.1 2000 OK\r\n\r\n", "HTTP/1.1 abc OK\r\n\r\n", "HTTP/1.1 099 Low\r\n\r\n",
        "HTTP/1.1 600 High\r\n\r\n", "http/1.1 200 OK\r\n\r\n", "HTTP/1.1  200 OK\r\n\r\n"}) {
    absl::Status s = ParseError(raw);
    EXPECT_EQ(s.code(), absl::StatusCode::kUnavailable) << raw;
    EXPECT_THAT(s.message(), HasSubstr("malformed HTTP response")) << raw;
  }
  EXPECT_THAT(ParseError("").message(), HasSubstr("connection closed before any response"));
  EXPECT_THAT(ParseError("HTTP/1.1 200 OK").message(), HasSubstr("middle of the status line"));
  EXPECT_THAT(ParseError("HTTP/1.1 101 Switching Protocols\r\n\r\n").message(), HasSubstr("101"));
}

TEST(HttpResponse, RejectsBadHeaderFields) {
  for (const char* fields : {"NoColon\r\n", ": empty name\r\n", "Bad Name: x\r\n",
                             "X-A: 1\r\n folded continuation\r\n", "X-A: 1\r\n\tfolded\r\n"}) {
    absl::Status s = ParseError(absl::StrCat(kOkHead, fields, "\r\n"));
    EXPECT_THAT(s.message(), HasSubstr("malformed HTTP response")) << fields;
  }
  // A NUL inside a value.
  std::string with_nul = absl::StrCat(kOkHead, "X-Null: a");
  with_nul.push_back('\0');
  with_nul += "b\r\nContent-Length: 0\r\n\r\n";
  EXPECT_THAT(ParseError(with_nul).message(), HasSubstr("bad header field value"));
  EXPECT_THAT(ParseError(absl::StrCat(kOkHead, "Content-Length: 0")).message(),
              HasSubstr("middle of the header section"));
}

TEST(HttpResponse, RejectsBadContentLength) {
  for (const char* cl : {"-1", "1e3", "0x10", "", "12 34", "99999999999999999999", "+5"}) {
    absl::Status s = ParseError(absl::StrCat(kOkHead, "Content-Length: ", cl, "\r\n\r\n"));
    EXPECT_THAT(s.message(), HasSubstr("bad Content-Length")) << cl;
  }
  EXPECT_THAT(ParseError(absl::StrCat(kOkHead, "Content-Length: 1\r\nContent-Length: 2\r\n\r\nab"))
                  .message(),
              HasSubstr("conflicting Content-Length"));
  // Repeating the same length is harmless.
  EXPECT_TRUE(
      ParseHttpResponse(absl::StrCat(kOkHead, "Content-Length: 1\r\nContent-Length: 1\r\n\r\na"))
          .ok());
}

TEST(HttpResponse, RejectsTruncatedBodies) {
  EXPECT_THAT(ParseError(absl::StrCat(kOkHead, "Content-Length: 10\r\n\r\nabc")).message(),
              HasSubstr("body ended after 3 of 10 bytes"));
  EXPECT_THAT(
      ParseError(absl::StrCat(kOkHead, "Transfer-Encoding: chunked\r\n\r\n5\r\nab")).message(),
      HasSubstr("middle of a chunk"));
  EXPECT_THAT(ParseError(absl::StrCat(kOkHead, "Transfer-Encoding: chunked\r\n\r\n5\r\nabcde\r\n"))
                  .message(),
              HasSubstr("middle of the chunk size line"));
  EXPECT_THAT(
      ParseError(absl::StrCat(kOkHead, "Transfer-Encoding: chunked\r\n\r\n0\r\n")).message(),
      HasSubstr("middle of the trailer section"));
}

TEST(HttpResponse, RejectsBadChunks) {
  for (const char* body : {"g\r\nx\r\n0\r\n\r\n", "\r\n", "-1\r\n", "1234567890abcdef0\r\n",
                           "2\r\nabc\r\n0\r\n\r\n", "0x2\r\nab\r\n0\r\n\r\n"}) {
    absl::Status s = ParseError(absl::StrCat(kOkHead, "Transfer-Encoding: chunked\r\n\r\n", body));
    EXPECT_THAT(s.message(), HasSubstr("malformed HTTP response")) << body;
  }
  EXPECT_THAT(ParseError(absl::StrCat(kOkHead, "Transfer-Encoding: chunked\r\n\r\n",
                                      std::string(2000, '1'), "\r\n"))
                  .message(),
              HasSubstr("chunk size line longer than 1 KiB"));
}

TEST(HttpResponse, RejectsUnsupportedTransferEncodings) {
  for (const char* te :
       {"gzip", "gzip, chunked", "identity", "chunked\r\nTransfer-Encoding: chunked"}) {
    absl::Status s = ParseError(absl::StrCat(kOkHead, "Transfer-Encoding: ", te, "\r\n\r\n"));
    EXPECT_THAT(s.message(), HasSubstr("unsupported Transfer-Encoding")) << te;
  }
}

TEST(HttpResponse, CapsTheBody) {
  const size_t cap = 100;
  std::string exact(cap, 'x');
  EXPECT_TRUE(
      ParseHttpResponse(absl::StrCat(kOkHead, "Content-Length: 100\r\n\r\n", exact), cap).ok());
  EXPECT_TRUE(ParseHttpResponse(absl::StrCat("HTTP/1.1 200 OK\r\n\r\n", exact), cap).ok());

  absl::Status s = ParseError(absl::StrCat(kOkHead, "Content-Length: 101\r\n\r\n"), cap);
  EXPECT_EQ(s.code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(s.message(), HasSubstr("HTTP response body exceeds 100 bytes"));
  EXPECT_THAT(ParseError(absl::StrCat(kOkHead, "\r\n", exact, "y"), cap).message(),
              HasSubstr("exceeds"));
  EXPECT_THAT(ParseError(absl::StrCat(kOkHead, "Transfer-Encoding: chunked\r\n\r\n32\r\n",
                                      std::string(50, 'a'), "\r\n33\r\n", std::string(51, 'b'),
                                      "\r\n0\r\n\r\n"),
                         cap)
                  .message(),
              HasSubstr("exceeds"));
  // A huge declared length fails before anything is read or allocated.
  EXPECT_THAT(ParseError(absl::StrCat(kOkHead, "Content-Length: 9999999999999\r\n\r\n")).message(),
              HasSubstr("exceeds 1 MiB"));
  EXPECT_THAT(
      ParseError(absl::StrCat(kOkHead, "Transfer-Encoding: chunked\r\n\r\nfffffffffffff\r\n"))
          .message(),
      HasSubstr("exceeds 1 MiB"));
}

TEST(HttpResponse, CapsTheHeaderSection) {
  std::string big =
      absl::StrCat(kOkHead, "X-Big: ", std::string(kMaxHttpHeaderBytes, 'a'), "\r\n\r\n");
  EXPECT_THAT(ParseError(big).message(), HasSubstr("header section larger than 64 KiB"));
  std::string many = kOkHead;
  for (size_t i = 0; i <= kMaxHttpHeaderFields; ++i) absl::StrAppend(&many, "X-", i, ": v\r\n");
  EXPECT_THAT(ParseError(absl::StrCat(many, "\r\n")).message(),
              HasSubstr("more than 100 header fields"));
}

TEST(HttpResponse, PassesSourceErrorsThroughAndNamesThePeer) {
  int calls = 0;
  auto failing = [&calls](char* buf, size_t n) -> absl::StatusOr<size_t> {
    if (calls++ == 0) {
      std::string head = "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nab";
      std::copy(head.begin(), head.end(), buf);
      return head.size();
    }
    return absl::DeadlineExceededError("timed out after 1s");
  };
  absl::StatusOr<HttpResult> r = ReadHttpResponse(failing, "10.0.0.1:443");
  EXPECT_EQ(r.status(), absl::DeadlineExceededError("timed out after 1s"));

  auto garbage = [](char* buf, size_t n) -> absl::StatusOr<size_t> {
    static const char kJunk[] = "SSH-2.0-OpenSSH\r\n";
    size_t len = sizeof(kJunk) - 1;
    std::copy(kJunk, kJunk + len, buf);
    return len;
  };
  r = ReadHttpResponse(garbage, "10.0.0.1:443");
  EXPECT_THAT(r.status().message(), HasSubstr("malformed HTTP response from 10.0.0.1:443"));
}

TEST(HttpResponse, ReadsByteByByte) {
  // A source that returns one byte at a time exercises every buffer boundary.
  std::string raw = absl::StrCat(
      "HTTP/1.1 100 Continue\r\n\r\n", kOkHead,
      "Transfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2;x=y\r\nde\r\n0\r\nT: 1\r\n\r\n");
  size_t offset = 0;
  auto one = [&](char* buf, size_t n) -> absl::StatusOr<size_t> {
    if (offset == raw.size()) return 0;
    buf[0] = raw[offset++];
    return 1;
  };
  absl::StatusOr<HttpResult> r = ReadHttpResponse(one);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->body, "abcde");
  EXPECT_EQ(offset, raw.size());
}

}  // namespace
}  // namespace tether::http

namespace tether::http {
namespace {

TEST(ReadHttpStreamTest, SuccessBodyGoesToTheSinkInPieces) {
  const std::string raw =
      "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
      "6\r\n{\"a\":1\r\n3\r\n}\n{\r\n5\r\n\"b\"}\n\r\n0\r\n\r\n";
  size_t offset = 0;
  auto source = [&](char* buf, size_t n) -> absl::StatusOr<size_t> {
    size_t take = std::min<size_t>({n, raw.size() - offset, 7});  // a slow server
    std::copy_n(raw.data() + offset, take, buf);
    offset += take;
    return take;
  };
  std::string streamed;
  auto sink = [&](absl::string_view piece) {
    streamed.append(piece.data(), piece.size());
    return absl::OkStatus();
  };
  absl::StatusOr<HttpResult> r = ReadHttpStream(source, sink);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->body, "");
  EXPECT_EQ(streamed, "{\"a\":1}\n{\"b\"}\n");
}

TEST(ReadHttpStreamTest, ErrorAnswerIsReadWholeAndSinkErrorsStop) {
  const std::string gone = "HTTP/1.1 410 Gone\r\nContent-Length: 4\r\n\r\ngone";
  size_t offset = 0;
  auto source = [&](char* buf, size_t n) -> absl::StatusOr<size_t> {
    size_t take = std::min(n, gone.size() - offset);
    std::copy_n(gone.data() + offset, take, buf);
    offset += take;
    return take;
  };
  int calls = 0;
  auto sink = [&](absl::string_view) {
    ++calls;
    return absl::OkStatus();
  };
  absl::StatusOr<HttpResult> r = ReadHttpStream(source, sink);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->status, 410);
  EXPECT_EQ(r->body, "gone");
  EXPECT_EQ(calls, 0);

  const std::string ok = "HTTP/1.1 200 OK\r\n\r\nxyz";
  offset = 0;
  auto source2 = [&](char* buf, size_t n) -> absl::StatusOr<size_t> {
    size_t take = std::min(n, ok.size() - offset);
    std::copy_n(ok.data() + offset, take, buf);
    offset += take;
    return take;
  };
  auto failing = [](absl::string_view) { return absl::ResourceExhaustedError("too big"); };
  r = ReadHttpStream(source2, failing);
  EXPECT_EQ(r.status(), absl::ResourceExhaustedError("too big"));
}

}  // namespace
}  // namespace tether::http
