#include "proxy/sniff/http1_detect.h"

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/string_view.h"

namespace tether::proxy {

Http11Detection DetectHttp11Request(absl::Span<const uint8_t> data) {
  data = data.subspan(0, kMaxDetectRequestLine);  // never more looked at
  const absl::string_view s(reinterpret_cast<const char*>(data.data()), data.size());
  size_t i = 0;
  // Method: 1-20 upper-case letters, then a space.
  while (i < s.size() && i < 20 && s[i] >= 'A' && s[i] <= 'Z') ++i;
  if (i == s.size()) return i < 20 ? Http11Detection::kNeedMore : Http11Detection::kOther;
  if (i == 0 || s[i] != ' ') return Http11Detection::kOther;
  if (s.substr(0, i) == "CONNECT") return Http11Detection::kOther;
  // Target: visible characters up to the next space.
  size_t j = i + 1;
  while (j < s.size() && j < kMaxDetectRequestLine && s[j] > ' ' && s[j] < 0x7f) ++j;
  if (j == s.size()) return j < kMaxDetectRequestLine ? Http11Detection::kNeedMore
                                                      : Http11Detection::kOther;
  if (j == i + 1 || s[j] != ' ') return Http11Detection::kOther;
  // Version and line end.
  constexpr absl::string_view kVersion = "HTTP/1.1\r\n";
  const absl::string_view rest = s.substr(j + 1);
  if (rest.size() < kVersion.size()) {
    return absl::StartsWith(kVersion, rest) ? Http11Detection::kNeedMore : Http11Detection::kOther;
  }
  if (!absl::StartsWith(rest, kVersion)) return Http11Detection::kOther;
  // A protocol switch among the headers seen so far: a tunnel, relayed.
  const absl::string_view headers = rest.substr(kVersion.size());
  // The whole head is needed (it is small, and comes in one write).
  const size_t end = headers.substr(0, 2) == "\r\n" ? 0 : headers.find("\r\n\r\n");
  if (end == absl::string_view::npos) {
    return s.size() < kMaxDetectRequestLine ? Http11Detection::kNeedMore : Http11Detection::kOther;
  }
  const absl::string_view seen = headers.substr(0, end);
  for (size_t at = 0; at < seen.size();) {
    const size_t eol = seen.find("\r\n", at);
    const absl::string_view line = seen.substr(at, eol == absl::string_view::npos ? eol : eol - at);
    if (absl::StartsWithIgnoreCase(line, "upgrade:")) return Http11Detection::kOther;
    if (eol == absl::string_view::npos) break;
    at = eol + 2;
  }
  return Http11Detection::kHttp11;
}

}  // namespace tether::proxy
