#include "proxy/http/http2_observer.h"

#include <algorithm>
#include <cstring>
#include <utility>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/string_view.h"
#include "proxy/http/route_template.h"

namespace tether::proxy {
namespace {

constexpr char kPreface[] = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
constexpr uint32_t kMaxWindow = (1u << 31) - 1;
constexpr uint32_t kMaxFrameSize = (1u << 24) - 1;
// A peer's header table beyond this is not followed (the observer stops):
// it bounds what HPACK state costs per connection.
constexpr uint32_t kMaxHeaderTable = 64 * 1024;
// The highest gRPC status code; others count as UNKNOWN (2), as the
// gRPC spec says of codes a client does not know.
constexpr int kMaxGrpcStatus = 16;

Http2Observer* Self(void* p) { return static_cast<Http2Observer*>(p); }

absl::string_view View(const uint8_t* p, size_t n) {
  return absl::string_view(reinterpret_cast<const char*>(p), n);
}

struct Callbacks {
  nghttp2_session_callbacks* cb = nullptr;
  ~Callbacks() { nghttp2_session_callbacks_del(cb); }
};

struct Option {
  nghttp2_option* opt = nullptr;
  ~Option() { nghttp2_option_del(opt); }
};

// MethodLabel: the :method as sent when it is an HTTP token (RFC 9110),
// else "_OTHER", so that a label is always short printable ASCII.
std::string MethodLabel(absl::string_view m) {
  static constexpr absl::string_view kTokenPunct = "!#$%&'*+-.^_`|~";
  if (m.empty() || m.size() > 16) return "_OTHER";
  for (char c : m) {
    if (!absl::ascii_isalnum(static_cast<unsigned char>(c)) &&
        kTokenPunct.find(c) == absl::string_view::npos) {
      return "_OTHER";
    }
  }
  return std::string(m);
}

}  // namespace

bool IsHttp2Preface(absl::Span<const uint8_t> prefix) {
  const size_t n = std::min(prefix.size(), kHttp2PrefaceSize);
  return std::memcmp(prefix.data(), kPreface, n) == 0;
}

Http2Observer::Http2Observer(Options options) : options_(std::move(options)) {
  Callbacks c;
  Option o;
  if (nghttp2_session_callbacks_new(&c.cb) != 0 || nghttp2_option_new(&o.opt) != 0) {
    opaque_ = true;
    return;
  }
  nghttp2_session_callbacks_set_on_begin_headers_callback(c.cb, &OnBeginHeaders);
  nghttp2_session_callbacks_set_on_header_callback(c.cb, &OnHeader);
  nghttp2_session_callbacks_set_on_frame_recv_callback(c.cb, &OnFrameRecv);
  nghttp2_session_callbacks_set_on_data_chunk_recv_callback(c.cb, &OnDataChunk);
  nghttp2_session_callbacks_set_on_stream_close_callback(c.cb, &OnStreamClose);
  nghttp2_session_callbacks_set_on_frame_send_callback(c.cb, &OnFrameSend);
  // What the real endpoints check is theirs to check; the observer only
  // needs the frames and the headers.
  nghttp2_option_set_no_http_messaging(o.opt, 1);
  nghttp2_option_set_no_rfc9113_leading_and_trailing_ws_validation(o.opt, 1);
  nghttp2_option_set_no_auto_ping_ack(o.opt, 1);
  nghttp2_option_set_no_closed_streams(o.opt, 1);
  nghttp2_option_set_peer_max_concurrent_streams(o.opt, 0xffffffffu);
  nghttp2_option_set_max_settings(o.opt, 1 << 16);
  nghttp2_option_set_stream_reset_rate_limit(o.opt, UINT64_MAX, UINT64_MAX);
  nghttp2_option_set_max_deflate_dynamic_table_size(o.opt, 0);
  if (nghttp2_session_server_new2(&requests_session_, c.cb, this, o.opt) != 0 ||
      nghttp2_session_client_new2(&responses_session_, c.cb, this, o.opt) != 0) {
    opaque_ = true;
    return;
  }
  for (nghttp2_session* s : {requests_session_, responses_session_}) {
    // The connection window: never the reason a frame is refused.
    if (nghttp2_session_set_local_window_size(s, NGHTTP2_FLAG_NONE, 0, kMaxWindow) != 0) {
      opaque_ = true;
    }
    Drain(s);
  }
}

Http2Observer::~Http2Observer() {
  nghttp2_session_del(requests_session_);
  nghttp2_session_del(responses_session_);
}

void Http2Observer::OnData(bool from_downstream, absl::Span<const uint8_t> data) {
  if (opaque_ || data.empty()) return;
  nghttp2_session* s = from_downstream ? requests_session_ : responses_session_;
  const ssize_t n = nghttp2_session_mem_recv(s, data.data(), data.size());
  if (n < 0 || opaque_) {
    Stop();
    return;
  }
  // What the callbacks submitted: streams opened in the response session,
  // resets, SETTINGS (dropped: the sessions never send).
  Drain(requests_session_);
  Drain(responses_session_);
}

void Http2Observer::OnClose() {
  if (opaque_) return;
  std::vector<int32_t> open;
  for (const auto& [id, st] : streams_) open.push_back(id);
  std::sort(open.begin(), open.end());
  for (int32_t id : open) Finish(id);
}

void Http2Observer::Drain(nghttp2_session* session) {
  if (opaque_) return;
  for (;;) {
    const uint8_t* out = nullptr;
    const ssize_t n = nghttp2_session_mem_send(session, &out);
    if (n < 0) {
      Stop();
      return;
    }
    if (n == 0) return;
  }
}

void Http2Observer::Pend(nghttp2_session* session, const nghttp2_settings& seen) {
  // The peer's header table size as it set it (capped), and the largest
  // frames and windows HTTP/2 allows.
  std::vector<nghttp2_settings_entry> iv = {
      {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, kMaxWindow},
      {NGHTTP2_SETTINGS_MAX_FRAME_SIZE, kMaxFrameSize},
  };
  for (size_t i = 0; i < seen.niv; ++i) {
    if (seen.iv[i].settings_id == NGHTTP2_SETTINGS_HEADER_TABLE_SIZE) {
      iv.push_back({NGHTTP2_SETTINGS_HEADER_TABLE_SIZE,
                    std::min(seen.iv[i].value, kMaxHeaderTable)});
    }
  }
  if (nghttp2_submit_settings(session, NGHTTP2_FLAG_NONE, iv.data(), iv.size()) != 0) Stop();
}

void Http2Observer::Stop() {
  opaque_ = true;
  streams_.clear();
}

int Http2Observer::OnBeginHeaders(nghttp2_session* s, const nghttp2_frame* f, void* p) {
  Http2Observer* self = Self(p);
  if (self->opaque_) return NGHTTP2_ERR_CALLBACK_FAILURE;
  if (!self->IsRequestSide(s) || f->hd.type != NGHTTP2_HEADERS ||
      f->headers.cat != NGHTTP2_HCAT_REQUEST) {
    return 0;
  }
  const int32_t id = f->hd.stream_id;
  if (self->streams_.size() >= self->options_.max_streams) {
    self->Stop();
    return NGHTTP2_ERR_CALLBACK_FAILURE;
  }
  // The same stream in the response session, so the response has one to
  // arrive on (sent by the next Drain, before any byte reaches the server).
  const nghttp2_nv method = {const_cast<uint8_t*>(reinterpret_cast<const uint8_t*>(":method")),
                             const_cast<uint8_t*>(reinterpret_cast<const uint8_t*>("GET")), 7, 3,
                             NGHTTP2_NV_FLAG_NONE};
  if (nghttp2_session_set_next_stream_id(self->responses_session_, id) != 0 ||
      nghttp2_submit_request(self->responses_session_, nullptr, &method, 1, nullptr, nullptr) !=
          id) {
    self->Stop();
    return NGHTTP2_ERR_CALLBACK_FAILURE;
  }
  Stream st;
  st.start = self->options_.clock->Monotonic();
  self->streams_.emplace(id, std::move(st));
  return 0;
}

int Http2Observer::OnHeader(nghttp2_session* s, const nghttp2_frame* f, const uint8_t* name,
                            size_t namelen, const uint8_t* value, size_t valuelen, uint8_t,
                            void* p) {
  Http2Observer* self = Self(p);
  if (self->opaque_) return NGHTTP2_ERR_CALLBACK_FAILURE;
  if (f->hd.type != NGHTTP2_HEADERS) return 0;
  auto it = self->streams_.find(f->hd.stream_id);
  if (it == self->streams_.end()) return 0;
  Stream& st = it->second;
  const absl::string_view n = View(name, namelen);
  const absl::string_view v = View(value, valuelen);
  if (self->IsRequestSide(s)) {
    if (st.headers_done) return 0;  // trailers
    if (n == ":method") {
      st.method = MethodLabel(v);
    } else if (n == ":path") {
      st.path = std::string(v.substr(0, self->options_.max_target_bytes));
    } else if (n == "content-type") {
      st.grpc = absl::StartsWithIgnoreCase(v, "application/grpc");
    }
    return 0;
  }
  int code = 0;
  if (n == ":status" && st.status == 0 && absl::SimpleAtoi(v, &code) && code >= 200 &&
      code <= 999) {
    st.status = code;  // 1xx: interim, the final status follows
  } else if (n == "grpc-status" && absl::SimpleAtoi(v, &code) && code >= 0) {
    st.grpc_status = code > kMaxGrpcStatus ? 2 : code;
  }
  return 0;
}

int Http2Observer::OnFrameRecv(nghttp2_session* s, const nghttp2_frame* f, void* p) {
  Http2Observer* self = Self(p);
  if (self->opaque_) return NGHTTP2_ERR_CALLBACK_FAILURE;
  const bool requests = self->IsRequestSide(s);
  if (f->hd.type == NGHTTP2_SETTINGS) {
    // The other side will ACK these: the session that reads that side
    // needs one SETTINGS waiting for that ACK.
    if ((f->hd.flags & NGHTTP2_FLAG_ACK) == 0) {
      self->Pend(requests ? self->responses_session_ : self->requests_session_, f->settings);
    }
    return 0;
  }
  if (f->hd.type != NGHTTP2_HEADERS && f->hd.type != NGHTTP2_DATA) return 0;
  const int32_t id = f->hd.stream_id;
  auto it = self->streams_.find(id);
  if (it == self->streams_.end()) return 0;
  Stream& st = it->second;
  if (f->hd.type == NGHTTP2_HEADERS) {
    (requests ? st.request_bytes : st.response_bytes) += f->hd.length;
    if (requests && !st.headers_done) self->RequestHeadersDone(st);
  }
  if (!requests && (f->hd.flags & NGHTTP2_FLAG_END_STREAM) != 0 && st.status != 0) {
    // (Answered before its request's headers ended: forgotten unrecorded.)
    if (st.headers_done) self->responses_ += 1;
    self->Finish(id);
  }
  return 0;
}

int Http2Observer::OnFrameSend(nghttp2_session*, const nghttp2_frame* f, void* p) {
  // The sessions never send a GOAWAY of their own accord: one means that
  // nghttp2 found a connection error in what it read (it ignores the rest).
  if (f->hd.type == NGHTTP2_GOAWAY) Self(p)->Stop();
  return 0;
}

int Http2Observer::OnDataChunk(nghttp2_session* s, uint8_t, int32_t stream_id, const uint8_t*,
                               size_t len, void* p) {
  Http2Observer* self = Self(p);
  if (self->opaque_) return NGHTTP2_ERR_CALLBACK_FAILURE;
  auto it = self->streams_.find(stream_id);
  if (it == self->streams_.end()) return 0;
  (self->IsRequestSide(s) ? it->second.request_bytes : it->second.response_bytes) += len;
  return 0;
}

int Http2Observer::OnStreamClose(nghttp2_session* s, int32_t stream_id, uint32_t, void* p) {
  // Reset (or ended) before its response ended: recorded without a status.
  Http2Observer* self = Self(p);
  auto it = self->streams_.find(stream_id);
  if (it != self->streams_.end()) {
    it->second.status = 0;
    self->Finish(stream_id, s);
  }
  return 0;
}

void Http2Observer::RequestHeadersDone(Stream& st) {
  st.headers_done = true;
  if (!peer_known_) {
    peer_known_ = true;
    if (options_.peer) peer_ = options_.peer();
  }
  std::string route = RouteTemplate(st.method, st.path);
  st.route = options_.stats->Find(options_.inbound, peer_, route);
  st.route->RecordRequest(0);
  st.record = options_.on_request && (!options_.want_request || options_.want_request());
  if (st.record) st.route_name = std::move(route);  // for its record, computed once
  ++requests_;
}

void Http2Observer::Finish(int32_t id, nghttp2_session* closing) {
  auto it = streams_.find(id);
  if (it == streams_.end()) return;
  Stream st = std::move(it->second);
  streams_.erase(it);
  // Close the stream in both sessions (one may still hold it open: the
  // request half after the response ended, or the response half after the
  // client reset it), so that neither keeps state for it.
  for (nghttp2_session* s : {requests_session_, responses_session_}) {
    if (s != closing && nghttp2_session_find_stream(s, id) != nullptr) {
      nghttp2_submit_rst_stream(s, NGHTTP2_FLAG_NONE, id, NGHTTP2_NO_ERROR);
    }
  }
  if (st.route == nullptr) return;  // its request headers never ended
  const absl::Duration took = options_.clock->Monotonic() - st.start;
  st.route->AddRequestBytes(st.request_bytes);
  st.route->RecordResponse(st.status, took, st.response_bytes, st.grpc ? st.grpc_status : -1);
  if (!st.record) return;
  HttpRequestRecord r;
  r.method = st.method;
  r.path = st.path.substr(0, st.path.find_first_of("?#"));
  r.route = std::move(st.route_name);
  r.status = st.status;
  r.grpc_status = st.grpc ? st.grpc_status : -1;
  r.duration = took;
  r.request_bytes = st.request_bytes;
  r.response_bytes = st.response_bytes;
  options_.on_request(r);
}

}  // namespace tether::proxy
