// Http1Parser: one direction of an HTTP/1.x connection, parsed message by
// message with Debian's http-parser, for a proxy that forwards what it
// parses: it stops at the end of each message's head (so the head can be
// looked at, changed and written on) and at the end of each message.
//
//   Http1Parser p(Http1Parser::kRequest);
//   Http1Parser::Result r = p.Feed(bytes);
//   Forward(r.body);               // body bytes as received, chunk framing included
//   switch (r.event) {
//     case Http1Parser::Event::kHead: Forward(SerializeHead(p.head(), ...)); ...
//     case Http1Parser::Event::kComplete: ...   // the message ended
//     case Http1Parser::Event::kNeedMore: ...   // every byte was used
//     case Http1Parser::Event::kError: p.error() ...
//   }
//   bytes.remove_prefix(r.used);   // and Feed the rest
//
// Bodies are not copied out: Feed says which of the bytes it used are body,
// and the caller forwards those as they are.
// Never reads past `data`; never crashes on any input (fuzzed:
// tests/fuzz/http1_parser_fuzz.cc).
#ifndef TETHER_PROXY_HTTP_HTTP1_PARSER_H_
#define TETHER_PROXY_HTTP_HTTP1_PARSER_H_

#include <http_parser.h>

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/string_view.h"
#include "absl/types/span.h"

namespace tether::proxy {

// Http1Head: a request's or response's start line and headers.
struct Http1Head {
  std::string method;  // requests: "GET"
  std::string target;  // requests: "/a?b", as received
  int status = 0;      // responses
  std::string reason;  // responses: "OK"
  int version_minor = 1;
  std::vector<std::pair<std::string, std::string>> headers;  // in order, as received
  bool keep_alive = true;  // the sender allows another message on the connection
  bool upgrade = false;    // requests: Upgrade or CONNECT; a tunnel may follow
  bool chunked = false;
  // Responses: the body runs to the end of the connection (no length, not
  // chunked), so the connection cannot carry another message.
  bool body_until_eof = false;

  std::optional<absl::string_view> Header(absl::string_view name) const;
  // Path: target without query or fragment.
  absl::string_view Path() const;
};

// SerializeHead writes `head` as it goes on to the next hop: the start line,
// then every header except the hop-by-hop ones (Connection, Keep-Alive,
// Proxy-Connection, and those Connection names), then `connection_close`
// as "Connection: close" when set. Transfer-Encoding and Content-Length stay:
// the body is forwarded as received.
std::string SerializeHead(const Http1Head& head, bool request, bool connection_close);

class Http1Parser {
 public:
  enum Type { kRequest, kResponse };
  enum class Event { kNeedMore, kHead, kComplete, kError };
  struct Result {
    Event event = Event::kNeedMore;
    size_t used = 0;                  // bytes of `data` used
    absl::Span<const uint8_t> body;   // those of them that are body (within `data`)
  };

  explicit Http1Parser(Type type, size_t max_head_bytes = 64 * 1024);
  Http1Parser(const Http1Parser&) = delete;
  Http1Parser& operator=(const Http1Parser&) = delete;

  // Feed parses from the start of `data` and stops at the first event:
  //   kHead: the head is complete (head()); body is empty;
  //   kComplete: the message ended with the last used byte;
  //   kNeedMore: every byte was used, within a head or body;
  //   kError: not HTTP/1.x, or over a limit (error()); do not call again.
  // An empty `data` means the end of the stream: a body that runs to it
  // completes (kComplete); within a message it is kError; between messages
  // kNeedMore.
  Result Feed(absl::Span<const uint8_t> data);

  // Responses: whether the request answered next was a HEAD (its response
  // has no body, whatever its head says). Set before its response's head.
  void SetAnsweringHead(bool head) { answering_head_ = head; }

  const Http1Head& head() const { return head_; }
  // TakeHead moves the head out (after kHead; head() is empty afterwards).
  Http1Head TakeHead() { return std::move(head_); }
  // Whether the parser is between messages (nothing of the next one seen).
  bool idle() const { return idle_; }
  const std::string& error() const { return error_; }
  // Whether the error is a head over max_head_bytes (431 rather than 400).
  bool head_too_large() const { return head_too_large_; }

 private:
  static int OnMessageBegin(http_parser* p);
  static int OnUrl(http_parser* p, const char* at, size_t n);
  static int OnStatus(http_parser* p, const char* at, size_t n);
  static int OnHeaderField(http_parser* p, const char* at, size_t n);
  static int OnHeaderValue(http_parser* p, const char* at, size_t n);
  static int OnHeadersComplete(http_parser* p);
  static int OnMessageComplete(http_parser* p);
  bool Grow(size_t n);

  const Type type_;
  const size_t max_head_bytes_;
  http_parser parser_;
  http_parser_settings settings_;
  Http1Head head_;
  size_t head_bytes_ = 0;
  bool in_value_ = false;
  bool answering_head_ = false;
  bool idle_ = true;
  // After kHead: the head's last byte (LF) is used by the next Feed.
  bool head_lf_pending_ = false;
  bool in_body_ = false;  // past the current message's head
  enum class Stop { kNone, kHead, kComplete } stop_ = Stop::kNone;
  std::string error_;
  bool head_too_large_ = false;
};

}  // namespace tether::proxy

#endif  // TETHER_PROXY_HTTP_HTTP1_PARSER_H_
