// Post: a minimal blocking HTTPS/1.1 client on BoringSSL, enough for the
// control plane to call the Kubernetes API server (TokenReview).
//
//   HttpsTarget api{.host = "10.96.0.1", .port = 443, .ca_pem = ca_crt};
//   absl::StatusOr<HttpResult> r =
//       Post(api, "/apis/authentication.k8s.io/v1/tokenreviews",
//            {{"Authorization", "Bearer " + own_token}}, review_json, absl::Seconds(5));
//
// One request per connection (Connection: close). TLS 1.2 or 1.3; the server
// must present a chain to one of `ca_pem`'s certificates, valid for
// `server_name` (a DNS name, or an IP literal checked against IP SANs; the
// subject CN is never used). `timeout` bounds everything after name
// resolution: connecting, the handshake, sending and reading the response.
// The response body is capped at kMaxHttpBodyBytes (1 MiB).
//
// Errors (nothing is retried here):
//   InvalidArgument   bad arguments: no port, unusable ca_pem, a header with CR/LF
//   Unavailable       "cannot resolve ...", "cannot connect to HOST:PORT: ...",
//                     "TLS handshake with HOST:PORT failed: certificate verify failed (...)",
//                     "connection to HOST:PORT failed: ...", "malformed HTTP response ...",
//                     "HTTP response body ... exceeds 1 MiB"
//   DeadlineExceeded  "timed out after 5s connecting to HOST:PORT" (or in the TLS
//                     handshake, sending the request, waiting for the response)
// Any HTTP status is a successful result: the caller interprets it.
//
// Thread-safe (no shared state). Writes never raise SIGPIPE.
#ifndef TETHER_CONTROL_KUBERNETES_HTTPS_CLIENT_H_
#define TETHER_CONTROL_KUBERNETES_HTTPS_CLIENT_H_

#include <atomic>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "common/http/response_reader.h"

namespace tether::control::kubernetes {

// The response types of common/http/response_reader.h, which this client and
// the API client built on it return.
using ::tether::http::BodySink;
using ::tether::http::ByteSource;
using ::tether::http::HttpResult;
using ::tether::http::kMaxHttpBodyBytes;
using ::tether::http::ReadHttpResponse;
using ::tether::http::ReadHttpStream;

struct HttpsTarget {
  std::string host;  // DNS name or IP literal ("10.96.0.1", "fd00::1" or "[fd00::1]")
  uint16_t port = 443;
  std::string ca_pem;       // trusted roots, PEM (one or more certificates)
  std::string server_name;  // checked in the certificate, sent as SNI if a DNS name; empty: host
};

using HttpHeaders = std::vector<std::pair<std::string, std::string>>;

// Request sends `method` ("GET", "POST", "PATCH", ...) with `body` to `path`
// (which starts with '/') and returns the response. Host, Content-Length and
// "Connection: close" are set here and may not be in `headers`; Content-Type
// and Accept default to application/json and User-Agent to tether-control
// unless `headers` has them.
absl::StatusOr<HttpResult> Request(const HttpsTarget& target, absl::string_view method,
                                   absl::string_view path, const HttpHeaders& headers,
                                   absl::string_view body, absl::Duration timeout);

// StreamRequest is Request for a long-lived response (a Kubernetes watch):
// a 2xx body goes to `sink` as it arrives (see ReadHttpStream), any other
// response is returned whole. `timeout` bounds connecting, the handshake and
// sending the request; `stream_timeout`, from then on, waiting for and
// reading the response, stream included. When `cancelled` (if not null) becomes true, the request
// ends within about 50 ms with Cancelled "request to HOST:PORT cancelled". A sink's error ends the
// stream and is returned as is.
absl::StatusOr<HttpResult> StreamRequest(const HttpsTarget& target, absl::string_view method,
                                         absl::string_view path, const HttpHeaders& headers,
                                         absl::Duration timeout, absl::Duration stream_timeout,
                                         const std::atomic<bool>* cancelled, BodySink sink);

// Post is Request with "POST".
absl::StatusOr<HttpResult> Post(const HttpsTarget& target, absl::string_view path,
                                const HttpHeaders& headers, absl::string_view body,
                                absl::Duration timeout);

// HostPort formats "host:port", bracketing an IPv6 literal.
std::string HostPort(absl::string_view host, uint16_t port);

}  // namespace tether::control::kubernetes

#endif  // TETHER_CONTROL_KUBERNETES_HTTPS_CLIENT_H_
