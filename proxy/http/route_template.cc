#include "proxy/http/route_template.h"

#include <algorithm>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace tether::proxy {
namespace {

bool Unreserved(char c) {
  return absl::ascii_isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '.' || c == '_' ||
         c == '~';
}

bool IsUuid(absl::string_view s) {
  if (s.size() != 36) return false;
  for (size_t i = 0; i < s.size(); ++i) {
    const bool dash = i == 8 || i == 13 || i == 18 || i == 23;
    if (dash ? s[i] != '-' : !absl::ascii_isxdigit(static_cast<unsigned char>(s[i]))) return false;
  }
  return true;
}

// IsIdentifier: a segment that names one object: digits; a UUID; 8 or more
// hex digits with at least one digit; or 16 or more characters mixing
// letters and digits (a token, a base64 key).
bool IsIdentifier(absl::string_view s) {
  const size_t digits =
      std::count_if(s.begin(), s.end(), [](char c) { return absl::ascii_isdigit(c); });
  if (digits == s.size()) return true;
  if (IsUuid(s)) return true;
  const bool all_hex = std::all_of(s.begin(), s.end(), [](char c) {
    return absl::ascii_isxdigit(static_cast<unsigned char>(c));
  });
  if (all_hex && s.size() >= 8 && digits > 0) return true;
  return s.size() >= 16 && digits > 0 && digits < s.size();
}

}  // namespace

std::string RouteTemplate(absl::string_view method, absl::string_view target) {
  std::string out(method.substr(0, 16));
  for (char& c : out) {
    if (!absl::ascii_isupper(static_cast<unsigned char>(c)) && c != '-' && c != '_') c = '?';
  }
  absl::string_view path = target;
  if (!absl::StartsWith(path, "/")) {
    // Absolute form: the path after scheme://authority.
    const size_t scheme = path.find("://");
    if (scheme == absl::string_view::npos) return absl::StrCat(out, " *");
    const size_t slash = path.find('/', scheme + 3);
    path = slash == absl::string_view::npos ? "/" : path.substr(slash);
  }
  path = path.substr(0, path.find_first_of("?#"));
  out += ' ';
  size_t kept = 0;
  for (absl::string_view segment : absl::StrSplit(path.substr(1), '/')) {
    if (kept == kMaxRouteSegments) {
      out += "/**";
      return out;
    }
    ++kept;
    out += '/';
    if (segment.empty()) continue;
    const bool plain = segment.size() <= kMaxSegmentLength &&
                       std::all_of(segment.begin(), segment.end(), Unreserved);
    if (!plain || IsIdentifier(segment)) {
      out += "{id}";
    } else {
      absl::StrAppend(&out, segment);
    }
  }
  if (kept == 0) out += '/';
  return out;
}

}  // namespace tether::proxy
