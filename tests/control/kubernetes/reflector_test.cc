#include "control/kubernetes/reflector.h"

#include <atomic>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

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
using ::testing::StartsWith;
using tether::testing::FakeHttpsServer;
using tether::testing::FakeWatchApi;
using tether::testing::kPods;
using tether::testing::MakeServerCert;
using tether::testing::MakeTestCa;
using tether::testing::PodJson;
using tether::testing::RecordedRequest;
using tether::testing::ResponseStream;

constexpr char kOwnToken[] = "eyJhbGciOiJSUzI1NiJ9.Y29udHJvbC1wbGFuZQ.c2lnMQ";

// WaitUntil polls `done` until it holds or 20 s passed: a deadline, not a
// sleep that makes the test pass.
bool WaitUntil(const std::function<bool()>& done) {
  const absl::Time deadline = absl::Now() + absl::Seconds(20);
  while (!done()) {
    if (absl::Now() > deadline) return false;
    absl::SleepFor(absl::Milliseconds(2));
  }
  return true;
}

std::vector<std::string> Names(const std::vector<Pod>& pods) {
  std::vector<std::string> out;
  for (const Pod& p : pods) out.push_back(absl::StrCat(p.namespace_name, "/", p.name));
  return out;
}

class ReflectorTest : public ::testing::Test {
 protected:
  ReflectorTest()
      : ca_(MakeTestCa("kubernetes")),
        cert_(MakeServerCert(ca_, "DNS:kubernetes.default.svc,IP:127.0.0.1")),
        dir_(::testing::TempDir()),
        api_(kOwnToken),
        server_(cert_, [this](const RecordedRequest& r, ResponseStream& s) { api_.Serve(r, s); }) {
    EXPECT_TRUE(WriteFileAtomic(dir_ + "/ca.crt", ca_.cert_pem).ok());
    EXPECT_TRUE(WriteFileAtomic(dir_ + "/token", absl::StrCat(kOwnToken, "\n")).ok());
  }

  ~ReflectorTest() override { StopRunning(); }

  void TearDown() override { EXPECT_THAT(api_.problems(), IsEmpty()); }

  ReflectorOptions Options() const {
    ReflectorOptions o;
    o.api.host = "127.0.0.1";
    o.api.port = server_.port();
    o.api.ca_file = dir_ + "/ca.crt";
    o.api.token_file = dir_ + "/token";
    o.kind = ResourceKind::kPod;
    o.page_size = 2;
    o.initial_backoff = absl::Milliseconds(5);
    o.max_backoff = absl::Milliseconds(50);
    return o;
  }

  void StartRunning(Reflector& r) {
    thread_ = std::thread([this, &r] {
      r.Run(&stop_, [this](absl::Duration d) {
        MutexLock lock(&mu_);
        const absl::Time deadline = absl::Now() + d;
        while (!stop_.load() && absl::Now() < deadline) cv_.WaitWithDeadline(&mu_, deadline);
        return !stop_.load();
      });
    });
  }

  void StopRunning() {
    if (!thread_.joinable()) return;
    stop_.store(true);
    {
      MutexLock lock(&mu_);
      cv_.SignalAll();
    }
    thread_.join();
  }

  tether::testing::TestCa ca_;
  tether::testing::TestCert cert_;
  std::string dir_;
  FakeWatchApi api_;
  FakeHttpsServer server_;
  std::atomic<bool> stop_{false};
  Mutex mu_;
  CondVar cv_;
  std::thread thread_;
};

TEST_F(ReflectorTest, ListsInPagesThenFollowsTheWatch) {
  api_.Put(kPods, PodJson("shop", "cart-1", "cart", {"10.244.1.7"}, true));
  api_.Put(kPods, PodJson("shop", "cart-2", "cart", {"10.244.1.8"}, true));
  const uint64_t listed = api_.Put(kPods, PodJson("web", "front-1", "default", {}, false));
  std::atomic<int> changes{0};
  Reflector r(Options(), [&] { ++changes; });
  EXPECT_FALSE(r.synced());
  StartRunning(r);

  ASSERT_TRUE(WaitUntil([&] { return r.synced(); })) << r.Status();
  EXPECT_THAT(Names(r.Objects<Pod>()), ElementsAre("shop/cart-1", "shop/cart-2", "web/front-1"));
  EXPECT_EQ(r.resource_version(), absl::StrCat(listed));
  EXPECT_THAT(api_.lists(kPods), ElementsAre(StartsWith("/api/v1/pods?limit=2"),
                                             HasSubstr(absl::StrCat("continue=2/", listed))));
  ASSERT_TRUE(api_.WaitForWatch(kPods, absl::StrCat(listed)));

  api_.Put(kPods, PodJson("shop", "cart-3", "cart", {"10.244.1.9"}, true));      // ADDED
  api_.Put(kPods, PodJson("web", "front-1", "default", {"10.244.2.2"}, false));  // MODIFIED
  api_.Delete(kPods, "shop", "cart-1");                                          // DELETED
  const uint64_t bookmark = api_.Bookmark(kPods);                                // BOOKMARK
  ASSERT_TRUE(WaitUntil([&] { return r.resource_version() == absl::StrCat(bookmark); }))
      << r.Status();
  std::vector<Pod> pods = r.Objects<Pod>();
  EXPECT_THAT(Names(pods), ElementsAre("shop/cart-2", "shop/cart-3", "web/front-1"));
  EXPECT_THAT(pods[2].ips, ElementsAre("10.244.2.2"));
  EXPECT_EQ(pods[2].resource_version, absl::StrCat(bookmark - 2));
  EXPECT_GE(changes.load(), 4);  // the list and three events
  EXPECT_THAT(r.Status(),
              StartsWith(absl::StrCat("Pod: synced, 3 objects at resourceVersion ", bookmark)));
  EXPECT_EQ(api_.lists(kPods).size(), 2u);  // no relist
}

TEST_F(ReflectorTest, DroppedWatchResumesFromTheLastResourceVersion) {
  api_.Put(kPods, PodJson("shop", "cart-1", "cart", {"10.244.1.7"}, true));
  Reflector r(Options(), nullptr);
  StartRunning(r);
  ASSERT_TRUE(WaitUntil([&] { return r.synced(); })) << r.Status();
  const uint64_t added = api_.Put(kPods, PodJson("shop", "cart-2", "cart", {"10.244.1.8"}, true));
  const uint64_t bookmark = api_.Bookmark(kPods);
  ASSERT_TRUE(WaitUntil([&] { return r.resource_version() == absl::StrCat(bookmark); }));
  ASSERT_TRUE(api_.WaitForWatch(kPods, absl::StrCat(added - 1)));

  api_.DropWatches();  // mid-stream: no final chunk
  // Written while the client is away: the re-watch replays it.
  api_.Put(kPods, PodJson("shop", "cart-3", "cart", {"10.244.1.9"}, true));
  ASSERT_TRUE(api_.WaitForWatch(kPods, absl::StrCat(bookmark)));
  ASSERT_TRUE(WaitUntil([&] { return r.size() == 3; })) << r.Status();
  EXPECT_THAT(api_.watch_versions(kPods),
              ElementsAre(absl::StrCat(added - 1), absl::StrCat(bookmark)));
  EXPECT_EQ(api_.lists(kPods).size(), 1u);  // re-watched, not relisted
  EXPECT_THAT(r.Status(), HasSubstr("last error: "));

  // A clean end (the server's timeoutSeconds): watched again at once.
  const std::string before = r.resource_version();
  api_.EndWatches();
  ASSERT_TRUE(WaitUntil([&] { return api_.watch_versions(kPods).size() == 3; }));
  EXPECT_EQ(api_.watch_versions(kPods).back(), before);
  EXPECT_EQ(api_.lists(kPods).size(), 1u);
}

TEST_F(ReflectorTest, GoneEventMeansRelist) {
  api_.Put(kPods, PodJson("shop", "cart-1", "cart", {"10.244.1.7"}, true));
  Reflector r(Options(), nullptr);
  StartRunning(r);
  ASSERT_TRUE(WaitUntil([&] { return r.synced(); })) << r.Status();
  ASSERT_EQ(api_.lists(kPods).size(), 1u);
  ASSERT_TRUE(api_.WaitForWatch(kPods, r.resource_version()));

  api_.Compact();
  api_.DropWatches();  // the re-watch from the old version gets an ERROR 410 event
  // Meanwhile (events compacted away) cart-1 went and cart-2 came.
  api_.Delete(kPods, "shop", "cart-1");
  api_.Put(kPods, PodJson("shop", "cart-2", "cart", {"10.244.1.8"}, true));
  ASSERT_TRUE(api_.WaitForLists(kPods, 2));
  ASSERT_TRUE(WaitUntil([&] {
    std::vector<Pod> pods = r.Objects<Pod>();
    return pods.size() == 1 && pods[0].name == "cart-2";
  })) << r.Status();
  ASSERT_TRUE(api_.WaitForWatch(kPods, r.resource_version()));
  EXPECT_THAT(r.Status(), HasSubstr("ERROR event 410 Expired: too old resource version"));
}

TEST_F(ReflectorTest, GoneHttpStatusMeansRelist) {
  api_.SetGoneAsHttpStatus(true);
  Reflector r(Options(), nullptr);
  StartRunning(r);
  ASSERT_TRUE(WaitUntil([&] { return r.synced(); })) << r.Status();
  ASSERT_TRUE(api_.WaitForWatch(kPods, r.resource_version()));
  api_.Compact();
  api_.DropWatches();
  ASSERT_TRUE(api_.WaitForLists(kPods, 2));
  ASSERT_TRUE(WaitUntil([&] { return api_.watch_versions(kPods).size() >= 3; }));
  // The first watch, the refused one from the old version, the one after the relist.
  std::vector<std::string> versions = api_.watch_versions(kPods);
  EXPECT_EQ(versions[0], versions[1]);
  EXPECT_EQ(versions[2], absl::StrCat(api_.revision()));
  EXPECT_THAT(r.Status(), HasSubstr("HTTP 410"));
}

TEST_F(ReflectorTest, OversizedEventMeansRelist) {
  ReflectorOptions o = Options();
  o.max_event_bytes = 600;
  Reflector r(o, nullptr);
  StartRunning(r);
  ASSERT_TRUE(WaitUntil([&] { return r.synced(); })) << r.Status();
  nlohmann::json big = PodJson("shop", "big", "cart", {"10.244.1.7"}, true);
  big["metadata"]["labels"]["filler"] = std::string(1000, 'x');
  api_.Put(kPods, big);
  ASSERT_TRUE(api_.WaitForLists(kPods, 2));
  ASSERT_TRUE(WaitUntil([&] { return r.size() == 1; }));  // the list has no size cap per object
  EXPECT_THAT(r.Status(), HasSubstr("a watch event is larger than 600 bytes"));
}

TEST_F(ReflectorTest, StopEndsAnOpenWatchPromptly) {
  Reflector r(Options(), nullptr);
  StartRunning(r);
  ASSERT_TRUE(WaitUntil([&] { return r.synced(); }));
  ASSERT_TRUE(api_.WaitForWatch(kPods, r.resource_version()));
  const absl::Time start = absl::Now();
  StopRunning();
  EXPECT_LT(absl::Now() - start, absl::Seconds(5));
}

}  // namespace
}  // namespace tether::control::kubernetes
