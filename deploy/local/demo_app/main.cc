// tether-demo-app: the local mesh's workload, plain HTTP with no idea of TLS.
//
//   tether-demo-app serve --listen 0.0.0.0:80 --name b
//       answers every GET with "hello from b (you are 10.77.0.11:40312)"
//   tether-demo-app call --target 10.77.0.12:80 --count 20 --interval-ms 100
//       calls GET / repeatedly; one line per call; exit 0 only if all succeeded
#include <chrono>
#include <cstring>
#include <iostream>
#include <string>
#include <thread>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

namespace {

bool ParseHostPort(const std::string& s, sockaddr_in* out) {
  size_t colon = s.rfind(':');
  if (colon == std::string::npos) return false;
  memset(out, 0, sizeof(*out));
  out->sin_family = AF_INET;
  out->sin_port = htons(static_cast<uint16_t>(std::stoi(s.substr(colon + 1))));
  return inet_pton(AF_INET, s.substr(0, colon).c_str(), &out->sin_addr) == 1;
}

std::string Arg(int argc, char** argv, const std::string& name, const std::string& def) {
  for (int i = 2; i + 1 < argc; ++i) {
    if (argv[i] == "--" + name) return argv[i + 1];
  }
  return def;
}

void Handle(int fd, std::string name, std::string peer) {
  timeval tv = {10, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  std::string req;
  char buf[4096];
  while (req.find("\r\n\r\n") == std::string::npos && req.size() < 65536) {
    ssize_t n = read(fd, buf, sizeof(buf));
    if (n <= 0) break;
    req.append(buf, static_cast<size_t>(n));
  }
  if (req.find("\r\n\r\n") != std::string::npos) {
    std::string body = "hello from " + name + " (you are " + peer + ")\n";
    std::string resp = "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: " +
                       std::to_string(body.size()) + "\r\nConnection: close\r\n\r\n" + body;
    send(fd, resp.data(), resp.size(), MSG_NOSIGNAL);
  }
  close(fd);
}

int Serve(int argc, char** argv) {
  sockaddr_in addr;
  if (!ParseHostPort(Arg(argc, argv, "listen", "0.0.0.0:80"), &addr)) return 2;
  const std::string name = Arg(argc, argv, "name", "app");
  int lfd = socket(AF_INET, SOCK_STREAM, 0);
  int one = 1;
  setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  if (bind(lfd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 || listen(lfd, 128) != 0) {
    std::cerr << "tether-demo-app: cannot listen: " << strerror(errno) << "\n";
    return 1;
  }
  std::cerr << "tether-demo-app: " << name << " serving" << std::endl;
  while (true) {
    sockaddr_in peer;
    socklen_t len = sizeof(peer);
    int fd = accept(lfd, reinterpret_cast<sockaddr*>(&peer), &len);
    if (fd < 0) continue;
    char ip[INET_ADDRSTRLEN];
    inet_ntop(AF_INET, &peer.sin_addr, ip, sizeof(ip));
    std::thread(Handle, fd, name, std::string(ip) + ":" + std::to_string(ntohs(peer.sin_port)))
        .detach();
  }
}

// Call returns the body of one GET, or an error text starting with "error:".
std::string CallOnce(const sockaddr_in& addr, const std::string& host) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  timeval tv = {5, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
  if (connect(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof(addr)) != 0) {
    std::string e = std::string("error: connect: ") + strerror(errno);
    close(fd);
    return e;
  }
  std::string req = "GET / HTTP/1.1\r\nHost: " + host + "\r\nConnection: close\r\n\r\n";
  send(fd, req.data(), req.size(), MSG_NOSIGNAL);
  std::string resp;
  char buf[4096];
  ssize_t n;
  while ((n = read(fd, buf, sizeof(buf))) > 0) resp.append(buf, static_cast<size_t>(n));
  int err = n < 0 ? errno : 0;
  close(fd);
  if (resp.rfind("HTTP/1.1 200", 0) != 0) {
    return resp.empty() ? std::string("error: connection closed without a response") +
                              (err ? std::string(" (") + strerror(err) + ")" : "")
                        : "error: " + resp.substr(0, resp.find('\r'));
  }
  size_t body = resp.find("\r\n\r\n");
  std::string text = body == std::string::npos ? "" : resp.substr(body + 4);
  while (!text.empty() && text.back() == '\n') text.pop_back();
  return text;
}

int Call(int argc, char** argv) {
  const std::string target = Arg(argc, argv, "target", "");
  sockaddr_in addr;
  if (!ParseHostPort(target, &addr)) {
    std::cerr << "tether-demo-app call: --target IP:PORT\n";
    return 2;
  }
  const int count = std::stoi(Arg(argc, argv, "count", "1"));
  const int interval = std::stoi(Arg(argc, argv, "interval-ms", "0"));
  const bool quiet = Arg(argc, argv, "quiet", "false") == "true";
  int ok = 0, failed = 0;
  for (int i = 0; i < count; ++i) {
    std::string out = CallOnce(addr, target);
    bool good = out.rfind("error:", 0) != 0;
    good ? ++ok : ++failed;
    if (!quiet || !good) std::cout << out << std::endl;
    if (interval > 0 && i + 1 < count) {
      std::this_thread::sleep_for(std::chrono::milliseconds(interval));
    }
  }
  std::cout << "calls: " << ok << " ok, " << failed << " failed" << std::endl;
  return failed == 0 ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  signal(SIGPIPE, SIG_IGN);
  if (argc >= 2 && std::string(argv[1]) == "serve") return Serve(argc, argv);
  if (argc >= 2 && std::string(argv[1]) == "call") return Call(argc, argv);
  std::cerr << "usage: tether-demo-app serve --listen IP:PORT --name NAME\n"
               "       tether-demo-app call --target IP:PORT [--count N] [--interval-ms M]\n";
  return 2;
}
