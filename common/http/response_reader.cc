#include "common/http/response_reader.h"

#include <algorithm>
#include <cstdint>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"

namespace tether::http {
namespace {

constexpr size_t kReadChunk = 16 << 10;
constexpr size_t kMaxQuotedBytes = 64;
constexpr size_t kMaxChunkLineBytes = 1024;

// Quoted shows untrusted bytes in an error message: escaped and shortened.
std::string Quoted(absl::string_view bytes) {
  bool cut = bytes.size() > kMaxQuotedBytes;
  return absl::StrCat("\"", absl::CHexEscape(bytes.substr(0, kMaxQuotedBytes)),
                      cut ? "...\"" : "\"");
}

std::string FormatLimit(size_t bytes) {
  if (bytes % (size_t{1} << 20) == 0) return absl::StrCat(bytes >> 20, " MiB");
  if (bytes % (size_t{1} << 10) == 0) return absl::StrCat(bytes >> 10, " KiB");
  return absl::StrCat(bytes, " bytes");
}

bool IsTokenChar(char c) {
  return absl::ascii_isalnum(static_cast<unsigned char>(c)) ||
         absl::string_view("!#$%&'*+-.^_`|~").find(c) != absl::string_view::npos;
}

class Reader {
 public:
  Reader(ByteSource source, absl::string_view peer, size_t max_body, const BodySink* sink = nullptr)
      : source_(source), peer_(peer), max_body_(max_body), stream_sink_(sink) {}

  absl::StatusOr<HttpResult> Read() {
    header_bytes_ = 0;
    for (;;) {
      HttpResult result;
      absl::Status s = ReadHead(result);
      if (!s.ok()) return s;
      if (result.status >= 200) {
        s = ReadBody(result);
        if (!s.ok()) return s;
        return result;
      }
      if (result.status == 101) return Malformed("unexpected 101 Switching Protocols");
      // An interim response (100 Continue, 103 Early Hints): the real one follows.
    }
  }

 private:
  absl::Status Malformed(absl::string_view detail) const {
    return absl::UnavailableError(absl::StrCat("malformed HTTP response",
                                               peer_.empty() ? "" : " from ", peer_, ": ", detail));
  }

  absl::Status TooLarge() const {
    return absl::UnavailableError(absl::StrCat("HTTP response body", peer_.empty() ? "" : " from ",
                                               peer_, " exceeds ", FormatLimit(max_body_)));
  }

  // Fill reads more bytes into buf_; false at the end of the stream.
  absl::StatusOr<bool> Fill() {
    if (eof_) return false;
    if (pos_ > 0 && pos_ >= buf_.size() / 2) {
      buf_.erase(0, pos_);
      pos_ = 0;
    }
    size_t old = buf_.size();
    buf_.resize(old + kReadChunk);
    absl::StatusOr<size_t> n = source_(buf_.data() + old, kReadChunk);
    if (!n.ok()) {
      buf_.resize(old);
      return n.status();
    }
    size_t got = std::min(*n, kReadChunk);
    buf_.resize(old + got);
    if (got == 0) eof_ = true;
    return got > 0;
  }

  size_t Buffered() const { return buf_.size() - pos_; }

  // ReadLine returns the next line without its CRLF (a bare LF is accepted
  // too). Lines of the head and trailers count against kMaxHttpHeaderBytes;
  // chunk-size lines may not exceed kMaxChunkLineBytes each.
  absl::StatusOr<std::string> ReadLine(absl::string_view what, bool header) {
    size_t limit = header ? kMaxHttpHeaderBytes - std::min(header_bytes_, kMaxHttpHeaderBytes)
                          : kMaxChunkLineBytes;
    size_t scanned = 0;  // bytes after pos_ already searched; Fill may move pos_
    for (;;) {
      size_t nl = buf_.find('\n', pos_ + scanned);
      if (nl != std::string::npos && nl + 1 - pos_ <= limit) {
        size_t len = nl + 1 - pos_;
        if (header) header_bytes_ += len;
        absl::string_view line(buf_.data() + pos_, len - 1);
        absl::ConsumeSuffix(&line, "\r");
        std::string out(line);
        pos_ = nl + 1;
        return out;
      }
      if (nl != std::string::npos || Buffered() > limit) {
        return Malformed(
            header ? absl::StrCat("header section larger than ", FormatLimit(kMaxHttpHeaderBytes))
                   : absl::StrCat("chunk size line longer than ", FormatLimit(kMaxChunkLineBytes)));
      }
      scanned = Buffered();
      absl::StatusOr<bool> more = Fill();
      if (!more.ok()) return more.status();
      if (!*more) {
        if (Buffered() == 0 && header_bytes_ == 0) {
          return Malformed("connection closed before any response");
        }
        return Malformed(absl::StrCat("connection closed in the middle of the ", what));
      }
    }
  }

  absl::Status ReadHead(HttpResult& result) {
    absl::StatusOr<std::string> line = ReadLine("status line", true);
    if (!line.ok()) return line.status();
    // HTTP-version SP 3DIGIT SP [reason-phrase]
    absl::string_view rest = *line;
    if (!absl::ConsumePrefix(&rest, "HTTP/1.1 ") && !absl::ConsumePrefix(&rest, "HTTP/1.0 ")) {
      return Malformed(absl::StrCat("bad status line ", Quoted(*line)));
    }
    if (rest.size() < 3 || !absl::ascii_isdigit(static_cast<unsigned char>(rest[0])) ||
        !absl::ascii_isdigit(static_cast<unsigned char>(rest[1])) ||
        !absl::ascii_isdigit(static_cast<unsigned char>(rest[2])) ||
        (rest.size() > 3 && rest[3] != ' ')) {
      return Malformed(absl::StrCat("bad status line ", Quoted(*line)));
    }
    result.status = (rest[0] - '0') * 100 + (rest[1] - '0') * 10 + (rest[2] - '0');
    if (result.status < 100 || result.status > 599) {
      return Malformed(absl::StrCat("bad status code ", result.status));
    }
    result.reason = std::string(rest.size() > 4 ? rest.substr(4) : "");

    for (;;) {
      absl::StatusOr<std::string> field = ReadLine("header section", true);
      if (!field.ok()) return field.status();
      if (field->empty()) return absl::OkStatus();
      if ((*field)[0] == ' ' || (*field)[0] == '\t') {
        return Malformed("obsolete header line folding");
      }
      size_t colon = field->find(':');
      if (colon == std::string::npos || colon == 0) {
        return Malformed(absl::StrCat("bad header field ", Quoted(*field)));
      }
      absl::string_view name(field->data(), colon);
      if (!std::all_of(name.begin(), name.end(), IsTokenChar)) {
        return Malformed(absl::StrCat("bad header field name ", Quoted(name)));
      }
      absl::string_view value =
          absl::StripAsciiWhitespace(absl::string_view(*field).substr(colon + 1));
      if (std::any_of(value.begin(), value.end(),
                      [](char c) { return c == '\0' || c == '\r' || c == '\n'; })) {
        return Malformed(absl::StrCat("bad header field value ", Quoted(value)));
      }
      if (result.headers.size() == kMaxHttpHeaderFields) {
        return Malformed(absl::StrCat("more than ", kMaxHttpHeaderFields, " header fields"));
      }
      result.headers.emplace_back(absl::AsciiStrToLower(name), value);
    }
  }

  absl::Status ReadBody(HttpResult& result) {
    if (result.status == 204 || result.status == 304) return absl::OkStatus();
    // Only a success streams; an error answer is read whole for the caller.
    sink_ = result.status < 300 ? stream_sink_ : nullptr;
    bool chunked = false;
    bool has_length = false;
    uint64_t length = 0;
    for (const auto& [name, value] : result.headers) {
      if (name == "transfer-encoding") {
        // Only "chunked" is understood; a response with any other coding
        // could not be framed or decoded.
        if (!absl::EqualsIgnoreCase(value, "chunked") || chunked) {
          return Malformed(absl::StrCat("unsupported Transfer-Encoding ", Quoted(value)));
        }
        chunked = true;
      } else if (name == "content-length") {
        uint64_t n = 0;
        if (value.empty() || value.size() > 19 ||
            !std::all_of(
                value.begin(), value.end(),
                [](char c) { return absl::ascii_isdigit(static_cast<unsigned char>(c)); }) ||
            !absl::SimpleAtoi(value, &n)) {
          return Malformed(absl::StrCat("bad Content-Length ", Quoted(value)));
        }
        if (has_length && n != length) return Malformed("conflicting Content-Length fields");
        has_length = true;
        length = n;
      }
    }
    // Transfer-Encoding overrides Content-Length (RFC 9112, section 6.3).
    if (chunked) return ReadChunked(result.body);
    if (has_length) return ReadExactly(length, result.body, /*chunk=*/false);
    return ReadToEnd(result.body);
  }

  // ReadExactly appends `length` body bytes; `chunk` words the message for a
  // stream that ends early.
  absl::Status ReadExactly(uint64_t length, std::string& body, bool chunk) {
    if (sink_ == nullptr && (body.size() > max_body_ || length > max_body_ - body.size())) {
      return TooLarge();
    }
    uint64_t want = length;
    while (want > 0) {
      if (Buffered() == 0) {
        absl::StatusOr<bool> more = Fill();
        if (!more.ok()) return more.status();
        if (!*more) {
          return Malformed(
              chunk ? std::string("connection closed in the middle of a chunk")
                    : absl::StrCat("body ended after ", length - want, " of ", length, " bytes"));
        }
      }
      size_t take = static_cast<size_t>(std::min<uint64_t>(want, Buffered()));
      absl::string_view piece(buf_.data() + pos_, take);
      pos_ += take;
      want -= take;
      if (sink_ != nullptr) {
        absl::Status s = (*sink_)(piece);
        if (!s.ok()) return s;
      } else {
        body.append(piece.data(), piece.size());
      }
    }
    return absl::OkStatus();
  }

  absl::Status ReadToEnd(std::string& body) {
    for (;;) {
      absl::string_view piece(buf_.data() + pos_, Buffered());
      pos_ = buf_.size();
      if (sink_ != nullptr) {
        if (!piece.empty()) {
          absl::Status s = (*sink_)(piece);
          if (!s.ok()) return s;
        }
      } else {
        body.append(piece.data(), piece.size());
        if (body.size() > max_body_) return TooLarge();
      }
      absl::StatusOr<bool> more = Fill();
      if (!more.ok()) return more.status();
      if (!*more) return absl::OkStatus();
    }
  }

  absl::Status ReadChunked(std::string& body) {
    for (;;) {
      absl::StatusOr<std::string> line = ReadLine("chunk size line", false);
      if (!line.ok()) return line.status();
      absl::string_view size_text = *line;
      size_t semi = size_text.find(';');  // chunk extensions are ignored
      if (semi != absl::string_view::npos) size_text = size_text.substr(0, semi);
      size_text = absl::StripAsciiWhitespace(size_text);
      uint64_t size = 0;
      if (size_text.empty() || size_text.size() > 15 ||
          !std::all_of(size_text.begin(), size_text.end(), [](char c) {
            return absl::ascii_isxdigit(static_cast<unsigned char>(c));
          })) {
        return Malformed(absl::StrCat("bad chunk size line ", Quoted(*line)));
      }
      for (char c : size_text) {
        size = size * 16 + (absl::ascii_isdigit(static_cast<unsigned char>(c))
                                ? c - '0'
                                : absl::ascii_tolower(static_cast<unsigned char>(c)) - 'a' + 10);
      }
      if (size == 0) break;
      absl::Status s = ReadExactly(size, body, /*chunk=*/true);
      if (!s.ok()) return s;
      absl::StatusOr<std::string> end = ReadLine("chunk", false);
      if (!end.ok()) return end.status();
      if (!end->empty()) return Malformed("chunk data longer than its size");
    }
    // Trailer fields, up to the empty line that ends the message.
    for (;;) {
      absl::StatusOr<std::string> trailer = ReadLine("trailer section", true);
      if (!trailer.ok()) return trailer.status();
      if (trailer->empty()) return absl::OkStatus();
    }
  }

  ByteSource source_;
  absl::string_view peer_;
  size_t max_body_;
  const BodySink* stream_sink_;     // ReadHttpStream's, or null
  const BodySink* sink_ = nullptr;  // stream_sink_ for a 2xx body
  std::string buf_;
  size_t pos_ = 0;
  bool eof_ = false;
  size_t header_bytes_ = 0;
};

}  // namespace

const std::string* HttpResult::Header(absl::string_view name) const {
  for (const auto& [n, v] : headers) {
    if (absl::EqualsIgnoreCase(n, name)) return &v;
  }
  return nullptr;
}

absl::StatusOr<HttpResult> ReadHttpResponse(ByteSource source, absl::string_view peer,
                                            size_t max_body) {
  return Reader(source, peer, max_body).Read();
}

absl::StatusOr<HttpResult> ReadHttpStream(ByteSource source, BodySink sink, absl::string_view peer,
                                          size_t max_body) {
  return Reader(source, peer, max_body, &sink).Read();
}

absl::StatusOr<HttpResult> ParseHttpResponse(absl::string_view raw, size_t max_body) {
  size_t offset = 0;
  auto source = [&](char* buf, size_t n) -> absl::StatusOr<size_t> {
    size_t take = std::min(n, raw.size() - offset);
    std::copy_n(raw.data() + offset, take, buf);
    offset += take;
    return take;
  };
  return ReadHttpResponse(source, "", max_body);
}

}  // namespace tether::http
