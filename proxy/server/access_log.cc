#include "proxy/server/access_log.h"

#include "absl/strings/str_cat.h"

namespace tether::proxy {

absl::StatusOr<std::unique_ptr<AccessLog>> AccessLog::Open(const std::string& path) {
  if (path == "-") return std::unique_ptr<AccessLog>(new AccessLog(stdout, false));
  FILE* f = fopen(path.c_str(), "ae");
  if (f == nullptr) return absl::InvalidArgumentError(absl::StrCat("cannot open ", path));
  return std::unique_ptr<AccessLog>(new AccessLog(f, true));
}

AccessLog::~AccessLog() {
  if (owned_) fclose(out_);
}

void AccessLog::Write(const std::string& line) {
  MutexLock lock(&mu_);
  fwrite(line.data(), 1, line.size(), out_);
  fputc('\n', out_);
  fflush(out_);
}

}  // namespace tether::proxy
