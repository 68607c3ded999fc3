// Http2Observer between a real nghttp2 client and server (sessions in this
// test, wired through the observer as a relay would hand it the bytes,
// in pieces of every size): streams counted once each with their route,
// :status, grpc-status and bytes, whatever SETTINGS, windows, frame sizes
// and header tables the endpoints choose; resets recorded as "none";
// garbage and HTTP/1 leave it opaque.
#include "proxy/http/http2_observer.h"

#include <gtest/gtest.h>
#include <nghttp2/nghttp2.h>

#include <cstring>
#include <list>
#include <map>
#include <string>
#include <vector>

#include "common/testing/fake_clock.h"
#include "proxy/http/http_observer.h"

namespace tether::proxy {
namespace {

nghttp2_nv Nv(const std::string& name, const std::string& value) {
  return {reinterpret_cast<uint8_t*>(const_cast<char*>(name.data())),
          reinterpret_cast<uint8_t*>(const_cast<char*>(value.data())), name.size(), value.size(),
          NGHTTP2_NV_FLAG_NONE};
}

// What the test server answers to a path.
struct Answer {
  std::string status = "200";
  std::string body;
  std::map<std::string, std::string> headers;
  std::map<std::string, std::string> trailers;  // empty: none
  bool trailers_only = false;                   // gRPC: grpc-status in the headers, no body
  bool reset = false;                           // RST_STREAM instead of a response
};

// Endpoint: one nghttp2 session of the test's client or server.
class Endpoint {
 public:
  Endpoint(bool server, std::vector<nghttp2_settings_entry> settings) : server_(server) {
    nghttp2_session_callbacks* cb;
    nghttp2_session_callbacks_new(&cb);
    nghttp2_session_callbacks_set_on_header_callback(cb, &OnHeader);
    nghttp2_session_callbacks_set_on_frame_recv_callback(cb, &OnFrame);
    nghttp2_session_callbacks_set_on_stream_close_callback(cb, &OnClose);
    // The encoder uses as much of the peer's header table as it allows.
    nghttp2_option* opt;
    nghttp2_option_new(&opt);
    nghttp2_option_set_max_deflate_dynamic_table_size(opt, 1 << 16);
    if (server) {
      nghttp2_session_server_new2(&session_, cb, this, opt);
    } else {
      nghttp2_session_client_new2(&session_, cb, this, opt);
    }
    nghttp2_option_del(opt);
    nghttp2_session_callbacks_del(cb);
    nghttp2_submit_settings(session_, NGHTTP2_FLAG_NONE, settings.data(), settings.size());
  }
  ~Endpoint() { nghttp2_session_del(session_); }

  std::string Output() {
    std::string out;
    for (;;) {
      const uint8_t* p = nullptr;
      const ssize_t n = nghttp2_session_mem_send(session_, &p);
      if (n <= 0) break;
      out.append(reinterpret_cast<const char*>(p), static_cast<size_t>(n));
    }
    return out;
  }
  void Input(const std::string& bytes) {
    ASSERT_EQ(nghttp2_session_mem_recv(session_, reinterpret_cast<const uint8_t*>(bytes.data()),
                                       bytes.size()),
              static_cast<ssize_t>(bytes.size()));
  }

  int32_t Request(const std::string& method, const std::string& path,
                  std::map<std::string, std::string> headers = {}, std::string body = "") {
    std::vector<std::string> keep = {":method", method, ":path", path, ":scheme", "http",
                                     ":authority", "svc"};
    for (auto& [k, v] : headers) {
      keep.push_back(k);
      keep.push_back(v);
    }
    std::vector<nghttp2_nv> nv;
    for (size_t i = 0; i < keep.size(); i += 2) nv.push_back(Nv(keep[i], keep[i + 1]));
    bodies_.push_back(std::move(body));
    nghttp2_data_provider prd{};
    prd.source.ptr = &bodies_.back();
    prd.read_callback = &ReadBody;
    const bool has_body = !bodies_.back().empty();
    return nghttp2_submit_request(session_, nullptr, nv.data(), nv.size(),
                                  has_body ? &prd : nullptr, nullptr);
  }
  void Reset(int32_t id) {
    nghttp2_submit_rst_stream(session_, NGHTTP2_FLAG_NONE, id, NGHTTP2_CANCEL);
  }

  std::map<std::string, Answer> answers;  // server: by path
  std::map<int32_t, std::string> statuses;  // client: :status by stream
  std::map<int32_t, bool> closed;

 private:
  struct Pending {
    std::string body;
    std::map<std::string, std::string> trailers;
  };

  static ssize_t ReadBody(nghttp2_session* s, int32_t id, uint8_t* buf, size_t len,
                          uint32_t* flags, nghttp2_data_source* src, void* user) {
    auto* self = static_cast<Endpoint*>(user);
    auto* body = static_cast<std::string*>(src->ptr);
    const size_t n = std::min(len, body->size());
    std::memcpy(buf, body->data(), n);
    body->erase(0, n);
    if (body->empty()) {
      *flags |= NGHTTP2_DATA_FLAG_EOF;
      auto it = self->trailers_.find(id);
      if (it != self->trailers_.end() && !it->second.empty()) {
        *flags |= NGHTTP2_DATA_FLAG_NO_END_STREAM;
        std::vector<nghttp2_nv> nv;
        for (auto& [k, v] : it->second) nv.push_back(Nv(k, v));
        nghttp2_submit_trailer(s, id, nv.data(), nv.size());
      }
    }
    return static_cast<ssize_t>(n);
  }
  static int OnHeader(nghttp2_session*, const nghttp2_frame* f, const uint8_t* name, size_t nl,
                      const uint8_t* value, size_t vl, uint8_t, void* user) {
    auto* self = static_cast<Endpoint*>(user);
    const std::string n(reinterpret_cast<const char*>(name), nl);
    const std::string v(reinterpret_cast<const char*>(value), vl);
    if (self->server_ && n == ":path") self->paths_[f->hd.stream_id] = v;
    if (!self->server_ && n == ":status") self->statuses[f->hd.stream_id] = v;
    return 0;
  }
  static int OnFrame(nghttp2_session* s, const nghttp2_frame* f, void* user) {
    auto* self = static_cast<Endpoint*>(user);
    if (!self->server_ || (f->hd.flags & NGHTTP2_FLAG_END_STREAM) == 0) return 0;
    if (f->hd.type != NGHTTP2_HEADERS && f->hd.type != NGHTTP2_DATA) return 0;
    const int32_t id = f->hd.stream_id;
    const Answer& a = self->answers[self->paths_[id]];
    if (a.reset) {
      nghttp2_submit_rst_stream(s, NGHTTP2_FLAG_NONE, id, NGHTTP2_INTERNAL_ERROR);
      return 0;
    }
    std::vector<nghttp2_nv> nv = {Nv(":status", a.status)};
    for (auto& [k, v] : a.headers) nv.push_back(Nv(k, v));
    if (a.trailers_only) {
      for (auto& [k, v] : a.trailers) nv.push_back(Nv(k, v));
      nghttp2_submit_response(s, id, nv.data(), nv.size(), nullptr);
      return 0;
    }
    self->bodies_.push_back(a.body);
    self->trailers_[id] = a.trailers;
    nghttp2_data_provider prd{};
    prd.source.ptr = &self->bodies_.back();
    prd.read_callback = &ReadBody;
    nghttp2_submit_response(s, id, nv.data(), nv.size(),
                            a.body.empty() && a.trailers.empty() ? nullptr : &prd);
    return 0;
  }
  static int OnClose(nghttp2_session*, int32_t id, uint32_t, void* user) {
    static_cast<Endpoint*>(user)->closed[id] = true;
    return 0;
  }

  const bool server_;
  nghttp2_session* session_ = nullptr;
  std::list<std::string> bodies_;
  std::map<int32_t, std::string> paths_;
  std::map<int32_t, std::map<std::string, std::string>> trailers_;
};

class Http2ObserverTest : public ::testing::Test {
 protected:
  void SetUp() override { Make(); }
  void Make(std::vector<nghttp2_settings_entry> client_settings = {},
            std::vector<nghttp2_settings_entry> server_settings = {}) {
    Http1Observer::Options o;
    o.inbound = true;
    o.peer = [] { return std::string("spiffe://mesh.test/ns/shop/sa/web"); };
    o.clock = &clock_;
    o.stats = &table_;
    o.max_streams = 8;
    o.on_request = [this](const HttpRequestRecord& r) { records_.push_back(r); };
    obs_ = std::make_unique<HttpObserver>(o);
    client_ = std::make_unique<Endpoint>(false, client_settings);
    server_ = std::make_unique<Endpoint>(true, server_settings);
  }
  // Pump moves bytes both ways through the observer until both are quiet,
  // in pieces of `chunk` bytes (0: as produced).
  void Pump() {
    for (int round = 0; round < 10000; ++round) {
      const std::string up = client_->Output();
      const std::string down = server_->Output();
      if (up.empty() && down.empty()) return;
      Pass(true, up);
      Pass(false, down);
      clock_.Advance(absl::Milliseconds(1));
    }
    FAIL() << "endpoints never went quiet";
  }
  void Pass(bool from_client, const std::string& bytes) {
    const size_t step = chunk_ == 0 ? std::max<size_t>(bytes.size(), 1) : chunk_;
    for (size_t i = 0; i < bytes.size(); i += step) {
      const std::string piece = bytes.substr(i, step);
      obs_->OnData(from_client, {reinterpret_cast<const uint8_t*>(piece.data()), piece.size()});
      (from_client ? server_ : client_)->Input(piece);
    }
  }
  RouteStats::Snapshot Stats(const std::string& route) {
    std::map<WorkerHttpStats::Key, RouteStats::Snapshot> all;
    table_.AddTo(all);
    return all[WorkerHttpStats::Key{true, "spiffe://mesh.test/ns/shop/sa/web", route}];
  }
  const Http2Observer& h2() { return *obs_->http2(); }

  FakeClock clock_;
  WorkerHttpStats table_{100};
  std::unique_ptr<HttpObserver> obs_;
  std::unique_ptr<Endpoint> client_;
  std::unique_ptr<Endpoint> server_;
  std::vector<HttpRequestRecord> records_;
  size_t chunk_ = 0;
};

TEST_F(Http2ObserverTest, StreamsAreCountedWithRouteStatusAndBytesWhateverTheSplit) {
  for (size_t chunk : {0, 1, 5, 9, 100}) {
    table_.~WorkerHttpStats();
    new (&table_) WorkerHttpStats(100);
    records_.clear();
    Make();
    chunk_ = chunk;
    server_->answers["/users/1234?x=1"].body = "hello";
    server_->answers["/orders"] = Answer{.status = "503"};
    for (int i = 0; i < 3; ++i) client_->Request("GET", "/users/1234?x=1");
    client_->Request("POST", "/orders", {}, std::string(1000, 'x'));
    Pump();
    ASSERT_NE(obs_->http2(), nullptr) << chunk;
    EXPECT_FALSE(h2().opaque()) << chunk;
    EXPECT_EQ(h2().requests(), 4u) << chunk;
    EXPECT_EQ(h2().responses(), 4u) << chunk;
    RouteStats::Snapshot users = Stats("GET /users/{id}");
    EXPECT_EQ(users.requests, 3u) << chunk;
    EXPECT_EQ((users.responses[{"200", ""}]), 3u) << chunk;
    EXPECT_EQ(Stats("POST /orders").responses[std::make_pair(std::string("503"), std::string())],
              1u);
    EXPECT_GE(Stats("POST /orders").request_bytes, 1000u);
    EXPECT_GE(users.response_bytes, 15u);
    EXPECT_TRUE(h2().IdleBetweenRequests());
    ASSERT_EQ(records_.size(), 4u);
    int users_records = 0;
    for (const HttpRequestRecord& r : records_) {
      if (r.path != "/users/1234") continue;
      ++users_records;
      EXPECT_EQ(r.route, "GET /users/{id}");
      EXPECT_EQ(r.status, 200);
    }
    EXPECT_EQ(users_records, 3);
  }
}

TEST_F(Http2ObserverTest, GrpcStatusComesFromTrailersOrATrailersOnlyResponse) {
  const std::map<std::string, std::string> grpc = {{"content-type", "application/grpc"},
                                                   {"te", "trailers"}};
  server_->answers["/shop.Cart/Add"] = Answer{
      .body = std::string("\0\0\0\0\2hi", 7), .headers = {{"content-type", "application/grpc"}},
      .trailers = {{"grpc-status", "0"}}};
  server_->answers["/shop.Cart/Fail"] = Answer{
      .body = std::string("\0\0\0\0\0", 5), .headers = {{"content-type", "application/grpc"}},
      .trailers = {{"grpc-status", "14"}, {"grpc-message", "unavailable"}}};
  server_->answers["/shop.Cart/Missing"] =
      Answer{.headers = {{"content-type", "application/grpc"}},
             .trailers = {{"grpc-status", "12"}},
             .trailers_only = true};
  client_->Request("POST", "/shop.Cart/Add", grpc, std::string("\0\0\0\0\1x", 6));
  client_->Request("POST", "/shop.Cart/Add", grpc, std::string("\0\0\0\0\1x", 6));
  client_->Request("POST", "/shop.Cart/Fail", grpc, std::string("\0\0\0\0\1x", 6));
  client_->Request("POST", "/shop.Cart/Missing", grpc, std::string("\0\0\0\0\1x", 6));
  Pump();
  EXPECT_EQ((Stats("POST /shop.Cart/Add").responses[{"200", "0"}]), 2u);
  EXPECT_EQ((Stats("POST /shop.Cart/Fail").responses[{"200", "14"}]), 1u);
  EXPECT_EQ((Stats("POST /shop.Cart/Missing").responses[{"200", "12"}]), 1u);
  ASSERT_EQ(records_.size(), 4u);
  for (const HttpRequestRecord& r : records_) {
    if (r.path == "/shop.Cart/Fail") {
      EXPECT_EQ(r.grpc_status, 14);
    }
  }
}

TEST_F(Http2ObserverTest, ResetsAreRecordedWithoutAStatus) {
  server_->answers["/boom"] = Answer{.reset = true};
  client_->Request("GET", "/boom");
  Pump();
  EXPECT_EQ((Stats("GET /boom").responses[{"none", ""}]), 1u);
  // The client gives up on a request before the server answers.
  const int32_t id = client_->Request("POST", "/slow", {}, "");
  Pass(true, client_->Output());  // the request reaches the server, unanswered
  server_->answers["/slow"] = Answer{};
  client_->Reset(id);
  Pass(true, client_->Output());
  EXPECT_EQ((Stats("POST /slow").responses[{"none", ""}]), 1u);
  EXPECT_FALSE(h2().opaque());
  EXPECT_TRUE(h2().IdleBetweenRequests());
  // A stream still open when the connection ends.
  client_->Request("GET", "/hang");
  server_->answers["/hang"] = Answer{};
  Pass(true, client_->Output());
  EXPECT_FALSE(h2().IdleBetweenRequests());
  obs_->OnClose();
  EXPECT_EQ((Stats("GET /hang").responses[{"none", ""}]), 1u);
}

TEST_F(Http2ObserverTest, FollowsLargeWindowsFramesAndHeaderTables) {
  // Both ends allow what HTTP/2 allows beyond the defaults: the observer
  // must accept the frames the real endpoints accept.
  const std::vector<nghttp2_settings_entry> big = {
      {NGHTTP2_SETTINGS_HEADER_TABLE_SIZE, 32768},
      {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, 4 << 20},
      {NGHTTP2_SETTINGS_MAX_FRAME_SIZE, 1 << 20}};
  Make(big, big);
  const std::string large(3 << 20, 'b');
  server_->answers["/blob"].body = large;
  // Headers that need the larger table, then requests that refer to it.
  std::map<std::string, std::string> headers;
  for (int i = 0; i < 10; ++i) headers["x-big-" + std::to_string(i)] = std::string(1500, 'h');
  for (int i = 0; i < 3; ++i) client_->Request("PUT", "/blob", headers, std::string(2 << 20, 'u'));
  Pump();
  ASSERT_NE(obs_->http2(), nullptr);
  EXPECT_FALSE(h2().opaque());
  RouteStats::Snapshot s = Stats("PUT /blob");
  EXPECT_EQ((s.responses[{"200", ""}]), 3u);
  EXPECT_GE(s.request_bytes, 3u * (2u << 20));
  EXPECT_GE(s.response_bytes, 3u * (3u << 20));
}

TEST_F(Http2ObserverTest, ManyStreamsAtOnceStayWithinTheCap) {
  server_->answers["/a"] = Answer{};
  for (int round = 0; round < 20; ++round) {
    for (int i = 0; i < 8; ++i) client_->Request("GET", "/a");
    Pump();
  }
  EXPECT_FALSE(h2().opaque());
  EXPECT_EQ((Stats("GET /a").responses[{"200", ""}]), 160u);
  // Over the cap of open streams: the observer stops, the bytes still flow.
  for (int i = 0; i < 9; ++i) client_->Request("GET", "/unanswered");
  Pass(true, client_->Output());
  EXPECT_TRUE(h2().opaque());
}

TEST_F(Http2ObserverTest, HttpOneAndGarbageAreNotHttp2) {
  const std::string get = "GET / HTTP/1.1\r\nHost: a\r\n\r\n";
  obs_->OnData(true, {reinterpret_cast<const uint8_t*>(get.data()), get.size()});
  EXPECT_NE(obs_->http1(), nullptr);
  EXPECT_EQ(obs_->http2(), nullptr);
  Make();
  // The preface, then frames that make no sense.
  const std::string bad = std::string("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n") +
                          std::string("\xff\xff\xff\x09\x00\x00\x00\x00\x01garbage", 16);
  obs_->OnData(true, {reinterpret_cast<const uint8_t*>(bad.data()), bad.size()});
  ASSERT_NE(obs_->http2(), nullptr);
  EXPECT_TRUE(h2().opaque());
  EXPECT_FALSE(obs_->IdleBetweenRequests());
  // The server speaks first: held until the client speaks, then HTTP/1
  // decides (and goes opaque).
  Make();
  const std::string greeting = "220 smtp ready\r\n";
  obs_->OnData(false, {reinterpret_cast<const uint8_t*>(greeting.data()), greeting.size()});
  EXPECT_EQ(obs_->http1(), nullptr);
  const std::string helo = "HELO a\r\n";
  obs_->OnData(true, {reinterpret_cast<const uint8_t*>(helo.data()), helo.size()});
  ASSERT_NE(obs_->http1(), nullptr);
  EXPECT_EQ(obs_->http1()->state(), Http1Observer::State::kOpaque);
  // A greeting longer than what is held decides at once.
  Make();
  const std::string banner(20000, 'g');
  obs_->OnData(false, {reinterpret_cast<const uint8_t*>(banner.data()), banner.size()});
  EXPECT_NE(obs_->http1(), nullptr);
}

TEST_F(Http2ObserverTest, TheServersSettingsMayArriveBeforeTheClientsPreface) {
  server_->answers["/a"] = Answer{};
  Pass(false, server_->Output());  // the server's SETTINGS, first
  client_->Request("GET", "/a");
  Pump();
  ASSERT_NE(obs_->http2(), nullptr);
  EXPECT_EQ((Stats("GET /a").responses[{"200", ""}]), 1u);
}

}  // namespace
}  // namespace tether::proxy
