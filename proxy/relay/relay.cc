#include "proxy/relay/relay.h"

#include <algorithm>
#include <utility>

#include "proxy/net/socket.h"

namespace tether::proxy {
namespace {

bool Enabled(absl::Duration d) { return d > absl::ZeroDuration(); }

size_t BufferSize(const RelayOptions& options) { return std::max<size_t>(1, options.buffer_size); }

}  // namespace

absl::string_view RelayOutcomeName(RelayOutcome outcome) {
  switch (outcome) {
    case RelayOutcome::kOk:
      return "ok";
    case RelayOutcome::kResetByDownstream:
      return "reset_by_downstream";
    case RelayOutcome::kResetByUpstream:
      return "reset_by_upstream";
    case RelayOutcome::kConnectFailed:
      return "connect_failed";
    case RelayOutcome::kConnectTimeout:
      return "connect_timeout";
    case RelayOutcome::kHandshakeFailed:
      return "handshake_failed";
    case RelayOutcome::kHandshakeTimeout:
      return "handshake_timeout";
    case RelayOutcome::kIdleTimeout:
      return "idle_timeout";
  }
  return "unknown";
}

absl::string_view RelaySideName(RelaySide side) {
  switch (side) {
    case RelaySide::kNone:
      return "none";
    case RelaySide::kDownstream:
      return "downstream";
    case RelaySide::kUpstream:
      return "upstream";
  }
  return "unknown";
}

Relay::Relay(Dispatcher& dispatcher, std::unique_ptr<Transport> downstream,
             std::unique_ptr<Transport> upstream, Upstream upstream_state,
             const RelayOptions& options, CloseCallback on_close)
    : dispatcher_(dispatcher),
      options_(options),
      on_close_(std::move(on_close)),
      memory_(options.buffer_pool != nullptr
                  ? nullptr
                  : std::make_unique_for_overwrite<uint8_t[]>(2 * BufferSize(options))),
      downstream_(std::move(downstream)),
      upstream_(std::move(upstream)),
      to_upstream_(memory_.get(), BufferSize(options)),
      to_downstream_(memory_ != nullptr ? memory_.get() + BufferSize(options) : nullptr,
                     BufferSize(options)),
      state_(upstream_state == Upstream::kConnecting ? State::kConnecting : State::kHandshaking) {
  to_upstream_.from = downstream_.get();
  to_upstream_.to = upstream_.get();
  to_upstream_.from_side = RelaySide::kDownstream;
  to_upstream_.to_side = RelaySide::kUpstream;
  to_upstream_.bytes = &stats_.bytes_to_upstream;
  to_downstream_.from = upstream_.get();
  to_downstream_.to = downstream_.get();
  to_downstream_.from_side = RelaySide::kUpstream;
  to_downstream_.to_side = RelaySide::kDownstream;
  to_downstream_.bytes = &stats_.bytes_to_downstream;
}

Relay::~Relay() {
  // Leave epoll before the transports close their sockets.
  downstream_event_.reset();
  upstream_event_.reset();
  timer_.reset();
  if (state_ != State::kClosed) Teardown(/*abort_downstream=*/true, /*abort_upstream=*/true);
}

void Relay::Start() {
  constexpr uint32_t kBoth = FileEvent::kRead | FileEvent::kWrite;
  // Both fds stay registered for both kinds of readiness for the relay's whole
  // life (edge-triggered: no epoll_ctl per read or write). Registering reports
  // the current readiness, which starts the handshakes.
  downstream_event_ = dispatcher_.CreateFileEvent(downstream_->fd(), kBoth, [this](uint32_t ready) {
    OnFdEvent(RelaySide::kDownstream, ready);
  });
  upstream_event_ = dispatcher_.CreateFileEvent(
      upstream_->fd(), kBoth, [this](uint32_t ready) { OnFdEvent(RelaySide::kUpstream, ready); });
  timer_ = dispatcher_.CreateTimer([this] { OnTimer(); });
  absl::Duration first =
      state_ == State::kConnecting ? options_.connect_timeout : options_.handshake_timeout;
  if (Enabled(first)) timer_->Enable(first);
}

void Relay::OnFdEvent(RelaySide side, uint32_t ready) {
  // Any event on a socket may unblock every operation on its transport (a TLS
  // read may have waited for writability, a write for readability).
  Direction& reading = side == RelaySide::kDownstream ? to_upstream_ : to_downstream_;
  Direction& writing = side == RelaySide::kDownstream ? to_downstream_ : to_upstream_;
  reading.can_read = true;
  writing.can_write = true;
  switch (state_) {
    case State::kConnecting:
      if (side == RelaySide::kUpstream) {
        CheckConnect();
      } else {
        DriveHandshake(RelaySide::kDownstream);
      }
      break;
    case State::kHandshaking:
      DriveHandshake(side);
      break;
    case State::kRelaying:
      Pump();
      break;
    case State::kClosing:
    case State::kClosed:
      break;
  }
  if (state_ == State::kClosing) Finish();  // *this may be gone
}

void Relay::OnTimer() {
  switch (state_) {
    case State::kConnecting:
      Fail(RelayOutcome::kConnectTimeout, RelaySide::kUpstream, "timed_out",
           /*abort_downstream=*/true, /*abort_upstream=*/false);
      break;
    case State::kHandshaking:
      Fail(RelayOutcome::kHandshakeTimeout,
           downstream_handshaken_ ? RelaySide::kUpstream : RelaySide::kDownstream, "timed_out",
           true, true);
      break;
    case State::kRelaying: {
      // The deadline is only moved lazily: bytes update last_activity_, and
      // an early firing re-arms for the remainder.
      absl::Duration idle = dispatcher_.MonotonicNow() - last_activity_;
      if (idle >= options_.idle_timeout) {
        Fail(RelayOutcome::kIdleTimeout, RelaySide::kNone, "", true, true);
      } else {
        timer_->Enable(std::max(options_.idle_timeout - idle, absl::Milliseconds(1)));
      }
      break;
    }
    case State::kClosing:
    case State::kClosed:
      break;
  }
  if (state_ == State::kClosing) Finish();  // *this may be gone
}

void Relay::CheckConnect() {
  int fd = upstream_->fd();
  int err = GetSocketError(fd);
  if (err != 0) {
    Fail(RelayOutcome::kConnectFailed, RelaySide::kUpstream, ErrnoWord(err),
         /*abort_downstream=*/true, /*abort_upstream=*/false);
    return;
  }
  if (!IsConnected(fd)) return;  // an event before the connect finished
  state_ = State::kHandshaking;
  if (Enabled(options_.handshake_timeout)) {
    timer_->Enable(options_.handshake_timeout);
  } else {
    timer_->Disable();
  }
  DriveHandshake(RelaySide::kUpstream);
}

void Relay::DriveHandshake(RelaySide side) {
  bool& done = side == RelaySide::kDownstream ? downstream_handshaken_ : upstream_handshaken_;
  Transport& transport = side == RelaySide::kDownstream ? *downstream_ : *upstream_;
  if (!done) {
    switch (transport.Handshake()) {
      case IoStatus::kOk:
        done = true;
        break;
      case IoStatus::kWouldBlock:
        return;
      case IoStatus::kEof:
      case IoStatus::kError:
        Fail(RelayOutcome::kHandshakeFailed, side,
             transport.error().empty() ? absl::string_view("handshake_failed") : transport.error(),
             /*abort_downstream=*/side != RelaySide::kDownstream,
             /*abort_upstream=*/side != RelaySide::kUpstream);
        return;
    }
  }
  if (state_ == State::kHandshaking && downstream_handshaken_ && upstream_handshaken_) {
    StartRelaying();
  }
}

void Relay::StartRelaying() {
  state_ = State::kRelaying;
  if (Enabled(options_.idle_timeout)) {
    last_activity_ = dispatcher_.MonotonicNow();
    timer_->Enable(options_.idle_timeout);
  } else {
    timer_->Disable();
  }
  // can_read / can_write are all still set: bytes that arrived during the
  // handshakes (or sit decrypted inside a transport) are picked up now.
  Pump();
}

void Relay::Pump() {
  to_upstream_.reads_left = options_.max_reads_per_event;
  to_downstream_.reads_left = options_.max_reads_per_event;
  bool moved = false;
  for (;;) {
    bool progress = Step(to_upstream_);
    if (state_ != State::kRelaying) return;
    progress |= Step(to_downstream_);
    if (state_ != State::kRelaying) return;
    if (!progress) break;
    moved = true;
  }
  if (moved && Enabled(options_.idle_timeout)) last_activity_ = dispatcher_.MonotonicNow();
  if (to_upstream_.buffer.empty() && to_downstream_.buffer.empty()) ReleaseBuffers();
  if (to_upstream_.shut && to_downstream_.shut) {
    state_ = State::kClosing;  // kOk: both streams ended cleanly
    return;
  }
  // A budget ran out while more could be read: continue on a later turn of
  // the loop, after the other connections' events.
  for (Direction* dir : {&to_upstream_, &to_downstream_}) {
    if (dir->reads_left <= 0 && dir->can_read && !dir->eof && !dir->buffer.full()) {
      FileEvent& ev =
          dir->from_side == RelaySide::kDownstream ? *downstream_event_ : *upstream_event_;
      ev.Activate(FileEvent::kRead);
    }
  }
}

bool Relay::Step(Direction& dir) {
  bool progress = false;
  bool read_failed = false;
  // Read as much as there is room for before writing: a TLS side hands out
  // one record (16 KiB at most) per read, and one write of several costs
  // fewer system calls than one write each.
  while (!read_failed && !dir.eof && dir.can_read && dir.reads_left > 0 && !dir.buffer.full()) {
    if (!dir.buffer.attached()) AttachBuffers();
    absl::Span<uint8_t> space = dir.buffer.WritableSpan();
    size_t n = 0;
    switch (dir.from->Read(space.data(), space.size(), &n)) {
      case IoStatus::kOk:
        if (tap_) tap_->OnData(dir.from_side == RelaySide::kDownstream, space.first(n));
        dir.buffer.Commit(n);
        --dir.reads_left;
        // Read on until kWouldBlock even after a short read: a reset that
        // arrived with the last bytes (EPOLLERR, which libevent reports as
        // plain read+write readiness) brings no further event, and only the
        // next read tells.
        progress = true;
        stats_.peak_buffered_bytes = std::max(stats_.peak_buffered_bytes, buffered_bytes());
        break;
      case IoStatus::kWouldBlock:
        dir.can_read = false;
        break;
      case IoStatus::kEof:
        dir.eof = true;
        progress = true;
        break;
      case IoStatus::kError:
        // Pass on what came before the error (as far as it goes without
        // waiting), then fail.
        read_failed = true;
        break;
    }
  }
  while (dir.can_write && !dir.buffer.empty()) {
    absl::Span<const uint8_t> data = dir.buffer.ReadableSpan();
    size_t n = 0;
    IoStatus st = dir.to->Write(data.data(), data.size(), &n);
    if (st == IoStatus::kWouldBlock) {
      dir.can_write = false;
    } else if (st != IoStatus::kOk) {
      FailSide(dir.to_side, *dir.to);
      return false;
    } else if (n == 0) {
      break;  // a transport that accepted nothing: wait for the next event
    } else {
      dir.buffer.Consume(n);
      *dir.bytes += n;
      progress = true;
    }
  }
  if (read_failed) {
    FailSide(dir.from_side, *dir.from);
    return false;
  }
  // Pass the end of the stream on once every byte before it was written.
  if (dir.eof && !dir.shut && dir.buffer.empty() && dir.can_write) {
    switch (dir.to->ShutdownWrite()) {
      case IoStatus::kOk:
        dir.shut = true;
        progress = true;
        break;
      case IoStatus::kWouldBlock:
        dir.can_write = false;
        break;
      case IoStatus::kEof:
      case IoStatus::kError:
        FailSide(dir.to_side, *dir.to);
        return false;
    }
  }
  return progress;
}

void Relay::FailSide(RelaySide side, Transport& transport) {
  // The failed side is closed as is (its reset already happened, or its TLS
  // alert should still go out); the other side gets the reset.
  Fail(side == RelaySide::kDownstream ? RelayOutcome::kResetByDownstream
                                      : RelayOutcome::kResetByUpstream,
       side, transport.error().empty() ? absl::string_view("reset") : transport.error(),
       /*abort_downstream=*/side != RelaySide::kDownstream,
       /*abort_upstream=*/side != RelaySide::kUpstream);
}

void Relay::Fail(RelayOutcome outcome, RelaySide side, absl::string_view error,
                 bool abort_downstream, bool abort_upstream) {
  if (state_ == State::kClosing || state_ == State::kClosed) return;  // first cause wins
  stats_.outcome = outcome;
  stats_.error_side = side;
  stats_.error.assign(error.data(), error.size());
  abort_downstream_ = abort_downstream;
  abort_upstream_ = abort_upstream;
  state_ = State::kClosing;
}

void Relay::Teardown(bool abort_downstream, bool abort_upstream) {
  if (downstream_ != nullptr) {
    if (abort_downstream) downstream_->Abort();
    downstream_.reset();
  }
  if (upstream_ != nullptr) {
    if (abort_upstream) upstream_->Abort();
    upstream_.reset();
  }
  to_upstream_.from = to_upstream_.to = nullptr;
  to_downstream_.from = to_downstream_.to = nullptr;
  to_upstream_.buffer.Clear();
  to_downstream_.buffer.Clear();
  ReleaseBuffers();
  state_ = State::kClosed;
}

void Relay::AttachBuffers() {
  if (memory_ == nullptr) memory_ = options_.buffer_pool->Get();
  const size_t size = BufferSize(options_);
  to_upstream_.buffer.Attach(memory_.get());
  to_downstream_.buffer.Attach(memory_.get() + size);
}

void Relay::ReleaseBuffers() {
  if (options_.buffer_pool == nullptr || memory_ == nullptr) return;
  to_upstream_.buffer.Attach(nullptr);
  to_downstream_.buffer.Attach(nullptr);
  options_.buffer_pool->Put(std::move(memory_));
}

void Relay::Finish() {
  // Leave epoll (and cancel pending activations) before closing the sockets.
  // One of these may be the event whose callback is running: allowed.
  downstream_event_.reset();
  upstream_event_.reset();
  timer_.reset();
  Teardown(abort_downstream_, abort_upstream_);
  if (tap_) tap_->OnClose();
  CloseCallback on_close = std::move(on_close_);
  RelayStats stats = stats_;
  if (on_close) on_close(stats);  // may destroy *this
}

}  // namespace tether::proxy
