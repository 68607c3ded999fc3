#include "common/http/request.h"

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"

namespace tether::http {
namespace {

using State = HttpParseResult::State;

constexpr absl::string_view kCrlf = "\r\n";

HttpParseResult Error(int status, std::string reason) {
  HttpParseResult r;
  r.state = State::kError;
  r.error_status = status;
  r.error_reason = std::move(reason);
  return r;
}

HttpParseResult NeedMore() { return HttpParseResult{}; }

// IsTchar: RFC 9110 token characters (method and header names).
bool IsTchar(char c) {
  if (absl::ascii_isalnum(static_cast<unsigned char>(c))) return true;
  switch (c) {
    case '!':
    case '#':
    case '$':
    case '%':
    case '&':
    case '\'':
    case '*':
    case '+':
    case '-':
    case '.':
    case '^':
    case '_':
    case '`':
    case '|':
    case '~':
      return true;
    default:
      return false;
  }
}

bool IsToken(absl::string_view s) {
  if (s.empty()) return false;
  for (char c : s) {
    if (!IsTchar(c)) return false;
  }
  return true;
}

// IsTargetChar: visible ASCII; the request target has no spaces or controls.
bool IsTargetChar(char c) { return c > 0x20 && c < 0x7f; }

// IsFieldValueChar: visible ASCII, obs-text, space and tab; no CR, LF, NUL.
bool IsFieldValueChar(char c) {
  const auto u = static_cast<unsigned char>(c);
  return u == '\t' || (u >= 0x20 && u != 0x7f);
}

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// PrefixIsPlausibleRequestLine rejects early a partial request line that can
// never become valid (binary data, TLS records), instead of waiting for 8 KiB.
bool PrefixIsPlausibleRequestLine(absl::string_view partial) {
  for (char c : partial) {
    if (c == ' ') return true;  // the method is complete; the rest is checked later
    if (!IsTchar(c)) return false;
  }
  return true;
}

// ParseRequestLine fills method, target, path, query and version from `line`
// (without its CRLF). Returns 0 or an error status.
int ParseRequestLine(absl::string_view line, HttpRequest* out_request, std::string* out_reason) {
  const size_t sp1 = line.find(' ');
  const size_t sp2 = sp1 == absl::string_view::npos ? sp1 : line.find(' ', sp1 + 1);
  if (sp2 == absl::string_view::npos || line.find(' ', sp2 + 1) != absl::string_view::npos) {
    *out_reason = "malformed request line";
    return 400;
  }
  const absl::string_view method = line.substr(0, sp1);
  absl::string_view target = line.substr(sp1 + 1, sp2 - sp1 - 1);
  const absl::string_view version = line.substr(sp2 + 1);
  if (!IsToken(method)) {
    *out_reason = "malformed method";
    return 400;
  }
  if (target.empty()) {
    *out_reason = "empty request target";
    return 400;
  }
  for (char c : target) {
    if (!IsTargetChar(c)) {
      *out_reason = "invalid character in request target";
      return 400;
    }
  }
  if (version.size() != 8 || !absl::StartsWith(version, "HTTP/") ||
      !absl::ascii_isdigit(static_cast<unsigned char>(version[5])) || version[6] != '.' ||
      !absl::ascii_isdigit(static_cast<unsigned char>(version[7]))) {
    *out_reason = "malformed HTTP version";
    return 400;
  }
  if (version[5] != '1' || (version[7] != '0' && version[7] != '1')) {
    *out_reason = "unsupported HTTP version";
    return 505;
  }
  out_request->method = std::string{method};
  out_request->target = std::string{target};
  out_request->version_minor = version[7] - '0';

  // absolute-form ("http://host/path?q") is reduced to its path and query.
  absl::string_view origin = target;
  bool absolute = false;
  if (absl::StartsWithIgnoreCase(origin, "http://") ||
      absl::StartsWithIgnoreCase(origin, "https://")) {
    absolute = true;
    origin.remove_prefix(origin.find("//") + 2);
    const size_t start = origin.find_first_of("/?");
    origin = start == absl::string_view::npos ? absl::string_view() : origin.substr(start);
  }
  if (!absolute && origin == "*") {
    if (method != "OPTIONS") {
      *out_reason = "asterisk target is only for OPTIONS";
      return 400;
    }
    out_request->path = "*";
    return 0;
  }
  if (!absolute && origin.front() != '/') {
    *out_reason = "request target is not a path";
    return 400;
  }
  // A fragment is never sent by a conforming client; drop it if one is.
  origin = origin.substr(0, origin.find('#'));
  const size_t question = origin.find('?');
  if (question == absl::string_view::npos) {
    out_request->path = std::string{origin};
  } else {
    out_request->path = std::string{origin.substr(0, question)};
    out_request->query = std::string{origin.substr(question + 1)};
  }
  if (out_request->path.empty()) out_request->path = "/";
  return 0;
}

// ParseContentLength accepts 1*DIGIT. Returns false if malformed; sets
// *out_too_large if the value exceeds `max`.
bool ParseContentLength(absl::string_view value, size_t max, size_t* out_length,
                        bool* out_too_large) {
  if (value.empty()) return false;
  uint64_t n = 0;
  *out_too_large = false;
  for (char c : value) {
    if (!absl::ascii_isdigit(static_cast<unsigned char>(c))) return false;
    if (!*out_too_large) {
      n = n * 10 + static_cast<uint64_t>(c - '0');
      if (n > max) *out_too_large = true;
    }
  }
  *out_length = static_cast<size_t>(n);
  return true;
}

}  // namespace

std::optional<absl::string_view> HttpRequest::Header(absl::string_view name) const {
  for (const auto& [key, value] : headers) {
    if (absl::EqualsIgnoreCase(key, name)) return absl::string_view(value);
  }
  return std::nullopt;
}

std::optional<std::string> HttpRequest::QueryParam(absl::string_view name) const {
  for (absl::string_view pair : absl::StrSplit(query, '&', absl::SkipEmpty())) {
    const size_t eq = pair.find('=');
    const absl::string_view key = pair.substr(0, eq);
    if (PercentDecode(key, /*plus_is_space=*/true) != name) continue;
    if (eq == absl::string_view::npos) return std::string();
    return PercentDecode(pair.substr(eq + 1), /*plus_is_space=*/true);
  }
  return std::nullopt;
}

bool HttpRequest::KeepAlive() const {
  bool close = false;
  bool keep_alive = false;
  for (const auto& [key, value] : headers) {
    if (!absl::EqualsIgnoreCase(key, "Connection")) continue;
    for (absl::string_view option : absl::StrSplit(value, ',')) {
      option = absl::StripAsciiWhitespace(option);
      if (absl::EqualsIgnoreCase(option, "close")) close = true;
      if (absl::EqualsIgnoreCase(option, "keep-alive")) keep_alive = true;
    }
  }
  if (close) return false;
  return version_minor >= 1 || keep_alive;
}

std::string PercentDecode(absl::string_view in, bool plus_is_space) {
  std::string out;
  out.reserve(in.size());
  for (size_t i = 0; i < in.size(); ++i) {
    const char c = in[i];
    if (c == '%' && i + 2 < in.size() && HexValue(in[i + 1]) >= 0 && HexValue(in[i + 2]) >= 0) {
      out.push_back(static_cast<char>(HexValue(in[i + 1]) * 16 + HexValue(in[i + 2])));
      i += 2;
    } else if (c == '+' && plus_is_space) {
      out.push_back(' ');
    } else {
      out.push_back(c);
    }
  }
  return out;
}

HttpParseResult ParseHttpRequest(absl::string_view buffer, const HttpParseLimits& limits) {
  // RFC 9112 2.2: ignore empty lines before the request line (some clients
  // send a CRLF after a POST body). Bounded by the request-line limit.
  size_t pos = 0;
  while (buffer.size() - pos >= 2 && buffer.substr(pos, 2) == kCrlf) {
    pos += 2;
    if (pos > limits.max_request_line) return Error(400, "too many empty lines");
  }
  if (buffer.size() - pos == 1 && buffer[pos] == '\r') return NeedMore();

  // The request line.
  const size_t line_end = buffer.find(kCrlf, pos);
  if (line_end == absl::string_view::npos) {
    const absl::string_view partial = buffer.substr(pos);
    if (!PrefixIsPlausibleRequestLine(partial)) return Error(400, "malformed request line");
    // A trailing '\r' may be the start of the CRLF that ends a line at the limit.
    const size_t partial_size = absl::EndsWith(partial, "\r") ? partial.size() - 1 : partial.size();
    if (partial_size > limits.max_request_line) return Error(414, "request line too long");
    return NeedMore();
  }
  const absl::string_view line = buffer.substr(pos, line_end - pos);
  if (line.size() > limits.max_request_line) return Error(414, "request line too long");
  if (line.find_first_of(absl::string_view("\r\n\0", 3)) != absl::string_view::npos) {
    return Error(400, "bare CR, LF or NUL in request line");
  }
  HttpParseResult result;
  std::string reason;
  if (int status = ParseRequestLine(line, &result.request, &reason); status != 0) {
    return Error(status, std::move(reason));
  }
  pos = line_end + 2;

  // Header fields, up to the empty line.
  const size_t headers_start = pos;
  bool have_length = false;
  size_t content_length = 0;
  for (;;) {
    const size_t end = buffer.find(kCrlf, pos);
    // Header bytes so far, counting each line's CRLF (the final empty line too).
    const size_t used = (end == absl::string_view::npos ? buffer.size() : end + 2) - headers_start;
    if (end == absl::string_view::npos) {
      // The header section will be at least a CRLF longer than what is here.
      const size_t at_least = used + (absl::EndsWith(buffer, "\r") ? 1 : 2);
      if (at_least > limits.max_header_bytes) return Error(431, "header section too large");
      return NeedMore();
    }
    if (used > limits.max_header_bytes) return Error(431, "header section too large");
    const absl::string_view field = buffer.substr(pos, end - pos);
    pos = end + 2;
    if (field.empty()) break;
    if (field.front() == ' ' || field.front() == '\t') {
      return Error(400, "obsolete header line folding");
    }
    const size_t colon = field.find(':');
    if (colon == absl::string_view::npos) return Error(400, "header line without a colon");
    const absl::string_view name = field.substr(0, colon);
    if (!IsToken(name)) return Error(400, "malformed header name");
    const absl::string_view value = absl::StripAsciiWhitespace(field.substr(colon + 1));
    for (char c : value) {
      if (!IsFieldValueChar(c)) return Error(400, "invalid character in header value");
    }
    if (result.request.headers.size() >= limits.max_headers) {
      return Error(431, "too many headers");
    }
    if (absl::EqualsIgnoreCase(name, "Transfer-Encoding")) {
      return Error(501, "transfer codings (chunked request bodies) are not supported");
    }
    if (absl::EqualsIgnoreCase(name, "Content-Length")) {
      size_t length = 0;
      bool too_large = false;
      if (!ParseContentLength(value, limits.max_body, &length, &too_large)) {
        return Error(400, "malformed Content-Length");
      }
      if (too_large) return Error(413, "request body too large");
      if (have_length && length != content_length) {
        return Error(400, "conflicting Content-Length headers");
      }
      have_length = true;
      content_length = length;
    }
    result.request.headers.emplace_back(std::string{name}, std::string{value});
  }

  // The body.
  if (buffer.size() - pos < content_length) {
    HttpParseResult more = NeedMore();
    const std::optional<absl::string_view> expect = result.request.Header("Expect");
    more.expect_continue = expect.has_value() && absl::EqualsIgnoreCase(*expect, "100-continue");
    return more;
  }
  result.request.body = std::string{buffer.substr(pos, content_length)};
  result.consumed = pos + content_length;
  result.state = State::kComplete;
  return result;
}

}  // namespace tether::http
