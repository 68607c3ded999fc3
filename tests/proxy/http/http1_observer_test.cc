// Http1Observer on byte streams as a relay hands them over, split at every
// place a TCP segment or TLS record may split them: requests and responses
// counted once each, with their route, status, duration and bytes;
// everything that is not HTTP/1 left alone.
#include "proxy/http/http1_observer.h"

#include <gtest/gtest.h>

#include <string>

#include "common/testing/fake_clock.h"

namespace tether::proxy {
namespace {

absl::Span<const uint8_t> Bytes(const std::string& s) {
  return {reinterpret_cast<const uint8_t*>(s.data()), s.size()};
}

// Code: the responses with HTTP status `code` (and no gRPC status).
uint64_t Code(const RouteStats::Snapshot& s, const std::string& code) {
  auto it = s.responses.find({code, ""});
  return it == s.responses.end() ? 0 : it->second;
}

class Http1ObserverTest : public ::testing::Test {
 protected:
  std::unique_ptr<Http1Observer> Make() {
    Http1Observer::Options o;
    o.inbound = true;
    o.peer = [] { return std::string("spiffe://mesh.test/ns/shop/sa/web"); };
    o.clock = &clock_;
    o.stats = &table_;
    o.max_pending = 4;
    return std::make_unique<Http1Observer>(o);
  }
  // Feed sends `s` in pieces of `chunk` bytes (0: whole).
  static void Feed(Http1Observer& obs, bool from_downstream, const std::string& s,
                   size_t chunk = 0) {
    if (chunk == 0) chunk = s.size();
    for (size_t i = 0; i < s.size(); i += chunk) {
      obs.OnData(from_downstream, Bytes(s.substr(i, chunk)));
    }
  }
  RouteStats::Snapshot Stats(const std::string& route) {
    std::map<WorkerHttpStats::Key, RouteStats::Snapshot> all;
    table_.AddTo(all);
    return all[WorkerHttpStats::Key{true, "spiffe://mesh.test/ns/shop/sa/web", route}];
  }

  FakeClock clock_;
  WorkerHttpStats table_{100};
};

const std::string kGet = "GET /users/1234?x=1 HTTP/1.1\r\nHost: cart\r\n\r\n";
const std::string kOk = "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello";

TEST_F(Http1ObserverTest, KeepAliveRequestsAreCountedWithRouteStatusDurationAndBytes) {
  for (size_t chunk : {0, 1, 3, 7}) {
    table_.~WorkerHttpStats();
    new (&table_) WorkerHttpStats(100);
    auto obs = Make();
    for (int i = 0; i < 3; ++i) {
      Feed(*obs, true, kGet, chunk);
      clock_.Advance(absl::Milliseconds(3));
      Feed(*obs, false, kOk, chunk);
    }
    EXPECT_EQ(obs->state(), Http1Observer::State::kObserving);
    obs->OnClose();
    RouteStats::Snapshot s = Stats("GET /users/{id}");
    EXPECT_EQ(s.requests, 3u) << "chunk " << chunk;
    EXPECT_EQ(Code(s, "200"), 3u);
    EXPECT_EQ(s.request_bytes, 3 * kGet.size());
    EXPECT_EQ(s.response_bytes, 3 * kOk.size());
    // 3 ms each: the 5 ms bucket.
    EXPECT_EQ(s.buckets[3], 3u);
    EXPECT_NEAR(s.duration_sum, 0.009, 1e-6);
  }
}

TEST_F(Http1ObserverTest, PipelinedRequestsAreMatchedInOrder) {
  auto obs = Make();
  Feed(*obs, true, kGet + "POST /orders HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc" + kGet);
  Feed(*obs, false,
       kOk + "HTTP/1.1 503 Busy\r\nContent-Length: 0\r\n\r\n" + kOk.substr(0, 20), 4);
  Feed(*obs, false, kOk.substr(20));
  EXPECT_EQ(Code(Stats("GET /users/{id}"), "200"), 2u);
  EXPECT_EQ(Code(Stats("POST /orders"), "503"), 1u);
  EXPECT_EQ(obs->responses(), 3u);
}

TEST_F(Http1ObserverTest, ChunkedBodiesTrailersContinueAndHead) {
  auto obs = Make();
  Feed(*obs, true,
       "PUT /blobs/0a1b2c3d4e HTTP/1.1\r\nExpect: 100-continue\r\nTransfer-Encoding: "
       "chunked\r\n\r\n",
       5);
  Feed(*obs, false, "HTTP/1.1 100 Continue\r\n\r\n");
  Feed(*obs, true, "5\r\nhello\r\n0\r\nX-Checksum: 1\r\n\r\n", 2);
  Feed(*obs, false,
       "HTTP/1.1 201 Created\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\nGrpc-Status: "
       "0\r\n\r\n",
       6);
  Feed(*obs, true, "HEAD /blobs/0a1b2c3d4e HTTP/1.1\r\n\r\n");
  // The answer to HEAD names a length but carries no body.
  Feed(*obs, false, "HTTP/1.1 200 OK\r\nContent-Length: 99\r\n\r\n");
  Feed(*obs, true, kGet);
  Feed(*obs, false, kOk);
  EXPECT_EQ(Code(Stats("PUT /blobs/{id}"), "201"), 1u);
  EXPECT_EQ(Code(Stats("PUT /blobs/{id}"), "100"), 0u);  // interim
  EXPECT_EQ(Code(Stats("HEAD /blobs/{id}"), "200"), 1u);
  EXPECT_EQ(Code(Stats("GET /users/{id}"), "200"), 1u);
  EXPECT_EQ(obs->state(), Http1Observer::State::kObserving);
}

TEST_F(Http1ObserverTest, AWebSocketUpgradeBecomesATunnel) {
  auto obs = Make();
  Feed(*obs, true,
       "GET /chat HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n"
       "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n");
  Feed(*obs, false,
       "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n"
       "\x81\x05hello");
  Feed(*obs, true, "\x81\x85\x37\xfa\x21\x3d\x7f\x9f\x4d\x51\x58");
  EXPECT_EQ(obs->state(), Http1Observer::State::kOpaque);
  EXPECT_EQ(Code(Stats("GET /chat"), "101"), 1u);
  obs->OnClose();
  EXPECT_EQ(Stats("GET /chat").requests, 1u);
}

TEST_F(Http1ObserverTest, ConnectBecomesATunnel) {
  auto obs = Make();
  Feed(*obs, true, "CONNECT db:5432 HTTP/1.1\r\nHost: db:5432\r\n\r\n\x16\x03\x01");
  Feed(*obs, false, "HTTP/1.1 200 Connection established\r\n\r\n\x16\x03\x03 garbage");
  EXPECT_EQ(obs->state(), Http1Observer::State::kOpaque);
  EXPECT_EQ(Code(Stats("CONNECT *"), "200"), 1u);
}

TEST_F(Http1ObserverTest, WhatIsNotHttpIsLeftAlone) {
  for (const std::string& first : {std::string("\x16\x03\x01\x02\x00\x01", 6),
                                   std::string("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"),
                                   std::string("SSH-2.0-OpenSSH_9.2\r\n"),
                                   std::string("\x00\x00\x00\x08\x04\xd2\x16\x2f", 8)}) {
    auto obs = Make();
    Feed(*obs, true, first);
    EXPECT_EQ(obs->state(), Http1Observer::State::kOpaque) << first;
  }
  // Server first (a MySQL greeting): opaque at once, nothing counted.
  auto obs = Make();
  Feed(*obs, false, std::string("\x4a\x00\x00\x00\x0a" "8.0.36\x00", 12));
  EXPECT_EQ(obs->state(), Http1Observer::State::kOpaque);
  Feed(*obs, true, kGet);
  std::map<WorkerHttpStats::Key, RouteStats::Snapshot> all;
  table_.AddTo(all);
  EXPECT_TRUE(all.empty());
}

TEST_F(Http1ObserverTest, UnansweredRequestsCountAsNoResponse) {
  auto obs = Make();
  Feed(*obs, true, kGet);
  clock_.Advance(absl::Seconds(2));
  obs->OnClose();
  RouteStats::Snapshot s = Stats("GET /users/{id}");
  EXPECT_EQ(s.requests, 1u);
  EXPECT_EQ(Code(s, "none"), 1u);
}

TEST_F(Http1ObserverTest, AResponseReadToTheEndOfTheConnectionEndsThere) {
  auto obs = Make();
  Feed(*obs, true, "GET /old HTTP/1.0\r\n\r\n");
  Feed(*obs, false, "HTTP/1.0 200 OK\r\n\r\nall of it");
  obs->OnClose();
  RouteStats::Snapshot s = Stats("GET /old");
  EXPECT_EQ(Code(s, "200"), 1u);
  EXPECT_EQ(s.response_bytes, std::string("HTTP/1.0 200 OK\r\n\r\nall of it").size());
}

TEST_F(Http1ObserverTest, AnAnswerBeforeTheRequestHeadersEndedStopsTheObserver) {
  auto obs = Make();
  Feed(*obs, true, "GET /users/1 HTTP/1.1\r\nHost: cart\r\n");  // headers not ended
  Feed(*obs, false, "HTTP/1.1 431 Too Large\r\nContent-Length: 0\r\n\r\n");
  EXPECT_EQ(obs->state(), Http1Observer::State::kOpaque);
  EXPECT_EQ(obs->responses(), 0u);
  EXPECT_EQ(obs->requests(), 0u);
}

TEST_F(Http1ObserverTest, DeepPipeliningStopsTheObserver) {
  auto obs = Make();  // max_pending 4
  std::string five;
  for (int i = 0; i < 5; ++i) five += kGet;
  Feed(*obs, true, five);
  EXPECT_EQ(obs->state(), Http1Observer::State::kOpaque);
}

TEST(WorkerHttpStatsTest, RoutesOverTheCapAreFoldedIntoOther) {
  WorkerHttpStats table(2);
  RouteStats* a = table.Find(true, "p", "GET /a");
  RouteStats* b = table.Find(true, "p", "GET /b");
  RouteStats* c = table.Find(true, "p", "GET /c");
  RouteStats* d = table.Find(true, "q", "GET /d");
  EXPECT_NE(a, b);
  EXPECT_EQ(c, table.Find(true, "p", kOtherRoute));
  EXPECT_NE(d, c);  // another peer's [other]
  EXPECT_EQ(table.Find(true, "q", "GET /a"), table.Find(true, "q", "GET /a"));
  EXPECT_NE(table.Find(false, "p", "GET /c"), c);  // outbound has its own cap
  for (int code = 200; code < 230; ++code) a->RecordResponse(code, absl::Milliseconds(1), 0);
  RouteStats::Snapshot s;
  a->AddTo(s);
  EXPECT_EQ(s.responses.size(), kMaxStatusCodes);
  EXPECT_EQ(Code(s, "other"), 30u - (kMaxStatusCodes - 1));
}

}  // namespace
}  // namespace tether::proxy
