#include "proxy/identity/bootstrap.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "common/files.h"

namespace tether::proxy {

absl::Status LoadBootstrap(const BootstrapOptions& options, tether::ca::v1::Hello* hello) {
  const bool join = !options.join_token_file.empty();
  const std::string& path = join ? options.join_token_file : options.kubernetes_token_file;
  if (path.empty()) {
    return absl::FailedPreconditionError(
        "no bootstrap credential configured (--join-token-file or --kubernetes-token-file)");
  }
  absl::StatusOr<std::string> data = ReadFile(path, 64 * 1024);
  if (!data.ok()) {
    return absl::FailedPreconditionError(
        absl::StrCat("cannot read the bootstrap credential: ", data.status().message()));
  }
  std::string token(absl::StripAsciiWhitespace(*data));
  if (token.empty()) {
    return absl::FailedPreconditionError(absl::StrCat(path, " is empty"));
  }
  if (join) {
    hello->set_join_token(std::move(token));
  } else {
    hello->set_kubernetes_token(std::move(token));
  }
  return absl::OkStatus();
}

}  // namespace tether::proxy
