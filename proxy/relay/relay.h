// Relay: the byte-exact, half-close-correct copy between the two sides of a
// proxied connection, run by one worker's Dispatcher.
//
//   bool connecting;
//   absl::StatusOr<UniqueFd> up = ConnectNonBlocking(upstream_addr, &connecting);
//   auto relay = std::make_unique<Relay>(
//       *dispatcher, std::make_unique<PlainTransport>(std::move(accepted_fd)),
//       std::make_unique<PlainTransport>(*std::move(up)),
//       connecting ? Relay::Upstream::kConnecting : Relay::Upstream::kConnected,
//       RelayOptions{}, [&](const RelayStats& stats) { /* count; may delete relay */ });
//   relay->Start();
//
// Lifecycle: (wait for the upstream TCP connect) -> Handshake() on both
// transports -> copy bytes both ways -> closed. It never reads a side before
// its handshake finished. Each direction has one fixed buffer
// (options.buffer_size, allocated once in the constructor): when it is full
// the relay stops reading that side until the other side drained it, so
// memory per connection is bounded whatever the peers do.
//
// Closing: EOF from one side is passed on as ShutdownWrite() to the other
// once every buffered byte was written; the relay ends (outcome kOk) when both
// directions ended that way. An error on one side (reset, TLS alert, ...)
// aborts the other side (RST) and drops buffered bytes. Timeouts abort both.
// A side that reported kError is closed without Abort(), so that whatever it
// queued (a TLS alert) still reaches its peer.
//
// on_close runs exactly once, on the dispatcher thread, from a dispatcher
// callback (never from Start), after both sockets are closed; the owner may
// destroy the Relay inside it. Destroying a Relay before that aborts both
// sides and does not call on_close.
//
// Threading: construct, Start and destroy on the dispatcher's thread.
#ifndef TETHER_PROXY_RELAY_RELAY_H_
#define TETHER_PROXY_RELAY_RELAY_H_

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "proxy/event/dispatcher.h"
#include "proxy/net/transport.h"
#include "proxy/relay/buffer_pool.h"
#include "proxy/relay/relay_tap.h"
#include "proxy/relay/ring_buffer.h"

namespace tether::proxy {

struct RelayOptions {
  // Bytes buffered per direction; the relay holds at most 2x this.
  size_t buffer_size = 32 * 1024;
  // Optional, not owned, must outlive the relay: where the buffers come from
  // (blocks of 2 x buffer_size), taken only while bytes are in flight. Without
  // a pool the relay allocates its buffers once, up front.
  BufferPool* buffer_pool = nullptr;
  // Reads per direction in one turn before yielding to other connections.
  int max_reads_per_event = 16;
  // Zero (or negative) disables a timeout.
  absl::Duration connect_timeout = absl::Seconds(10);
  // From the TCP connection being up to both handshakes done.
  absl::Duration handshake_timeout = absl::Seconds(10);
  // No byte moved in either direction for this long.
  absl::Duration idle_timeout = absl::Hours(1);
};

// RelayOutcome: how a relay ended. RelayOutcomeName gives the metric word.
enum class RelayOutcome : uint8_t {
  kOk,                 // both sides ended their stream (FIN / close_notify)
  kResetByDownstream,  // downstream reset or failed (see RelayStats::error)
  kResetByUpstream,
  kConnectFailed,     // upstream TCP connect refused/unreachable
  kConnectTimeout,    // upstream TCP connect took longer than connect_timeout
  kHandshakeFailed,   // a transport's Handshake() failed (error_side, error)
  kHandshakeTimeout,  // handshakes not done within handshake_timeout
  kIdleTimeout,       // no byte moved within idle_timeout
};
inline constexpr int kRelayOutcomeCount = 8;
absl::string_view RelayOutcomeName(RelayOutcome outcome);

enum class RelaySide : uint8_t { kNone, kDownstream, kUpstream };
absl::string_view RelaySideName(RelaySide side);

// RelayStats: what on_close reports. Plain data, owned by the relay.
struct RelayStats {
  uint64_t bytes_to_upstream = 0;    // written to the upstream transport
  uint64_t bytes_to_downstream = 0;  // written to the downstream transport
  RelayOutcome outcome = RelayOutcome::kOk;
  RelaySide error_side = RelaySide::kNone;  // the side that failed, if any
  std::string error;                        // its Transport::error() word or errno word
  size_t peak_buffered_bytes = 0;           // highest buffered_bytes() seen
};

class Relay {
 public:
  enum class Upstream { kConnected, kConnecting };
  using CloseCallback = std::function<void(const RelayStats&)>;

  // Relay takes both transports. `upstream` says whether the upstream
  // socket's non-blocking connect() is still in progress.
  Relay(Dispatcher& dispatcher, std::unique_ptr<Transport> downstream,
        std::unique_ptr<Transport> upstream, Upstream upstream_state, const RelayOptions& options,
        CloseCallback on_close);
  ~Relay();
  Relay(const Relay&) = delete;
  Relay& operator=(const Relay&) = delete;

  // SetTap lets `tap` watch the bytes (relay_tap.h); call before Start.
  void SetTap(std::unique_ptr<RelayTap> tap) { tap_ = std::move(tap); }

  // Start registers both sockets with the dispatcher and arms the timers.
  void Start();

  // buffered_bytes: bytes read from one side and not yet written to the other.
  size_t buffered_bytes() const {
    return to_upstream_.buffer.size() + to_downstream_.buffer.size();
  }
  const RelayStats& stats() const { return stats_; }
  bool closed() const { return state_ == State::kClosed; }

 private:
  enum class State { kConnecting, kHandshaking, kRelaying, kClosing, kClosed };

  // One direction: bytes read from `from`, buffered, written to `to`.
  struct Direction {
    Direction(uint8_t* memory, size_t capacity) : buffer(memory, capacity) {}
    Transport* from = nullptr;
    Transport* to = nullptr;
    RelaySide from_side = RelaySide::kNone;
    RelaySide to_side = RelaySide::kNone;
    uint64_t* bytes = nullptr;
    RingBuffer buffer;
    // Not known to block: cleared by kWouldBlock, set by any event of the fd.
    bool can_read = true;
    bool can_write = true;
    bool eof = false;    // `from` ended its stream
    bool shut = false;   // ShutdownWrite on `to` done
    int reads_left = 0;  // fairness budget for this turn
  };

  void OnFdEvent(RelaySide side, uint32_t ready);
  void OnTimer();
  void CheckConnect();
  void DriveHandshake(RelaySide side);
  void StartRelaying();
  void Pump();
  // Step moves bytes of one direction as far as possible without blocking;
  // true if it made progress.
  bool Step(Direction& dir);
  void Fail(RelayOutcome outcome, RelaySide side, absl::string_view error, bool abort_downstream,
            bool abort_upstream);
  void FailSide(RelaySide side, Transport& transport);
  // Finish tears down and calls on_close; *this may be gone afterwards.
  void Finish();
  void Teardown(bool abort_downstream, bool abort_upstream);
  // With a pool: take buffers before reading; give them back once empty.
  void AttachBuffers();
  void ReleaseBuffers();

  Dispatcher& dispatcher_;
  const RelayOptions options_;
  CloseCallback on_close_;
  std::unique_ptr<uint8_t[]> memory_;  // both buffers, one allocation (may be null with a pool)
  std::unique_ptr<Transport> downstream_;
  std::unique_ptr<Transport> upstream_;
  Direction to_upstream_;
  Direction to_downstream_;
  State state_;
  bool downstream_handshaken_ = false;
  bool upstream_handshaken_ = false;
  bool abort_downstream_ = false;  // decided by Fail, done by Finish
  bool abort_upstream_ = false;
  absl::Duration last_activity_;
  RelayStats stats_;
  std::unique_ptr<RelayTap> tap_;
  // Declared last: destroyed first, before the transports close the fds.
  std::unique_ptr<FileEvent> downstream_event_;
  std::unique_ptr<FileEvent> upstream_event_;
  std::unique_ptr<Timer> timer_;
};

}  // namespace tether::proxy

#endif  // TETHER_PROXY_RELAY_RELAY_H_
