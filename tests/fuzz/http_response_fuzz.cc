// http_response_fuzz: the HTTPS client's HTTP/1.1 response reader on
// arbitrary bytes (what the Kubernetes API server, or a proxy in front of it,
// could send). It must not crash, hang or read past its caps: a parsed body is
// at most the cap, and errors are Unavailable.
// Seed corpus: tests/fuzz/corpus/http_response/.
#include <cstddef>
#include <cstdint>
#include <cstdlib>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "common/http/response_reader.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using tether::http::HttpResult;
  using tether::http::ParseHttpResponse;

  // A small cap, so inputs the fuzzer can reach exercise the limit.
  constexpr size_t kCap = 4096;
  const absl::string_view raw(reinterpret_cast<const char*>(data), size);
  absl::StatusOr<HttpResult> r = ParseHttpResponse(raw, kCap);
  if (r.ok()) {
    if (r->body.size() > kCap || r->status < 200 || r->status > 599) abort();
  } else if (r.status().code() != absl::StatusCode::kUnavailable) {
    abort();
  }
  return 0;
}
