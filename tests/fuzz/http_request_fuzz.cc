// http_request_fuzz: ParseHttpRequest on arbitrary bytes, as the admin
// server sees them: every request of a pipelined buffer, under the default
// limits and under tiny ones. Besides memory errors it checks the parser's
// contract: a complete request never consumes more than it was given, parses
// the same from exactly its own bytes, and every strict prefix of it needs
// more data.

#include <cstddef>
#include <cstdint>
#include <cstdlib>

#include "absl/strings/string_view.h"
#include "common/http/request.h"

namespace {

using tether::http::HttpParseLimits;
using tether::http::HttpParseResult;
using tether::http::ParseHttpRequest;
using State = HttpParseResult::State;

void Check(bool condition) {
  if (!condition) std::abort();
}

void ParseAll(absl::string_view input, const HttpParseLimits& limits) {
  while (!input.empty()) {
    const HttpParseResult r = ParseHttpRequest(input, limits);
    if (r.state == State::kError) {
      Check(r.error_status >= 400 && r.error_status <= 505 && !r.error_reason.empty());
      return;
    }
    if (r.state == State::kNeedMore) return;
    Check(r.consumed > 0 && r.consumed <= input.size());
    Check(!r.request.method.empty() && !r.request.path.empty());
    Check(r.request.headers.size() <= limits.max_headers);
    Check(r.request.body.size() <= limits.max_body);

    const absl::string_view own = input.substr(0, r.consumed);
    const HttpParseResult again = ParseHttpRequest(own, limits);
    Check(again.state == State::kComplete && again.consumed == r.consumed);
    Check(ParseHttpRequest(own.substr(0, own.size() - 1), limits).state == State::kNeedMore);

    // The accessors the server and handlers use.
    (void)r.request.KeepAlive();
    (void)r.request.Header("content-length");
    (void)r.request.QueryParam("name");
    input.remove_prefix(r.consumed);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const absl::string_view input(reinterpret_cast<const char*>(data), size);
  ParseAll(input, HttpParseLimits{});
  HttpParseLimits tiny;
  tiny.max_request_line = 64;
  tiny.max_header_bytes = 128;
  tiny.max_headers = 4;
  tiny.max_body = 32;
  ParseAll(input, tiny);
  Check(tether::http::PercentDecode(input, /*plus_is_space=*/true).size() <= input.size());
  return 0;
}
