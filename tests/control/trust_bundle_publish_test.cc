// The control plane hands its trust bundle to the publisher (the cluster's
// ConfigMaps and webhook caBundle) at start and after a CA rotation, and
// retries a failed publication.
#include <string>
#include <vector>

#include "common/clock.h"
#include "common/sync/mutex.h"
#include "control/control_plane.h"
#include "gtest/gtest.h"
#include "tests/testing/net_helpers.h"

namespace tether::control {
namespace {

class Recorder {
 public:
  absl::Status Publish(const std::string& pem) {
    MutexLock lock(&mu_);
    calls_.push_back(pem);
    changed_.SignalAll();
    return calls_.size() <= failures_ ? absl::UnavailableError("API server unreachable")
                                      : absl::OkStatus();
  }
  // WaitFor blocks until `n` calls were made (or 20 s passed).
  std::vector<std::string> WaitFor(size_t n) {
    MutexLock lock(&mu_);
    changed_.WaitFor(
        &mu_, [this, n]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return calls_.size() >= n; },
        absl::Seconds(20));
    return calls_;
  }
  void SetFailures(size_t n) {
    MutexLock lock(&mu_);
    failures_ = n;
  }

 private:
  Mutex mu_;
  CondVar changed_;
  std::vector<std::string> calls_ ABSL_GUARDED_BY(mu_);
  size_t failures_ ABSL_GUARDED_BY(mu_) = 0;
};

std::unique_ptr<ControlPlane> Start(Recorder* recorder, absl::Duration interval) {
  ControlPlaneOptions opts;
  opts.state_dir = testing::MakeTempDir("publish") + "/state";
  opts.trust_domain = "mesh.test";
  opts.grpc_listen = "127.0.0.1:0";
  opts.admin_listen = "127.0.0.1:0";
  opts.publish_interval = interval;
  opts.publish_trust_bundle = [recorder](const std::string& pem) { return recorder->Publish(pem); };
  auto cp = ControlPlane::Start(opts, RealClock::Default());
  EXPECT_TRUE(cp.ok()) << cp.status();
  return cp.ok() ? std::move(*cp) : nullptr;
}

TEST(TrustBundlePublishTest, AtStartAndAfterARotation) {
  Recorder recorder;
  // A long interval: every call below is caused by start or rotation.
  std::unique_ptr<ControlPlane> cp = Start(&recorder, absl::Hours(1));
  ASSERT_NE(cp, nullptr);
  std::vector<std::string> calls = recorder.WaitFor(1);
  ASSERT_EQ(calls.size(), 1u);
  EXPECT_EQ(calls[0], cp->store()->Current()->bundle.ToPem());
  ASSERT_TRUE(cp->store()->Rotate(absl::Hours(1)).ok());
  calls = recorder.WaitFor(2);
  ASSERT_EQ(calls.size(), 2u);
  EXPECT_EQ(calls[1], cp->store()->Current()->bundle.ToPem());
  EXPECT_NE(calls[1], calls[0]);  // both roots now
  cp->Stop();
}

TEST(TrustBundlePublishTest, AFailureIsRetriedAtTheInterval) {
  Recorder recorder;
  recorder.SetFailures(2);
  std::unique_ptr<ControlPlane> cp = Start(&recorder, absl::Milliseconds(50));
  ASSERT_NE(cp, nullptr);
  EXPECT_GE(recorder.WaitFor(3).size(), 3u);
  cp->Stop();
}

}  // namespace
}  // namespace tether::control
