#include "control/discovery/endpoint_registry.h"

#include <atomic>

#include <gtest/gtest.h>

#include "common/files.h"
#include "common/testing/fake_clock.h"
#include "control/discovery/discovery_update.h"

namespace tether::control {
namespace {

pki::SpiffeId Id(const std::string& sa) { return *pki::SpiffeId::Make("mesh.local", "shop", sa); }

EndpointAddress Addr(const std::string& text) { return *ParseEndpointAddress(text); }

std::string TempPath() {
  static int n = 0;
  return absl::StrCat(::testing::TempDir(), "/endpoints-", getpid(), "-", n++, ".json");
}

Endpoint Pod(const std::string& ip, const std::string& id) {
  Endpoint e;
  e.ip = ip;
  if (!id.empty()) e.identities = {id};
  e.source = EndpointSource::kKubernetesPod;
  e.origin = "pod shop/" + ip;
  return e;
}

TEST(EndpointRegistry, AJoinTokenBindingIsAnEntryAndReplacesTheWorkloadsEarlierOne) {
  FakeClock clock;
  auto reg = EndpointRegistry::Load("", &clock);
  ASSERT_TRUE(reg.ok());
  std::atomic<int> changes{0};
  (*reg)->SetOnChange([&] { ++changes; });
  const uint64_t v0 = (*reg)->Current()->version;
  ASSERT_TRUE((*reg)->BindJoinToken(Id("cart"), {Addr("10.0.0.5"), Addr("10.0.0.6:8080")}).ok());
  auto s1 = (*reg)->Current();
  EXPECT_GT(s1->version, v0);
  ASSERT_EQ(s1->endpoints.size(), 2u);
  EXPECT_EQ(s1->endpoints[0].ip, "10.0.0.5");
  EXPECT_EQ(s1->endpoints[0].port, 0);
  EXPECT_EQ(s1->endpoints[0].identities, std::vector<std::string>{Id("cart").ToString()});
  EXPECT_EQ(s1->endpoints[0].source, EndpointSource::kJoinToken);
  EXPECT_EQ(s1->endpoints[1].port, 8080);
  EXPECT_EQ(changes, 1);

  // The same again changes nothing: no new version, no callback.
  ASSERT_TRUE((*reg)->BindJoinToken(Id("cart"), {Addr("10.0.0.5"), Addr("10.0.0.6:8080")}).ok());
  EXPECT_EQ((*reg)->Current()->version, s1->version);
  EXPECT_EQ(changes, 1);

  // A newer token of the workload moves it.
  ASSERT_TRUE((*reg)->BindJoinToken(Id("cart"), {Addr("10.0.0.7")}).ok());
  auto s2 = (*reg)->Current();
  ASSERT_EQ(s2->endpoints.size(), 1u);
  EXPECT_EQ(s2->endpoints[0].ip, "10.0.0.7");
  EXPECT_GT(s2->version, s1->version);
  EXPECT_EQ(changes, 2);
}

TEST(EndpointRegistry, BindingsSurviveARestartAndACorruptFileIsAnError) {
  FakeClock clock;
  const std::string path = TempPath();
  uint64_t version;
  {
    auto reg = EndpointRegistry::Load(path, &clock);
    ASSERT_TRUE(reg.ok());
    ASSERT_TRUE((*reg)->BindJoinToken(Id("cart"), {Addr("10.0.0.5")}).ok());
    ASSERT_TRUE((*reg)->BindJoinToken(Id("web"), {Addr("[fd00::2]:80")}).ok());
    version = (*reg)->Current()->version;
  }
  clock.Advance(absl::Seconds(5));
  auto again = EndpointRegistry::Load(path, &clock);
  ASSERT_TRUE(again.ok()) << again.status();
  auto snap = (*again)->Current();
  ASSERT_EQ(snap->endpoints.size(), 2u);
  EXPECT_EQ(snap->endpoints[0].ip, "10.0.0.5");
  EXPECT_EQ(snap->endpoints[1].ip, "fd00::2");
  EXPECT_EQ(snap->endpoints[1].port, 80);
  // A restarted registry's versions are above those it had sent.
  EXPECT_GT(snap->version, version);

  ASSERT_TRUE(WriteFileAtomic(path, "{\"join_token_bindings\": {\"spiffe://x/y\": [1]}}").ok());
  auto corrupt = EndpointRegistry::Load(path, &clock);
  ASSERT_FALSE(corrupt.ok());
  EXPECT_NE(corrupt.status().message().find(path), std::string::npos);
  ASSERT_TRUE(WriteFileAtomic(path, "not json").ok());
  EXPECT_FALSE(EndpointRegistry::Load(path, &clock).ok());
}

TEST(EndpointRegistry, AnUnwritableStoreRefusesTheBindingAndChangesNothing) {
  FakeClock clock;
  auto reg = EndpointRegistry::Load("/nonexistent-dir/endpoints.json", &clock);
  ASSERT_TRUE(reg.ok());
  absl::Status st = (*reg)->BindJoinToken(Id("cart"), {Addr("10.0.0.5")});
  EXPECT_EQ(st.code(), absl::StatusCode::kUnavailable);
  EXPECT_TRUE((*reg)->Current()->endpoints.empty());
}

TEST(EndpointRegistry, TooManyAddressesAreRefused) {
  FakeClock clock;
  auto reg = EndpointRegistry::Load("", &clock);
  std::vector<EndpointAddress> many;
  for (int i = 0; i <= static_cast<int>(kMaxAddressesPerWorkload); ++i) {
    many.push_back(Addr(absl::StrCat("10.0.1.", i)));
  }
  EXPECT_EQ((*reg)->BindJoinToken(Id("cart"), many).code(), absl::StatusCode::kInvalidArgument);
}

TEST(EndpointRegistry, KubernetesSetIsReplacedWholeAndMergedWithBindings) {
  FakeClock clock;
  auto reg = EndpointRegistry::Load("", &clock);
  (*reg)->SetKubernetes({Pod("10.1.0.2", Id("web").ToString()), Pod("10.1.0.3", "")});
  auto s1 = (*reg)->Current();
  ASSERT_EQ(s1->endpoints.size(), 2u);
  EXPECT_TRUE(s1->endpoints[1].identities.empty());  // known, not meshed
  // The same address from both sources: one entry with both identities.
  ASSERT_TRUE((*reg)->BindJoinToken(Id("vm"), {Addr("10.1.0.2")}).ok());
  auto s2 = (*reg)->Current();
  ASSERT_EQ(s2->endpoints.size(), 2u);
  EXPECT_EQ(s2->endpoints[0].identities,
            (std::vector<std::string>{Id("vm").ToString(), Id("web").ToString()}));
  // A new Kubernetes set drops what it no longer lists.
  (*reg)->SetKubernetes({});
  auto s3 = (*reg)->Current();
  ASSERT_EQ(s3->endpoints.size(), 1u);
  EXPECT_EQ(s3->endpoints[0].identities, std::vector<std::string>{Id("vm").ToString()});
  EXPECT_GT(s3->version, s2->version);
}

TEST(EndpointRegistry, IncompleteUntilTheKubernetesSetArrivesEvenAnEmptyOne) {
  FakeClock clock;
  auto reg = EndpointRegistry::Load("", &clock);
  std::atomic<int> changes{0};
  (*reg)->SetOnChange([&] { ++changes; });
  (*reg)->ExpectKubernetes();
  EXPECT_FALSE((*reg)->Current()->complete);
  const uint64_t before = (*reg)->Current()->version;
  (*reg)->SetKubernetes({});
  EXPECT_TRUE((*reg)->Current()->complete);
  EXPECT_GT((*reg)->Current()->version, before);
  EXPECT_EQ(changes, 1);  // streams are told, though no entry changed
}

TEST(DiscoveryUpdate, ADeltaHoldsExactlyWhatChanged) {
  FakeClock clock;
  auto reg = EndpointRegistry::Load("", &clock);
  (*reg)->SetKubernetes({Pod("10.1.0.2", Id("a").ToString()), Pod("10.1.0.3", Id("b").ToString()),
                         Pod("10.1.0.4", Id("c").ToString())});
  auto from = (*reg)->Current();
  (*reg)->SetKubernetes({Pod("10.1.0.2", Id("a").ToString()), Pod("10.1.0.3", Id("x").ToString()),
                         Pod("10.1.0.5", Id("d").ToString())});
  auto to = (*reg)->Current();
  auto full = FullUpdate(*to);
  EXPECT_TRUE(full.full());
  EXPECT_EQ(full.version(), to->version);
  EXPECT_EQ(full.endpoints_size(), 3);
  auto delta = DeltaUpdate(*from, *to);
  EXPECT_FALSE(delta.full());
  EXPECT_EQ(delta.version(), to->version);
  ASSERT_EQ(delta.endpoints_size(), 2);  // .3 changed, .5 new; .2 unchanged
  EXPECT_EQ(delta.endpoints(0).ip(), "10.1.0.3");
  EXPECT_EQ(delta.endpoints(0).identities(0), Id("x").ToString());
  EXPECT_EQ(delta.endpoints(1).ip(), "10.1.0.5");
  EXPECT_EQ(delta.endpoints(1).source(), "kubernetes_pod");
  ASSERT_EQ(delta.removed_size(), 1);
  EXPECT_EQ(delta.removed(0).ip(), "10.1.0.4");
}

}  // namespace
}  // namespace tether::control
