// http1_detect_fuzz: DetectHttp11Request on arbitrary bytes. Besides not
// crashing: the answer for a prefix is kNeedMore or the same as for the
// whole (more bytes never change a decision already made).
#include <cstddef>
#include <cstdint>
#include <cstdlib>

#include "proxy/sniff/http1_detect.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using tether::proxy::DetectHttp11Request;
  using tether::proxy::Http11Detection;
  const Http11Detection whole = DetectHttp11Request(absl::MakeConstSpan(data, size));
  for (size_t cut = 0; cut < size; cut += 1 + cut / 8) {
    const Http11Detection part = DetectHttp11Request(absl::MakeConstSpan(data, cut));
    if (part != Http11Detection::kNeedMore && part != whole) std::abort();
  }
  return 0;
}
