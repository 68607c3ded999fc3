#include "proxy/http/http1_forwarder.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "proxy/http/route_template.h"
#include "proxy/net/socket.h"

namespace tether::proxy {
namespace {

constexpr size_t kReadChunk = 16 * 1024;
constexpr size_t kMaxBuffered = 64 * 1024;  // per direction, unsent

absl::Span<const uint8_t> Bytes(const std::string& s) {
  return absl::MakeConstSpan(reinterpret_cast<const uint8_t*>(s.data()), s.size());
}

}  // namespace

Http1Forwarder::Http1Forwarder(Dispatcher& dispatcher, std::unique_ptr<Transport> downstream,
                               Options options, CloseCallback on_close)
    : dispatcher_(dispatcher),
      options_(std::move(options)),
      on_close_(std::move(on_close)),
      down_(std::move(downstream)),
      seed_(reinterpret_cast<uintptr_t>(this) | 1) {
  request_timer_ = dispatcher_.CreateTimer([this] { OnRequestTimeout(); });
  try_timer_ = dispatcher_.CreateTimer([this] { OnTryTimeout(); });
  idle_timer_ = dispatcher_.CreateTimer([this] {
    if (in_request_ || finished_) return;
    closing_ = true;  // idle between requests: close as a server would
    Pump();
  });
  retry_timer_ = dispatcher_.CreateTimer([this] {
    Dial();
    Pump();
  });
  finish_timer_ = dispatcher_.CreateTimer([this] { on_close_(stats_); });
}

Http1Forwarder::~Http1Forwarder() {
  if (!finished_) EndAttempt(AttemptOutcome::kCancelled);
  down_event_.reset();
  up_event_.reset();
  if (!finished_) {
    if (down_) down_->Abort();
    if (up_) up_->Abort();
  }
}

void Http1Forwarder::Start() {
  down_event_ = dispatcher_.CreateFileEvent(down_->fd(), FileEvent::kRead | FileEvent::kWrite,
                                            [this](uint32_t ready) { OnDownstream(ready); });
  if (options_.idle_timeout > absl::ZeroDuration()) idle_timer_->Enable(options_.idle_timeout);
  down_event_->Activate(FileEvent::kRead);  // bytes the worker's detection saw wait already
}

void Http1Forwarder::Drain() {
  if (finished_) return;
  draining_ = true;
  close_after_ = true;
  if (!in_request_) closing_ = true;
  Pump();
}

void Http1Forwarder::Abort(RelayOutcome outcome, absl::string_view why) {
  if (finished_) return;
  Fail(outcome, RelaySide::kNone, why);
}

void Http1Forwarder::OnDownstream(uint32_t ready) {
  if (ready & (FileEvent::kRead | FileEvent::kReadClosed)) down_can_read_ = true;
  Pump();
}

void Http1Forwarder::OnUpstream(uint32_t ready) {
  if (ready & (FileEvent::kRead | FileEvent::kReadClosed)) up_can_read_ = true;
  if (up_state_ == UpState::kConnecting || up_state_ == UpState::kHandshaking) DriveUpstream();
  Pump();
}

void Http1Forwarder::Pump() {
  for (int turn = 0; turn < 64; ++turn) {
    if (finished_) return;
    bool progress = ReadDownstream();
    if (finished_) return;
    progress |= ParseRequest();
    if (finished_) return;
    if (up_state_ == UpState::kReady) {
      progress |= WriteUpstream();
      if (finished_) return;
      progress |= ReadUpstream();
      if (finished_) return;
    }
    progress |= WriteDownstream();
    if (finished_ || !progress) return;
  }
  // Fairness: come back after other connections had their turn.
  down_event_->Activate(FileEvent::kRead);
}

bool Http1Forwarder::ReadDownstream() {
  if (!down_can_read_ || down_eof_ || closing_ || down_in_.size() >= kMaxBuffered) return false;
  if (in_request_ && (request_complete_ || request_wire_.size() - request_sent_ >= kMaxBuffered)) {
    return false;  // pipelined requests wait; a body waits for the upstream
  }
  uint8_t buf[kReadChunk];
  size_t n = 0;
  switch (down_->Read(buf, sizeof(buf), &n)) {
    case IoStatus::kOk:
      down_in_.append(reinterpret_cast<const char*>(buf), n);
      return true;
    case IoStatus::kWouldBlock:
      down_can_read_ = false;  // until the next readable edge
      return false;
    case IoStatus::kEof:
      down_eof_ = true;
      return true;
    case IoStatus::kError:
      Fail(RelayOutcome::kResetByDownstream, RelaySide::kDownstream, down_->error());
      return true;
  }
  return false;
}

bool Http1Forwarder::ParseRequest() {
  bool progress = false;
  while (!finished_ && !closing_) {
    if (in_request_ && request_complete_) return progress;  // pipelined bytes wait
    if (down_in_.empty() && !down_eof_) return progress;
    if (down_in_.empty()) {
      // The app ended its side: between requests a normal close; within one
      // the request cannot be finished.
      if (!in_request_) {
        closing_ = true;
        return true;
      }
      Fail(RelayOutcome::kResetByDownstream, RelaySide::kDownstream, "eof_within_request");
      return true;
    }
    const Http1Parser::Result r = request_parser_.Feed(Bytes(down_in_));
    if (in_request_ && !r.body.empty()) request_wire_.append(r.body.begin(), r.body.end());
    down_in_.erase(0, r.used);
    progress = true;
    switch (r.event) {
      case Http1Parser::Event::kError:
        Respond(request_parser_.head_too_large() ? 431 : 400, "bad_request",
                request_parser_.error());
        return true;
      case Http1Parser::Event::kHead:
        if (request_parser_.head().upgrade) {
          // A tunnel the worker relays on a new connection (see header).
          closing_ = true;
          return true;
        }
        StartRequest();
        break;
      case Http1Parser::Event::kComplete:
        request_complete_ = true;
        break;
      case Http1Parser::Event::kNeedMore:
        break;
    }
    if (in_request_ && request_kept_ && request_wire_.size() > request_keep_limit_) {
      request_kept_ = false;  // too large to send twice
    }
  }
  return progress;
}

void Http1Forwarder::StartRequest() {
  idle_timer_->Disable();
  in_request_ = true;
  request_ = request_parser_.TakeHead();
  ++requests_;
  attempt_ = 0;
  stale_retry_used_ = false;
  repicks_ = 0;
  request_start_ = options_.clock->Monotonic();
  request_complete_ = false;
  request_kept_ = true;
  request_sent_ = 0;
  response_committed_ = false;
  response_complete_ = false;
  response_status_ = 0;
  response_bytes_ = 0;
  // HTTP/1.0: one request per connection, both hops.
  const bool http10 = request_.version_minor == 0;
  close_after_ = !request_.keep_alive || http10;
  request_wire_ = SerializeHead(request_, /*request=*/true, /*connection_close=*/http10);
  request_keep_limit_ = request_wire_.size() + policy::kMaxRetryBodyBytes;
  behaviour_ = options_.behaviour ? options_.behaviour(request_.method, request_.Path())
                                  : policy::RequestBehaviour();
  if (options_.budget) {
    if (RetryBudget* b = options_.budget(behaviour_)) b->Deposit(request_start_);
  }
  if (behaviour_.behaviour.timeout > absl::ZeroDuration()) {
    request_timer_->Enable(behaviour_.behaviour.timeout);
  }
  StartAttempt();
}

void Http1Forwarder::StartAttempt() {
  attempt_start_ = options_.clock->Monotonic();
  response_parser_ = std::make_unique<Http1Parser>(Http1Parser::kResponse);
  response_parser_->SetAnsweringHead(request_.method == "HEAD");
  request_sent_ = 0;
  if (options_.pick && !keep_target_) {
    attempt_target_ = options_.pick();
    attempt_open_ = true;
    if (up_ && !(up_target_ == attempt_target_)) {
      // Kept alive to another endpoint: back to the pool, for a later request.
      if (up_state_ == UpState::kReady && options_.give_back && !draining_) {
        up_event_.reset();
        options_.give_back(up_target_, std::move(up_));
      }
      DropUpstream(/*abort=*/false);
    }
  }
  keep_target_ = false;
  if (up_state_ == UpState::kNone && options_.take_idle && !stale_retry_used_ && !draining_) {
    if (std::unique_ptr<Transport> t = options_.take_idle(attempt_target_)) {
      up_ = std::move(t);
      up_target_ = attempt_target_;
      peer_known_ = false;
      up_can_read_ = true;
      up_state_ = UpState::kReady;
      up_event_ = dispatcher_.CreateFileEvent(up_->fd(), FileEvent::kRead | FileEvent::kWrite,
                                              [this](uint32_t ready) { OnUpstream(ready); });
    }
  }
  if (up_state_ == UpState::kReady) {
    up_reused_ = true;
    ArmTryTimer(absl::InfiniteDuration());
    return;
  }
  Dial();
}

void Http1Forwarder::Dial() {
  if (finished_ || !in_request_) return;
  if (!response_parser_) {
    StartAttempt();
    return;
  }
  absl::StatusOr<Dialed> d = options_.dial(attempt_target_);
  if (!d.ok()) {
    UpstreamFailed(Failure::kConnect, 502, "connect_failed", d.status().message());
    return;
  }
  up_ = std::move(d->transport);
  up_target_ = attempt_target_;
  up_reused_ = false;
  peer_known_ = false;
  up_can_read_ = true;
  up_state_ = d->connecting ? UpState::kConnecting : UpState::kHandshaking;
  up_event_ = dispatcher_.CreateFileEvent(up_->fd(), FileEvent::kRead | FileEvent::kWrite,
                                          [this](uint32_t ready) { OnUpstream(ready); });
  ArmTryTimer(d->connecting ? options_.connect_timeout : options_.handshake_timeout);
  if (!d->connecting) DriveUpstream();
}

void Http1Forwarder::ArmTryTimer(absl::Duration phase) {
  absl::Duration d = phase > absl::ZeroDuration() ? phase : absl::InfiniteDuration();
  const absl::Duration per_try = behaviour_.behaviour.retry.per_try_timeout;
  if (per_try > absl::ZeroDuration()) {
    d = std::min(d, attempt_start_ + per_try - options_.clock->Monotonic());
  }
  if (d == absl::InfiniteDuration()) {
    try_timer_->Disable();
  } else {
    try_timer_->Enable(d);
  }
}

void Http1Forwarder::DriveUpstream() {
  if (up_state_ == UpState::kConnecting) {
    const int err = GetSocketError(up_->fd());
    if (err != 0) {
      UpstreamFailed(Failure::kConnect, 502, "connect_failed", ErrnoWord(err));
      return;
    }
    if (!IsConnected(up_->fd())) return;
    up_state_ = UpState::kHandshaking;
    ArmTryTimer(options_.handshake_timeout);
  }
  if (up_state_ != UpState::kHandshaking) return;
  switch (up_->Handshake()) {
    case IoStatus::kOk:
      up_state_ = UpState::kReady;
      ArmTryTimer(absl::InfiniteDuration());
      return;
    case IoStatus::kWouldBlock:
      return;
    case IoStatus::kEof:
    case IoStatus::kError:
      // The mesh hop refused (wrong identity, untrusted): never retried.
      UpstreamFailed(Failure::kHandshake, 502, up_->error().empty() ? "tls_error" : up_->error(),
                     "the TLS handshake with the upstream proxy failed");
      return;
  }
}

bool Http1Forwarder::WriteUpstream() {
  bool progress = false;
  while (in_request_ && request_sent_ < request_wire_.size()) {
    size_t n = 0;
    const IoStatus s =
        up_->Write(reinterpret_cast<const uint8_t*>(request_wire_.data()) + request_sent_,
                   request_wire_.size() - request_sent_, &n);
    if (s == IoStatus::kWouldBlock) break;
    if (s != IoStatus::kOk) {
      UpstreamFailed(Failure::kReset, 502, "upstream_reset", up_->error());
      return true;
    }
    request_sent_ += n;
    stats_.bytes_to_upstream += n;
    progress = true;
  }
  if (!request_kept_ && request_sent_ > 0) {
    // Not retryable any more: what was sent need not be kept.
    request_wire_.erase(0, request_sent_);
    request_sent_ = 0;
  }
  return progress;
}

bool Http1Forwarder::ReadUpstream() {
  uint8_t buf[kReadChunk];
  bool progress = false;
  for (int reads = 0; reads < 16; ++reads) {
    if (finished_ || up_state_ != UpState::kReady) return progress;
    const bool expecting = in_request_ && response_parser_ && !response_complete_;
    if (expecting && down_out_.size() >= kMaxBuffered) return progress;  // the app is slow
    if (!up_can_read_) return progress;
    size_t n = 0;
    const IoStatus s = up_->Read(buf, sizeof(buf), &n);
    if (s == IoStatus::kWouldBlock) {
      up_can_read_ = false;
      return progress;
    }
    progress = true;
    if (!expecting) {
      // An idle upstream that speaks or closes cannot carry another request.
      DropUpstream(s != IoStatus::kEof);
      return true;
    }
    if (s == IoStatus::kError) {
      if (!response_committed_) {
        UpstreamFailed(Failure::kReset, 502, "upstream_reset", up_->error());
      } else {
        Fail(RelayOutcome::kResetByUpstream, RelaySide::kUpstream, up_->error());
      }
      return true;
    }
    OnResponseBytes(absl::MakeConstSpan(buf, s == IoStatus::kOk ? n : 0), s == IoStatus::kEof);
    if (s == IoStatus::kEof) return true;
  }
  if (up_ && up_->HasBufferedData()) up_event_->Activate(FileEvent::kRead);
  return progress;
}

void Http1Forwarder::OnResponseBytes(absl::Span<const uint8_t> data, bool eof) {
  while (!finished_ && response_parser_ && !response_complete_) {
    if (data.empty() && !eof) return;
    const Http1Parser::Result r = response_parser_->Feed(eof ? absl::Span<const uint8_t>() : data);
    if (response_committed_ && !r.body.empty()) {
      down_out_.append(r.body.begin(), r.body.end());
      response_bytes_ += r.body.size();
    } else if (discarding_ && !r.body.empty()) {
      discarded_bytes_ += r.body.size();
      if (discarded_bytes_ > kMaxDiscardBytes) {
        // Not worth reading: a new connection is cheaper.
        discarding_ = false;
        Retry(discard_reason_, /*budgeted=*/true);
        return;
      }
    }
    data.remove_prefix(std::min(r.used, data.size()));
    switch (r.event) {
      case Http1Parser::Event::kError:
        if (!response_committed_) {
          UpstreamFailed(Failure::kReset, 502, "bad_response", response_parser_->error());
        } else {
          Fail(RelayOutcome::kResetByUpstream, RelaySide::kUpstream, "bad_response");
        }
        return;
      case Http1Parser::Event::kHead:
        OnResponseHead();
        break;
      case Http1Parser::Event::kComplete:
        if (discarding_) {
          // The retryable answer ended: again, on this connection if it
          // sent nothing more.
          discarding_ = false;
          Retry(discard_reason_, /*budgeted=*/true, /*keep_upstream=*/data.empty());
          return;
        }
        if (!response_committed_) break;  // an interim response (100 Continue) ended
        response_complete_ = true;
        if (!data.empty()) upstream_keep_ = false;  // bytes nobody asked for
        if (!request_complete_) {
          // Answered before the request ended (413, 401): the rest of the
          // request is not read; both connections close.
          close_after_ = true;
          upstream_keep_ = false;
        }
        FinishRequest(response_status_);
        return;
      case Http1Parser::Event::kNeedMore:
        if (eof) {
          // Closed before (or within) a response.
          if (!response_committed_) {
            UpstreamFailed(Failure::kReset, 502, "upstream_closed",
                           "the upstream closed the connection before answering");
          } else {
            Fail(RelayOutcome::kResetByUpstream, RelaySide::kUpstream, "eof_within_response");
          }
          return;
        }
        break;
    }
  }
}

void Http1Forwarder::OnResponseHead() {
  const Http1Head& h = response_parser_->head();
  if (h.status / 100 == 1) {
    if (h.status == 101) {
      // Nothing asked to switch protocols.
      UpstreamFailed(Failure::kHandshake, 502, "bad_response", "an unasked 101 response");
      return;
    }
    down_out_ += SerializeHead(h, /*request=*/false, /*connection_close=*/false);  // 100 Continue
    return;
  }
  response_status_ = h.status;
  EndAttempt(h.status >= 500 ? AttemptOutcome::kFailure : AttemptOutcome::kSuccess);
  if (policy::RetryableStatus(behaviour_.behaviour.retry.on, h.status) &&
      CanRetry(/*condition=*/true, /*never_sent=*/false)) {
    const char* reason = h.status >= 500 && h.status <= 599 ? "5xx" : "status";
    if (h.keep_alive && !h.body_until_eof && request_complete_ &&
        request_sent_ == request_wire_.size()) {
      // Read this answer to its end (dropped), then send the request again
      // on the same connection: no new handshake for a retry.
      discarding_ = true;
      discarded_bytes_ = 0;
      discard_reason_ = reason;
      return;
    }
    Retry(reason, /*budgeted=*/true);
    return;
  }
  response_committed_ = true;
  try_timer_->Disable();  // a try's deadline ends with its response's head
  upstream_keep_ = h.keep_alive && !h.body_until_eof;
  if (h.body_until_eof) close_after_ = true;
  down_out_ += SerializeHead(h, /*request=*/false, close_after_);
}

bool Http1Forwarder::WriteDownstream() {
  bool progress = false;
  while (down_out_off_ < down_out_.size()) {
    size_t n = 0;
    const IoStatus s =
        down_->Write(reinterpret_cast<const uint8_t*>(down_out_.data()) + down_out_off_,
                     down_out_.size() - down_out_off_, &n);
    if (s == IoStatus::kWouldBlock) return progress;
    if (s != IoStatus::kOk) {
      Fail(RelayOutcome::kResetByDownstream, RelaySide::kDownstream, down_->error());
      return true;
    }
    down_out_off_ += n;
    stats_.bytes_to_downstream += n;
    progress = true;
  }
  down_out_.clear();
  down_out_off_ = 0;
  if (closing_ && !in_request_) {
    // Everything answered: end the app's connection as a server would.
    const IoStatus s = down_->ShutdownWrite();
    if (s == IoStatus::kWouldBlock) return progress;
    stats_.outcome = RelayOutcome::kOk;
    Finish();
    return true;
  }
  return progress;
}

void Http1Forwarder::FinishRequest(int status) {
  request_timer_->Disable();
  try_timer_->Disable();
  retry_timer_->Disable();
  const absl::Duration took = options_.clock->Monotonic() - request_start_;
  const uint64_t request_bytes = request_dropped_ + request_wire_.size();
  const std::string route_name = RouteTemplate(request_.method, request_.target);
  if (options_.stats != nullptr) {
    // The label of the server that answered, asked once per upstream
    // connection (it takes the metrics' lock).
    if (!peer_known_ && options_.peer) {
      peer_label_ = options_.peer();
      peer_known_ = true;
    }
    RouteStats* route = options_.stats->Find(/*inbound=*/false, peer_label_, route_name);
    route->RecordRequest(request_bytes);
    route->RecordResponse(status, took, response_bytes_);
  }
  if (options_.on_request && (!options_.want_request || options_.want_request())) {
    HttpRequestRecord r;
    r.method = request_.method;
    r.path = std::string(request_.Path());
    r.route = route_name;
    r.status = status;
    r.duration = took;
    r.request_bytes = request_bytes;
    r.response_bytes = response_bytes_;
    options_.on_request(r);
  }
  in_request_ = false;
  request_wire_.clear();
  request_dropped_ = 0;
  response_parser_.reset();
  if (!(upstream_keep_ && up_state_ == UpState::kReady && request_complete_)) DropUpstream(false);
  upstream_keep_ = false;
  if (close_after_) {
    closing_ = true;
  } else if (options_.idle_timeout > absl::ZeroDuration()) {
    idle_timer_->Enable(options_.idle_timeout);
  }
}

void Http1Forwarder::Fail(RelayOutcome outcome, RelaySide side, absl::string_view error) {
  if (finished_) return;
  EndAttempt(AttemptOutcome::kCancelled);
  stats_.outcome = outcome;
  stats_.error_side = side;
  stats_.error = std::string(error);
  down_event_.reset();
  up_event_.reset();
  if (down_) down_->Abort();
  if (up_) up_->Abort();
  Finish();
}

void Http1Forwarder::Finish() {
  finished_ = true;
  EndAttempt(AttemptOutcome::kCancelled);
  down_event_.reset();
  up_event_.reset();
  request_timer_->Disable();
  try_timer_->Disable();
  idle_timer_->Disable();
  retry_timer_->Disable();
  down_.reset();  // closes the socket (after ShutdownWrite, or Abort)
  // A clean end between requests: the upstream may serve another app
  // connection (Fail has aborted and dropped it otherwise).
  if (up_ && up_state_ == UpState::kReady && !in_request_ && !draining_ && options_.give_back) {
    options_.give_back(up_target_, std::move(up_));
  }
  up_.reset();
  finish_timer_->Enable(absl::ZeroDuration());  // on_close from its own callback
}

}  // namespace tether::proxy
