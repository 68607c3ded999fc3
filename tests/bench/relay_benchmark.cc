// relay_benchmark: one connection on loopback, through the relay (a TcpProxy
// on its own dispatcher thread) and, for comparison, direct.
//
//   bazel run //tests/bench:relay_benchmark
//
// Throughput: the client streams 64 MiB per iteration to a sink that answers
// one byte per 64 MiB received, so every iteration includes delivery.
// PingPong: 64-byte request, 64-byte echo, one at a time (round-trip latency).
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <benchmark/benchmark.h>
#include <sys/socket.h>

#include "proxy/relay/tcp_proxy.h"
#include "tests/proxy/testing/dispatcher_thread.h"
#include "tests/proxy/testing/test_sockets.h"

namespace tether::proxy {
namespace {

constexpr size_t kChunk = 256 * 1024;
constexpr size_t kPerIteration = 64 << 20;

// Sink: accepts one connection, discards what it reads, and writes one byte
// back per kPerIteration bytes received.
class Sink {
 public:
  Sink() {
    thread_ = std::thread([this] {
      UniqueFd fd = listener_.Accept();
      if (!fd.valid()) return;
      testing::SetTimeouts(fd.get(), absl::ZeroDuration());
      std::vector<char> buf(kChunk);
      size_t since_ack = 0;
      for (;;) {
        ssize_t n = recv(fd.get(), buf.data(), buf.size(), 0);
        if (n <= 0) return;
        since_ack += static_cast<size_t>(n);
        while (since_ack >= kPerIteration) {
          since_ack -= kPerIteration;
          if (!testing::WriteAll(fd.get(), "k", 1)) return;
        }
      }
    });
  }
  ~Sink() { thread_.join(); }
  const SocketAddress& address() const { return listener_.address(); }

 private:
  testing::BlockingListener listener_;
  std::thread thread_;
};

// Proxy: a TcpProxy on a dispatcher thread, in front of `upstream`.
class Proxy {
 public:
  explicit Proxy(const SocketAddress& upstream) {
    loop_.RunSync([&] {
      TcpProxyOptions options;
      options.listen_address = testing::Loopback(0);
      options.upstream_address = upstream;
      absl::StatusOr<std::unique_ptr<TcpProxy>> p = TcpProxy::Create(loop_.dispatcher(), options);
      if (!p.ok()) {
        (void)std::fprintf(stderr, "proxy: %s\n", p.status().ToString().c_str());
        std::abort();
      }
      proxy_ = *std::move(p);
    });
  }
  ~Proxy() {
    loop_.RunSync([&] { proxy_.reset(); });
  }
  SocketAddress address() const { return proxy_->listen_address(); }

 private:
  testing::DispatcherThread loop_;
  std::unique_ptr<TcpProxy> proxy_;
};

void Throughput(benchmark::State& state, bool through_relay) {
  Sink sink;
  std::unique_ptr<Proxy> proxy;
  SocketAddress target = sink.address();
  if (through_relay) {
    proxy = std::make_unique<Proxy>(sink.address());
    target = proxy->address();
  }
  UniqueFd fd = testing::ConnectBlocking(target);
  if (!fd.valid()) {
    state.SkipWithError("connect failed");
    return;
  }
  testing::SetTimeouts(fd.get(), absl::ZeroDuration());
  std::string chunk = testing::RandomBytes(kChunk, 1);
  for (auto _ : state) {  // NOLINT(clang-analyzer-deadcode.DeadStores): the idiom
    for (size_t sent = 0; sent < kPerIteration; sent += kChunk) {
      if (!testing::WriteAll(fd.get(), chunk)) {
        state.SkipWithError("write failed");
        return;
      }
    }
    char ack;
    if (!testing::ReadExactly(fd.get(), &ack, 1)) {
      state.SkipWithError("no ack");
      return;
    }
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) * kPerIteration);
  fd.reset();  // the sink sees EOF and exits
}

void PingPong(benchmark::State& state, bool through_relay) {
  testing::EchoServer echo;
  std::unique_ptr<Proxy> proxy;
  SocketAddress target = echo.address();
  if (through_relay) {
    proxy = std::make_unique<Proxy>(echo.address());
    target = proxy->address();
  }
  UniqueFd fd = testing::ConnectBlocking(target);
  if (!fd.valid()) {
    state.SkipWithError("connect failed");
    return;
  }
  std::string msg(64, 'p');
  std::string got(64, '\0');
  for (auto _ : state) {  // NOLINT(clang-analyzer-deadcode.DeadStores): the idiom
    if (!testing::WriteAll(fd.get(), msg) || !testing::ReadExactly(fd.get(), got.data(), 64)) {
      state.SkipWithError("echo failed");
      return;
    }
  }
  state.SetItemsProcessed(state.iterations());
}

void BM_Throughput_Relay(benchmark::State& state) { Throughput(state, true); }
void BM_Throughput_Direct(benchmark::State& state) { Throughput(state, false); }
void BM_PingPong_Relay(benchmark::State& state) { PingPong(state, true); }
void BM_PingPong_Direct(benchmark::State& state) { PingPong(state, false); }

BENCHMARK(BM_Throughput_Direct)->UseRealTime()->Unit(benchmark::kMillisecond);
BENCHMARK(BM_Throughput_Relay)->UseRealTime()->Unit(benchmark::kMillisecond);
BENCHMARK(BM_PingPong_Direct)->UseRealTime()->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_PingPong_Relay)->UseRealTime()->Unit(benchmark::kMicrosecond);

}  // namespace
}  // namespace tether::proxy
