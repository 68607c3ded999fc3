// P2cBalancer: picks a backend for each request by the power of two choices
// over peak-EWMA costs, as Finagle's and Linkerd's balancers: draw two
// distinct backends at random and send to the cheaper, where
//   cost = round-trip estimate (PeakEwma) * (requests in flight + 1).
// Backends that failed `failures_to_eject` times in a row are left out for a
// backoff, then get one trial request (FailureAccrual).
//
//   absl::BitGen bitgen;  // the worker's (not copyable: captured by reference)
//   P2cBalancer lb(clock, P2cBalancer::Options{},
//                  [&bitgen] { return absl::Uniform<uint64_t>(bitgen); });
//   lb.SetBackends(endpoints);                 // on every discovery update
//   std::optional<P2cBalancer::Pick> pick = lb.PickBackend();
//   if (!pick) return Unavailable("no endpoints");
//   Connect(pick->address) ... once the response head arrives (or it fails):
//   lb.Done(*pick, {.result = P2cBalancer::Result::kSuccess});
//
// Why two choices and not the cheapest: every proxy that saw the same
// samples would send everything to the same backend at once; two random
// candidates keep most of the benefit with none of the herding. The pending
// factor makes the costs load-aware between samples.
//
// When every backend is ejected it fails open: the request goes to the one
// whose ejection ends soonest (one whose trial is in flight first, then the
// shortest backoff: the least failing), because a request that may fail
// beats one that surely fails. That concentrates load on it until a backoff
// ends, and such a pick is no trial: its outcome moves no breaker.
//
// Pick and Done allocate nothing (keys are fixed size; backends live in a
// vector found by index); SetBackends does. Not thread-safe: each worker
// keeps its own balancer, as each keeps its own event loop. `clock` must
// outlive the balancer.
#ifndef TETHER_PROXY_LB_P2C_BALANCER_H_
#define TETHER_PROXY_LB_P2C_BALANCER_H_

#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/time/time.h"
#include "absl/types/span.h"
#include "common/clock.h"
#include "proxy/lb/backend_key.h"
#include "proxy/lb/failure_accrual.h"
#include "proxy/lb/peak_ewma.h"
#include "proxy/net/socket.h"

namespace tether::proxy {

class P2cBalancer {
 public:
  // RandomSource: uniform 64-bit values; injected so tests are
  // deterministic. Called on every pick (once or twice, more when many are
  // ejected) and on ejections (jitter). Calling it must not allocate.
  using RandomSource = std::function<uint64_t()>;

  struct Options {
    PeakEwma::Options rtt;            // default_rtt 30ms, decay 10s
    FailureAccrual::Options accrual;  // 5 failures; ejections 1s .. 60s
  };

  // Pick: one request's backend. Hand it back to Done exactly once.
  struct Pick {
    BackendKey key;
    SocketAddress address;
    absl::Duration start;  // clock.Monotonic() when picked
    // For Done: where the backend was, and the breaker's ticket.
    uint32_t index = 0;
    FailureAccrual::Ticket ticket;
  };

  // kUnreachable: no connection could be made (refused, timed out): the
  // backend is ejected at once, as a failed trial would be, rather than
  // after failures_to_eject in a row, because a backend that fails that fast
  // keeps looking cheap and would draw the retries too.
  // kCancelled: the request ended for reasons not the backend's (the app
  // went away): one fewer in flight, nothing sampled or counted.
  enum class Result { kSuccess, kFailure, kUnreachable, kCancelled };

  struct Outcome {
    Result result = Result::kSuccess;
    // latency: the round trip to record, e.g. time to the response head
    // (not to the end of a long stream). Unset: the time since the pick.
    std::optional<absl::Duration> latency;
  };

  // BackendView: one backend as /debug shows it.
  struct BackendView {
    SocketAddress address;
    absl::Duration rtt;  // the estimate now
    uint32_t pending = 0;
    FailureAccrual::State state = FailureAccrual::State::kClosed;
    absl::Duration ejected_until;  // clock.Monotonic() time; unless kClosed
    int consecutive_failures = 0;
    bool draining = false;  // removed, requests still in flight
  };

  // P2cBalancer starts with no backends.
  P2cBalancer(const Clock& clock, Options options, RandomSource random);

  // SetBackends replaces the set. A backend still present keeps its
  // estimate, breaker and pending count; a new one starts at default_rtt.
  // A removed one is never picked again, but is kept (draining) until its
  // requests in flight are Done, so it is recognised if it comes back.
  // Duplicates count once.
  void SetBackends(absl::Span<const SocketAddress> addresses);

  // PickBackend: a backend for one request, and one more request in flight
  // on it; nullopt when the set is empty. Ejected backends are skipped
  // unless all are (see fail open, above).
  std::optional<Pick> PickBackend();

  // Done: the request of `pick` ended: one fewer in flight, its latency
  // sampled (a failure's only if it raises the estimate) and its outcome
  // counted by the breaker. For a backend removed and forgotten meanwhile it
  // does nothing; the last Done of a draining backend forgets it.
  void Done(const Pick& pick, const Outcome& outcome);

  // Snapshot: every backend, those in the set (in SetBackends order) and
  // then the draining ones. Allocates; for /debug, not for the data path.
  std::vector<BackendView> Snapshot() const;

  // size: backends in the set (not counting draining ones).
  size_t size() const { return live_.size(); }

 private:
  static constexpr size_t kNone = static_cast<size_t>(-1);

  struct Backend {
    BackendKey key;
    SocketAddress address;
    PeakEwma rtt;
    FailureAccrual accrual;
    uint32_t pending = 0;
    size_t live_pos = kNone;  // position in live_; kNone once removed
  };

  // RandomAvailable: the position in live_ of a uniformly chosen available
  // backend other than the one at `exclude`; kNone if there is none.
  size_t RandomAvailable(absl::Duration now, size_t exclude);
  // FailOpen: the position in live_ of the backend whose ejection ends first.
  size_t FailOpen(absl::Duration now) const;
  double Cost(const Backend& backend, absl::Duration now) const;
  Backend* Find(const Pick& pick);
  // Compact forgets removed backends with nothing in flight, fixing up
  // index_ and live_ in place (no allocation).
  void Compact();

  const Clock& clock_;
  const Options options_;
  RandomSource random_;
  std::vector<Backend> backends_;
  // live_: indices into backends_ of the set, in SetBackends order (what
  // picks draw from); index_: every backend's index, draining ones too.
  std::vector<uint32_t> live_;
  absl::flat_hash_map<BackendKey, uint32_t> index_;
};

}  // namespace tether::proxy

#endif  // TETHER_PROXY_LB_P2C_BALANCER_H_
