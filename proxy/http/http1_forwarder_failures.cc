// Http1Forwarder: how an attempt fails, and what follows: a retry (within
// the policy and the budget, after a backoff) or an answer the forwarder
// makes itself (502, 504), with x-tether-error. See http1_forwarder.h.
#include <algorithm>

#include "absl/strings/str_cat.h"
#include "proxy/http/http1_forwarder.h"

namespace tether::proxy {
namespace {

constexpr absl::Duration kMaxBackoff = absl::Milliseconds(250);

absl::string_view ReasonPhrase(int status) {
  switch (status) {
    case 400:
      return "Bad Request";
    case 431:
      return "Request Header Fields Too Large";
    case 502:
      return "Bad Gateway";
    case 504:
      return "Gateway Timeout";
  }
  return "Error";
}

}  // namespace

bool Http1Forwarder::CanRetry(bool condition, bool never_sent) {
  const policy::RetryPolicy& r = behaviour_.behaviour.retry;
  if (!condition || response_committed_ || !request_kept_ || attempt_ >= r.attempts) return false;
  if (!never_sent && !r.non_idempotent && !policy::IsIdempotent(request_.method)) return false;
  const absl::Duration now = options_.clock->Monotonic();
  const absl::Duration timeout = behaviour_.behaviour.timeout;
  if (timeout > absl::ZeroDuration() && now - request_start_ >= timeout) return false;
  if (options_.budget) {
    RetryBudget* b = options_.budget(behaviour_);
    if (b != nullptr && !b->TryWithdraw(now)) {
      if (options_.on_budget_exhausted) options_.on_budget_exhausted();
      return false;
    }
  }
  return true;
}

void Http1Forwarder::Retry(absl::string_view reason, bool budgeted, bool keep_upstream) {
  if (budgeted) ++attempt_;
  ++retries_;
  discarding_ = false;
  keep_target_ = keep_upstream;
  if (options_.on_retry) options_.on_retry(reason);
  if (!keep_upstream) DropUpstream(/*abort=*/true);
  response_parser_.reset();
  response_status_ = 0;
  response_bytes_ = 0;
  try_timer_->Disable();
  absl::Duration backoff = absl::ZeroDuration();
  if (budgeted) {
    // Exponential from retry_backoff, with jitter in [d/2, d].
    backoff = std::min(options_.retry_backoff * (1 << std::min(attempt_ - 1, 8)), kMaxBackoff);
    seed_ ^= seed_ << 13;
    seed_ ^= seed_ >> 7;
    seed_ ^= seed_ << 17;
    backoff = backoff / 2 + backoff / 2 * static_cast<double>(seed_ % 1000) / 1000.0;
  }
  retry_timer_->Enable(backoff);  // Dial, with a new response parser
}

void Http1Forwarder::UpstreamFailed(Failure failure, int status, absl::string_view word,
                                    absl::string_view detail) {
  if (finished_) return;
  if (discarding_) {
    // Reading a retryable answer out failed: the retry (already granted)
    // goes on a new connection.
    Retry(discard_reason_, /*budgeted=*/true);
    return;
  }
  const policy::RetryConditions& on = behaviour_.behaviour.retry.on;
  const bool reused = up_reused_;
  if (failure == Failure::kReset && reused && !stale_retry_used_ && !response_committed_ &&
      request_kept_ && policy::IsIdempotent(request_.method)) {
    // A kept-alive connection the server had closed: once more, fresh.
    // Not the endpoint's failure.
    EndAttempt(AttemptOutcome::kCancelled);
    stale_retry_used_ = true;
    Retry("stale_connection", /*budgeted=*/false);
    return;
  }
  EndAttempt(failure == Failure::kConnect ? AttemptOutcome::kUnreachable
                                          : AttemptOutcome::kFailure);
  if (failure == Failure::kConnect && options_.pick && repicks_ < kMaxRepicks) {
    // Balanced: the request never left; another endpoint, outside the
    // policy and the budget.
    ++repicks_;
    Retry("connect-failure", /*budgeted=*/false);
    return;
  }
  bool condition = false;
  switch (failure) {
    case Failure::kConnect:
      condition = on.connect_failure;
      break;
    case Failure::kReset:
      condition = on.reset;
      break;
    case Failure::kTryTimeout:
      condition = true;
      break;
    case Failure::kHandshake:
      break;
  }
  if (CanRetry(condition, /*never_sent=*/failure == Failure::kConnect)) {
    Retry(failure == Failure::kConnect ? "connect-failure"
          : failure == Failure::kReset ? "reset"
                                       : "per-try-timeout",
          /*budgeted=*/true);
    return;
  }
  Respond(status, word, detail);
}

void Http1Forwarder::DropUpstream(bool abort) {
  up_event_.reset();
  if (up_ && abort) up_->Abort();
  up_.reset();
  up_state_ = UpState::kNone;
  up_reused_ = false;
}

void Http1Forwarder::EndAttempt(AttemptOutcome outcome) {
  if (!attempt_open_) return;
  attempt_open_ = false;
  if (options_.attempt_done) {
    options_.attempt_done(attempt_target_, outcome, options_.clock->Monotonic() - attempt_start_);
  }
}

void Http1Forwarder::Respond(int status, absl::string_view word, absl::string_view detail) {
  EndAttempt(AttemptOutcome::kFailure);
  if (response_committed_) {
    Fail(RelayOutcome::kResetByUpstream, RelaySide::kUpstream, word);
    return;
  }
  DropUpstream(/*abort=*/true);
  // The rest of an unfinished request is not read: the connection closes.
  if (!in_request_ || !request_complete_) close_after_ = true;
  const std::string body = absl::StrCat(word, ": ", detail, "\n");
  absl::StrAppend(&down_out_, "HTTP/1.1 ", status, " ", ReasonPhrase(status),
                  "\r\ncontent-type: text/plain\r\ncontent-length: ", body.size(),
                  "\r\nx-tether-error: ", word, "\r\n", close_after_ ? "connection: close\r\n" : "",
                  "\r\n", body);
  response_committed_ = true;
  response_complete_ = true;
  response_bytes_ = body.size();
  if (in_request_) {
    FinishRequest(status);
  } else {
    closing_ = true;
  }
}

void Http1Forwarder::OnRequestTimeout() {
  if (finished_ || !in_request_) return;
  if (response_committed_) {
    // The answer had begun: it cannot be replaced by a 504.
    Fail(RelayOutcome::kIdleTimeout, RelaySide::kUpstream, "request_timeout");
    return;
  }
  retry_timer_->Disable();
  Respond(504, "request_timeout",
          absl::StrCat("no response within ", absl::FormatDuration(behaviour_.behaviour.timeout),
                       " (", behaviour_.decided_by, ")"));
  Pump();
}

void Http1Forwarder::OnTryTimeout() {
  if (finished_ || !in_request_ || response_committed_) return;
  const absl::Duration per_try = behaviour_.behaviour.retry.per_try_timeout;
  const bool per_try_passed =
      per_try > absl::ZeroDuration() && options_.clock->Monotonic() - attempt_start_ >= per_try;
  if (per_try_passed) {
    UpstreamFailed(Failure::kTryTimeout, 504, "per_try_timeout",
                   absl::StrCat("no response within ", absl::FormatDuration(per_try)));
  } else if (up_state_ == UpState::kConnecting) {
    UpstreamFailed(
        Failure::kConnect, 502, "connect_timeout",
        absl::StrCat("no connection within ", absl::FormatDuration(options_.connect_timeout)));
  } else {
    UpstreamFailed(
        Failure::kHandshake, 502, "handshake_timeout",
        absl::StrCat("no TLS handshake within ", absl::FormatDuration(options_.handshake_timeout)));
  }
  Pump();
}

}  // namespace tether::proxy
