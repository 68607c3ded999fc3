// mux_channel_fuzz: a server-role MuxChannel reading untrusted bytes from a
// peer proxy. The input is what the client sends after the HTTP/2 preface
// (the harness puts the preface first, so that every input reaches the
// frame readers), over a socketpair, then the client's EOF. New streams are
// accepted, refused, dropped or held and read, by the first byte of their
// authority, so the consumer side (windows, consume, resets) runs too.
//
// Besides not crashing, leaking, hanging or throwing: the channel always
// closes (on_close) once the input ended, never tracks more streams than its
// limit, and held streams still answer (kEof / kError) after it closed.
// Seed corpus: tests/fuzz/corpus/mux_channel/ (written by gen_mux_corpus).
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include <sys/socket.h>
#include <unistd.h>

#include "proxy/event/dispatcher.h"
#include "proxy/mux/mux_channel.h"
#include "proxy/net/plain_transport.h"
#include "proxy/net/socket.h"

namespace {

using namespace tether::proxy;

constexpr uint32_t kMaxStreams = 8;

void Poke(MuxStream& s) {
  uint8_t buf[4096];
  size_t n = 0;
  for (int i = 0; i < 4 && s.Read(buf, sizeof(buf), &n) == IoStatus::kOk; ++i) {
  }
  static const uint8_t kReply[] = "reply";
  (void)s.Write(kReply, sizeof(kReply), &n);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size > 128 * 1024) return 0;  // must fit the socketpair's buffer
  int sv[2];
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) != 0) abort();
  int bufsize = 512 * 1024;
  setsockopt(sv[1], SOL_SOCKET, SO_SNDBUF, &bufsize, sizeof(bufsize));
  UniqueFd client(sv[1]);
  std::unique_ptr<Dispatcher> d = Dispatcher::Create();
  std::vector<std::unique_ptr<MuxStream>> held;
  bool closed = false;
  MuxChannelOptions options;
  options.max_concurrent_streams = kMaxStreams;
  options.stream_window = 16 * 1024;
  options.stream_send_buffer = 4096;
  std::unique_ptr<MuxChannel> channel;
  channel = std::make_unique<MuxChannel>(
      *d, std::make_unique<PlainTransport>(UniqueFd(sv[0])), MuxRole::kServer, options,
      [&](std::unique_ptr<MuxStream> s, const StreamHeaders& h) {
        if (channel->active_streams() > kMaxStreams) abort();
        if (h.authority.empty()) abort();  // only well-formed CONNECTs reach here
        for (auto& other : held) Poke(*other);
        switch (static_cast<uint8_t>(h.authority[0]) % 5) {
          case 0:
            s->Refuse(403);
            break;
          case 1:
            s->Refuse(0);
            break;
          case 2:
            break;  // dropped: refused
          case 3:
            if (s->Handshake() == IoStatus::kOk) {
              Poke(*s);
              (void)s->ShutdownWrite();
            }
            held.push_back(std::move(s));
            break;
          default:
            s->Abort();
            held.push_back(std::move(s));
            break;
        }
      },
      [&](absl::string_view) {
        closed = true;
        d->Exit();
      });
  channel->Start();
  static const char kPreface[] = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
  std::string wire(kPreface, sizeof(kPreface) - 1);
  wire.append(reinterpret_cast<const char*>(data), size);
  size_t off = 0;
  while (off < wire.size()) {
    ssize_t n = write(client.get(), wire.data() + off, wire.size() - off);
    if (n <= 0) abort();
    off += static_cast<size_t>(n);
  }
  shutdown(client.get(), SHUT_WR);
  d->Run();
  if (!closed) abort();
  for (auto& s : held) {
    uint8_t buf[64];
    size_t n = 0;
    IoStatus st;
    while ((st = s->Read(buf, sizeof(buf), &n)) == IoStatus::kOk) {
    }
    if (st == IoStatus::kWouldBlock && !s->error().empty()) abort();
  }
  held.clear();
  channel.reset();
  return 0;
}
