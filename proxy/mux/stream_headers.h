// StreamHeaders: what the client side of a MuxChannel says about a carried
// connection when it opens the stream, and what the server side's on_stream
// callback is told.
//
//   StreamHeaders h;
//   h.authority = "10.0.3.7:8080";   // the app connection's original destination
//   h.protocol = "tcp";              // the carried protocol: "tcp", "http1", ...
//
// On the wire the stream opens with an HTTP/2 CONNECT request (RFC 9113
// section 8.5): `:method CONNECT`, `:authority <authority>`, and
// `tether-proto: <protocol>`. A server answers 200 to accept; any other status
// (or a RST_STREAM) refuses.
#ifndef TETHER_PROXY_MUX_STREAM_HEADERS_H_
#define TETHER_PROXY_MUX_STREAM_HEADERS_H_

#include <string>

namespace tether::proxy {

inline constexpr char kMuxProtoHeader[] = "tether-proto";

struct StreamHeaders {
  std::string authority;  // "ip:port" (IPv6: "[addr]:port"); never empty on the server side
  std::string protocol;   // value of tether-proto; may be empty
};

}  // namespace tether::proxy

#endif  // TETHER_PROXY_MUX_STREAM_HEADERS_H_
