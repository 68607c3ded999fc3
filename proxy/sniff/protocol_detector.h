// ProtocolDetector: tells, from the first bytes a client sends, whether the
// connection is mesh mTLS (a TLS ClientHello offering ALPN "tether"), other
// TLS, or plaintext. The inbound listener uses it to accept plaintext in
// permissive mode and to say precisely why a strict listener refused.
//
//   Detection d = DetectProtocol(peeked_bytes);
//   if (d.kind == Detection::kNeedMore) { peek again with more bytes }
//
// Works on a prefix of the stream; never reads past `data`; never crashes on
// any input (fuzzed: tests/fuzz/protocol_detector_fuzz.cc).
#ifndef TETHER_PROXY_SNIFF_PROTOCOL_DETECTOR_H_
#define TETHER_PROXY_SNIFF_PROTOCOL_DETECTOR_H_

#include <cstdint>
#include <string>

#include "absl/types/span.h"

namespace tether::proxy {

// The ALPN protocol Tether proxies offer to each other.
inline constexpr char kTetherAlpn[] = "tether";

// Bytes worth peeking at: a TLS record header and the largest record.
inline constexpr size_t kMaxDetectBytes = 5 + 16384;

struct Detection {
  enum Kind { kNeedMore, kPlaintext, kTls };
  Kind kind = kNeedMore;
  // For kTls: whether the ClientHello offers ALPN "tether", and its SNI.
  // A ClientHello longer than its first record is kTls with neither known.
  bool tether_alpn = false;
  std::string sni;
  // For kTls: the highest version offered (0x0304 for TLS 1.3).
  uint16_t max_version = 0;
};

Detection DetectProtocol(absl::Span<const uint8_t> data);

}  // namespace tether::proxy

#endif  // TETHER_PROXY_SNIFF_PROTOCOL_DETECTOR_H_
