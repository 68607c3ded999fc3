// AccessLog: one JSON object per line per connection (off by default,
// --access-log). Written at connection end from worker threads.
//
//   {"time":"...","direction":"inbound","peer":"10.0.0.7:41822",
//    "peer_identity":"spiffe://mesh.local/ns/shop/sa/frontend",
//    "destination":"127.0.0.1:8080","outcome":"ok","bytes_to_upstream":120,
//    "bytes_to_downstream":4096,"duration_ms":12.5,"authz":"allowed by ..."}
#ifndef TETHER_PROXY_SERVER_ACCESS_LOG_H_
#define TETHER_PROXY_SERVER_ACCESS_LOG_H_

#include <cstdio>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "common/sync/mutex.h"

namespace tether::proxy {

class AccessLog {
 public:
  // Open appends to `path` ("-": stdout).
  static absl::StatusOr<std::unique_ptr<AccessLog>> Open(const std::string& path);
  ~AccessLog();
  // Write appends `line` and a newline. A failed write is dropped.
  void Write(const std::string& line);

 private:
  AccessLog(FILE* out, bool owned) : out_(out), owned_(owned) {}
  Mutex mu_;
  FILE* const out_;
  const bool owned_;
};

}  // namespace tether::proxy

#endif  // TETHER_PROXY_SERVER_ACCESS_LOG_H_
