#include "control/policy/policy_store.h"

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

}  // namespace
}  // namespace tether::control
