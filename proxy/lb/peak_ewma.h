// PeakEwma: a backend's round-trip time estimate as Finagle's and Linkerd's
// peak-EWMA balancers keep it: a sample above the estimate replaces it at
// once (a backend that turns slow is avoided from the next request on); a
// sample below is blended in with weight 1 - w, w = exp(-elapsed / decay),
// `elapsed` being the time since the last stored sample, so the estimate
// comes down over about `decay` however many fast samples arrive.
//
//   PeakEwma rtt(options, clock.Monotonic());
//   double cost = rtt.EstimateNanos(now) * (pending + 1);  // changes nothing
//   rtt.Observe(now, latency);         // a success's latency
//   rtt.ObserveFailure(now, latency);  // a failure's: raises, never lowers
//
// Reading is a pure function of the stored estimate and its age: between
// samples the value read drifts from the stored estimate toward default_rtt
// with the same weight w (of the age), so a backend that was slow once is
// tried again after a few decays instead of being starved forever, and one
// that was fast long ago is no longer preferred over a fresh guess. Only a
// sample changes the stored estimate. (tower's PeakEwma decays and stores on
// every read, so how often a balancer looked changed what it saw.)
//
// The first success replaces default_rtt outright: the default is a guess,
// not a measurement. Not thread-safe; time is the caller's monotonic clock.
#ifndef TETHER_PROXY_LB_PEAK_EWMA_H_
#define TETHER_PROXY_LB_PEAK_EWMA_H_

#include "absl/time/time.h"

namespace tether::proxy {

class PeakEwma {
 public:
  struct Options {
    // default_rtt: the estimate before any sample, and what an idle estimate
    // drifts back to. 30ms as Linkerd (EWMA_DEFAULT_RTT): a plausible
    // in-cluster round trip, so a new backend gets traffic beside slow ones
    // but not ahead of ones measured fast.
    absl::Duration default_rtt = absl::Milliseconds(30);
    // decay: the time constant of both the blending and the drift; 10s as
    // Linkerd and Finagle. Zero or negative keeps no history: each sample
    // replaces the estimate, and any age reads as default_rtt.
    absl::Duration decay = absl::Seconds(10);
  };

  // PeakEwma starts at options.default_rtt, as if sampled at `now`.
  PeakEwma(const Options& options, absl::Duration now);

  // EstimateNanos: the estimate at `now`, in nanoseconds (what a cost is
  // made of): default_rtt + (stored - default_rtt) * w(now - last sample).
  // Const: reading never changes what the next read or sample sees.
  double EstimateNanos(absl::Duration now) const;
  absl::Duration Estimate(absl::Duration now) const {
    return absl::Nanoseconds(EstimateNanos(now));
  }

  // Observe records the latency of a success (negative counts as zero).
  // Above the stored estimate it replaces it (peak); below, it is blended in
  // with weight 1 - w(now - last sample). The first one replaces default_rtt.
  void Observe(absl::Duration now, absl::Duration latency);

  // ObserveFailure records the latency of a failure. A backend that fails
  // fast (connection refused, an immediate 503) must not look fast, so it
  // only counts if it is above the estimate read at `now`, which it then
  // replaces; otherwise nothing changes.
  void ObserveFailure(absl::Duration now, absl::Duration latency);

  // measured: a sample has replaced default_rtt.
  bool measured() const { return measured_; }

 private:
  // Weight: w = exp(-age / decay), 1 at age 0 (0 for any age without decay).
  double Weight(absl::Duration age) const;

  Options options_;
  double stored_nanos_;
  absl::Duration stored_at_;  // when stored_nanos_ was last set
  bool measured_ = false;
};

}  // namespace tether::proxy

#endif  // TETHER_PROXY_LB_PEAK_EWMA_H_
