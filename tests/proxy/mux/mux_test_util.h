// Helpers for the MuxChannel tests: a client and a server channel over a
// socketpair (PlainTransport) on one DispatcherThread, and Peer, a consumer of
// a Transport that acts only on its edge-triggered FileEvent (so every test
// also checks the MuxStream readiness contract).
//
//   MuxPair pair;
//   pair.on_server_stream = [&](std::unique_ptr<MuxStream> s, const StreamHeaders&) { ... };
//   pair.Start();
//   pair.Run([&] { auto s = pair.client->OpenStream({"10.0.0.1:80", "tcp"}); ... });
//   ASSERT_TRUE(pair.WaitFor([&] { return peer->eof; }));
#ifndef TETHER_TESTS_PROXY_MUX_MUX_TEST_UTIL_H_
#define TETHER_TESTS_PROXY_MUX_MUX_TEST_UTIL_H_

#include <algorithm>
#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <sys/socket.h>

#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "proxy/event/dispatcher.h"
#include "proxy/mux/mux_channel.h"
#include "proxy/net/plain_transport.h"
#include "proxy/net/socket.h"
#include "tests/proxy/testing/dispatcher_thread.h"

namespace tether::proxy::testing {

// Peer: drives one Transport from its FileEvent (kRead | kWrite): handshakes,
// reads everything (unless paused) into `received`, writes `to_send` (then
// ShutdownWrite if `shutdown_after`). With `echo`, what it reads is sent back
// and its EOF is passed on as ShutdownWrite.
struct Peer {
  Peer(Dispatcher& d, std::unique_ptr<Transport> transport) : t(std::move(transport)) {
    ev = d.CreateFileEvent(t->fd(), FileEvent::kRead | FileEvent::kWrite,
                           [this](uint32_t) { Pump(); });
  }
  ~Peer() { ev.reset(); }

  void Pump() {
    ++events;
    if (t == nullptr || !error.empty()) return;
    if (!handshaken) {
      IoStatus st = t->Handshake();
      if (st == IoStatus::kWouldBlock) return;
      if (st != IoStatus::kOk) {
        error = t->error();
        return;
      }
      handshaken = true;
    }
    uint8_t buf[16384];
    while (!paused && !eof && error.empty()) {
      size_t n = 0;
      IoStatus st = t->Read(buf, sizeof(buf), &n);
      if (st == IoStatus::kOk) {
        received.append(reinterpret_cast<const char*>(buf), n);
        if (echo) to_send.append(reinterpret_cast<const char*>(buf), n);
      } else if (st == IoStatus::kWouldBlock) {
        break;
      } else if (st == IoStatus::kEof) {
        eof = true;
        if (echo) shutdown_after = true;
      } else {
        error = t->error();
      }
    }
    while (error.empty() && sent < to_send.size()) {
      size_t n = 0;
      IoStatus st = t->Write(reinterpret_cast<const uint8_t*>(to_send.data()) + sent,
                             to_send.size() - sent, &n);
      if (st == IoStatus::kOk) {
        sent += n;
      } else if (st == IoStatus::kWouldBlock) {
        ++would_block;
        break;
      } else {
        write_error = t->error();
        break;
      }
    }
    if (shutdown_after && !shut && sent == to_send.size() && write_error.empty() &&
        error.empty()) {
      shut = t->ShutdownWrite() == IoStatus::kOk;
    }
  }

  std::unique_ptr<Transport> t;
  std::unique_ptr<FileEvent> ev;  // after t: destroyed first
  std::string to_send;
  size_t sent = 0;
  bool shutdown_after = false;
  bool echo = false;
  bool paused = false;
  bool handshaken = false;
  bool shut = false;
  bool eof = false;
  std::string error;        // Handshake or Read kError
  std::string write_error;  // Write kError
  std::string received;
  int would_block = 0;
  int events = 0;
};

// MuxPair: a client and a server MuxChannel over a socketpair. Every mux
// object lives on the loop thread: touch them only inside Run().
class MuxPair {
 public:
  MuxPair() = default;
  ~MuxPair() {
    Run([this] {
      client_peers.clear();
      server_peers.clear();
      held.clear();
      client.reset();
      server.reset();
    });
    loop.Stop();
  }

  // Start creates both channels (`on_server_stream` default: an echo Peer).
  void Start(const MuxChannelOptions& options = {}) {
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) != 0) abort();
    client_fd = sv[0];
    server_fd = sv[1];
    Run([&] {
      Dispatcher& d = loop.dispatcher();
      client = std::make_unique<MuxChannel>(
          d, std::make_unique<PlainTransport>(UniqueFd(sv[0])), MuxRole::kClient, options,
          nullptr, [this](absl::string_view e) {
            client_closed = true;
            client_error = std::string(e);
          });
      server = std::make_unique<MuxChannel>(
          d, std::make_unique<PlainTransport>(UniqueFd(sv[1])), MuxRole::kServer, options,
          [this](std::unique_ptr<MuxStream> s, const StreamHeaders& h) {
            seen_headers.push_back(h);
            if (on_server_stream) return on_server_stream(std::move(s), h);
            auto peer = std::make_unique<Peer>(loop.dispatcher(), std::move(s));
            peer->echo = true;
            server_peers.push_back(std::move(peer));
          },
          [this](absl::string_view e) {
            server_closed = true;
            server_error = std::string(e);
          });
      client->Start();
      server->Start();
    });
  }

  // Open opens a client stream with a Peer sending `data` (then FIN if `fin`).
  Peer* Open(const std::string& data, bool fin, const MuxOpenOptions& o = {}) {
    Peer* out = nullptr;
    Run([&] {
      absl::StatusOr<std::unique_ptr<MuxStream>> s = client->OpenStream({"10.0.0.1:80", "tcp"}, o);
      if (!s.ok()) return;
      auto peer = std::make_unique<Peer>(loop.dispatcher(), *std::move(s));
      peer->to_send = data;
      peer->shutdown_after = fin;
      out = peer.get();
      client_peers.push_back(std::move(peer));
    });
    return out;
  }

  void Run(const std::function<void()>& fn) { loop.RunSync(fn); }

  // WaitFor polls `pred` on the loop thread until it holds (false after 60 s).
  bool WaitFor(const std::function<bool()>& pred, absl::Duration limit = absl::Seconds(60)) {
    const absl::Time deadline = absl::Now() + limit;
    while (absl::Now() < deadline) {
      bool ok = false;
      Run([&] { ok = pred(); });
      if (ok) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    return false;
  }

  DispatcherThread loop;
  std::unique_ptr<MuxChannel> client;
  std::unique_ptr<MuxChannel> server;
  int client_fd = -1;  // owned by the channels' transports
  int server_fd = -1;
  std::function<void(std::unique_ptr<MuxStream>, const StreamHeaders&)> on_server_stream;
  std::vector<StreamHeaders> seen_headers;
  std::vector<std::unique_ptr<Peer>> client_peers;
  std::vector<std::unique_ptr<Peer>> server_peers;
  std::vector<std::unique_ptr<MuxStream>> held;  // streams a test keeps without a Peer
  bool client_closed = false;
  bool server_closed = false;
  std::string client_error;
  std::string server_error;
};

}  // namespace tether::proxy::testing

#endif  // TETHER_TESTS_PROXY_MUX_MUX_TEST_UTIL_H_
