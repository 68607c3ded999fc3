#include "proxy/lb/peak_ewma.h"

#include <algorithm>
#include <cmath>

namespace tether::proxy {

PeakEwma::PeakEwma(const Options& options, absl::Duration now)
    : options_(options),
      stored_nanos_(std::max(0.0, absl::ToDoubleNanoseconds(options.default_rtt))),
      stored_at_(now) {}

double PeakEwma::Weight(absl::Duration age) const {
  if (age <= absl::ZeroDuration()) return 1.0;
  if (options_.decay <= absl::ZeroDuration()) return 0.0;
  return std::exp(-absl::FDivDuration(age, options_.decay));
}

double PeakEwma::EstimateNanos(absl::Duration now) const {
  const double fallback = std::max(0.0, absl::ToDoubleNanoseconds(options_.default_rtt));
  return fallback + (stored_nanos_ - fallback) * Weight(now - stored_at_);
}

void PeakEwma::Observe(absl::Duration now, absl::Duration latency) {
  const double sample = std::max(0.0, absl::ToDoubleNanoseconds(latency));
  if (!measured_ || sample >= stored_nanos_) {
    stored_nanos_ = sample;
  } else {
    const double w = Weight(now - stored_at_);
    stored_nanos_ = stored_nanos_ * w + sample * (1.0 - w);
  }
  stored_at_ = std::max(stored_at_, now);
  measured_ = true;
}

void PeakEwma::ObserveFailure(absl::Duration now, absl::Duration latency) {
  const double sample = std::max(0.0, absl::ToDoubleNanoseconds(latency));
  if (sample <= EstimateNanos(now)) return;
  stored_nanos_ = sample;
  stored_at_ = std::max(stored_at_, now);
  measured_ = true;
}

}  // namespace tether::proxy
