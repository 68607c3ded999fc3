// DetectHttp11Request: from the first bytes an app sent (peeked, not
// consumed), whether the connection carries HTTP/1.1 requests a forwarder
// may terminate: a request line "METHOD SP target SP HTTP/1.1 CRLF" with a
// method of upper-case letters, its whole head within kMaxDetectRequestLine
// bytes, and no protocol switch asked (CONNECT, or an Upgrade header). HTTP/1.0, TLS, the HTTP/2 preface and
// anything else is kOther: relayed byte for byte, as ever.
//
//   switch (DetectHttp11Request(peeked)) {
//     case Http11Detection::kNeedMore: ...   // peek again after more bytes arrive
//     case Http11Detection::kHttp11: ...     // terminate
//     case Http11Detection::kOther: ...      // relay
//   }
//
// Pure; never reads past `data` (fuzzed: tests/fuzz/http1_detect_fuzz.cc).
#ifndef TETHER_PROXY_SNIFF_HTTP1_DETECT_H_
#define TETHER_PROXY_SNIFF_HTTP1_DETECT_H_

#include <cstddef>
#include <cstdint>

#include "absl/types/span.h"

namespace tether::proxy {

enum class Http11Detection { kNeedMore, kHttp11, kOther };

// The most bytes looked at: a longer head is kOther.
inline constexpr size_t kMaxDetectRequestLine = 8192;

Http11Detection DetectHttp11Request(absl::Span<const uint8_t> data);

}  // namespace tether::proxy

#endif  // TETHER_PROXY_SNIFF_HTTP1_DETECT_H_
