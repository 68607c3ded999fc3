#include "control/kubernetes/endpoint_source.h"

#include <optional>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "control/kubernetes/endpoint_mapping.h"

namespace tether::control::kubernetes {

absl::StatusOr<std::unique_ptr<KubernetesEndpointSource>> KubernetesEndpointSource::Create(
    Options options, Callback callback) {
  if (options.trust_domain.empty()) return absl::InvalidArgumentError("empty trust domain");
  if (options.reflector.page_size == 0) return absl::InvalidArgumentError("page size 0");
  if (absl::Status s = ResolveApiServer(&options.api); !s.ok()) {
    return absl::FailedPreconditionError(s.message());
  }
  if (absl::Status s = CheckApiServerFiles(options.api); !s.ok()) {
    return absl::FailedPreconditionError(s.message());
  }
  return std::unique_ptr<KubernetesEndpointSource>(
      new KubernetesEndpointSource(std::move(options), std::move(callback)));
}

KubernetesEndpointSource::KubernetesEndpointSource(Options options, Callback callback)
    : options_(std::move(options)), callback_(std::move(callback)) {
  auto make = [this](ResourceKind kind) {
    ReflectorOptions r = options_.reflector;
    r.api = options_.api;
    r.kind = kind;
    return std::make_unique<Reflector>(std::move(r), [this] { MarkDirty(); });
  };
  pods_ = make(ResourceKind::kPod);
  services_ = make(ResourceKind::kService);
  slices_ = make(ResourceKind::kEndpointSlice);
}

KubernetesEndpointSource::~KubernetesEndpointSource() { Stop(); }

void KubernetesEndpointSource::Start() {
  {
    MutexLock lock(&mu_);
    if (started_ || stopping_) return;
    started_ = true;
  }
  auto sleep = [this](absl::Duration d) { return SleepUnlessStopped(d); };
  for (Reflector* r : {pods_.get(), services_.get(), slices_.get()}) {
    threads_.emplace_back([this, r, sleep] { r->Run(&stop_, sleep); });
  }
  threads_.emplace_back([this] { Publish(); });
}

void KubernetesEndpointSource::Stop() {
  stop_.store(true, std::memory_order_release);
  {
    MutexLock lock(&mu_);
    stopping_ = true;
    changed_.SignalAll();
  }
  for (std::thread& t : threads_) t.join();
  threads_.clear();
}

bool KubernetesEndpointSource::synced() const {
  return pods_->synced() && services_->synced() && slices_->synced();
}

std::string KubernetesEndpointSource::status() const {
  return absl::StrJoin({pods_->Status(), services_->Status(), slices_->Status()}, "\n");
}

void KubernetesEndpointSource::MarkDirty() {
  MutexLock lock(&mu_);
  dirty_ = true;
  changed_.SignalAll();
}

bool KubernetesEndpointSource::SleepUnlessStopped(absl::Duration d) {
  const absl::Time deadline = absl::Now() + d;
  MutexLock lock(&mu_);
  while (!stopping_ && absl::Now() < deadline) changed_.WaitWithDeadline(&mu_, deadline);
  return !stopping_;
}

void KubernetesEndpointSource::Publish() {
  std::optional<std::vector<Endpoint>> last;
  absl::Time next_allowed = absl::InfinitePast();
  for (;;) {
    {
      MutexLock lock(&mu_);
      while (!stopping_ && !dirty_) changed_.Wait(&mu_);
      // Coalesce: let a burst of changes land before mapping once.
      while (!stopping_ && absl::Now() < next_allowed) {
        changed_.WaitWithDeadline(&mu_, next_allowed);
      }
      if (stopping_) return;
      dirty_ = false;
    }
    next_allowed = absl::Now() + options_.min_interval;
    if (!synced()) continue;  // the last initial list marks dirty again
    std::vector<Endpoint> now =
        MapEndpoints(pods_->Objects<Pod>(), services_->Objects<Service>(),
                     slices_->Objects<EndpointSlice>(), options_.trust_domain);
    if (last.has_value() && *last == now) continue;
    last = now;
    if (callback_) callback_(std::move(now));
  }
}

}  // namespace tether::control::kubernetes
