// loadgen: the HTTP/1.1 load generator of the side-by-side benchmark
// (tests/bench/mesh_bench.py), for what wrk does not measure.
//
//   loadgen --target 127.0.0.1:19000 --mode rate --rate 1000 --connections 16 --duration 20s
//   loadgen --target 127.0.0.1:19000 --mode new-connections --connections 8 --duration 10s
//   loadgen --target 127.0.0.1:19000 --mode hold --connections 10000 --duration 30s
//
// Modes:
//   rate             open loop at a fixed rate over keep-alive connections (the
//                    method of Istio's and wrk2's latency numbers): request i is
//                    due at start + i/rate whether or not earlier answers came
//                    back, goes out on an idle connection (or waits for one), and
//                    its latency runs from when it was due, not from when it was
//                    sent, so a stall is counted for every request it delayed
//                    (no coordinated omission).
//   new-connections  closed loop, a new TCP connection per request
//                    ("Connection: close"), `--connections` at once.
//   hold             opens `--connections` connections, sends one request on
//                    each, prints "holding N", keeps them idle for --duration
//                    (or until stdin closes) and closes them.
//
// Prints one JSON object on stdout: requests, errors, seconds, rate achieved,
// and latency percentiles in microseconds. Single-threaded, epoll.
#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <deque>
#include <string>
#include <vector>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/time.h"
#include "common/flags.h"

ABSL_FLAG(std::string, target, "127.0.0.1:8080", "host:port to send HTTP/1.1 GETs to");
ABSL_FLAG(std::string, path, "/", "request path");
ABSL_FLAG(std::string, mode, "rate", "rate | new-connections | hold");
ABSL_FLAG(double, rate, 1000, "rate mode: requests per second");
ABSL_FLAG(int, connections, 16, "connections (rate, hold) or concurrency (new-connections)");
ABSL_FLAG(absl::Duration, duration, absl::Seconds(10), "how long to measure (hold: to hold)");
ABSL_FLAG(absl::Duration, warmup, absl::Seconds(1), "rate, new-connections: unmeasured lead-in");

namespace {

int64_t NowNs() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return int64_t{ts.tv_sec} * 1000000000 + ts.tv_nsec;
}

sockaddr_in g_addr;

bool ParseTarget(const std::string& s) {
  std::vector<std::string> parts = absl::StrSplit(s, ':');
  int port = 0;
  if (parts.size() != 2 || !absl::SimpleAtoi(parts[1], &port)) return false;
  g_addr = {};
  g_addr.sin_family = AF_INET;
  g_addr.sin_port = htons(static_cast<uint16_t>(port));
  return inet_pton(AF_INET, parts[0].c_str(), &g_addr.sin_addr) == 1;
}

// Response parses one HTTP/1.1 response with a Content-Length.
struct Response {
  std::string buf;
  bool Complete() const {
    size_t end = buf.find("\r\n\r\n");
    if (end == std::string::npos) return false;
    size_t body = end + 4;
    size_t len = 0;
    std::string lower = absl::AsciiStrToLower(absl::string_view(buf).substr(0, end));
    size_t at = lower.find("\r\ncontent-length:");
    if (at != std::string::npos) {
      size_t eol = lower.find("\r\n", at + 2);
      std::string v(absl::StripAsciiWhitespace(lower.substr(at + 17, eol - at - 17)));
      if (!absl::SimpleAtoi(v, &len)) return false;
    }
    return buf.size() >= body + len;
  }
};

struct Conn {
  int fd = -1;
  bool connected = false;
  bool busy = false;
  bool idle = false;   // rate mode: in the idle list
  int64_t due_ns = 0;  // when the outstanding request was due
  std::string out;     // unsent bytes of the request
  Response in;
};

class Loadgen {
 public:
  Loadgen() : ep_(epoll_create1(EPOLL_CLOEXEC)) {
    const std::string host = "Host: bench\r\n";
    keepalive_req_ = absl::StrCat("GET ", absl::GetFlag(FLAGS_path), " HTTP/1.1\r\n", host, "\r\n");
    close_req_ = absl::StrCat("GET ", absl::GetFlag(FLAGS_path), " HTTP/1.1\r\n", host,
                              "Connection: close\r\n\r\n");
  }

  int RunRate();
  int RunNewConnections();
  int RunHold();

 private:
  bool Open(Conn* c);
  void Close(Conn* c, bool reset);
  void Send(Conn* c, const std::string& req, int64_t due);
  // OnEvent advances `c`; returns 1 when a response completed, -1 on error.
  int OnEvent(Conn* c, uint32_t events);
  // Record keeps the latency of a request due inside the measured window.
  void Record(int64_t due) {
    if (due >= measure_from_ && due < measure_until_) latencies_.push_back(NowNs() - due);
  }
  void Report(double seconds, const char* mode);
  int Wait(epoll_event* evs, int max, int64_t until_ns);

  int ep_;
  std::string keepalive_req_;
  std::string close_req_;
  int64_t measure_from_ = 0;
  int64_t measure_until_ = INT64_MAX;
  uint64_t errors_ = 0;
  uint64_t connects_ = 0;
  std::vector<int64_t> latencies_;
};

bool Loadgen::Open(Conn* c) {
  c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (c->fd < 0) return false;
  int one = 1;
  setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  if (connect(c->fd, reinterpret_cast<sockaddr*>(&g_addr), sizeof(g_addr)) != 0 &&
      errno != EINPROGRESS) {
    close(c->fd);
    c->fd = -1;
    return false;
  }
  c->connected = false;
  c->busy = false;
  c->in.buf.clear();
  c->out.clear();
  epoll_event ev{};
  ev.events = EPOLLIN | EPOLLOUT | EPOLLET | EPOLLRDHUP;
  ev.data.ptr = c;
  epoll_ctl(ep_, EPOLL_CTL_ADD, c->fd, &ev);
  ++connects_;
  return true;
}

void Loadgen::Close(Conn* c, bool reset) {
  if (c->fd < 0) return;
  if (reset) {
    linger lg{1, 0};
    setsockopt(c->fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
  }
  close(c->fd);  // leaves the epoll set with it
  c->fd = -1;
  c->busy = false;
}

void Loadgen::Send(Conn* c, const std::string& req, int64_t due) {
  c->busy = true;
  c->due_ns = due;
  c->in.buf.clear();
  c->out = req;
  if (!c->connected) return;  // sent once the connect completes
  ssize_t n = send(c->fd, c->out.data(), c->out.size(), MSG_NOSIGNAL);
  if (n > 0) c->out.erase(0, static_cast<size_t>(n));
}

int Loadgen::OnEvent(Conn* c, uint32_t events) {
  if (!c->connected && (events & EPOLLOUT)) {
    int err = 0;
    socklen_t len = sizeof(err);
    getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len);
    if (err != 0) return -1;
    c->connected = true;
  }
  if (!c->connected) return (events & (EPOLLERR | EPOLLHUP)) ? -1 : 0;
  if (!c->out.empty()) {
    ssize_t n = send(c->fd, c->out.data(), c->out.size(), MSG_NOSIGNAL);
    if (n > 0) {
      c->out.erase(0, static_cast<size_t>(n));
    } else if (n < 0 && errno != EAGAIN) {
      return -1;
    }
  }
  char buf[16384];
  for (;;) {
    ssize_t n = recv(c->fd, buf, sizeof(buf), 0);
    if (n > 0) {
      if (!c->busy) return -1;  // bytes nobody asked for
      c->in.buf.append(buf, static_cast<size_t>(n));
      continue;
    }
    if (n == 0) {
      if (c->busy && c->in.Complete()) {
        c->busy = false;
        Record(c->due_ns);
        return 1;
      }
      return -1;
    }
    if (errno == EAGAIN) break;
    return -1;
  }
  if (c->busy && c->in.Complete()) {
    c->busy = false;
    Record(c->due_ns);
    return 1;
  }
  return 0;
}

int Loadgen::Wait(epoll_event* evs, int max, int64_t until_ns) {
  int64_t wait = until_ns - NowNs();
  if (wait < 0) wait = 0;
  timespec ts{static_cast<time_t>(wait / 1000000000), static_cast<long>(wait % 1000000000)};
  int n = epoll_pwait2(ep_, evs, max, &ts, nullptr);
  return n < 0 ? 0 : n;
}

int Loadgen::RunRate() {
  const double rate = absl::GetFlag(FLAGS_rate);
  const int nconn = absl::GetFlag(FLAGS_connections);
  std::vector<Conn> conns(static_cast<size_t>(nconn));
  for (Conn& c : conns) {
    if (!Open(&c)) {
      fprintf(stderr, "loadgen: connect failed: %s\n", strerror(errno));
      return 1;
    }
  }
  const int64_t interval = static_cast<int64_t>(1e9 / rate);
  const int64_t warmup = absl::ToInt64Nanoseconds(absl::GetFlag(FLAGS_warmup));
  const int64_t duration = absl::ToInt64Nanoseconds(absl::GetFlag(FLAGS_duration));
  const int64_t start = NowNs() + 100000000;  // connections settle first
  const int64_t measure_from = start + warmup;
  const int64_t end = measure_from + duration;
  measure_from_ = measure_from;
  measure_until_ = end;
  std::deque<int64_t> queue;  // due times of requests waiting for a connection
  std::vector<Conn*> idle;
  int64_t next_due = start;
  std::vector<epoll_event> evs(256);
  latencies_.reserve(
      static_cast<size_t>(rate * absl::ToDoubleSeconds(absl::GetFlag(FLAGS_duration)) * 1.1));
  auto dispatch = [&] {
    while (!queue.empty() && !idle.empty()) {
      Conn* c = idle.back();
      idle.pop_back();
      c->idle = false;
      Send(c, keepalive_req_, queue.front());
      queue.pop_front();
    }
  };
  while (true) {
    const int64_t now = NowNs();
    // Requests due by now join the queue, stamped with when they were due.
    while (next_due <= now && next_due < end) {
      queue.push_back(next_due);
      next_due += interval;
    }
    dispatch();
    if (next_due >= end && queue.empty() &&
        std::none_of(conns.begin(), conns.end(), [](const Conn& c) { return c.busy; })) {
      break;
    }
    if (now > end + 5000000000LL) {  // answers stopped coming
      errors_ += queue.size();
      break;
    }
    int n =
        Wait(evs.data(), static_cast<int>(evs.size()), next_due < end ? next_due : now + 1000000);
    for (int i = 0; i < n; ++i) {
      Conn* c = static_cast<Conn*>(evs[i].data.ptr);
      int r = OnEvent(c, evs[i].events);
      if (r < 0) {
        ++errors_;
        if (c->idle) idle.erase(std::find(idle.begin(), idle.end(), c));
        c->idle = false;
        Close(c, true);
        if (!Open(c)) return 1;
        continue;
      }
      if (c->connected && !c->busy && !c->idle) {
        c->idle = true;
        idle.push_back(c);
      }
    }
  }
  Report(absl::ToDoubleSeconds(absl::GetFlag(FLAGS_duration)), "rate");
  for (Conn& c : conns) Close(&c, false);
  return 0;
}

int Loadgen::RunNewConnections() {
  const int nconn = absl::GetFlag(FLAGS_connections);
  std::vector<Conn> conns(static_cast<size_t>(nconn));
  const int64_t warmup = absl::ToInt64Nanoseconds(absl::GetFlag(FLAGS_warmup));
  const int64_t duration = absl::ToInt64Nanoseconds(absl::GetFlag(FLAGS_duration));
  const int64_t start = NowNs();
  const int64_t measure_from = start + warmup;
  const int64_t end = measure_from + duration;
  measure_from_ = measure_from;
  measure_until_ = end;
  auto begin = [&](Conn* c) {
    const int64_t now = NowNs();
    if (now >= end) return;
    if (!Open(c)) {
      ++errors_;
      return;
    }
    Send(c, close_req_, now);
  };
  for (Conn& c : conns) begin(&c);
  std::vector<epoll_event> evs(256);
  while (true) {
    const int64_t now = NowNs();
    bool any = std::any_of(conns.begin(), conns.end(), [](const Conn& c) { return c.fd >= 0; });
    if (!any) break;
    if (now > end + 5000000000LL) break;
    int n = Wait(evs.data(), static_cast<int>(evs.size()), now + 50000000);
    for (int i = 0; i < n; ++i) {
      Conn* c = static_cast<Conn*>(evs[i].data.ptr);
      int r = OnEvent(c, evs[i].events);
      if (r == 0) continue;
      if (r < 0 && NowNs() >= measure_from) ++errors_;
      // The server closes after its answer: our close comes second, so the
      // TIME_WAIT stays on the server's side and our ports are reused.
      Close(c, false);
      begin(c);
    }
  }
  Report(absl::ToDoubleSeconds(absl::GetFlag(FLAGS_duration)), "new-connections");
  return 0;
}

int Loadgen::RunHold() {
  const int nconn = absl::GetFlag(FLAGS_connections);
  std::vector<Conn> conns(static_cast<size_t>(nconn));
  std::vector<epoll_event> evs(1024);
  int done = 0;
  // Open in batches so the listeners' backlogs never overflow.
  size_t next = 0;
  int outstanding = 0;
  const int64_t give_up = NowNs() + 120000000000LL;
  while (done + static_cast<int>(errors_) < nconn && NowNs() < give_up) {
    while (next < conns.size() && outstanding < 200) {
      if (!Open(&conns[next])) {
        fprintf(stderr, "loadgen: connect %zu failed: %s\n", next, strerror(errno));
        ++errors_;
      } else {
        Send(&conns[next], keepalive_req_, NowNs());
        ++outstanding;
      }
      ++next;
    }
    int n = Wait(evs.data(), static_cast<int>(evs.size()), NowNs() + 100000000);
    for (int i = 0; i < n; ++i) {
      Conn* c = static_cast<Conn*>(evs[i].data.ptr);
      if (c->fd < 0 || (!c->busy && c->connected)) continue;
      int r = OnEvent(c, evs[i].events);
      if (r == 1) {
        ++done;
        --outstanding;
      } else if (r < 0) {
        ++errors_;
        --outstanding;
        Close(c, true);
      }
    }
  }
  printf("holding %d\n", done);
  fflush(stdout);
  // Idle until the duration ends or stdin closes (the harness's signal).
  const int64_t until = NowNs() + absl::ToInt64Nanoseconds(absl::GetFlag(FLAGS_duration));
  while (NowNs() < until) {
    pollfd p{0, POLLIN, 0};
    int r = poll(&p, 1, 100);
    if (r > 0) {
      char b[64];
      if (read(0, b, sizeof(b)) <= 0) break;
    }
  }
  for (Conn& c : conns) Close(&c, false);
  Report(0, "hold");
  return errors_ == 0 ? 0 : 1;
}

void Loadgen::Report(double seconds, const char* mode) {
  std::vector<int64_t>& l = latencies_;
  std::sort(l.begin(), l.end());
  auto pct = [&](double p) -> double {
    if (l.empty()) return 0;
    size_t i = static_cast<size_t>(std::ceil(p / 100.0 * static_cast<double>(l.size()))) - 1;
    return static_cast<double>(l[std::min(i, l.size() - 1)]) / 1000.0;
  };
  double mean = 0;
  for (int64_t v : l) mean += static_cast<double>(v);
  if (!l.empty()) mean /= static_cast<double>(l.size()) * 1000.0;
  printf(
      "{\"mode\": \"%s\", \"requests\": %zu, \"errors\": %llu, \"connections_opened\": %llu, "
      "\"seconds\": %.3f, \"rate\": %.1f, \"latency_us\": {\"mean\": %.1f, \"p50\": %.1f, "
      "\"p90\": %.1f, \"p99\": %.1f, \"p99.9\": %.1f, \"max\": %.1f}}\n",
      mode, l.size(), static_cast<unsigned long long>(errors_),
      static_cast<unsigned long long>(connects_), seconds,
      seconds > 0 ? static_cast<double>(l.size()) / seconds : 0.0, mean, pct(50), pct(90), pct(99),
      pct(99.9), l.empty() ? 0.0 : static_cast<double>(l.back()) / 1000.0);
}

}  // namespace

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage("HTTP/1.1 load: open-loop fixed rate, new connections, or hold");
  tether::ParseCommandLineWithDashes(argc, argv);
  signal(SIGPIPE, SIG_IGN);
  prctl(PR_SET_TIMERSLACK, 1UL);  // wake at the due time, not 50 us later
  rlimit rl{1 << 18, 1 << 18};
  if (setrlimit(RLIMIT_NOFILE, &rl) != 0) {
    getrlimit(RLIMIT_NOFILE, &rl);
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
  }
  if (!ParseTarget(absl::GetFlag(FLAGS_target))) {
    fprintf(stderr, "loadgen: --target must be IPv4:PORT\n");
    return 2;
  }
  Loadgen g;
  const std::string mode = absl::GetFlag(FLAGS_mode);
  if (mode == "rate") return g.RunRate();
  if (mode == "new-connections") return g.RunNewConnections();
  if (mode == "hold") return g.RunHold();
  fprintf(stderr, "loadgen: unknown --mode %s\n", mode.c_str());
  return 2;
}
