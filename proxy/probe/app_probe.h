// App probes: the kubelet's probes of the app, run by the proxy from inside
// the pod.
//
// Under strict mTLS the kubelet cannot reach an app port (it has no mesh
// certificate), so injection rewrites each HTTP or TCP probe of an app port
// into an HTTP GET of the proxy's health port, /app-health/<container>/
// <livez|readyz|startupz>, and passes the originals as --app-probes
// (control/inject/probe_rewrite.h). The health listener serves those paths
// by running the original probe against the app, with the kubelet's rules:
//
//   httpGet    GET http://HOST:PORT/PATH with the probe's headers; a status
//              in 200..399 passes. Answered 200, or the app's own status
//              (>= 400), or 503 when the app could not be asked (refused,
//              timed out, malformed answer), with the reason in the body.
//   tcpSocket  a TCP connection to HOST:PORT opens: 200, else 503.
//
// HOST is --app-probe-host (the pod's IP, which the kubelet itself would
// probe; 127.0.0.1 by default). Each probe is bounded by its timeoutSeconds.
// The proxy's own traffic is never redirected, so the probe reaches the app
// directly.
//
//   absl::StatusOr<AppProbes> probes = ParseAppProbes(R"({"/app-health/web/livez":
//       {"httpGet": {"path": "/healthz", "port": 8080}, "timeoutSeconds": 1}})");
//   http::HttpResponse r = RunAppProbe(probes->at("/app-health/web/livez"), "10.0.0.7");
#ifndef TETHER_PROXY_PROBE_APP_PROBE_H_
#define TETHER_PROXY_PROBE_APP_PROBE_H_

#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "common/http/response.h"
#include "common/http/server.h"

namespace tether::proxy {

inline constexpr char kAppHealthPrefix[] = "/app-health/";

struct AppProbe {
  enum class Kind { kHttpGet, kTcpSocket };
  Kind kind = Kind::kHttpGet;
  uint16_t port = 0;
  std::string path = "/";                                    // httpGet
  std::vector<std::pair<std::string, std::string>> headers;  // httpGet
  absl::Duration timeout = absl::Seconds(1);
};

// By the path the proxy serves it under (each starts with kAppHealthPrefix).
using AppProbes = std::map<std::string, AppProbe>;

// ParseAppProbes reads --app-probes: a JSON object from a path to one of
// {"httpGet": {"path", "port", "scheme", "httpHeaders": [{"name", "value"}]}}
// or {"tcpSocket": {"port"}}, with an optional "timeoutSeconds" (default 1).
// "" is no probes. InvalidArgument naming the path and field on anything
// else: not JSON, a path outside /app-health/, a port outside 1..65535, a
// scheme other than HTTP, a header with CR or LF.
absl::StatusOr<AppProbes> ParseAppProbes(absl::string_view json);

// RunAppProbe runs `probe` against `host` and says what the kubelet is told.
http::HttpResponse RunAppProbe(const AppProbe& probe, absl::string_view host);

// RegisterAppProbeEndpoints serves GET on every path of `probes`.
void RegisterAppProbeEndpoints(http::AdminServer& server, const AppProbes& probes,
                               const std::string& host);

}  // namespace tether::proxy

#endif  // TETHER_PROXY_PROBE_APP_PROBE_H_
