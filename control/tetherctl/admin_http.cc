#include "control/tetherctl/admin_http.h"

#include "common/http/client.h"

namespace tether::tetherctl {

absl::StatusOr<AdminResponse> AdminGet(absl::string_view host_port, absl::string_view path,
                                       absl::Duration timeout) {
  http::GetOptions options;
  options.timeout = timeout;
  options.user_agent = "tetherctl";
  options.max_body = size_t{16} << 20;
  AdminResponse out;
  out.sent = absl::Now();
  absl::StatusOr<http::HttpResult> result = http::Get(host_port, path, options);
  if (!result.ok()) return result.status();
  out.received = absl::Now();
  out.http = *std::move(result);
  return out;
}

}  // namespace tether::tetherctl
