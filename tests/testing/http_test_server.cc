#include "tests/testing/http_test_server.h"

#include <sys/socket.h>
#include <unistd.h>

#include <string>
#include <thread>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace tether::testing {
namespace {

bool SendAll(int fd, const std::string& s) {
  size_t off = 0;
  while (off < s.size()) {
    ssize_t w = send(fd, s.data() + off, s.size() - off, MSG_NOSIGNAL);
    if (w <= 0) return false;
    off += static_cast<size_t>(w);
  }
  return true;
}

}  // namespace

void HttpTestServer::Serve(int fd) {
  std::string in;
  char buf[16384];
  for (;;) {
    size_t end;
    while ((end = in.find("\r\n\r\n")) == std::string::npos) {
      ssize_t n = read(fd, buf, sizeof(buf));
      if (n <= 0) {
        close(fd);
        return;
      }
      in.append(buf, static_cast<size_t>(n));
    }
    const std::string head = in.substr(0, end);
    std::vector<std::string> lines = absl::StrSplit(head, "\r\n");
    std::vector<std::string> first = absl::StrSplit(lines[0], ' ');
    if (first.size() != 3) break;
    const std::string& method = first[0];
    const std::string& target = first[1];
    size_t body = 0;
    bool close_after = first[2] == "HTTP/1.0";
    for (size_t i = 1; i < lines.size(); ++i) {
      const std::string lower = absl::AsciiStrToLower(lines[i]);
      if (absl::StartsWith(lower, "content-length:")) {
        (void)absl::SimpleAtoi(absl::StripAsciiWhitespace(lower.substr(15)), &body);
      } else if (absl::StartsWith(lower, "connection:") && absl::StrContains(lower, "close")) {
        close_after = true;
      }
    }
    while (in.size() < end + 4 + body) {
      ssize_t n = read(fd, buf, sizeof(buf));
      if (n <= 0) {
        close(fd);
        return;
      }
      in.append(buf, static_cast<size_t>(n));
    }
    in.erase(0, end + 4 + body);
    int status = 200;
    std::string text = absl::StrCat("ok ", method, " ", target, "\n");
    if (absl::StartsWith(target, "/status/") && absl::SimpleAtoi(target.substr(8), &status)) {
      text = absl::StrCat("status ", status, "\n");
    } else if (target == "/flaky") {
      status = flaky_++ % 2 == 0 ? 503 : 200;
      text = absl::StrCat("flaky ", status, "\n");
    } else if (int ms = 0; absl::StartsWith(target, "/slow/") && absl::SimpleAtoi(target.substr(6), &ms)) {
      std::this_thread::sleep_for(std::chrono::milliseconds(ms));
    }
    if (delay_ms_ > 0) std::this_thread::sleep_for(std::chrono::milliseconds(delay_ms_.load()));
    std::string out = absl::StrCat("HTTP/1.1 ", status, " X\r\nContent-Length: ", text.size(),
                                   "\r\n", close_after ? "Connection: close\r\n" : "", "\r\n");
    if (method != "HEAD") out += text;
    ++requests_;
    if (!SendAll(fd, out) || close_after) break;
  }
  shutdown(fd, SHUT_WR);
  close(fd);
}

}  // namespace tether::testing
