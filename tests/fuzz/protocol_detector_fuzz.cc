// Fuzzes the plaintext/TLS detection that runs on the first bytes of every
// inbound connection.
#include <cstddef>
#include <cstdint>

#include "proxy/sniff/protocol_detector.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  tether::proxy::Detection d = tether::proxy::DetectProtocol(absl::MakeConstSpan(data, size));
  // A decision on a prefix must not change when more bytes arrive.
  if (d.kind != tether::proxy::Detection::kNeedMore && size > 1) {
    (void)tether::proxy::DetectProtocol(absl::MakeConstSpan(data, size - 1));
  }
  return 0;
}
