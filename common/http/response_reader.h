// HttpResult and ReadHttpResponse: an HTTP/1.1 response reader for Tether's
// small clients (the control plane's HTTPS client to the API server,
// common/http/client.h for tetherctl and the proxy's app probes), apart from
// any socket so it can be tested and fuzzed on plain bytes.
//
//   absl::StatusOr<HttpResult> r = ParseHttpResponse("HTTP/1.1 200 OK\r\n"
//                                                    "Content-Length: 2\r\n\r\n{}");
//   if (r.ok() && r->status == 200) Use(r->body);
//
// It understands a status line, header fields, and a body framed by
// Content-Length, by chunked transfer coding, or by the end of the connection.
// Interim 1xx responses are skipped. Everything that does not fit that shape
// is Unavailable "malformed HTTP response: ..."; a body over the cap is
// Unavailable "HTTP response body exceeds ...".
#ifndef TETHER_COMMON_HTTP_RESPONSE_READER_H_
#define TETHER_COMMON_HTTP_RESPONSE_READER_H_

#include <cstddef>
#include <string>
#include <utility>
#include <vector>

#include "absl/functional/function_ref.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace tether::http {

inline constexpr size_t kMaxHttpBodyBytes = size_t{1} << 20;     // 1 MiB
inline constexpr size_t kMaxHttpHeaderBytes = size_t{64} << 10;  // status line + fields
inline constexpr size_t kMaxHttpHeaderFields = 100;

struct HttpResult {
  int status = 0;      // 200..599 (interim 1xx responses are skipped)
  std::string reason;  // may be empty
  // Header fields in the order received; names lowercased, values trimmed.
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;  // decoded (de-chunked)

  // Header returns the first value of the field `name` (any case), or
  // nullptr when there is none. The pointer lives as long as this result.
  const std::string* Header(absl::string_view name) const;
};

// ByteSource reads up to `n` bytes into `buf` and returns how many it read:
// 0 only at the end of the stream. Its errors are passed through unchanged.
using ByteSource = absl::FunctionRef<absl::StatusOr<size_t>(char* buf, size_t n)>;

// ReadHttpResponse reads one response from `source`, reading no further than
// the end of its body (to the end of the stream for a body without framing).
// `peer` (e.g. "10.0.0.1:443") is named in error messages when not empty.
absl::StatusOr<HttpResult> ReadHttpResponse(ByteSource source, absl::string_view peer = "",
                                            size_t max_body = kMaxHttpBodyBytes);

// BodySink receives a streamed response's body as it arrives, de-chunked, in
// pieces of any size; a non-OK status stops the reading and is returned.
using BodySink = absl::FunctionRef<absl::Status(absl::string_view piece)>;

// ReadHttpStream is ReadHttpResponse for a long-lived response (a Kubernetes
// watch): a 2xx response's body goes to `sink` as it arrives, uncapped, and
// the result's body stays empty; any other response's body is read into the
// result as ReadHttpResponse does (capped at `max_body`), for the caller to
// interpret.
absl::StatusOr<HttpResult> ReadHttpStream(ByteSource source, BodySink sink,
                                          absl::string_view peer = "",
                                          size_t max_body = kMaxHttpBodyBytes);

// ParseHttpResponse is ReadHttpResponse over bytes held in memory, the end of
// `raw` being the end of the connection.
absl::StatusOr<HttpResult> ParseHttpResponse(absl::string_view raw,
                                             size_t max_body = kMaxHttpBodyBytes);

}  // namespace tether::http

#endif  // TETHER_COMMON_HTTP_RESPONSE_READER_H_
