#include "proxy/http/http1_parser.h"

#include <limits>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace tether::proxy {
namespace {

Http1Parser* Self(http_parser* p) { return static_cast<Http1Parser*>(p->data); }

bool IsHopByHop(absl::string_view name, const std::vector<std::string>& named) {
  static constexpr absl::string_view kHop[] = {"connection", "keep-alive", "proxy-connection"};
  for (absl::string_view h : kHop) {
    if (absl::EqualsIgnoreCase(name, h)) return true;
  }
  for (const std::string& n : named) {
    if (absl::EqualsIgnoreCase(name, n)) return true;
  }
  return false;
}

}  // namespace

std::optional<absl::string_view> Http1Head::Header(absl::string_view name) const {
  for (const auto& [k, v] : headers) {
    if (absl::EqualsIgnoreCase(k, name)) return absl::string_view(v);
  }
  return std::nullopt;
}

absl::string_view Http1Head::Path() const {
  absl::string_view t = target;
  return t.substr(0, t.find_first_of("?#"));
}

std::string SerializeHead(const Http1Head& head, bool request, bool connection_close) {
  // Headers that the Connection header names are hop-by-hop too (RFC 9110 7.6.1).
  std::vector<std::string> named;
  for (const auto& [k, v] : head.headers) {
    if (!absl::EqualsIgnoreCase(k, "connection")) continue;
    for (absl::string_view token : absl::StrSplit(v, ',')) {
      token = absl::StripAsciiWhitespace(token);
      if (!token.empty()) named.emplace_back(token);
    }
  }
  std::string out;
  out.reserve(256);
  if (request) {
    absl::StrAppend(&out, head.method, " ", head.target, " HTTP/1.", head.version_minor, "\r\n");
  } else {
    absl::StrAppend(&out, "HTTP/1.", head.version_minor, " ", head.status, " ", head.reason,
                    "\r\n");
  }
  for (const auto& [k, v] : head.headers) {
    if (IsHopByHop(k, named)) continue;
    absl::StrAppend(&out, k, ": ", v, "\r\n");
  }
  if (connection_close) out += "Connection: close\r\n";
  out += "\r\n";
  return out;
}

Http1Parser::Http1Parser(Type type, size_t max_head_bytes)
    : type_(type), max_head_bytes_(max_head_bytes) {
  http_parser_init(&parser_, type == kRequest ? HTTP_REQUEST : HTTP_RESPONSE);
  parser_.data = this;
  http_parser_settings_init(&settings_);
  settings_.on_message_begin = &OnMessageBegin;
  settings_.on_url = &OnUrl;
  settings_.on_status = &OnStatus;
  settings_.on_header_field = &OnHeaderField;
  settings_.on_header_value = &OnHeaderValue;
  settings_.on_headers_complete = &OnHeadersComplete;
  settings_.on_message_complete = &OnMessageComplete;
}

Http1Parser::Result Http1Parser::Feed(absl::Span<const uint8_t> data) {
  Result r;
  if (!error_.empty()) {
    r.event = Event::kError;
    return r;
  }
  stop_ = Stop::kNone;
  if (data.empty()) {
    if (idle_) return r;  // the stream ended between messages
    http_parser_execute(&parser_, &settings_, nullptr, 0);
    if (stop_ == Stop::kComplete) {
      http_parser_pause(&parser_, 0);
      r.event = Event::kComplete;
      return r;
    }
    error_ = "the connection ended within a message";
    r.event = Event::kError;
    return r;
  }
  const size_t n = http_parser_execute(&parser_, &settings_,
                                       reinterpret_cast<const char*>(data.data()), data.size());
  r.used = std::min(n, data.size());
  const http_errno err = HTTP_PARSER_ERRNO(&parser_);
  if (err != HPE_OK && err != HPE_PAUSED) {
    if (error_.empty()) error_ = http_errno_description(err);
    r.event = Event::kError;
    return r;
  }
  if (err == HPE_PAUSED) http_parser_pause(&parser_, 0);
  // Body: what was used past the head, without the head's last LF.
  size_t body_start = 0;
  if (head_lf_pending_ && r.used > 0 && stop_ != Stop::kHead) {
    head_lf_pending_ = false;
    body_start = 1;
  }
  switch (stop_) {
    case Stop::kHead:
      head_lf_pending_ = true;
      r.event = Event::kHead;
      return r;
    case Stop::kComplete:
      r.event = Event::kComplete;
      break;
    case Stop::kNone:
      if (parser_.upgrade) {
        // A tunnel after this message: nothing more here is HTTP.
        r.event = Event::kComplete;
      }
      break;
  }
  if (in_body_ && r.used > body_start) r.body = data.subspan(body_start, r.used - body_start);
  if (stop_ == Stop::kComplete) in_body_ = false;
  return r;
}

bool Http1Parser::Grow(size_t n) {
  head_bytes_ += n;
  if (head_bytes_ <= max_head_bytes_) return true;
  error_ = absl::StrCat("the head is larger than ", max_head_bytes_, " bytes");
  head_too_large_ = true;
  return false;
}

int Http1Parser::OnMessageBegin(http_parser* p) {
  Http1Parser* self = Self(p);
  self->head_ = Http1Head();
  self->head_bytes_ = 0;
  self->in_value_ = false;
  self->idle_ = false;
  self->in_body_ = false;
  return 0;
}

int Http1Parser::OnUrl(http_parser* p, const char* at, size_t n) {
  Http1Parser* self = Self(p);
  if (!self->Grow(n)) return -1;
  self->head_.target.append(at, n);
  return 0;
}

int Http1Parser::OnStatus(http_parser* p, const char* at, size_t n) {
  Http1Parser* self = Self(p);
  if (!self->Grow(n)) return -1;
  self->head_.reason.append(at, n);
  return 0;
}

int Http1Parser::OnHeaderField(http_parser* p, const char* at, size_t n) {
  Http1Parser* self = Self(p);
  if (!self->Grow(n + 4)) return -1;
  if (self->in_value_ || self->head_.headers.empty()) {
    if (self->head_.headers.size() >= 200) {
      self->error_ = "more than 200 headers";
      return -1;
    }
    self->head_.headers.emplace_back();
    self->in_value_ = false;
  }
  self->head_.headers.back().first.append(at, n);
  return 0;
}

int Http1Parser::OnHeaderValue(http_parser* p, const char* at, size_t n) {
  Http1Parser* self = Self(p);
  if (!self->Grow(n)) return -1;
  if (self->head_.headers.empty()) return -1;
  self->in_value_ = true;
  self->head_.headers.back().second.append(at, n);
  return 0;
}

int Http1Parser::OnHeadersComplete(http_parser* p) {
  Http1Parser* self = Self(p);
  Http1Head& h = self->head_;
  h.version_minor = p->http_major == 1 ? p->http_minor : 0;
  h.keep_alive = http_should_keep_alive(p) != 0;
  h.chunked = (p->flags & F_CHUNKED) != 0;
  bool no_body = false;
  if (self->type_ == kRequest) {
    h.method = http_method_str(static_cast<http_method>(p->method));
    h.upgrade = p->upgrade != 0 || p->method == HTTP_CONNECT;
  } else {
    h.status = p->status_code;
    no_body = self->answering_head_ || h.status / 100 == 1 || h.status == 204 || h.status == 304;
    h.body_until_eof = !no_body && !h.chunked && (p->flags & F_CONTENTLENGTH) == 0;
    if (h.status / 100 != 1) self->answering_head_ = false;
  }
  self->stop_ = Stop::kHead;
  self->in_body_ = true;
  http_parser_pause(p, 1);
  return no_body ? 1 : 0;
}

int Http1Parser::OnMessageComplete(http_parser* p) {
  Http1Parser* self = Self(p);
  self->stop_ = Stop::kComplete;
  self->idle_ = true;
  http_parser_pause(p, 1);
  return 0;
}

}  // namespace tether::proxy
