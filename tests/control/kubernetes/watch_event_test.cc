#include "control/kubernetes/watch_event.h"

#include <cstdlib>
#include <string>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "absl/strings/str_cat.h"
#include "common/files.h"

namespace tether::control::kubernetes {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::StartsWith;

// Corpus reads one of the fuzz target's seeds: real-shaped API answers.
std::string Corpus(const std::string& name) {
  absl::StatusOr<std::string> json =
      ReadFile(absl::StrCat(getenv("TEST_SRCDIR"), "/tether/tests/fuzz/corpus/watch_event/", name));
  EXPECT_TRUE(json.ok()) << json.status();
  return json.ok() ? *json : "";
}

std::string EventError(ResourceKind kind, absl::string_view line) {
  absl::StatusOr<WatchEvent> e = ParseWatchEvent(kind, line);
  EXPECT_FALSE(e.ok()) << line;
  if (e.ok()) return "";
  EXPECT_EQ(e.status().code(), absl::StatusCode::kUnavailable);
  return std::string(e.status().message());
}

TEST(WatchEvent, ReadsAnInjectedDualStackPod) {
  absl::StatusOr<WatchEvent> e = ParseWatchEvent(ResourceKind::kPod, Corpus("pod_added.json"));
  ASSERT_TRUE(e.ok()) << e.status();
  EXPECT_EQ(e->type, WatchEventType::kAdded);
  EXPECT_EQ(e->resource_version, "48213");
  ASSERT_TRUE(e->object.has_value());
  const Pod& pod = std::get<Pod>(*e->object);
  EXPECT_EQ(pod.namespace_name, "shop");
  EXPECT_EQ(pod.name, "cart-7d9f8b6c5-x2k4p");
  EXPECT_EQ(pod.service_account, "cart");
  EXPECT_THAT(pod.ips, ElementsAre("10.244.1.7", "fd00:10:244:1::7"));
  EXPECT_EQ(pod.phase, "Running");
  EXPECT_TRUE(pod.ready);
  EXPECT_TRUE(pod.injected);
  EXPECT_FALSE(pod.host_network);
  EXPECT_EQ(ObjectKey(*e->object), "shop/cart-7d9f8b6c5-x2k4p");
}

TEST(WatchEvent, DefaultsAndConditions) {
  absl::StatusOr<WatchEvent> e =
      ParseWatchEvent(ResourceKind::kPod, Corpus("pod_modified_unready.json"));
  ASSERT_TRUE(e.ok()) << e.status();
  EXPECT_EQ(e->type, WatchEventType::kModified);
  const Pod& pod = std::get<Pod>(*e->object);
  EXPECT_EQ(pod.service_account, "default");
  EXPECT_FALSE(pod.ready);
  EXPECT_FALSE(pod.injected);

  e = ParseWatchEvent(ResourceKind::kPod, Corpus("pod_deleted_hostnetwork.json"));
  ASSERT_TRUE(e.ok()) << e.status();
  EXPECT_EQ(e->type, WatchEventType::kDeleted);
  EXPECT_TRUE(std::get<Pod>(*e->object).host_network);
}

TEST(WatchEvent, PodIpWithoutPodIpsAndCanonicalText) {
  absl::StatusOr<WatchEvent> e = ParseWatchEvent(
      ResourceKind::kPod,
      R"({"type":"ADDED","object":{"metadata":{"name":"p","namespace":"n","resourceVersion":"7"},)"
      R"("status":{"phase":"Pending","podIP":"FD00:0:0::0001"}}})");
  ASSERT_TRUE(e.ok()) << e.status();
  EXPECT_THAT(std::get<Pod>(*e->object).ips, ElementsAre("fd00::1"));
}

TEST(WatchEvent, ReadsServicesSkippingHeadless) {
  absl::StatusOr<WatchEvent> e =
      ParseWatchEvent(ResourceKind::kService, Corpus("service_added.json"));
  ASSERT_TRUE(e.ok()) << e.status();
  const Service& svc = std::get<Service>(*e->object);
  EXPECT_EQ(svc.name, "cart");
  EXPECT_THAT(svc.cluster_ips, ElementsAre("10.96.12.34", "fd00:10:96::1234"));
  ASSERT_EQ(svc.ports.size(), 2u);
  EXPECT_EQ(svc.ports[0].port, 80);
  EXPECT_EQ(svc.ports[0].protocol, "TCP");
  EXPECT_EQ(svc.ports[1].protocol, "UDP");

  EXPECT_EQ(svc.ports[0].name, "http");
  EXPECT_EQ(svc.ports[0].target_port, 8080);

  // targetPort by name, appProtocol.
  e = ParseWatchEvent(ResourceKind::kService, R"({"type": "ADDED", "object": {
      "metadata": {"namespace": "shop", "name": "db", "resourceVersion": "9"},
      "spec": {"clusterIP": "10.96.0.7", "ports": [
        {"name": "grpc-api", "port": 9000, "targetPort": "api", "appProtocol": "kubernetes.io/h2c"},
        {"port": 5432, "targetPort": 99999}]}}})");
  ASSERT_TRUE(e.ok()) << e.status();
  const Service& db = std::get<Service>(*e->object);
  ASSERT_EQ(db.ports.size(), 2u);
  EXPECT_EQ(db.ports[0].name, "grpc-api");
  EXPECT_EQ(db.ports[0].target_port, 0);
  EXPECT_EQ(db.ports[0].target_port_name, "api");
  EXPECT_EQ(db.ports[0].app_protocol, "kubernetes.io/h2c");
  EXPECT_EQ(db.ports[1].name, "");
  EXPECT_EQ(db.ports[1].target_port, 0);  // out of range: ignored, as absent

  e = ParseWatchEvent(ResourceKind::kService, Corpus("service_headless.json"));
  ASSERT_TRUE(e.ok()) << e.status();
  EXPECT_TRUE(std::get<Service>(*e->object).cluster_ips.empty());
}

TEST(WatchEvent, ReadsEndpointSlices) {
  absl::StatusOr<WatchEvent> e =
      ParseWatchEvent(ResourceKind::kEndpointSlice, Corpus("endpointslice_added.json"));
  ASSERT_TRUE(e.ok()) << e.status();
  const EndpointSlice& slice = std::get<EndpointSlice>(*e->object);
  EXPECT_EQ(slice.service_name, "cart");
  ASSERT_EQ(slice.endpoints.size(), 3u);
  EXPECT_THAT(slice.endpoints[0].addresses, ElementsAre("10.244.1.7"));
  EXPECT_TRUE(slice.endpoints[0].ready);
  EXPECT_EQ(slice.endpoints[0].pod_namespace, "shop");
  EXPECT_EQ(slice.endpoints[0].pod_name, "cart-7d9f8b6c5-x2k4p");
  EXPECT_FALSE(slice.endpoints[1].ready);
  EXPECT_TRUE(slice.endpoints[2].ready);  // conditions.ready absent: ready
  EXPECT_EQ(slice.endpoints[2].pod_name, "");
  ASSERT_EQ(slice.ports.size(), 2u);
  EXPECT_EQ(slice.ports[0].port, 8080);
  EXPECT_EQ(slice.ports[0].name, "http");
  EXPECT_EQ(slice.ports[1].port, 0);  // nil port
}

TEST(WatchEvent, BookmarkAndErrors) {
  absl::StatusOr<WatchEvent> e = ParseWatchEvent(ResourceKind::kPod, Corpus("bookmark.json"));
  ASSERT_TRUE(e.ok()) << e.status();
  EXPECT_EQ(e->type, WatchEventType::kBookmark);
  EXPECT_EQ(e->resource_version, "48301");
  EXPECT_FALSE(e->object.has_value());

  e = ParseWatchEvent(ResourceKind::kPod, Corpus("error_gone.json"));
  ASSERT_TRUE(e.ok()) << e.status();
  EXPECT_EQ(e->type, WatchEventType::kError);
  EXPECT_EQ(e->error_code, 410);
  EXPECT_EQ(e->error_reason, "Expired");
  EXPECT_THAT(e->error_message, HasSubstr("too old resource version"));
}

TEST(WatchEvent, RejectsMalformedEvents) {
  EXPECT_THAT(EventError(ResourceKind::kPod, Corpus("truncated.json")),
              HasSubstr("not valid JSON"));
  EXPECT_THAT(EventError(ResourceKind::kPod, Corpus("bad_ip.json")), HasSubstr("is not an IP"));
  EXPECT_THAT(EventError(ResourceKind::kService, Corpus("bad_port.json")),
              HasSubstr("not a port number"));
  EXPECT_THAT(EventError(ResourceKind::kService, Corpus("pod_added.json")),
              HasSubstr("kind is \"Pod\", not Service"));
  EXPECT_THAT(EventError(ResourceKind::kPod, R"({"type":"SYNC","object":{}})"),
              HasSubstr("unknown type"));
  EXPECT_THAT(
      EventError(ResourceKind::kPod, R"({"type":"ADDED","object":{"metadata":{"name":"Bad_Name",)"
                                     R"("namespace":"n","resourceVersion":"1"}}})"),
      HasSubstr("not an object name"));
  EXPECT_THAT(EventError(ResourceKind::kPod,
                         R"({"type":"ADDED","object":{"metadata":{"name":"p","namespace":"n"}}})"),
              HasSubstr("has no resourceVersion"));
  EXPECT_THAT(EventError(ResourceKind::kPod, R"({"type":"BOOKMARK","object":{"metadata":{}}})"),
              HasSubstr("bookmark without version"));
  EXPECT_THAT(EventError(ResourceKind::kPod, "[1,2]"), HasSubstr("not a JSON object"));
  EXPECT_THAT(EventError(ResourceKind::kPod, Corpus("garbage.bin")), StartsWith("malformed"));
}

TEST(ObjectList, ReadsPagesAndNullItems) {
  absl::StatusOr<ObjectList> list =
      ParseObjectList(ResourceKind::kPod, Corpus("pod_list_page.json"));
  ASSERT_TRUE(list.ok()) << list.status();
  EXPECT_EQ(list->resource_version, "48213");
  EXPECT_THAT(list->continue_token, StartsWith("eyJ2Ijoi"));
  ASSERT_EQ(list->items.size(), 1u);
  EXPECT_EQ(std::get<Pod>(list->items[0]).phase, "Pending");

  list = ParseObjectList(ResourceKind::kEndpointSlice, Corpus("endpointslice_list.json"));
  ASSERT_TRUE(list.ok()) << list.status();
  EXPECT_TRUE(list->items.empty());
  EXPECT_EQ(list->continue_token, "");

  list = ParseObjectList(ResourceKind::kService, Corpus("pod_list_page.json"));
  ASSERT_FALSE(list.ok());
  EXPECT_THAT(list.status().message(), HasSubstr("malformed ServiceList: kind is not ServiceList"));
}

TEST(CanonicalIp, AcceptsOnlyIpLiterals) {
  EXPECT_EQ(CanonicalIp("10.0.0.1"), "10.0.0.1");
  EXPECT_EQ(CanonicalIp("fd00:0::1"), "fd00::1");
  EXPECT_EQ(CanonicalIp("10.0.0.256"), std::nullopt);
  EXPECT_EQ(CanonicalIp("cart.shop.svc"), std::nullopt);
  EXPECT_EQ(CanonicalIp(""), std::nullopt);
}

}  // namespace
}  // namespace tether::control::kubernetes
