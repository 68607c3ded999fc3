// The part of CertStream that ends a stream's authority with the credential
// it authenticated with: expiry, and the re-review of Kubernetes tokens.
#include <algorithm>
#include <optional>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "control/ca/cert_stream.h"
#include "control/ca/token_cache.h"

namespace tether::control {

namespace {

constexpr char kReconnect[] = "reconnect with the current certificate or a fresh token";

}  // namespace

absl::StatusOr<Authentication> CertStream::AuthenticateKubernetes(const std::string& token) {
  absl::StatusOr<Authentication> auth = service_->kubernetes_->AuthenticateWorkload(token);
  if (!auth.ok()) return auth;
  // TokenReview says nothing of the token's lifetime; the token does.
  if (std::optional<absl::Time> exp = JwtExpiry(token)) {
    auth->expires = std::min(auth->expires, *exp);
  }
  return auth;
}

void CertStream::CheckCredential(absl::Time now) {
  std::optional<absl::Time> expired;
  std::string token;
  {
    MutexLock lock(&mu_);
    if (!authenticated_ || finishing_) return;
    if (now >= credential_expires_) {
      expired = credential_expires_;
    } else if (!kubernetes_token_.empty() && !review_in_flight_ && now >= next_review_) {
      review_in_flight_ = true;
      token = kubernetes_token_;
    }
  }
  if (expired) {
    CloseExpired(*expired);
    return;
  }
  if (token.empty()) return;
  WorkerPool* pool = service_->kubernetes_pool_.get();
  Ref();  // the caller's reference keeps it alive until the task has its own
  const bool queued = pool != nullptr &&
                      pool->queued() < std::max<size_t>(1, service_->options_.kubernetes_queue / 2) &&
                      pool->TrySubmit([this, token = std::move(token)] {
                        CompleteReview(service_->kubernetes_->Review(token));
                        Unref();
                      });
  if (!queued) {
    MutexLock lock(&mu_);
    review_in_flight_ = false;  // due still: the next check tries again
  }
  if (!queued) Unref();
}

void CertStream::CloseExpired(absl::Time expired) {
  std::string kind;
  {
    MutexLock lock(&mu_);
    kind = credential_kind_;
  }
  const std::string at = absl::FormatTime(absl::RFC3339_sec, expired, absl::UTCTimeZone());
  CloseWith("stream_closed_expired", {{"credential", kind}, {"expired_at", at}},
            absl::UnauthenticatedError(
                absl::StrCat("the bootstrap credential this stream authenticated with (", kind,
                             ") expired at ", at, "; ", kReconnect)));
}

void CertStream::CompleteReview(absl::StatusOr<Authentication> review) {
  std::string id;
  {
    MutexLock lock(&mu_);
    review_in_flight_ = false;
    next_review_ = service_->clock_->Now() + service_->options_.token_rereview_interval;
    id = identity_.ToString();
  }
  if (review.ok() && review->id.ToString() == id) return;
  if (review.ok() || absl::IsUnauthenticated(review.status())) {
    const std::string why = review.ok()
                                ? absl::StrCat("it now proves ", review->id.ToString())
                                : std::string(review.status().message());
    CloseWith("stream_closed_withdrawn", {{"credential", "Kubernetes token"}, {"reason", why}},
              absl::UnauthenticatedError(absl::StrCat(
                  "the Kubernetes token this stream authenticated with is no longer accepted (",
                  why, "); ", kReconnect)));
    return;
  }
  // The API server could not be asked (or answered nonsense): that says
  // nothing about the token, so the stream stays and is reviewed again at
  // the next interval. Rate-limited per identity: an outage would otherwise
  // write a line per stream and interval.
  nlohmann::json fields = {{"reason", std::string(review.status().message())}, {"peer", peer_}};
  if (service_->rejections_ != nullptr) {
    service_->rejections_->Record("spiffe_id", id, "token_rereview_failed", std::move(fields));
  } else {
    fields["spiffe_id"] = id;
    service_->audit_->Record("token_rereview_failed", std::move(fields));
  }
}

}  // namespace tether::control
