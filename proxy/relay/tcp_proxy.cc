#include "proxy/relay/tcp_proxy.h"

#include <utility>

#include "proxy/net/plain_transport.h"

namespace tether::proxy {

absl::StatusOr<std::unique_ptr<TcpProxy>> TcpProxy::Create(Dispatcher& dispatcher,
                                                           TcpProxyOptions options) {
  absl::StatusOr<UniqueFd> listener =
      Listen(options.listen_address, options.backlog, options.reuse_port);
  if (!listener.ok()) return listener.status();
  absl::StatusOr<SocketAddress> bound = LocalAddress(listener->get());
  if (!bound.ok()) return bound.status();
  return std::unique_ptr<TcpProxy>(
      new TcpProxy(dispatcher, std::move(options), *std::move(listener), *bound));
}

TcpProxy::TcpProxy(Dispatcher& dispatcher, TcpProxyOptions options, UniqueFd listener,
                   SocketAddress bound)
    : dispatcher_(dispatcher),
      options_(std::move(options)),
      listener_(std::move(listener)),
      listen_address_(bound) {
  accept_event_ = dispatcher_.CreateFileEvent(listener_.get(), FileEvent::kRead,
                                              [this](uint32_t) { OnAcceptReady(); });
  accept_retry_timer_ =
      dispatcher_.CreateTimer([this] { accept_event_->SetEnabled(FileEvent::kRead); });
}

TcpProxy::~TcpProxy() {
  relays_.clear();  // resets open connections
  accept_event_.reset();
  accept_retry_timer_.reset();
}

size_t TcpProxy::BufferedBytes() const {
  size_t total = 0;
  for (const auto& [id, relay] : relays_) total += relay->buffered_bytes();
  return total;
}

void TcpProxy::OnAcceptReady() {
  // Edge-triggered: accept until EAGAIN, or come back after other events.
  for (int i = 0; i < options_.max_accepts_per_event; ++i) {
    absl::StatusOr<UniqueFd> fd = AcceptNonBlocking(listener_.get());
    if (!fd.ok()) {
      // Out of fds or memory: the connection stays in the backlog; retry later.
      ++stats_.accept_errors;
      accept_event_->SetEnabled(0);
      accept_retry_timer_->Enable(options_.accept_retry_delay);
      return;
    }
    if (!fd->valid()) return;  // EAGAIN
    if (options_.max_connections != 0 && relays_.size() >= options_.max_connections) {
      ++stats_.rejected_over_limit;
      AbortiveClose(*std::move(fd));
      continue;
    }
    StartRelay(*std::move(fd));
  }
  accept_event_->Activate(FileEvent::kRead);
}

void TcpProxy::StartRelay(UniqueFd downstream) {
  ++stats_.accepted;
  SetNoDelay(downstream.get()).IgnoreError();  // best effort: latency only
  bool connecting = false;
  absl::StatusOr<UniqueFd> upstream = ConnectNonBlocking(options_.upstream_address, &connecting);
  if (!upstream.ok()) {
    AbortiveClose(std::move(downstream));
    RelayStats stats;
    stats.outcome = RelayOutcome::kConnectFailed;
    stats.error_side = RelaySide::kUpstream;
    absl::string_view word = ErrnoWord(ErrnoOf(upstream.status()));
    stats.error.assign(word.data(), word.size());
    Count(stats);
    return;
  }
  SetNoDelay(upstream->get()).IgnoreError();
  uint64_t id = next_id_++;
  auto relay = std::make_unique<Relay>(
      dispatcher_, std::make_unique<PlainTransport>(std::move(downstream)),
      std::make_unique<PlainTransport>(*std::move(upstream)),
      connecting ? Relay::Upstream::kConnecting : Relay::Upstream::kConnected, options_.relay,
      [this, id](const RelayStats& stats) { OnRelayClosed(id, stats); });
  relay->Start();
  relays_.emplace(id, std::move(relay));
}

void TcpProxy::Count(const RelayStats& stats) {
  ++stats_.closed;
  ++stats_.outcomes[static_cast<int>(stats.outcome)];
  stats_.bytes_to_upstream += stats.bytes_to_upstream;
  stats_.bytes_to_downstream += stats.bytes_to_downstream;
  if (options_.on_relay_close) options_.on_relay_close(stats);
}

void TcpProxy::OnRelayClosed(uint64_t id, const RelayStats& stats) {
  Count(stats);
  relays_.erase(id);  // destroys the relay from inside its own callback: allowed
}

}  // namespace tether::proxy
