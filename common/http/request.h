// HTTP/1.1 request parsing for the admin server.
//
//   HttpParseResult r = ParseHttpRequest(buffer);
//   if (r.state == HttpParseResult::State::kComplete) {
//     Serve(r.request);
//     buffer.erase(0, r.consumed);  // pipelined requests may follow
//   }
//
// The parser is a pure function of the bytes received so far: call it again
// with the whole buffer after every read until it says complete or error. It
// never reads past the end of `buffer` and never crashes on hostile input.

#ifndef TETHER_COMMON_HTTP_REQUEST_H_
#define TETHER_COMMON_HTTP_REQUEST_H_

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/string_view.h"

namespace tether::http {

// HttpParseLimits bounds what one request may hold. Defaults suit an admin
// endpoint: a metrics scrape or a small JSON body.
struct HttpParseLimits {
  size_t max_request_line = 8 * 1024;   // over it: 414
  size_t max_header_bytes = 16 * 1024;  // all header lines together; over it: 431
  size_t max_headers = 100;             // over it: 431
  size_t max_body = 1024 * 1024;        // Content-Length over it: 413
};

// HttpRequest is one parsed request. `path` and `query` are split from the
// request target and kept as received (not percent-decoded).
struct HttpRequest {
  std::string method;     // case-sensitive, e.g. "GET"
  std::string target;     // as received, e.g. "/metrics?name=a%20b"
  std::string path;       // "/metrics"
  std::string query;      // "name=a%20b", without the '?'
  int version_minor = 1;  // HTTP/1.<version_minor>: 0 or 1
  std::vector<std::pair<std::string, std::string>> headers;  // in order, names as received
  std::string body;

  // Header returns the value of the first header called `name` (compared
  // case-insensitively), or nullopt.
  std::optional<absl::string_view> Header(absl::string_view name) const;

  // QueryParam returns the percent-decoded value ('+' is a space) of the first
  // query parameter whose decoded name is `name`; "" for a name without '='.
  // nullopt if absent.
  std::optional<std::string> QueryParam(absl::string_view name) const;

  // KeepAlive is true if the connection may carry another request: HTTP/1.1
  // unless "Connection: close", HTTP/1.0 only with "Connection: keep-alive".
  bool KeepAlive() const;
};

// HttpParseResult says whether `buffer` held a whole request.
struct HttpParseResult {
  enum class State {
    kComplete,  // `request` is valid; it took the first `consumed` bytes
    kNeedMore,  // a valid prefix: read more and parse again
    kError,     // reply `error_status` (400, 413, 414, 431, 501, 505) and close
  };
  State state = State::kNeedMore;
  HttpRequest request;
  size_t consumed = 0;
  int error_status = 0;
  std::string error_reason;  // for logs and the error body, e.g. "too many headers"
  // With kNeedMore: the headers are complete, the body is not, and the client
  // sent "Expect: 100-continue"; it waits for "HTTP/1.1 100 Continue".
  bool expect_continue = false;
};

// ParseHttpRequest parses the first request in `buffer` (request line, headers
// and a Content-Length body). Chunked or other transfer codings are refused
// with 501.
HttpParseResult ParseHttpRequest(absl::string_view buffer, const HttpParseLimits& limits = {});

// PercentDecode decodes %XX escapes, and '+' as a space if `plus_is_space`.
// Malformed escapes are kept as they are.
std::string PercentDecode(absl::string_view in, bool plus_is_space);

}  // namespace tether::http

#endif  // TETHER_COMMON_HTTP_REQUEST_H_
