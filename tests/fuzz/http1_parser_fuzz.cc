// http1_parser_fuzz: Http1Parser (both kinds) on arbitrary bytes, fed in
// chunks whose sizes come from the input's first byte. Besides not
// crashing: every Feed uses at most what it was given, body spans lie
// within it, and a head, once serialized for the next hop, parses back to
// the same start line (the forwarder's own output stays HTTP).
// Seed corpus: tests/fuzz/corpus/http1_parser/.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>

#include "proxy/http/http1_parser.h"

namespace {

using tether::proxy::Http1Head;
using tether::proxy::Http1Parser;

void CheckRoundTrip(const Http1Head& head, bool request) {
  const std::string wire = tether::proxy::SerializeHead(head, request, true);
  Http1Parser again(request ? Http1Parser::kRequest : Http1Parser::kResponse);
  Http1Parser::Result r = again.Feed(
      absl::MakeConstSpan(reinterpret_cast<const uint8_t*>(wire.data()), wire.size()));
  if (r.event != Http1Parser::Event::kHead) std::abort();
  if (again.head().method != head.method || again.head().target != head.target ||
      again.head().status != head.status || again.head().keep_alive) {
    std::abort();
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 2) return 0;
  const bool request = (data[0] & 1) == 0;
  const size_t chunk = 1 + (data[0] >> 1);
  Http1Parser p(request ? Http1Parser::kRequest : Http1Parser::kResponse, 4096);
  absl::Span<const uint8_t> rest(data + 1, size - 1);
  int steps = 0;
  while (++steps < 100000) {
    absl::Span<const uint8_t> piece = rest.subspan(0, std::min(chunk, rest.size()));
    Http1Parser::Result r = p.Feed(piece);
    if (r.used > piece.size()) std::abort();
    if (!r.body.empty() &&
        (r.body.data() < piece.data() || r.body.data() + r.body.size() > piece.data() + r.used)) {
      std::abort();
    }
    if (r.event == Http1Parser::Event::kError) break;
    if (r.event == Http1Parser::Event::kHead) CheckRoundTrip(p.head(), request);
    if (piece.empty()) break;  // the end of the stream was given
    rest.remove_prefix(r.used);
    if (r.used == 0 && r.event == Http1Parser::Event::kNeedMore) break;
  }
  return 0;
}
