// HttpResponse: what an admin handler returns.
//
//   server.Handle("GET", "/ready", [](const HttpRequest&) {
//     return HttpResponse::Json(R"({"ready":true})");
//   });
//
// The server adds Content-Length, Connection and the status line; handlers
// only fill in status, content type, body and any extra headers.
#ifndef TETHER_COMMON_HTTP_RESPONSE_H_
#define TETHER_COMMON_HTTP_RESPONSE_H_

#include <string>
#include <utility>
#include <vector>

#include "absl/strings/string_view.h"

namespace tether::http {

struct HttpResponse {
  int status = 200;
  std::string content_type = "text/plain; charset=utf-8";
  std::string body;
  // Extra headers, e.g. {"Cache-Control", "no-store"}. Names and values must
  // not contain CR or LF; the server drops a header that does.
  std::vector<std::pair<std::string, std::string>> headers;

  // Json returns a response with an application/json body (already encoded).
  static HttpResponse Json(std::string json, int status = 200) {
    HttpResponse r;
    r.status = status;
    r.content_type = "application/json";
    r.body = std::move(json);
    return r;
  }

  // Text returns a plain-text UTF-8 response.
  static HttpResponse Text(std::string text, int status = 200) {
    HttpResponse r;
    r.status = status;
    r.body = std::move(text);
    return r;
  }
};

// HttpReasonPhrase returns the standard reason phrase of `status`, or
// "Unknown" for a code it does not know.
inline absl::string_view HttpReasonPhrase(int status) {
  static constexpr std::pair<int, absl::string_view> kPhrases[] = {
      {100, "Continue"},
      {200, "OK"},
      {201, "Created"},
      {202, "Accepted"},
      {204, "No Content"},
      {301, "Moved Permanently"},
      {302, "Found"},
      {304, "Not Modified"},
      {400, "Bad Request"},
      {401, "Unauthorized"},
      {403, "Forbidden"},
      {404, "Not Found"},
      {405, "Method Not Allowed"},
      {408, "Request Timeout"},
      {409, "Conflict"},
      {413, "Content Too Large"},
      {414, "URI Too Long"},
      {429, "Too Many Requests"},
      {431, "Request Header Fields Too Large"},
      {500, "Internal Server Error"},
      {501, "Not Implemented"},
      {503, "Service Unavailable"},
      {505, "HTTP Version Not Supported"},
  };
  for (const auto& [code, phrase] : kPhrases) {
    if (code == status) return phrase;
  }
  return "Unknown";
}

}  // namespace tether::http

#endif  // TETHER_COMMON_HTTP_RESPONSE_H_
