#include "control/policy/policy_store.h"

#include <optional>
#include <utility>

#include <gtest/gtest.h>
#include <stdlib.h>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/files.h"

namespace tether::control {
namespace {

std::string TempDir() {
  std::string tmpl = absl::StrCat(getenv("TEST_TMPDIR"), "/policies-XXXXXX");
  EXPECT_NE(mkdtemp(tmpl.data()), nullptr);
  return tmpl + "/policies";  // Open creates it
}

std::string Allow(const std::string& name, const std::string& from_sa) {
  return absl::StrCat(
      "apiVersion: tether.io/v1\nkind: AuthorizationPolicy\nmetadata: {name: ", name,
      ", namespace: shop}\nspec:\n  rules: [{from: [{spiffeId: "
      "spiffe://mesh.test/ns/shop/sa/",
      from_sa, "}]}]\n");
}

constexpr char kMeshDeny[] =
    "apiVersion: tether.io/v1\nkind: DefaultPolicy\nmetadata: {name: mesh}\n"
    "spec: {default: DENY}\n";

TEST(PolicyStore, ApplyWritesOneFilePerResourceAndReportsWhatChanged) {
  const std::string dir = TempDir();
  auto store = PolicyStore::Open(dir);
  ASSERT_TRUE(store.ok()) << store.status();
  EXPECT_EQ((*store)->Current()->version, 0u);
  int notified = 0;
  (*store)->SetOnChange([&] { ++notified; });

  auto results = (*store)->Apply(absl::StrCat(Allow("cart", "web"), "---\n", kMeshDeny), "f.yaml");
  ASSERT_TRUE(results.ok()) << results.status();
  EXPECT_EQ(*results, (std::vector<std::string>{"DefaultPolicy mesh (mesh) created",
                                                "AuthorizationPolicy shop/cart created"}));
  EXPECT_EQ((*store)->Current()->version, 1u);
  EXPECT_EQ(notified, 1);
  EXPECT_TRUE(FileExists(dir + "/authorizationpolicy.shop.cart.yaml"));
  EXPECT_TRUE(FileExists(dir + "/defaultpolicy.mesh.mesh.yaml"));

  results = (*store)->Apply(Allow("cart", "web"), "f.yaml");
  EXPECT_EQ(results->front(), "AuthorizationPolicy shop/cart unchanged");
  EXPECT_EQ((*store)->Current()->version, 1u);
  EXPECT_EQ(notified, 1);
  results = (*store)->Apply(Allow("cart", "api"), "f.yaml");
  EXPECT_EQ(results->front(), "AuthorizationPolicy shop/cart configured");
  EXPECT_EQ((*store)->Current()->version, 2u);

  // A restart reads the same policy back.
  auto reopened = PolicyStore::Open(dir);
  ASSERT_TRUE(reopened.ok()) << reopened.status();
  ASSERT_EQ((*reopened)->Current()->set.policies.size(), 1u);
  EXPECT_EQ((*reopened)->Current()->set.policies[0].rules[0].from[0].value,
            "spiffe://mesh.test/ns/shop/sa/api");
}

TEST(PolicyStore, InvalidApplyChangesNothing) {
  auto store = PolicyStore::Open(TempDir());
  ASSERT_TRUE((*store)->Apply(Allow("cart", "web"), "a.yaml").ok());
  // The second document is invalid: the first must not be applied either.
  auto results = (*store)->Apply(
      absl::StrCat(Allow("orders", "web"), "---\n", Allow("bad", "web"), "  action: MAYBE\n"),
      "b.yaml");
  ASSERT_FALSE(results.ok());
  EXPECT_EQ(results.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(absl::StrContains(results.status().message(), "b.yaml: document 2"))
      << results.status();
  EXPECT_TRUE(absl::StrContains(results.status().message(), "spec.action"));
  EXPECT_EQ((*store)->Current()->set.policies.size(), 1u);
  EXPECT_EQ((*store)->Current()->version, 1u);
  // A second mesh default under another name is refused, not silently added.
  ASSERT_TRUE((*store)->Apply(kMeshDeny, "c.yaml").ok());
  auto other = (*store)->Apply(
      "apiVersion: tether.io/v1\nkind: DefaultPolicy\nmetadata: {name: other}\n"
      "spec: {default: ALLOW_AUTHENTICATED}\n",
      "d.yaml");
  EXPECT_EQ(other.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_TRUE(absl::StrContains(other.status().message(), "already has DefaultPolicy mesh"));
}

TEST(PolicyStore, HandEditsAreReloadedAndBrokenOnesKeepTheLastGoodPolicy) {
  const std::string dir = TempDir();
  auto store = PolicyStore::Open(dir);
  ASSERT_TRUE(WriteFileAtomic(dir + "/team.yaml",
                              absl::StrCat(Allow("cart", "web"), "---\n", Allow("orders", "web")))
                  .ok());
  auto changed = (*store)->ReloadIfChanged();
  ASSERT_TRUE(changed.ok() && *changed);
  EXPECT_EQ((*store)->Current()->set.policies.size(), 2u);
  EXPECT_FALSE(*(*store)->ReloadIfChanged());  // nothing new

  // Applying a resource that lives in a multi-document file is refused.
  auto applied = (*store)->Apply(Allow("cart", "api"), "x.yaml");
  EXPECT_EQ(applied.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_TRUE(absl::StrContains(applied.status().message(), "team.yaml"));
  EXPECT_EQ((*store)->Delete("AuthorizationPolicy", "shop", "cart").code(),
            absl::StatusCode::kFailedPrecondition);

  const uint64_t good = (*store)->Current()->version;
  ASSERT_TRUE(WriteFileAtomic(dir + "/team.yaml", "kind: [").ok());
  EXPECT_FALSE((*store)->ReloadIfChanged().ok());
  EXPECT_TRUE(absl::StrContains((*store)->reload_error(), "team.yaml"));
  EXPECT_EQ((*store)->Current()->version, good);
  EXPECT_EQ((*store)->Current()->set.policies.size(), 2u);

  // The same resource in two files is an error naming both.
  ASSERT_TRUE(WriteFileAtomic(dir + "/team.yaml", Allow("cart", "web")).ok());
  ASSERT_TRUE(WriteFileAtomic(dir + "/zz.yaml", Allow("cart", "web")).ok());
  auto dup = (*store)->ReloadIfChanged();
  ASSERT_FALSE(dup.ok());
  EXPECT_TRUE(absl::StrContains(dup.status().message(), "zz.yaml"));
  EXPECT_TRUE(absl::StrContains(dup.status().message(), "also defined in team.yaml"));
  EXPECT_EQ(PolicyStore::Open(dir).status().code(), absl::StatusCode::kInvalidArgument);

  // Fixed: reloaded, error cleared.
  ASSERT_EQ(unlink((dir + "/zz.yaml").c_str()), 0);
  ASSERT_TRUE((*store)->ReloadIfChanged().ok());
  EXPECT_EQ((*store)->reload_error(), "");
  EXPECT_EQ((*store)->Current()->set.policies.size(), 1u);
}

std::string Traffic(const std::string& ns, const std::string& name, const std::string& timeout) {
  return absl::StrCat("apiVersion: tether.io/v1\nkind: TrafficPolicy\nmetadata: {name: ", name,
                      ", namespace: ", ns, "}\nspec:\n  destination: {serviceAccount: ", name,
                      "}\n  timeout: ", timeout, "\n");
}

TEST(PolicyStore, TrafficPoliciesAreAppliedListedAndDeletedByKind) {
  const std::string dir = TempDir();
  auto store = PolicyStore::Open(dir);
  ASSERT_TRUE(store.ok()) << store.status();
  int notified = 0;
  (*store)->SetOnChange([&] { ++notified; });
  // An AuthorizationPolicy of the same namespace/name is another resource.
  auto applied = (*store)->Apply(
      absl::StrCat(Allow("cart", "web"), "---\n", Traffic("shop", "cart", "2s")), "a.yaml");
  ASSERT_TRUE(applied.ok()) << applied.status();
  EXPECT_EQ(*applied, (std::vector<std::string>{"AuthorizationPolicy shop/cart created",
                                                "TrafficPolicy shop/cart created"}));
  EXPECT_TRUE(FileExists(dir + "/trafficpolicy.shop.cart.yaml"));
  const uint64_t v1 = (*store)->Current()->version;
  ASSERT_EQ((*store)->Current()->set.traffic.size(), 1u);
  EXPECT_EQ((*store)->Current()->set.traffic[0].behaviour.timeout, absl::Seconds(2));

  applied = (*store)->Apply(Traffic("shop", "cart", "2s"), "a.yaml");
  EXPECT_EQ(applied->front(), "TrafficPolicy shop/cart unchanged");
  EXPECT_EQ((*store)->Current()->version, v1);
  // A change to a TrafficPolicy alone is a new version, and is announced.
  const int before = notified;
  applied = (*store)->Apply(Traffic("shop", "cart", "3s"), "a.yaml");
  EXPECT_EQ(applied->front(), "TrafficPolicy shop/cart configured");
  EXPECT_GT((*store)->Current()->version, v1);
  EXPECT_GT(notified, before);
  EXPECT_EQ((*store)->Current()->set.traffic[0].behaviour.timeout, absl::Seconds(3));

  // Invalid: refused whole, naming the field.
  auto bad = (*store)->Apply(Traffic("shop", "cart", "0s"), "b.yaml");
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(absl::StrContains(bad.status().message(),
                                "b.yaml: document 1 (shop/cart): "
                                "spec.timeout"))
      << bad.status();

  // A restart reads it back.
  auto reopened = PolicyStore::Open(dir);
  ASSERT_TRUE(reopened.ok()) << reopened.status();
  ASSERT_EQ((*reopened)->Current()->set.traffic.size(), 1u);

  ASSERT_TRUE((*store)->Delete("TrafficPolicy", "shop", "cart").ok());
  EXPECT_TRUE((*store)->Current()->set.traffic.empty());
  EXPECT_EQ((*store)->Current()->set.policies.size(), 1u);  // the other kind stays
  EXPECT_FALSE(FileExists(dir + "/trafficpolicy.shop.cart.yaml"));
  EXPECT_EQ((*store)->Delete("TrafficPolicy", "shop", "cart").code(), absl::StatusCode::kNotFound);
}

TEST(PolicyStore, DeleteRemovesTheResource) {
  const std::string dir = TempDir();
  auto store = PolicyStore::Open(dir);
  ASSERT_TRUE((*store)->Apply(absl::StrCat(Allow("cart", "web"), "---\n", kMeshDeny), "a").ok());
  EXPECT_EQ((*store)->Delete("AuthorizationPolicy", "shop", "nope").code(),
            absl::StatusCode::kNotFound);
  EXPECT_EQ((*store)->Delete("Pod", "shop", "cart").code(), absl::StatusCode::kInvalidArgument);
  ASSERT_TRUE((*store)->Delete("AuthorizationPolicy", "shop", "cart").ok());
  ASSERT_TRUE((*store)->Delete("DefaultPolicy", "", "mesh").ok());
  EXPECT_TRUE((*store)->Current()->set.policies.empty());
  EXPECT_TRUE((*store)->Current()->set.defaults.empty());
  EXPECT_FALSE(FileExists(dir + "/authorizationpolicy.shop.cart.yaml"));
  EXPECT_EQ((*store)->Current()->version, 3u);
}

// FakeSource: documents set by the test; ReadIfChanged returns them once
// after every Set, or the error set.
class FakeSource final : public PolicySource {
 public:
  absl::StatusOr<std::optional<PolicyDocuments>> ReadIfChanged() override {
    ++reads;
    if (!error.ok()) return error;
    if (!changed) return std::nullopt;
    changed = false;
    return docs;
  }
  std::string Describe() const override { return "the fake"; }
  std::string ReadOnlyMessage() const override { return "policies come from the fake; edit it"; }

  void Set(std::vector<PolicyDocument> documents, uint64_t revision) {
    docs.documents = std::move(documents);
    docs.revision = revision;
    changed = true;
  }

  PolicyDocuments docs;
  bool changed = true;
  absl::Status error;
  int reads = 0;
};

// ConfigMapDoc: documents of a ConfigMap `name` in namespace `ns`, as the
// Kubernetes source makes them (tether-system is the root namespace).
PolicyDocument ConfigMapDoc(const std::string& ns, const std::string& name, std::string yaml) {
  PolicyDocument doc;
  doc.origin = absl::StrCat("configmap ", ns, "/", name, " key p.yaml");
  doc.short_name = doc.origin;
  doc.yaml = std::move(yaml);
  doc.group = ns;
  doc.parse.scope_namespace = ns;
  doc.parse.scope_sets_mesh_default = ns == "tether-system";
  return doc;
}

std::string Policy(const std::string& ns, const std::string& name, const std::string& from_sa) {
  return absl::StrCat(
      "apiVersion: tether.io/v1\nkind: AuthorizationPolicy\nmetadata: {name: ", name,
      ", namespace: ", ns, "}\nspec:\n  rules: [{from: [{spiffeId: spiffe://mesh.test/ns/", ns,
      "/sa/", from_sa, "}]}]\n");
}

struct SourcedStore {
  FakeSource* source;
  std::unique_ptr<PolicyStore> store;
};

SourcedStore WithSource(std::vector<PolicyDocument> docs, uint64_t revision) {
  auto source = std::make_unique<FakeSource>();
  source->Set(std::move(docs), revision);
  FakeSource* raw = source.get();
  return {raw, PolicyStore::FromSource(std::move(source))};
}

TEST(PolicyStoreFromSource, ConfigMapsHoldTrafficPoliciesOfTheirNamespace) {
  auto [source, store] = WithSource(
      {ConfigMapDoc("shop", "p",
                    "apiVersion: tether.io/v1\nkind: TrafficPolicy\nmetadata: {name: cart}\n"
                    "spec: {destination: {serviceAccount: cart}, timeout: 1s}\n")},
      7);
  ASSERT_EQ(store->Current()->set.traffic.size(), 1u);
  EXPECT_EQ(store->Current()->set.traffic[0].namespace_name, "shop");
  // Another namespace's TrafficPolicy is refused there, like any policy.
  source->Set({ConfigMapDoc("shop", "p", Traffic("bank", "vault", "1s"))}, 8);
  auto reloaded = store->ReloadIfChanged();
  ASSERT_FALSE(reloaded.ok());
  EXPECT_TRUE(
      absl::StrContains(reloaded.status().message(), "may only define policies of namespace shop"))
      << reloaded.status();
  ASSERT_EQ(store->Current()->set.traffic.size(), 1u);  // the last valid one stays
  EXPECT_EQ(store->Current()->set.traffic[0].name, "cart");
}

TEST(PolicyStoreFromSource, LoadsNumbersByTheSourcesRevisionAndRefusesWrites) {
  auto [source, store] =
      WithSource({ConfigMapDoc("shop", "p", Policy("shop", "cart", "web"))}, 812);
  std::shared_ptr<const PolicyState> state = store->Current();
  EXPECT_TRUE(state->loaded);
  EXPECT_EQ(state->version, 812u);
  ASSERT_EQ(state->set.policies.size(), 1u);
  EXPECT_TRUE(state->Knows("shop"));
  EXPECT_EQ(store->reload_error(), "");
  EXPECT_EQ(store->source(), "the fake");

  auto applied = store->Apply(Policy("shop", "orders", "web"), "x.yaml");
  EXPECT_EQ(applied.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(applied.status().message(), "policies come from the fake; edit it");
  EXPECT_EQ(store->Delete("AuthorizationPolicy", "shop", "cart").code(),
            absl::StatusCode::kFailedPrecondition);

  // Unchanged: nothing is parsed or installed.
  EXPECT_FALSE(*store->ReloadIfChanged());
  // A change numbered below the current version still increases it.
  source->Set({ConfigMapDoc("shop", "p", Policy("shop", "cart", "api"))}, 5);
  ASSERT_TRUE(*store->ReloadIfChanged());
  EXPECT_EQ(store->Current()->version, 813u);
  source->Set({ConfigMapDoc("shop", "p", Policy("shop", "cart", "web"))}, 900);
  ASSERT_TRUE(*store->ReloadIfChanged());
  EXPECT_EQ(store->Current()->version, 900u);
}

TEST(PolicyStoreFromSource, ANamespacesInvalidDocumentsKeepItsPreviousPolicyAndHoldUpNoOther) {
  auto [source, store] = WithSource({ConfigMapDoc("bank", "p", Policy("bank", "vault", "teller")),
                                     ConfigMapDoc("shop", "p", Policy("shop", "cart", "web"))},
                                    10);
  int notified = 0;
  store->SetOnChange([&] { ++notified; });
  ASSERT_EQ(store->Current()->set.policies.size(), 2u);

  // bank's ConfigMap now also defines a policy for shop: refused; bank's
  // previous policy stays, and shop's change (in the same read) goes on.
  source->Set({ConfigMapDoc("bank", "p",
                            absl::StrCat(Policy("bank", "vault", "auditor"), "---\n",
                                         Policy("shop", "cart", "bank-teller"))),
               ConfigMapDoc("shop", "p", Policy("shop", "cart", "api"))},
              20);
  absl::StatusOr<bool> reloaded = store->ReloadIfChanged();
  ASSERT_FALSE(reloaded.ok());
  EXPECT_EQ(reloaded.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(store->reload_error(),
            "configmap bank/p key p.yaml: document 2 (shop/cart): metadata.namespace: \"shop\" is "
            "not bank: documents from namespace bank may only define policies of namespace bank");
  EXPECT_EQ(notified, 1);
  std::shared_ptr<const PolicyState> state = store->Current();
  EXPECT_EQ(state->version, 20u);
  ASSERT_EQ(state->set.policies.size(), 2u);
  EXPECT_EQ(state->set.policies[0].name, "vault");
  EXPECT_EQ(state->set.policies[0].rules[0].from[0].value,
            "spiffe://mesh.test/ns/bank/sa/teller");  // the previous one
  EXPECT_EQ(state->set.policies[1].rules[0].from[0].value, "spiffe://mesh.test/ns/shop/sa/api");
  EXPECT_TRUE(state->Knows("bank"));

  // Still broken on the next read of the same documents: nothing changes,
  // the error stays until the ConfigMap is fixed.
  EXPECT_FALSE(*store->ReloadIfChanged());
  EXPECT_NE(store->reload_error(), "");
  source->Set({ConfigMapDoc("bank", "p", Policy("bank", "vault", "auditor")),
               ConfigMapDoc("shop", "p", Policy("shop", "cart", "api"))},
              30);
  ASSERT_TRUE(*store->ReloadIfChanged());
  EXPECT_EQ(store->reload_error(), "");
  EXPECT_EQ(store->Current()->set.policies[0].rules[0].from[0].value,
            "spiffe://mesh.test/ns/bank/sa/auditor");

  // The same resource in two ConfigMaps of a namespace: an error naming both.
  source->Set({ConfigMapDoc("bank", "p", Policy("bank", "vault", "auditor")),
               ConfigMapDoc("bank", "q", Policy("bank", "vault", "teller"))},
              40);
  EXPECT_FALSE(store->ReloadIfChanged().ok());
  EXPECT_EQ(store->reload_error(),
            "configmap bank/q key p.yaml: AuthorizationPolicy bank/vault is also defined in "
            "configmap bank/p key p.yaml");
  // shop's ConfigMaps are gone: its policy with them.
  ASSERT_EQ(store->Current()->set.policies.size(), 1u);
  EXPECT_EQ(store->Current()->set.policies[0].namespace_name, "bank");
}

TEST(PolicyStoreFromSource, WhatWasNeverValidIsUnknownNotEmpty) {
  auto [source, store] = WithSource({ConfigMapDoc("bank", "p", "kind: ["),
                                     ConfigMapDoc("shop", "p", Policy("shop", "cart", "web"))},
                                    10);
  std::shared_ptr<const PolicyState> state = store->Current();
  EXPECT_TRUE(state->loaded);
  EXPECT_FALSE(state->Knows("bank"));  // no valid version to keep: not "no policy"
  EXPECT_TRUE(state->Knows("shop"));
  EXPECT_TRUE(
      absl::StrContains(store->reload_error(), "configmap bank/p key p.yaml: not valid YAML"))
      << store->reload_error();

  // The root namespace's documents hold the mesh-wide default: when they
  // were never valid, no workload's policy is known.
  source->Set({ConfigMapDoc("tether-system", "mesh", "kind: DefaultPolicy\nspec: 1\n"),
               ConfigMapDoc("shop", "p", Policy("shop", "cart", "web"))},
              20);
  EXPECT_FALSE(store->ReloadIfChanged().ok());
  EXPECT_FALSE(store->Current()->Knows("shop"));
  source->Set(
      {ConfigMapDoc("tether-system", "mesh",
                    "apiVersion: tether.io/v1\nkind: DefaultPolicy\nmetadata: {name: mesh}\n"
                    "spec: {default: DENY}\n"),
       ConfigMapDoc("shop", "p", Policy("shop", "cart", "web"))},
      30);
  ASSERT_TRUE(*store->ReloadIfChanged());
  state = store->Current();
  EXPECT_TRUE(state->Knows("shop"));
  EXPECT_TRUE(state->Knows("bank"));  // bank's ConfigMap is gone
  ASSERT_EQ(state->set.defaults.size(), 1u);
  EXPECT_EQ(state->set.defaults[0].namespace_name, "");
}

// A control plane that restarts while a namespace's ConfigMap is broken
// enforces the last valid version it kept on disk, not none; a kept file
// that is corrupt is as good as none (the namespace is unknown).
TEST(PolicyStoreFromSource, TheLastValidVersionOutlivesARestart) {
  const std::string cache = TempDir() + "/last-good";
  {
    auto source = std::make_unique<FakeSource>();
    source->Set({ConfigMapDoc("bank", "p", Policy("bank", "vault", "teller"))}, 10);
    auto store = PolicyStore::FromSource(std::move(source), cache);
    ASSERT_EQ(store->Current()->set.policies.size(), 1u);
  }
  auto source = std::make_unique<FakeSource>();
  source->Set({ConfigMapDoc("bank", "p", "kind: ["),
               ConfigMapDoc("shop", "p", Policy("shop", "cart", "web"))},
              20);
  auto store = PolicyStore::FromSource(std::move(source), cache);
  std::shared_ptr<const PolicyState> state = store->Current();
  EXPECT_TRUE(state->Knows("bank"));
  ASSERT_EQ(state->set.policies.size(), 2u);
  EXPECT_EQ(state->set.policies[0].rules[0].from[0].value, "spiffe://mesh.test/ns/bank/sa/teller");
  EXPECT_TRUE(absl::StrContains(store->reload_error(), "enforcing the last valid version, kept in"))
      << store->reload_error();

  // Without the kept file (here: corrupt), bank is unknown again.
  const std::string bank_file = PolicyCache(cache).Path("bank");
  ASSERT_TRUE(WriteFileAtomic(bank_file, "{not json").ok());
  auto fresh_source = std::make_unique<FakeSource>();
  fresh_source->Set({ConfigMapDoc("bank", "p", "kind: [")}, 30);
  auto fresh = PolicyStore::FromSource(std::move(fresh_source), cache);
  EXPECT_FALSE(fresh->Current()->Knows("bank"));
}

TEST(PolicyStoreFromSource, AnUnreadableSourceKeepsThePolicyAndSaysWhy) {
  auto source = std::make_unique<FakeSource>();
  FakeSource* fake = source.get();
  fake->error = absl::UnavailableError("cannot connect to 10.96.0.1:443: Connection refused");
  auto store = PolicyStore::FromSource(std::move(source));
  EXPECT_FALSE(store->Current()->loaded);
  EXPECT_FALSE(store->Current()->Knows("shop"));
  EXPECT_EQ(store->reload_error(),
            "cannot read the policies from the fake: cannot connect to 10.96.0.1:443: Connection "
            "refused");

  fake->error = absl::OkStatus();
  fake->Set({ConfigMapDoc("shop", "p", Policy("shop", "cart", "web"))}, 7);
  ASSERT_TRUE(*store->ReloadIfChanged());
  EXPECT_TRUE(store->Current()->loaded);
  EXPECT_EQ(store->reload_error(), "");

  fake->error = absl::UnavailableError("timed out");
  absl::StatusOr<bool> reloaded = store->ReloadIfChanged();
  EXPECT_EQ(reloaded.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(store->Current()->version, 7u);
  EXPECT_EQ(store->Current()->set.policies.size(), 1u);
  EXPECT_TRUE(absl::StrContains(store->reload_error(), "timed out"));
  // Reachable again with nothing new: the error is gone.
  fake->error = absl::OkStatus();
  EXPECT_FALSE(*store->ReloadIfChanged());
  EXPECT_EQ(store->reload_error(), "");
}

}  // namespace
}  // namespace tether::control
