// Http1Observer: the golden metrics of HTTP/1.x requests on a connection
// that stays byte-exact TCP. It watches the relay (relay_tap.h), parses the
// client's bytes as requests and the server's as responses with Debian's
// http-parser, and records each request and its response in the worker's
// HttpStats: the route (RouteTemplate), the final status, the duration
// from the request's first byte to the response's last, and the bytes.
//
//   relay->SetTap(std::make_unique<Http1Observer>(Http1Observer::Options{
//       .inbound = true, .peer = [&] { return label; }, .clock = clock,
//       .stats = &http_stats.worker(i)}));
//
// Nothing waits on it and nothing it sees changes a byte, so protocols
// that are not HTTP lose nothing: the connection becomes opaque to the
// observer (it stops parsing, for good) when
//   - the server speaks first (MySQL, SMTP: a greeting before any request),
//   - the client's first bytes are not an HTTP/1.x request (TLS, the HTTP/2
//     preface, anything else), or either side stops parsing as HTTP;
//   - a protocol switch: after the response to an Upgrade (101: WebSocket)
//     or a CONNECT (2xx), the rest is a tunnel;
//   - more than max_pending requests are waiting for responses (pipelining
//     deeper than any client does).
// Interim responses (100 Continue) are skipped; a response to HEAD has no
// body. Requests still waiting when the connection ends are recorded with
// status "none" (a failure). Runs on the relay's dispatcher thread.
#ifndef TETHER_PROXY_HTTP_HTTP1_OBSERVER_H_
#define TETHER_PROXY_HTTP_HTTP1_OBSERVER_H_

#include <http_parser.h>

#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <string>

#include "absl/strings/string_view.h"

#include "absl/time/time.h"
#include "absl/types/span.h"
#include "common/clock.h"
#include "proxy/http/http_stats.h"
#include "proxy/relay/relay_tap.h"

namespace tether::proxy {

// HttpRequestRecord: one request and its answer, for the per-request access
// log (Options::on_request).
struct HttpRequestRecord {
  absl::string_view method;
  std::string path;   // the target without its query (which may hold secrets)
  std::string route;  // RouteTemplate
  int status = 0;     // 0: no response (the connection ended first)
  int grpc_status = -1;  // a gRPC response's grpc-status; -1: not gRPC, or none
  absl::Duration duration;
  uint64_t request_bytes = 0;
  uint64_t response_bytes = 0;
};

class Http1Observer final : public RelayTap {
 public:
  struct Options {
    bool inbound = true;
    // The peer label, asked once at the first request (after the TLS
    // handshake, so the verified identity is known).
    std::function<std::string()> peer;
    const Clock* clock = nullptr;
    WorkerHttpStats* stats = nullptr;
    // Called for every request once answered (or the connection ended);
    // null: nothing but the counters.
    std::function<void(const HttpRequestRecord&)> on_request;
    // Whether on_request wants the next request (asked at its headers; null:
    // always): nothing is built for a request nobody records.
    std::function<bool()> want_request;
    size_t max_pending = 64;
    size_t max_streams = 1024;  // HTTP/2 streams open at once (Http2Observer)
    size_t max_target_bytes = 8192;  // longer targets: the route of their start
  };
  enum class State { kDetecting, kObserving, kOpaque };

  explicit Http1Observer(Options options);
  Http1Observer(const Http1Observer&) = delete;
  Http1Observer& operator=(const Http1Observer&) = delete;

  void OnData(bool from_downstream, absl::Span<const uint8_t> data) override;
  void OnClose() override;

  State state() const { return state_; }
  // IdleBetweenRequests: HTTP was seen, every request was answered, and no
  // byte of another has arrived (a keep-alive connection a draining server
  // may close).
  bool IdleBetweenRequests() const {
    return state_ == State::kObserving && pending_.empty() && request_bytes_ == 0 &&
           response_bytes_ == 0;
  }
  // Requests recorded and responses matched to them, for tests.
  uint64_t requests() const { return requests_; }
  uint64_t responses() const { return responses_; }

 private:
  struct Pending {
    absl::Duration start;
    RouteStats* route = nullptr;  // null until the headers completed
    bool head = false;
    bool connect = false;
    bool upgrade = false;  // asked to switch protocols
    uint64_t request_bytes = 0;
    // For on_request only.
    absl::string_view method;
    std::string path;
    std::string route_name;
    bool record = false;  // for on_request
  };

  void ParseRequests(absl::Span<const uint8_t> data);
  void ParseResponses(absl::Span<const uint8_t> data);
  void GoOpaque();
  // Finish records `req`'s answer (status 0: none) in the counters, and for
  // on_request.
  void Finish(const Pending& req, int status, uint64_t response_bytes);
  RouteStats* RouteFor(absl::string_view method, absl::string_view target);

  // http-parser callbacks (settings_ point here through parser.data).
  static int OnRequestBegin(http_parser* p);
  static int OnRequestUrl(http_parser* p, const char* at, size_t n);
  static int OnRequestHeadersComplete(http_parser* p);
  static int OnRequestComplete(http_parser* p);
  static int OnResponseHeadersComplete(http_parser* p);
  static int OnResponseComplete(http_parser* p);

  const Options options_;
  State state_ = State::kDetecting;
  http_parser request_parser_;
  http_parser response_parser_;
  http_parser_settings request_settings_;
  http_parser_settings response_settings_;
  std::string target_;
  std::deque<Pending> pending_;
  // Bytes of the request being parsed (not yet at pending_.back()).
  uint64_t request_bytes_ = 0;
  bool request_complete_ = false;  // paused at a request's end
  bool requests_tunnelled_ = false;  // after an Upgrade or CONNECT request
  // The response being parsed.
  uint64_t response_bytes_ = 0;
  int response_status_ = 0;
  bool response_complete_ = false;
  bool peer_known_ = false;
  std::string peer_;
  uint64_t requests_ = 0;
  uint64_t responses_ = 0;
};

}  // namespace tether::proxy

#endif  // TETHER_PROXY_HTTP_HTTP1_OBSERVER_H_
