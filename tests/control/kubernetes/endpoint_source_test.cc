#include "control/kubernetes/endpoint_source.h"

#include <algorithm>
#include <functional>
#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/files.h"
#include "common/sync/mutex.h"
#include "tests/control/kubernetes/fake_https_server.h"
#include "tests/control/kubernetes/fake_watch_api.h"
#include "tests/control/kubernetes/test_pki.h"

namespace tether::control::kubernetes {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using tether::testing::FakeHttpsServer;
using tether::testing::FakeWatchApi;
using tether::testing::kPods;
using tether::testing::kServices;
using tether::testing::kSlices;
using tether::testing::MakeServerCert;
using tether::testing::MakeTestCa;
using tether::testing::PodJson;
using tether::testing::RecordedRequest;
using tether::testing::ResponseStream;
using tether::testing::ServiceJson;
using tether::testing::SliceJson;

constexpr char kOwnToken[] = "eyJhbGciOiJSUzI1NiJ9.Y29udHJvbC1wbGFuZQ.c2lnMQ";
constexpr char kCart[] = "spiffe://mesh.local/ns/shop/sa/cart";

// Delivered collects what the source's callback delivers.
class Delivered {
 public:
  void Add(std::vector<Endpoint> endpoints) {
    MutexLock lock(&mu_);
    all_.push_back(std::move(endpoints));
    changed_.SignalAll();
  }
  // WaitFor waits (up to 20 s) until the last delivery satisfies `done`.
  bool WaitFor(const std::function<bool(const std::vector<Endpoint>&)>& done) {
    MutexLock lock(&mu_);
    return changed_.WaitFor(
        &mu_,
        [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return !all_.empty() && done(all_.back()); },
        absl::Seconds(20));
  }
  size_t count() {
    MutexLock lock(&mu_);
    return all_.size();
  }
  std::vector<Endpoint> last() {
    MutexLock lock(&mu_);
    return all_.empty() ? std::vector<Endpoint>{} : all_.back();
  }

 private:
  Mutex mu_;
  CondVar changed_;
  std::vector<std::vector<Endpoint>> all_ ABSL_GUARDED_BY(mu_);
};

const Endpoint* Find(const std::vector<Endpoint>& all, const std::string& ip, uint16_t port) {
  for (const Endpoint& e : all) {
    if (e.ip == ip && e.port == port) return &e;
  }
  return nullptr;
}

class EndpointSourceTest : public ::testing::Test {
 protected:
  EndpointSourceTest()
      : ca_(MakeTestCa("kubernetes")),
        cert_(MakeServerCert(ca_, "DNS:kubernetes.default.svc,IP:127.0.0.1")),
        dir_(::testing::TempDir()),
        api_(kOwnToken),
        server_(cert_, [this](const RecordedRequest& r, ResponseStream& s) { api_.Serve(r, s); }) {
    EXPECT_TRUE(WriteFileAtomic(dir_ + "/ca.crt", ca_.cert_pem).ok());
    EXPECT_TRUE(WriteFileAtomic(dir_ + "/token", absl::StrCat(kOwnToken, "\n")).ok());
  }

  void TearDown() override { EXPECT_THAT(api_.problems(), IsEmpty()); }

  KubernetesEndpointSource::Options Options() const {
    KubernetesEndpointSource::Options o;
    o.api.host = "127.0.0.1";
    o.api.port = server_.port();
    o.api.ca_file = dir_ + "/ca.crt";
    o.api.token_file = dir_ + "/token";
    o.trust_domain = "mesh.local";
    o.min_interval = absl::Milliseconds(10);
    o.reflector.initial_backoff = absl::Milliseconds(5);
    o.reflector.max_backoff = absl::Milliseconds(50);
    return o;
  }

  std::unique_ptr<KubernetesEndpointSource> Make() {
    auto source = KubernetesEndpointSource::Create(
        Options(), [this](std::vector<Endpoint> e) { delivered_.Add(std::move(e)); });
    EXPECT_TRUE(source.ok()) << source.status();
    return source.ok() ? *std::move(source) : nullptr;
  }

  tether::testing::TestCa ca_;
  tether::testing::TestCert cert_;
  std::string dir_;
  FakeWatchApi api_;
  FakeHttpsServer server_;
  Delivered delivered_;
};

TEST_F(EndpointSourceTest, DeliversPodsAndServicesAndFollowsChanges) {
  api_.Put(kPods, PodJson("shop", "cart-1", "cart", {"10.244.1.7", "fd00::7"}, true));
  api_.Put(kPods, PodJson("shop", "cart-2", "cart", {"10.244.1.8"}, true));
  api_.Put(kPods, PodJson("shop", "legacy-0", "default", {"10.244.2.9"}, false));
  api_.Put(kServices, ServiceJson("shop", "cart", "10.96.12.34", {80}));
  api_.Put(
      kSlices,
      SliceJson("shop", "cart-abc", "cart",
                {{"10.244.1.7", "cart-1"}, {"10.244.1.8", "cart-2"}, {"10.244.2.9", "legacy-0"}}));
  auto source = Make();
  ASSERT_NE(source, nullptr);
  EXPECT_FALSE(source->synced());
  source->Start();

  ASSERT_TRUE(delivered_.WaitFor([](const std::vector<Endpoint>& all) { return all.size() == 5; }))
      << source->status();
  EXPECT_TRUE(source->synced());
  std::vector<Endpoint> all = delivered_.last();
  ASSERT_TRUE(std::is_sorted(all.begin(), all.end(), [](const Endpoint& a, const Endpoint& b) {
    return a.Key() < b.Key();
  }));
  const Endpoint* svc = Find(all, "10.96.12.34", 80);
  ASSERT_NE(svc, nullptr);
  EXPECT_THAT(svc->identities, ElementsAre(kCart));
  EXPECT_EQ(svc->unmeshed_endpoints, 1);
  EXPECT_EQ(svc->origin, "service shop/cart (2 of 3 endpoints meshed)");
  ASSERT_NE(Find(all, "fd00::7", 0), nullptr);
  EXPECT_THAT(Find(all, "fd00::7", 0)->identities, ElementsAre(kCart));
  EXPECT_THAT(Find(all, "10.244.2.9", 0)->identities, IsEmpty());

  // cart-2 turns unready, legacy-0 goes away: the service keeps cart-1 only.
  api_.Put(kSlices, SliceJson("shop", "cart-abc", "cart",
                              {{"10.244.1.7", "cart-1"}, {"10.244.1.8", "cart-2", false}}));
  api_.Delete(kPods, "shop", "legacy-0");
  ASSERT_TRUE(delivered_.WaitFor([](const std::vector<Endpoint>& now) {
    const Endpoint* s = Find(now, "10.96.12.34", 80);
    return now.size() == 4 && s != nullptr &&
           s->origin == "service shop/cart (1 of 1 endpoints meshed)";
  })) << source->status();

  // A service without meshed endpoints is known and unmeshed.
  api_.Put(kSlices, SliceJson("shop", "cart-abc", "cart", {{"10.244.1.7", "cart-1", false}}));
  ASSERT_TRUE(delivered_.WaitFor([](const std::vector<Endpoint>& now) {
    const Endpoint* s = Find(now, "10.96.12.34", 80);
    return s != nullptr && s->identities.empty() &&
           s->origin == "service shop/cart (0 of 0 endpoints meshed)";
  })) << source->status();

  EXPECT_THAT(source->status(), HasSubstr("Pod: synced, 2 objects"));
  EXPECT_THAT(source->status(), HasSubstr("Service: synced, 1 objects"));
  EXPECT_THAT(source->status(), HasSubstr("EndpointSlice: synced, 1 objects"));
  source->Stop();
  const size_t deliveries = delivered_.count();
  source->Stop();  // idempotent
  EXPECT_EQ(delivered_.count(), deliveries);
}

TEST_F(EndpointSourceTest, NothingIsDeliveredBeforeAllThreeListed) {
  api_.Put(kPods, PodJson("shop", "cart-1", "cart", {"10.244.1.7"}, true));
  // The token file disappears: nothing can be listed.
  ASSERT_EQ(unlink((dir_ + "/token").c_str()), 0);
  auto created = KubernetesEndpointSource::Create(Options(), nullptr);
  EXPECT_EQ(created.status().code(), absl::StatusCode::kFailedPrecondition);
  ASSERT_TRUE(WriteFileAtomic(dir_ + "/token", absl::StrCat(kOwnToken, "\n")).ok());
  auto source = Make();
  ASSERT_NE(source, nullptr);
  ASSERT_TRUE(WriteFileAtomic(dir_ + "/token", "").ok());  // empty: every call fails
  source->Start();
  const absl::Time deadline = absl::Now() + absl::Seconds(20);
  while (absl::Now() < deadline && source->status().find("last error") == std::string::npos) {
    absl::SleepFor(absl::Milliseconds(2));
  }
  EXPECT_THAT(source->status(), HasSubstr("token file"));
  EXPECT_FALSE(source->synced());
  EXPECT_EQ(delivered_.count(), 0u);
  // The token comes back: the source recovers by itself.
  ASSERT_TRUE(WriteFileAtomic(dir_ + "/token", absl::StrCat(kOwnToken, "\n")).ok());
  ASSERT_TRUE(delivered_.WaitFor([](const std::vector<Endpoint>& all) { return all.size() == 1; }))
      << source->status();
  EXPECT_TRUE(source->synced());
}

TEST_F(EndpointSourceTest, CreateChecksItsOptions) {
  KubernetesEndpointSource::Options o = Options();
  o.trust_domain = "";
  EXPECT_EQ(KubernetesEndpointSource::Create(o, nullptr).status().code(),
            absl::StatusCode::kInvalidArgument);
  o = Options();
  o.reflector.page_size = 0;
  EXPECT_EQ(KubernetesEndpointSource::Create(o, nullptr).status().code(),
            absl::StatusCode::kInvalidArgument);
  // Destroying a source that never started is fine.
  EXPECT_TRUE(KubernetesEndpointSource::Create(Options(), nullptr).ok());
}

}  // namespace
}  // namespace tether::control::kubernetes
