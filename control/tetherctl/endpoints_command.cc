#include "control/tetherctl/endpoints_command.h"

#include <chrono>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/ip_text.h"
#include "control/tetherctl/table.h"

namespace tether::tetherctl {

void PrintEndpoints(const tether::admin::v1::ListEndpointsResponse& resp, absl::Time now,
                    std::ostream& out) {
  std::vector<std::vector<std::string>> rows = {
      {"ADDRESS", "IDENTITIES", "SOURCE", "ORIGIN", "PROTOCOL", "BACKENDS", "AGE"}};
  for (const auto& listed : resp.endpoints()) {
    const auto& e = listed.endpoint();
    const std::string address =
        e.port() == 0 ? e.ip() : JoinHostPort(e.ip(), static_cast<uint16_t>(e.port()));
    std::vector<std::string> ids(e.identities().begin(), e.identities().end());
    rows.push_back({address, ids.empty() ? "(not meshed)" : absl::StrJoin(ids, ","), e.source(),
                    e.origin(), e.protocol().empty() ? "-" : e.protocol(),
                    e.backends_size() == 0 ? "-" : absl::StrCat(e.backends_size()),
                    listed.since_unix() == 0
                        ? "-"
                        : HumanDuration(now - absl::FromUnixSeconds(listed.since_unix()))});
  }
  PrintTable(out, rows);
  out << resp.endpoints_size() << " endpoint" << (resp.endpoints_size() == 1 ? "" : "s")
      << ", registry version " << resp.version() << "\n";
}

int RunEndpoints(tether::admin::v1::AdminService::StubInterface& stub, std::ostream& out,
                 std::ostream& err) {
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
  tether::admin::v1::ListEndpointsResponse resp;
  grpc::Status st = stub.ListEndpoints(&ctx, tether::admin::v1::ListEndpointsRequest(), &resp);
  if (!st.ok()) {
    err << "tetherctl: " << st.error_message() << "\n";
    return 1;
  }
  PrintEndpoints(resp, absl::Now(), out);
  return 0;
}

}  // namespace tether::tetherctl
