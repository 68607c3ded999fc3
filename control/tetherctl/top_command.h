// `tetherctl top --proxy ADMIN[,ADMIN...]`: live HTTP requests, as `linkerd
// viz top`: the proxies' recent requests (GET /requests) grouped by source,
// destination, method and path, with the count, the best, worst and last
// latency and the success rate, refreshed every --interval (the screen is
// redrawn when stdout is a terminal).
//
//   tetherctl top --proxy 127.0.0.1:15000 --interval 1s
//   SOURCE                           DESTINATION                      SEEN AT   METHOD  PATH      COUNT  BEST    WORST   LAST    SUCCESS
//   spiffe://mesh.test/ns/shop/sa/a  spiffe://mesh.test/ns/shop/sa/b  inbound   GET     /users/1  12     0.21ms  1.9ms   0.30ms  100.0%
//
// A proxy records requests only while watched (from the first read until
// 10 s after the last), so `top` shows what happened since it started.
// Exit status: 0, or 1 when no proxy could be read.
#ifndef TETHER_CONTROL_TETHERCTL_TOP_COMMAND_H_
#define TETHER_CONTROL_TETHERCTL_TOP_COMMAND_H_

#include <cstdint>
#include <functional>
#include <map>
#include <ostream>
#include <string>
#include <tuple>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace tether::tetherctl {

struct TapRecord {
  uint64_t seq = 0;
  std::string direction;
  std::string client;
  std::string server;
  std::string method;
  std::string path;
  int status = 0;
  int grpc_status = -1;  // -1: not gRPC
  double duration_ms = 0;
};

// ParseRequests reads /requests; *last gets its "seq".
absl::StatusOr<std::vector<TapRecord>> ParseRequests(absl::string_view json, uint64_t* last);

struct TopRow {
  std::string source, destination, seen_at, method, path;
  uint64_t count = 0;
  uint64_t successes = 0;  // a response below 500
  double best_ms = 0, worst_ms = 0, last_ms = 0;
};

// TopTable: rows by (source, destination, where seen, method, path).
class TopTable {
 public:
  void Add(const TapRecord& r);
  // Rows, most requests first.
  std::vector<TopRow> Rows() const;

 private:
  std::map<std::tuple<std::string, std::string, std::string, std::string, std::string>, TopRow>
      rows_;
};

struct TopOptions {
  absl::Duration interval = absl::Seconds(1);
  int iterations = 0;  // 0: until interrupted
  bool redraw = false;  // clear the screen before each table (a terminal)
  std::function<void(absl::Duration)> sleep = [](absl::Duration d) { absl::SleepFor(d); };
};

int RunTop(const std::vector<std::string>& proxies, const TopOptions& options, std::ostream& out,
           std::ostream& err);

}  // namespace tether::tetherctl

#endif  // TETHER_CONTROL_TETHERCTL_TOP_COMMAND_H_
