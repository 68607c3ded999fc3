// Http2Observer: the golden metrics of HTTP/2 streams (gRPC included) on a
// connection that stays byte-exact TCP, as Http1Observer does for HTTP/1.x.
// It watches the relay (relay_tap.h) and records each stream's request and
// response in the worker's HttpStats: the route (RouteTemplate of :method
// and :path, so a gRPC call is "POST /pkg.Service/Method"), the :status,
// the grpc-status of a gRPC response (from its trailers, or its headers
// when trailers-only), the duration from the request's HEADERS to the
// response's END_STREAM, and the bytes (header blocks and DATA payloads).
//
//   relay->SetTap(std::make_unique<Http2Observer>(Http1Observer-like Options));
//
// The frames are read by two nghttp2 sessions that never send: a server
// session reads the client's bytes and a client session the server's (what
// they would send is dropped). For them to accept exactly what the real
// endpoints accept:
//   - each raises its own limits (frame size, windows, header table) as far
//     as HTTP/2 allows, so no frame a real peer may send is too big;
//   - each holds one pending SETTINGS per SETTINGS the other side's peer
//     sent, so the ACK that follows has one to apply (nghttp2 fails on an
//     unexpected ACK);
//   - a request stream seen by the server session is opened, with the same
//     id, in the client session before the response can arrive.
// When either session finds an error (not HTTP/2 after all, a protocol
// error, a server push answered with a reset, ...) the observer stops for
// good, as Http1Observer goes opaque: nothing it does changes a byte.
// Streams still open when the connection ends are recorded with status
// "none" (a failure). Runs on the relay's dispatcher thread.
#ifndef TETHER_PROXY_HTTP_HTTP2_OBSERVER_H_
#define TETHER_PROXY_HTTP_HTTP2_OBSERVER_H_

#include <nghttp2/nghttp2.h>

#include <cstdint>
#include <string>

#include "absl/container/flat_hash_map.h"
#include "absl/time/time.h"
#include "absl/types/span.h"
#include "proxy/http/http1_observer.h"
#include "proxy/relay/relay_tap.h"

namespace tether::proxy {

class Http2Observer final : public RelayTap {
 public:
  // The same options as HTTP/1 (max_streams bounds the open streams).
  using Options = Http1Observer::Options;

  explicit Http2Observer(Options options);
  ~Http2Observer() override;
  Http2Observer(const Http2Observer&) = delete;
  Http2Observer& operator=(const Http2Observer&) = delete;

  void OnData(bool from_downstream, absl::Span<const uint8_t> data) override;
  void OnClose() override;

  bool opaque() const { return opaque_; }
  // IdleBetweenRequests: no stream is open (a connection a draining server
  // may close without failing a request).
  bool IdleBetweenRequests() const { return !opaque_ && streams_.empty(); }
  uint64_t requests() const { return requests_; }
  uint64_t responses() const { return responses_; }

 private:
  struct Stream {
    absl::Duration start;
    std::string method;
    std::string path;
    bool grpc = false;
    bool headers_done = false;  // the request's first header block ended
    RouteStats* route = nullptr;
    uint64_t request_bytes = 0;
    int status = 0;           // the final :status, 0 until seen
    int grpc_status = -1;     // -1: none seen
    uint64_t response_bytes = 0;
    bool record = false;     // for on_request
    std::string route_name;  // RouteTemplate, kept only when record
  };

  static int OnBeginHeaders(nghttp2_session* s, const nghttp2_frame* f, void* self);
  static int OnHeader(nghttp2_session* s, const nghttp2_frame* f, const uint8_t* name,
                      size_t namelen, const uint8_t* value, size_t valuelen, uint8_t flags,
                      void* self);
  static int OnFrameRecv(nghttp2_session* s, const nghttp2_frame* f, void* self);
  static int OnFrameSend(nghttp2_session* s, const nghttp2_frame* f, void* self);
  static int OnDataChunk(nghttp2_session* s, uint8_t flags, int32_t stream_id,
                         const uint8_t* data, size_t len, void* self);
  static int OnStreamClose(nghttp2_session* s, int32_t stream_id, uint32_t error_code,
                           void* self);

  bool IsRequestSide(const nghttp2_session* s) const { return s == requests_session_; }
  // Pend adds to `session` one SETTINGS waiting for an ACK: the header
  // table size of `seen` (the other side's peer's SETTINGS), and our limits.
  void Pend(nghttp2_session* session, const nghttp2_settings& seen);
  // Drain drops what `session` would send (so its queue stays empty).
  void Drain(nghttp2_session* session);
  void RequestHeadersDone(Stream& st);
  // Finish records stream `id` and forgets it, resetting it in the session
  // that is not `closing` (the one closing it now, if any).
  void Finish(int32_t id, nghttp2_session* closing = nullptr);
  void Stop();

  const Options options_;
  nghttp2_session* requests_session_ = nullptr;   // server role: the client's bytes
  nghttp2_session* responses_session_ = nullptr;  // client role: the server's bytes
  bool opaque_ = false;
  absl::flat_hash_map<int32_t, Stream> streams_;
  bool peer_known_ = false;
  std::string peer_;
  uint64_t requests_ = 0;
  uint64_t responses_ = 0;
};

// IsHttp2Preface: whether `prefix` (the client's first bytes) is, so far,
// the HTTP/2 connection preface ("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n");
// kHttp2PrefaceSize bytes decide.
inline constexpr size_t kHttp2PrefaceSize = 24;
bool IsHttp2Preface(absl::Span<const uint8_t> prefix);

}  // namespace tether::proxy

#endif  // TETHER_PROXY_HTTP_HTTP2_OBSERVER_H_
