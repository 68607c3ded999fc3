#include "control/inject/json_patch.h"

#include "control/inject/injector.h"
#include "gtest/gtest.h"

namespace tether::control::inject {
namespace {

// Check: the patch turns `from` into `to` (applied by nlohmann's RFC 6902
// implementation) and has the expected operations.
void Check(const Json& from, const Json& to, const Json& expected_ops) {
  const Json patch = CreateJsonPatch(from, to);
  EXPECT_EQ(patch, expected_ops) << patch.dump();
  EXPECT_EQ(from.patch(patch), to) << patch.dump();
}

TEST(JsonPatchTest, Objects) {
  Check(Json::parse(R"({"a":1,"b":{"c":2}})"), Json::parse(R"({"a":1,"b":{"c":3},"d":[]})"),
        Json::parse(R"([{"op":"replace","path":"/b/c","value":3},
                        {"op":"add","path":"/d","value":[]}])"));
  Check(Json::parse(R"({"a":1,"b":2})"), Json::parse(R"({"b":2})"),
        Json::parse(R"([{"op":"remove","path":"/a"}])"));
  Check(Json::parse(R"({"x":1})"), Json::parse(R"({"x":1})"), Json::array());
}

TEST(JsonPatchTest, KeysAreEscaped) {
  Check(Json::parse(R"({"annotations":{}})"),
        Json::parse(R"({"annotations":{"tether.io/status":"s","a~b":"t"}})"),
        Json::parse(R"([{"op":"add","path":"/annotations/tether.io~1status","value":"s"},
                        {"op":"add","path":"/annotations/a~0b","value":"t"}])"));
}

TEST(JsonPatchTest, ArraysGainAndLoseElementsInPlace) {
  Check(Json::parse(R"({"l":[3,4]})"), Json::parse(R"({"l":[1,2,3,4]})"),
        Json::parse(
            R"([{"op":"add","path":"/l/0","value":1},{"op":"add","path":"/l/1","value":2}])"));
  Check(Json::parse(R"({"l":[1,2]})"), Json::parse(R"({"l":[1,2,3]})"),
        Json::parse(R"([{"op":"add","path":"/l/2","value":3}])"));
  Check(Json::parse(R"({"l":[1,4]})"), Json::parse(R"({"l":[1,2,3,4]})"),
        Json::parse(
            R"([{"op":"add","path":"/l/1","value":2},{"op":"add","path":"/l/2","value":3}])"));
  Check(Json::parse(R"({"l":[1,2,3,4]})"), Json::parse(R"({"l":[1,4]})"),
        Json::parse(R"([{"op":"remove","path":"/l/1"},{"op":"remove","path":"/l/1"}])"));
  Check(Json::parse(R"({"l":[1,2,3]})"), Json::parse(R"({"l":[1,5,3]})"),
        Json::parse(R"([{"op":"replace","path":"/l/1","value":5}])"));
  Check(Json::parse(R"({"l":[1,2,3]})"), Json::parse(R"({"l":[4,5]})"),
        Json::parse(R"([{"op":"replace","path":"/l","value":[4,5]}])"));
}

TEST(JsonPatchTest, TypeChangesAndTheRoot) {
  Check(Json::parse(R"({"a":{"b":1}})"), Json::parse(R"({"a":[1]})"),
        Json::parse(R"([{"op":"replace","path":"/a","value":[1]}])"));
  Check(Json(1), Json("x"), Json::parse(R"([{"op":"replace","path":"","value":"x"}])"));
}

TEST(JsonPatchTest, InjectedPodPatchOnlyAdds) {
  const Json pod = Json::parse(R"({
    "apiVersion": "v1", "kind": "Pod",
    "metadata": {"generateName": "web-", "namespace": "shop", "annotations": {"a": "b"}},
    "spec": {"initContainers": [{"name": "setup", "image": "busybox"}],
             "containers": [{"name": "web", "image": "nginx"}],
             "volumes": [{"name": "data", "emptyDir": {}}]}})");
  Json injected = pod;
  ASSERT_TRUE(InjectObject(injected, InjectOptions()).ok());
  const Json patch = CreateJsonPatch(pod, injected);
  EXPECT_EQ(pod.patch(patch), injected);
  for (const Json& op : patch) {
    EXPECT_EQ(op["op"], "add") << op.dump();
  }
  ASSERT_EQ(patch.size(), 5u) << patch.dump();
  EXPECT_EQ(patch[0]["path"], "/metadata/annotations/tether.io~1status");
  EXPECT_EQ(patch[1]["path"], "/spec/initContainers/0");
  EXPECT_EQ(patch[1]["value"]["name"], "tether-init");
  EXPECT_EQ(patch[2]["path"], "/spec/initContainers/1");
  EXPECT_EQ(patch[2]["value"]["name"], "tether-proxy");
  EXPECT_EQ(patch[3]["path"], "/spec/volumes/1");
  EXPECT_EQ(patch[4]["path"], "/spec/volumes/2");
}

}  // namespace
}  // namespace tether::control::inject
