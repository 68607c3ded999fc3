// Get: a blocking HTTP/1.1 GET over plain TCP or a Unix socket
// ("unix:/run/tether/control.sock"), for tetherctl's calls to admin endpoints
// and the proxy's probes of its app.
//
//   absl::StatusOr<HttpResult> r = Get("127.0.0.1:15000", "/certs");
//   if (r.ok() && r->status == 200) Use(r->body);
//
// One request per connection (Connection: close). `timeout` bounds
// connecting, sending and reading. Errors: InvalidArgument for an address
// that is not HOST:PORT or unix:PATH, or a header with CR/LF; PermissionDenied
// when a Unix socket's mode excludes this user; Unavailable "cannot connect
// to HOST:PORT: ..." or a malformed response, DeadlineExceeded "timed out
// connecting to HOST:PORT" (or sending to, waiting for). Any HTTP status is a
// successful result. Thread-safe; writes never raise SIGPIPE.
#ifndef TETHER_COMMON_HTTP_CLIENT_H_
#define TETHER_COMMON_HTTP_CLIENT_H_

#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "common/http/response_reader.h"

namespace tether::http {

struct GetOptions {
  absl::Duration timeout = absl::Seconds(5);
  // Sent after Host (unless one of them is a Host, which then replaces it).
  std::vector<std::pair<std::string, std::string>> headers;
  std::string user_agent = "tether";
  size_t max_body = kMaxHttpBodyBytes;
};

absl::StatusOr<HttpResult> Get(absl::string_view host_port, absl::string_view path,
                               const GetOptions& options = {});

// ConnectTcp opens a connection to `host_port` (TCP, or unix:PATH) within
// `timeout`: a non-blocking descriptor the caller owns, or the error Get
// would give.
absl::StatusOr<int> ConnectTcp(absl::string_view host_port, absl::Duration timeout);

}  // namespace tether::http

#endif  // TETHER_COMMON_HTTP_CLIENT_H_
