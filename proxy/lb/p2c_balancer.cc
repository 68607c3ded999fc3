#include "proxy/lb/p2c_balancer.h"

#include <algorithm>
#include <utility>

namespace tether::proxy {
namespace {

// Draws at random before counting: with few backends ejected the first draw
// almost always lands on an available one, and the scan stays off the path.
constexpr int kDraws = 4;

}  // namespace

P2cBalancer::P2cBalancer(const Clock& clock, Options options, RandomSource random)
    : clock_(clock), options_(std::move(options)), random_(std::move(random)) {}

void P2cBalancer::SetBackends(absl::Span<const SocketAddress> addresses) {
  const absl::Duration now = clock_.Monotonic();
  for (Backend& backend : backends_) backend.live_pos = kNone;
  live_.clear();
  for (const SocketAddress& address : addresses) {
    const BackendKey key = KeyOf(address);
    auto [it, inserted] = index_.try_emplace(key, static_cast<uint32_t>(backends_.size()));
    if (inserted) {
      backends_.push_back(
          Backend{key, address, PeakEwma(options_.rtt, now), FailureAccrual(options_.accrual)});
    } else if (backends_[it->second].live_pos != kNone) {
      continue;  // a duplicate
    }
    Backend& backend = backends_[it->second];
    backend.address = address;
    backend.live_pos = live_.size();
    live_.push_back(it->second);
  }
  Compact();
}

void P2cBalancer::Compact() {
  size_t kept = 0;
  for (size_t i = 0; i < backends_.size(); ++i) {
    Backend& backend = backends_[i];
    if (backend.live_pos == kNone && backend.pending == 0) {
      index_.erase(backend.key);
      continue;
    }
    if (kept != i) {
      backends_[kept] = std::move(backend);
      index_.find(backends_[kept].key)->second = static_cast<uint32_t>(kept);
      if (backends_[kept].live_pos != kNone) {
        live_[backends_[kept].live_pos] = static_cast<uint32_t>(kept);
      }
    }
    ++kept;
  }
  backends_.erase(backends_.begin() + kept, backends_.end());
}

double P2cBalancer::Cost(const Backend& backend, absl::Duration now) const {
  // At least 1ns: a zero estimate (a clock too coarse to see the round trip)
  // would cost nothing however many requests were in flight.
  return std::max(1.0, backend.rtt.EstimateNanos(now)) *
         (static_cast<double>(backend.pending) + 1.0);
}

size_t P2cBalancer::RandomAvailable(absl::Duration now, size_t exclude) {
  const size_t n = live_.size();
  const size_t choices = exclude == kNone ? n : n - 1;
  if (choices == 0) return kNone;
  auto available = [&](size_t pos) {
    return pos != exclude && backends_[live_[pos]].accrual.Available(now);
  };
  for (int i = 0; i < kDraws; ++i) {
    // One draw among the others: skipping `exclude` by shifting keeps the
    // two candidates distinct without a retry.
    size_t pos = static_cast<size_t>(random_() % choices);
    if (exclude != kNone && pos >= exclude) ++pos;
    if (available(pos)) return pos;
  }
  // Many are ejected: choose uniformly among those available, by counting.
  size_t count = 0;
  for (size_t pos = 0; pos < n; ++pos) count += available(pos) ? 1 : 0;
  if (count == 0) return kNone;
  size_t nth = static_cast<size_t>(random_() % count);
  for (size_t pos = 0; pos < n; ++pos) {
    if (available(pos) && nth-- == 0) return pos;
  }
  return kNone;  // unreachable
}

size_t P2cBalancer::FailOpen(absl::Duration now) const {
  size_t best = kNone;
  for (size_t pos = 0; pos < live_.size(); ++pos) {
    if (best == kNone) {
      best = pos;
      continue;
    }
    const Backend& a = backends_[live_[pos]];
    const Backend& b = backends_[live_[best]];
    if (a.accrual.ejected_until() < b.accrual.ejected_until() ||
        (a.accrual.ejected_until() == b.accrual.ejected_until() && Cost(a, now) < Cost(b, now))) {
      best = pos;
    }
  }
  return best;
}

std::optional<P2cBalancer::Pick> P2cBalancer::PickBackend() {
  if (live_.empty()) return std::nullopt;
  const absl::Duration now = clock_.Monotonic();
  size_t pos = RandomAvailable(now, kNone);
  if (pos == kNone) {
    pos = FailOpen(now);
  } else {
    const size_t other = RandomAvailable(now, pos);
    if (other != kNone && Cost(backends_[live_[other]], now) < Cost(backends_[live_[pos]], now)) {
      pos = other;
    }
  }
  const uint32_t index = live_[pos];
  Backend& backend = backends_[index];
  ++backend.pending;
  return Pick{backend.key, backend.address, now, index, backend.accrual.OnPick(now)};
}

P2cBalancer::Backend* P2cBalancer::Find(const Pick& pick) {
  if (pick.index < backends_.size() && backends_[pick.index].key == pick.key) {
    return &backends_[pick.index];
  }
  auto it = index_.find(pick.key);
  return it == index_.end() ? nullptr : &backends_[it->second];
}

void P2cBalancer::Done(const Pick& pick, const Outcome& outcome) {
  Backend* backend = Find(pick);
  if (backend == nullptr) return;
  // A second Done for one pick is a caller's bug; it must not wrap around.
  if (backend->pending == 0) return;
  const absl::Duration now = clock_.Monotonic();
  --backend->pending;
  if (outcome.result == Result::kCancelled) {
    backend->accrual.OnCancel(pick.ticket);
    if (backend->live_pos == kNone && backend->pending == 0) Compact();
    return;
  }
  const absl::Duration latency =
      std::max(absl::ZeroDuration(), outcome.latency.value_or(now - pick.start));
  const bool success = outcome.result == Result::kSuccess;
  if (success) {
    backend->rtt.Observe(now, latency);
  } else {
    backend->rtt.ObserveFailure(now, latency);
  }
  if (outcome.result == Result::kUnreachable) {
    backend->accrual.OnUnreachable(pick.ticket, now, random_);
  } else {
    backend->accrual.OnOutcome(pick.ticket, success, now, random_);
  }
  if (backend->live_pos == kNone && backend->pending == 0) Compact();
}

std::vector<P2cBalancer::BackendView> P2cBalancer::Snapshot() const {
  const absl::Duration now = clock_.Monotonic();
  std::vector<BackendView> views;
  views.reserve(backends_.size());
  auto view = [&](const Backend& backend) {
    return BackendView{backend.address,
                       backend.rtt.Estimate(now),
                       backend.pending,
                       backend.accrual.state(),
                       backend.accrual.ejected_until(),
                       backend.accrual.consecutive_failures(),
                       /*draining=*/backend.live_pos == kNone};
  };
  for (uint32_t index : live_) views.push_back(view(backends_[index]));
  for (const Backend& backend : backends_) {
    if (backend.live_pos == kNone) views.push_back(view(backend));
  }
  return views;
}

}  // namespace tether::proxy
