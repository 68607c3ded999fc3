// PlanProbeRewrites, ApplyProbeRewrites and RestoreProbes on pod specs.
#include "control/inject/probe_rewrite.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace tether::control::inject {
namespace {

using ::testing::HasSubstr;

Json Spec(const char* json) { return Json::parse(json); }

TEST(ProbeRewriteTest, NamedPortsResolveAndTimingStays) {
  const Json spec = Spec(R"({"containers": [{"name": "app",
      "ports": [{"name": "metrics", "containerPort": 9000}, {"name": "web", "containerPort": 80}],
      "readinessProbe": {"httpGet": {"port": "web"}, "periodSeconds": 3, "timeoutSeconds": 4}}]})");
  absl::StatusOr<ProbePlan> plan = PlanProbeRewrites(spec, 15021, {15090});
  ASSERT_TRUE(plan.ok()) << plan.status();
  EXPECT_EQ(plan->app_probes, Spec(R"({"/app-health/app/readyz": {"httpGet": {"port": 80,
      "path": "/", "scheme": "HTTP"}, "timeoutSeconds": 4}})"));
  EXPECT_EQ(plan->rewritten["app"]["readinessProbe"],
            Spec(R"({"httpGet": {"path": "/app-health/app/readyz", "port": 15021,
                     "scheme": "HTTP"}, "periodSeconds": 3, "timeoutSeconds": 4})"));
  Json changed = spec;
  ApplyProbeRewrites(changed, *plan);
  EXPECT_EQ(changed["containers"][0]["readinessProbe"], plan->rewritten["app"]["readinessProbe"]);
  ASSERT_TRUE(RestoreProbes(changed, plan->originals).ok());
  EXPECT_EQ(changed, spec);
}

TEST(ProbeRewriteTest, WhatIsLeftAlone) {
  const Json spec = Spec(R"({"containers": [{"name": "app",
      "livenessProbe": {"httpGet": {"port": 443, "scheme": "HTTPS"}},
      "readinessProbe": {"grpc": {"port": 9090}},
      "startupProbe": {"exec": {"command": ["true"]}}},
    {"name": "b",
      "livenessProbe": {"httpGet": {"host": "10.1.2.3", "port": 80}},
      "readinessProbe": {"tcpSocket": {"port": "undeclared"}},
      "startupProbe": {"httpGet": {"port": 15090}}},
    {"name": "c", "livenessProbe": {"tcpSocket": {"port": 70000}}}],
    "initContainers": [{"name": "setup", "readinessProbe": {"tcpSocket": {"port": 1}}}]})");
  absl::StatusOr<ProbePlan> plan = PlanProbeRewrites(spec, 15021, {15090});
  ASSERT_TRUE(plan.ok()) << plan.status();
  EXPECT_TRUE(plan->app_probes.empty()) << plan->app_probes.dump();
  EXPECT_TRUE(plan->originals.empty());
}

TEST(ProbeRewriteTest, NativeSidecarsOfThePodAreRewrittenAndNumbersAsStringsWork) {
  const Json spec = Spec(R"({"containers": [{"name": "app"}],
    "initContainers": [{"name": "log-shipper", "restartPolicy": "Always",
      "livenessProbe": {"tcpSocket": {"port": "2020"}}}]})");
  absl::StatusOr<ProbePlan> plan = PlanProbeRewrites(spec, 15021, {});
  ASSERT_TRUE(plan.ok()) << plan.status();
  EXPECT_EQ(plan->app_probes,
            Spec(R"({"/app-health/log-shipper/livez": {"tcpSocket": {"port": 2020},
                     "timeoutSeconds": 1}})"));
}

TEST(ProbeRewriteTest, MalformedShapesAreErrors) {
  for (const char* bad : {R"({"containers": [{"name": "a", "livenessProbe": "GET /"}]})",
                          R"({"containers": [{"readinessProbe": {"tcpSocket": {"port": 1}}}]})"}) {
    absl::StatusOr<ProbePlan> plan = PlanProbeRewrites(Spec(bad), 15021, {});
    EXPECT_EQ(plan.status().code(), absl::StatusCode::kInvalidArgument) << bad;
  }
  Json spec = Spec(R"({"containers": [{"name": "a"}]})");
  const Json before = spec;
  for (const char* bad : {R"([])", R"({"a": 1})", R"({"a": {"command": {}}})"}) {
    absl::Status st = RestoreProbes(spec, Spec(bad));
    EXPECT_EQ(st.code(), absl::StatusCode::kInvalidArgument) << bad;
    EXPECT_EQ(spec, before);
  }
  EXPECT_THAT(RestoreProbes(spec, Spec(R"({"a": {"command": {}}})")).message(),
              HasSubstr("not a probe"));
}

}  // namespace
}  // namespace tether::control::inject
