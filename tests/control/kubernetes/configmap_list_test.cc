#include "control/kubernetes/configmap_list.h"

#include <cstdlib>
#include <string>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "absl/strings/str_cat.h"
#include "common/files.h"

namespace tether::control::kubernetes {
namespace {

using ::testing::ElementsAre;
using ::testing::Pair;
using ::testing::StartsWith;

// Corpus reads one of the fuzz target's seeds: real-shaped API answers.
std::string Corpus(const std::string& name) {
  absl::StatusOr<std::string> json = ReadFile(
      absl::StrCat(getenv("TEST_SRCDIR"), "/tether/tests/fuzz/corpus/configmap_list/", name));
  EXPECT_TRUE(json.ok()) << json.status();
  return json.ok() ? *json : "";
}

std::string Error(absl::string_view json) {
  absl::StatusOr<ConfigMapList> list = ParseConfigMapList(json);
  EXPECT_FALSE(list.ok()) << json;
  if (list.ok()) return "";
  EXPECT_EQ(list.status().code(), absl::StatusCode::kUnavailable);
  return std::string(list.status().message());
}

TEST(ConfigMapList, ReadsWhatARealApiServerAnswers) {
  absl::StatusOr<ConfigMapList> list = ParseConfigMapList(Corpus("two_namespaces.json"));
  ASSERT_TRUE(list.ok()) << list.status();
  EXPECT_EQ(list->resource_version, "1284467");
  EXPECT_EQ(list->continue_token, "");
  ASSERT_EQ(list->items.size(), 2u);
  const ConfigMap& shop = list->items[0];
  EXPECT_EQ(shop.namespace_name, "shop");
  EXPECT_EQ(shop.name, "shop-policies");
  EXPECT_EQ(shop.resource_version, "1284133");
  ASSERT_EQ(shop.data.size(), 3u);
  EXPECT_EQ(shop.data[0].first, "README");
  EXPECT_EQ(shop.data[1].first, "cart.yaml");
  EXPECT_THAT(shop.data[1].second, StartsWith("apiVersion: tether.io/v1\nkind: Authorization"));
  EXPECT_EQ(shop.data[2].first, "default.yml");
  const ConfigMap& mesh = list->items[1];
  EXPECT_EQ(mesh.namespace_name, "tether-system");
  EXPECT_THAT(mesh.data,
              ElementsAre(Pair("mesh.yaml", StartsWith("apiVersion"))));  // no binaryData
}

TEST(ConfigMapList, PagesEmptyListsAndConfigMapsWithoutData) {
  absl::StatusOr<ConfigMapList> page = ParseConfigMapList(Corpus("first_page.json"));
  ASSERT_TRUE(page.ok()) << page.status();
  EXPECT_EQ(page->continue_token,
            "eyJ2IjoibWV0YS5rOHMuaW8vdjEiLCJydiI6NDgyMjAsInN0YXJ0Ijoic2hvcC9wb2xpY2llc1x1MDAwMCJ9");
  EXPECT_EQ(page->items.size(), 1u);
  absl::StatusOr<ConfigMapList> empty = ParseConfigMapList(Corpus("empty.json"));
  ASSERT_TRUE(empty.ok()) << empty.status();
  EXPECT_TRUE(empty->items.empty());
  absl::StatusOr<ConfigMapList> no_data = ParseConfigMapList(Corpus("no_data.json"));
  ASSERT_TRUE(no_data.ok()) << no_data.status();
  ASSERT_EQ(no_data->items.size(), 2u);
  EXPECT_TRUE(no_data->items[0].data.empty());
  EXPECT_TRUE(no_data->items[1].data.empty());
  absl::StatusOr<ConfigMapList> null_items = ParseConfigMapList(
      R"({"kind":"ConfigMapList","apiVersion":"v1","metadata":{"resourceVersion":"5"},"items":null})");
  ASSERT_TRUE(null_items.ok()) << null_items.status();
  EXPECT_TRUE(null_items->items.empty());
}

TEST(ConfigMapList, AnythingElseIsTheApiServersFault) {
  EXPECT_EQ(Error(Corpus("status_forbidden.json")),
            "malformed ConfigMapList: kind is not ConfigMapList");
  EXPECT_EQ(Error(Corpus("truncated.json")), "malformed ConfigMapList: not valid JSON");
  EXPECT_EQ(Error(Corpus("bad_name.json")),
            "malformed ConfigMapList: items[0].metadata.name is not an object name");
  EXPECT_EQ(Error(Corpus("non_string_value.json")),
            "malformed ConfigMapList: ConfigMap shop/p: data.a.yaml is not a string");
  const std::string head = R"({"kind":"ConfigMapList","apiVersion":"v1",)";
  EXPECT_EQ(Error("[]"), "malformed ConfigMapList: not a JSON object");
  EXPECT_EQ(Error(R"({"kind":"ConfigMapList","apiVersion":"v2","metadata":{}})"),
            "malformed ConfigMapList: apiVersion is not v1");
  EXPECT_EQ(Error(head + R"("metadata":{"resourceVersion":7}})"),
            "malformed ConfigMapList: metadata.resourceVersion is not a string");
  EXPECT_EQ(Error(head + R"("metadata":{"resourceVersion":"7","continue":"a\u0001b"}})"),
            "malformed ConfigMapList: metadata.continue is not printable ASCII");
  EXPECT_EQ(Error(head + R"("metadata":{"resourceVersion":"7"},"items":{}})"),
            "malformed ConfigMapList: items is not a list");
  EXPECT_EQ(Error(head + R"("metadata":{"resourceVersion":"7"},"items":[{"metadata":)"
                         R"({"name":"p","namespace":"Shop","resourceVersion":"1"}}]})"),
            "malformed ConfigMapList: items[0].metadata.namespace is not a namespace name");
  EXPECT_EQ(Error(head + R"("metadata":{"resourceVersion":"7"},"items":[{"metadata":)"
                         R"({"name":"p","namespace":"shop"}}]})"),
            "malformed ConfigMapList: ConfigMap shop/p has no resourceVersion");
  EXPECT_EQ(Error(head + R"("metadata":{"resourceVersion":"7"},"items":[{"metadata":)"
                         R"({"name":"p","namespace":"shop","resourceVersion":"1"},)"
                         R"("data":{"a b\n.yaml":"x"}}]})"),
            "malformed ConfigMapList: ConfigMap shop/p: key \"a b\\x0a.yaml\" is not a valid key");
  EXPECT_EQ(Error(std::string((size_t{1} << 20) + 1, ' ')),
            "malformed ConfigMapList: larger than 1 MiB");
}

}  // namespace
}  // namespace tether::control::kubernetes
