// AdminGet: a blocking HTTP/1.1 GET to an admin endpoint (a proxy's
// --admin-listen, tether-control's --admin-listen), for tetherctl.
//
//   absl::StatusOr<AdminResponse> r = AdminGet("127.0.0.1:15000", "/certs");
//   if (r.ok() && r->http.status == 200) Use(r->http.body);
//
// Plain TCP, one request per connection. `timeout` bounds connecting,
// sending and reading. Errors: InvalidArgument for an address that is not
// HOST:PORT, Unavailable "cannot connect to HOST:PORT: ..." or a malformed
// response, DeadlineExceeded. Any HTTP status is a successful result.
#ifndef TETHER_CONTROL_TETHERCTL_ADMIN_HTTP_H_
#define TETHER_CONTROL_TETHERCTL_ADMIN_HTTP_H_

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "common/http/response_reader.h"

namespace tether::tetherctl {

struct AdminResponse {
  http::HttpResult http;
  // The local clock when the request was sent and when the answer was read,
  // to compare the server's clock with.
  absl::Time sent;
  absl::Time received;
};

absl::StatusOr<AdminResponse> AdminGet(absl::string_view host_port, absl::string_view path,
                                       absl::Duration timeout = absl::Seconds(5));

}  // namespace tether::tetherctl

#endif  // TETHER_CONTROL_TETHERCTL_ADMIN_HTTP_H_
