// The injector over real manifests (tests/control/inject/testdata), checked
// field by field; idempotence and the uninject round trip over every fixture.
#include "control/inject/injector.h"

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "common/files.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace tether::control::inject {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

constexpr char kTestdata[] = "tests/control/inject/testdata/";

std::string Fixture(const std::string& name) {
  absl::StatusOr<std::string> text = ReadFile(kTestdata + name);
  EXPECT_TRUE(text.ok()) << text.status();
  return text.ok() ? *text : "";
}

std::vector<Json> Docs(const std::string& yaml) {
  absl::StatusOr<std::vector<Json>> docs = ParseYamlDocuments(yaml);
  EXPECT_TRUE(docs.ok()) << docs.status();
  return docs.ok() ? *docs : std::vector<Json>{};
}

Json Doc(const std::string& fixture, size_t index = 0) {
  std::vector<Json> docs = Docs(Fixture(fixture));
  EXPECT_GT(docs.size(), index);
  return docs.size() > index ? docs[index] : Json();
}

Json Injected(Json object, const InjectOptions& options = {}) {
  absl::StatusOr<std::vector<InjectReport>> r = InjectObject(object, options);
  EXPECT_TRUE(r.ok()) << r.status();
  return object;
}

const Json* Named(const Json& list, const std::string& name) {
  for (const Json& item : list) {
    if (item.value("name", "") == name) return &item;
  }
  return nullptr;
}

std::vector<std::string> Strings(const Json& list) {
  std::vector<std::string> out;
  for (const Json& item : list) out.push_back(item.get<std::string>());
  return out;
}

Json Status(const Json& pod_metadata) {
  return Json::parse(pod_metadata["annotations"][kStatusAnnotation].get<std::string>());
}

TEST(InjectorTest, DeploymentGetsTheSidecarFieldByField) {
  const Json original = Doc("deployment.yaml");
  const Json out = Injected(original);
  const Json& pod = out["spec"]["template"];
  const Json& spec = pod["spec"];

  // The workload itself and the app container are untouched.
  EXPECT_EQ(out["metadata"], original["metadata"]);
  EXPECT_EQ(out["spec"]["replicas"], 3);
  EXPECT_EQ(out["spec"]["selector"], original["spec"]["selector"]);
  EXPECT_EQ(spec["containers"], original["spec"]["template"]["spec"]["containers"]);
  EXPECT_EQ(spec["serviceAccountName"], "nginx");

  // The init containers: the rules first, then the proxy as a native sidecar.
  ASSERT_TRUE(spec["initContainers"].is_array());
  ASSERT_EQ(spec["initContainers"].size(), 2u);
  const Json& init = spec["initContainers"][0];
  EXPECT_EQ(init["name"], "tether-init");
  EXPECT_EQ(init["image"], "tether/proxy:dev");
  EXPECT_FALSE(init.contains("imagePullPolicy"));
  EXPECT_THAT(Strings(init["args"]),
              ElementsAre("init", "--proxy-uid=1337", "--exclude-inbound-ports=15021,15090,9090"));
  const Json& init_sc = init["securityContext"];
  EXPECT_EQ(init_sc["runAsUser"], 0);
  EXPECT_EQ(init_sc["privileged"], false);
  EXPECT_EQ(init_sc["allowPrivilegeEscalation"], false);
  EXPECT_THAT(Strings(init_sc["capabilities"]["add"]), ElementsAre("NET_ADMIN", "NET_RAW"));
  EXPECT_THAT(Strings(init_sc["capabilities"]["drop"]), ElementsAre("ALL"));
  EXPECT_FALSE(init.contains("restartPolicy"));

  const Json& proxy = spec["initContainers"][1];
  EXPECT_EQ(proxy["name"], "tether-proxy");
  EXPECT_EQ(proxy["image"], "tether/proxy:dev");
  EXPECT_EQ(proxy["restartPolicy"], "Always");
  EXPECT_THAT(
      Strings(proxy["args"]),
      ElementsAre("--control=tether-control.tether-system.svc:15012",
                  "--control-server-name=tether-control.tether-system.svc",
                  "--ca-bundle=/var/run/tether/trust/roots.pem",
                  "--kubernetes-token-file=/var/run/secrets/tether/token",
                  "--workload-name=$(POD_NAMESPACE)/$(POD_NAME)", "--health-listen=0.0.0.0:15021",
                  "--metrics-listen=0.0.0.0:15090", "--log-level=info"));
  EXPECT_EQ(proxy["env"][0]["name"], "POD_NAME");
  EXPECT_EQ(proxy["env"][0]["valueFrom"]["fieldRef"]["fieldPath"], "metadata.name");
  EXPECT_EQ(proxy["env"][1]["valueFrom"]["fieldRef"]["fieldPath"], "metadata.namespace");
  const Json& sc = proxy["securityContext"];
  EXPECT_EQ(sc["runAsUser"], 1337);
  EXPECT_EQ(sc["runAsGroup"], 1337);
  EXPECT_EQ(sc["runAsNonRoot"], true);
  EXPECT_EQ(sc["readOnlyRootFilesystem"], true);
  EXPECT_EQ(sc["allowPrivilegeEscalation"], false);
  EXPECT_THAT(Strings(sc["capabilities"]["drop"]), ElementsAre("ALL"));
  EXPECT_FALSE(sc["capabilities"].contains("add"));
  for (const char* probe : {"readinessProbe", "startupProbe"}) {
    EXPECT_EQ(proxy[probe]["httpGet"]["path"], "/ready") << probe;
    EXPECT_EQ(proxy[probe]["httpGet"]["port"], 15021) << probe;
  }
  EXPECT_EQ(proxy["livenessProbe"]["httpGet"]["path"], "/live");
  EXPECT_EQ(proxy["resources"]["requests"]["cpu"], "50m");
  EXPECT_EQ(proxy["resources"]["requests"]["memory"], "64Mi");
  EXPECT_EQ(proxy["resources"]["limits"]["cpu"], "1");
  EXPECT_EQ(proxy["resources"]["limits"]["memory"], "256Mi");
  EXPECT_EQ(proxy["volumeMounts"][0]["name"], "tether-token");
  EXPECT_EQ(proxy["volumeMounts"][0]["mountPath"], "/var/run/secrets/tether");
  EXPECT_EQ(proxy["volumeMounts"][0]["readOnly"], true);
  EXPECT_EQ(proxy["volumeMounts"][1]["name"], "tether-trust-bundle");
  EXPECT_EQ(proxy["volumeMounts"][1]["mountPath"], "/var/run/tether/trust");
  EXPECT_FALSE(proxy.contains("lifecycle"));

  // Volumes: the pod's own first, then the token and the trust bundle.
  ASSERT_EQ(spec["volumes"].size(), 3u);
  EXPECT_EQ(spec["volumes"][0], original["spec"]["template"]["spec"]["volumes"][0]);
  EXPECT_EQ(spec["volumes"][0]["configMap"]["defaultMode"], 0644);  // YAML 1.1 octal
  const Json* token = Named(spec["volumes"], "tether-token");
  ASSERT_NE(token, nullptr);
  const Json& sat = (*token)["projected"]["sources"][0]["serviceAccountToken"];
  EXPECT_EQ(sat["audience"], "tether");
  EXPECT_EQ(sat["expirationSeconds"], 600);
  EXPECT_EQ(sat["path"], "token");
  const Json* bundle = Named(spec["volumes"], "tether-trust-bundle");
  ASSERT_NE(bundle, nullptr);
  EXPECT_EQ((*bundle)["configMap"]["name"], "tether-trust-bundle");
  EXPECT_EQ((*bundle)["configMap"]["items"][0]["key"], "roots.pem");

  // The annotations: the pod's own kept in order, then the status record.
  const Json& annotations = pod["metadata"]["annotations"];
  ASSERT_EQ(annotations.size(), 3u);
  auto it = annotations.begin();
  EXPECT_EQ(it.key(), "tether.io/exclude-inbound-ports");
  EXPECT_EQ((++it).key(), "prometheus.io/port");
  EXPECT_EQ((++it).key(), "tether.io/status");
  const Json status = Status(pod["metadata"]);
  EXPECT_EQ(status["version"], 1);
  EXPECT_THAT(Strings(status["initContainers"]), ElementsAre("tether-init", "tether-proxy"));
  EXPECT_TRUE(status["containers"].empty());
  EXPECT_THAT(Strings(status["volumes"]), ElementsAre("tether-token", "tether-trust-bundle"));
  EXPECT_THAT(Strings(status["created"]), ElementsAre("initContainers"));
}

TEST(InjectorTest, OptionsReachTheContainers) {
  InjectOptions options;
  options.proxy_image = "registry.example/tether/proxy:0.1.0";
  options.image_pull_policy = "IfNotPresent";
  options.control_address = "tether-control.mesh.svc:15012";
  options.trust_bundle_configmap = "mesh-roots";
  options.proxy_uid = 2000;
  options.token_expiration_seconds = 1200;
  const Json out = Injected(Doc("pod.yaml"), options);
  const Json& init = out["spec"]["initContainers"];
  EXPECT_EQ(init[0]["image"], "registry.example/tether/proxy:0.1.0");
  EXPECT_EQ(init[0]["imagePullPolicy"], "IfNotPresent");
  EXPECT_EQ(init[0]["args"][1], "--proxy-uid=2000");
  EXPECT_EQ(init[1]["imagePullPolicy"], "IfNotPresent");
  EXPECT_EQ(init[1]["args"][0], "--control=tether-control.mesh.svc:15012");
  EXPECT_EQ(init[1]["securityContext"]["runAsUser"], 2000);
  EXPECT_EQ(Named(out["spec"]["volumes"], "tether-trust-bundle")->at("configMap")["name"],
            "mesh-roots");
  EXPECT_EQ(Named(out["spec"]["volumes"], "tether-token")
                ->at("projected")["sources"][0]["serviceAccountToken"]["expirationSeconds"],
            1200);
}

TEST(InjectorTest, PodWithoutAnnotationsOrVolumesGetsThemAndLosesThemAgain) {
  const Json original = Doc("pod.yaml");
  Json out = Injected(original);
  EXPECT_EQ(out["spec"]["initContainers"].size(), 2u);
  EXPECT_EQ(out["spec"]["volumes"].size(), 2u);
  EXPECT_THAT(Strings(Status(out["metadata"])["created"]),
              ElementsAre("annotations", "initContainers", "volumes"));
  ASSERT_TRUE(UninjectObject(out).ok());
  EXPECT_EQ(out, original);
  EXPECT_FALSE(out["metadata"].contains("annotations"));
  EXPECT_FALSE(out["spec"].contains("initContainers"));
  EXPECT_FALSE(out["spec"].contains("volumes"));
}

TEST(InjectorTest, CronJobTemplateWithoutMetadata) {
  const Json original = Doc("cronjob.yaml");
  Json out = Injected(original);
  const Json& pod = out["spec"]["jobTemplate"]["spec"]["template"];
  // The created metadata comes first, as a person would write it.
  EXPECT_EQ(pod.begin().key(), "metadata");
  EXPECT_THAT(Strings(Status(pod["metadata"])["created"]),
              ElementsAre("metadata", "annotations", "initContainers", "volumes"));
  // A native sidecar does not keep the Job's pod running: the pod's own
  // restart policy is untouched, the sidecar's is Always.
  EXPECT_EQ(pod["spec"]["restartPolicy"], "OnFailure");
  EXPECT_EQ(pod["spec"]["initContainers"][1]["restartPolicy"], "Always");
  EXPECT_EQ(out["spec"]["schedule"], "* * * * *");
  ASSERT_TRUE(UninjectObject(out).ok());
  EXPECT_EQ(out, original);
}

TEST(InjectorTest, ListItemsAreInjectedOneByOne) {
  Json list = Doc("list.yaml");
  const Json original = list;
  absl::StatusOr<std::vector<InjectReport>> reports = InjectObject(list, InjectOptions());
  ASSERT_TRUE(reports.ok()) << reports.status();
  ASSERT_EQ(reports->size(), 3u);
  EXPECT_EQ((*reports)[0].object, "Service/bookinfo/reviews");
  EXPECT_EQ((*reports)[0].outcome, InjectOutcome::kNotAWorkload);
  EXPECT_EQ((*reports)[1].object, "Deployment/bookinfo/reviews-v1");
  EXPECT_EQ((*reports)[1].outcome, InjectOutcome::kInjected);
  EXPECT_EQ((*reports)[2].object, "Pod/bookinfo/debug");
  EXPECT_EQ((*reports)[2].outcome, InjectOutcome::kDisabled);

  EXPECT_EQ(list["items"][0], original["items"][0]);
  EXPECT_EQ(list["items"][2], original["items"][2]);
  // The pod's own init container runs after the proxy, so its traffic is
  // already meshed.
  const Json& init = list["items"][1]["spec"]["template"]["spec"]["initContainers"];
  ASSERT_EQ(init.size(), 3u);
  EXPECT_EQ(init[0]["name"], "tether-init");
  EXPECT_EQ(init[1]["name"], "tether-proxy");
  EXPECT_EQ(init[2], original["items"][1]["spec"]["template"]["spec"]["initContainers"][0]);
  // A quoted "true" stays a string.
  EXPECT_EQ(list["items"][1]["spec"]["template"]["spec"]["containers"][0]["env"][1]["value"],
            "true");
}

TEST(InjectorTest, MultiDocumentStreamHonoursEachPodsAnnotations) {
  std::vector<InjectReport> reports;
  absl::StatusOr<std::string> out = InjectYaml(Fixture("multi.yaml"), InjectOptions(), &reports);
  ASSERT_TRUE(out.ok()) << out.status();
  std::vector<Json> docs = Docs(*out);
  std::vector<Json> original = Docs(Fixture("multi.yaml"));
  ASSERT_EQ(docs.size(), 5u);  // the empty document is dropped
  ASSERT_EQ(reports.size(), 5u);
  EXPECT_EQ(reports[0].outcome, InjectOutcome::kNotAWorkload);
  EXPECT_EQ(reports[1].outcome, InjectOutcome::kInjected);
  EXPECT_EQ(reports[2].object, "DaemonSet/monitoring/node-exporter");
  EXPECT_EQ(reports[2].outcome, InjectOutcome::kHostNetwork);
  EXPECT_EQ(reports[3].outcome, InjectOutcome::kInjected);
  EXPECT_EQ(reports[4].outcome, InjectOutcome::kInjected);

  EXPECT_EQ(docs[0], original[0]);
  EXPECT_EQ(docs[2], original[2]);

  // StatefulSet: resources and log level from its annotations.
  const Json& sts_proxy = docs[1]["spec"]["template"]["spec"]["initContainers"][1];
  EXPECT_EQ(sts_proxy["resources"]["requests"]["cpu"], "200m");
  EXPECT_EQ(sts_proxy["resources"]["requests"]["memory"], "128Mi");
  EXPECT_EQ(sts_proxy["resources"]["limits"]["cpu"], "2");
  EXPECT_EQ(sts_proxy["resources"]["limits"]["memory"], "512Mi");
  EXPECT_EQ(sts_proxy["args"].back(), "--log-level=debug");
  EXPECT_EQ(docs[1]["spec"]["volumeClaimTemplates"], original[1]["spec"]["volumeClaimTemplates"]);

  // Job: excluded outbound ports and CIDRs go to the init container.
  EXPECT_THAT(Strings(docs[3]["spec"]["template"]["spec"]["initContainers"][0]["args"]),
              ElementsAre("init", "--proxy-uid=1337", "--exclude-inbound-ports=15021,15090",
                          "--exclude-outbound-ports=5432,6379",
                          "--exclude-outbound-cidrs=169.254.169.254/32,fd00::/8"));

  // ReplicaSet with tether.io/native-sidecar "false": the fallback.
  const Json& rs = docs[4]["spec"]["template"]["spec"];
  ASSERT_EQ(rs["initContainers"].size(), 1u);
  EXPECT_EQ(rs["initContainers"][0]["name"], "tether-init");
  ASSERT_EQ(rs["containers"].size(), 2u);
  const Json& proxy = rs["containers"][0];
  EXPECT_EQ(proxy["name"], "tether-proxy");
  EXPECT_FALSE(proxy.contains("restartPolicy"));
  EXPECT_EQ(proxy["lifecycle"]["postStart"]["exec"]["command"][0], "/bin/bash");
  EXPECT_THAT(proxy["lifecycle"]["postStart"]["exec"]["command"][2].get<std::string>(),
              HasSubstr("/dev/tcp/127.0.0.1/15021"));
  EXPECT_EQ(rs["containers"][1], original[4]["spec"]["template"]["spec"]["containers"][0]);
  EXPECT_THAT(Strings(Status(docs[4]["spec"]["template"]["metadata"])["containers"]),
              ElementsAre("tether-proxy"));
}

TEST(InjectorTest, InjectingTwiceEqualsInjectingOnce) {
  for (const char* fixture :
       {"deployment.yaml", "cronjob.yaml", "list.yaml", "multi.yaml", "pod.yaml", "probes.yaml"}) {
    SCOPED_TRACE(fixture);
    absl::StatusOr<std::string> once = InjectYaml(Fixture(fixture), InjectOptions(), nullptr);
    ASSERT_TRUE(once.ok()) << once.status();
    std::vector<InjectReport> reports;
    absl::StatusOr<std::string> twice = InjectYaml(*once, InjectOptions(), &reports);
    ASSERT_TRUE(twice.ok()) << twice.status();
    EXPECT_EQ(*twice, *once);  // byte for byte
    for (const InjectReport& r : reports) {
      EXPECT_NE(r.outcome, InjectOutcome::kInjected) << r.object;
    }
  }
}

TEST(InjectorTest, UninjectRestoresTheOriginal) {
  for (const char* fixture :
       {"deployment.yaml", "cronjob.yaml", "list.yaml", "multi.yaml", "pod.yaml", "probes.yaml"}) {
    SCOPED_TRACE(fixture);
    for (bool native : {true, false}) {
      InjectOptions options;
      options.native_sidecar = native;
      absl::StatusOr<std::string> injected = InjectYaml(Fixture(fixture), options, nullptr);
      ASSERT_TRUE(injected.ok()) << injected.status();
      EXPECT_NE(Docs(*injected), Docs(Fixture(fixture)));
      absl::StatusOr<std::string> restored = UninjectYaml(*injected, nullptr);
      ASSERT_TRUE(restored.ok()) << restored.status();
      // Equal as ordered JSON: same fields, same values, same key order.
      EXPECT_EQ(Docs(*restored), Docs(Fixture(fixture)));
      // Uninjecting what is not injected changes nothing.
      absl::StatusOr<std::string> again = UninjectYaml(*restored, nullptr);
      ASSERT_TRUE(again.ok());
      EXPECT_EQ(*again, *restored);
    }
  }
}

TEST(InjectorTest, AppProbesGoToTheProxyWhichRunsTheOriginals) {
  for (bool native : {true, false}) {
    SCOPED_TRACE(native);
    InjectOptions options;
    options.native_sidecar = native;
    const Json original = Doc("probes.yaml");
    const Json d = Injected(original, options);
    const Json& spec = d["spec"]["template"]["spec"];
    const Json* web = Named(spec["containers"], "web");
    ASSERT_NE(web, nullptr);
    EXPECT_EQ((*web)["livenessProbe"],
              Json::parse(R"({"httpGet": {"path": "/app-health/web/livez", "port": 15021,
                              "scheme": "HTTP"}, "periodSeconds": 5, "failureThreshold": 3})"));
    EXPECT_EQ((*web)["readinessProbe"]["httpGet"]["path"], "/app-health/web/readyz");
    EXPECT_EQ((*web)["readinessProbe"]["timeoutSeconds"], 2);
    EXPECT_FALSE((*web)["readinessProbe"].contains("tcpSocket"));
    EXPECT_EQ((*web)["startupProbe"]["httpGet"]["path"], "/app-health/web/startupz");
    EXPECT_EQ((*web)["startupProbe"]["failureThreshold"], 30);
    // gRPC, exec and another host's probes stay as they were.
    const Json* worker = Named(spec["containers"], "worker");
    ASSERT_NE(worker, nullptr);
    const Json* original_worker =
        Named(original["spec"]["template"]["spec"]["containers"], "worker");
    EXPECT_EQ(*worker, *original_worker);

    const Json* proxy = Named(spec[native ? "initContainers" : "containers"], kProxyContainerName);
    ASSERT_NE(proxy, nullptr);
    std::string app_probes;
    bool host_arg = false;
    for (const Json& arg : (*proxy)["args"]) {
      const std::string a = arg.get<std::string>();
      if (a.rfind("--app-probes=", 0) == 0) app_probes = a.substr(13);
      host_arg |= a == "--app-probe-host=$(POD_IP)";
    }
    EXPECT_TRUE(host_arg);
    EXPECT_EQ(Json::parse(app_probes), Json::parse(R"({
      "/app-health/web/livez": {"httpGet": {"port": 8080, "path": "/healthz", "scheme": "HTTP",
                                "httpHeaders": [{"name": "X-Probe", "value": "liveness"}]},
                                "timeoutSeconds": 1},
      "/app-health/web/readyz": {"tcpSocket": {"port": 8080}, "timeoutSeconds": 2},
      "/app-health/web/startupz": {"httpGet": {"port": 8080, "path": "/started",
                                   "scheme": "HTTP"}, "timeoutSeconds": 1}})"));
    const Json* pod_ip = Named((*proxy)["env"], "POD_IP");
    ASSERT_NE(pod_ip, nullptr);
    EXPECT_EQ((*pod_ip)["valueFrom"]["fieldRef"]["fieldPath"], "status.podIP");
    EXPECT_EQ(Status(d["spec"]["template"]["metadata"])["probes"]["web"]["livenessProbe"],
              (*Named(original["spec"]["template"]["spec"]["containers"], "web"))["livenessProbe"]);
  }
}

TEST(InjectorTest, RewriteProbesFalseLeavesTheProbesAlone) {
  Json original = Doc("probes.yaml");
  original["spec"]["template"]["metadata"]["annotations"][kRewriteProbesAnnotation] = "false";
  const Json d = Injected(original);
  EXPECT_EQ(d["spec"]["template"]["spec"]["containers"],
            original["spec"]["template"]["spec"]["containers"]);
  const Json* proxy = Named(d["spec"]["template"]["spec"]["initContainers"], kProxyContainerName);
  ASSERT_NE(proxy, nullptr);
  for (const Json& arg : (*proxy)["args"]) {
    EXPECT_EQ(arg.get<std::string>().find("--app-probe"), std::string::npos);
  }
  EXPECT_FALSE(Status(d["spec"]["template"]["metadata"]).contains("probes"));
  // A pod without probes gets no probe flags either.
  const Json plain = Injected(Doc("pod.yaml"));
  for (const Json& arg : (*Named(plain["spec"]["initContainers"], kProxyContainerName))["args"]) {
    EXPECT_EQ(arg.get<std::string>().find("--app-probe"), std::string::npos);
  }
}

TEST(InjectorTest, InjectFalseAsLabelOrAnnotationSkipsThePod) {
  for (const char* where : {"labels", "annotations"}) {
    Json pod = Doc("pod.yaml");
    pod["metadata"][where] = {{"tether.io/inject", "false"}};
    const Json original = pod;
    absl::StatusOr<std::vector<InjectReport>> r = InjectObject(pod, InjectOptions());
    ASSERT_TRUE(r.ok());
    EXPECT_EQ((*r)[0].outcome, InjectOutcome::kDisabled);
    EXPECT_EQ(pod, original);
  }
  Json pod = Doc("pod.yaml");
  pod["metadata"]["annotations"] = {{"tether.io/inject", "true"}};
  EXPECT_EQ(Injected(pod)["spec"]["initContainers"].size(), 2u);
}

TEST(InjectorTest, OpaquePortsAnnotationReachesTheProxy) {
  Json pod = Doc("pod.yaml");
  pod["metadata"]["annotations"] = {{"tether.io/opaque-ports", "3306, 9000"}};
  const Json proxy = Injected(pod)["spec"]["initContainers"][1];
  EXPECT_THAT(Strings(proxy["args"]), ::testing::Contains("--opaque-ports=3306,9000"));
  // tether.io/access-log: per-request lines on the proxy's stdout.
  Json logged = Doc("pod.yaml");
  logged["metadata"]["annotations"] = {{"tether.io/access-log", "requests"}};
  EXPECT_THAT(Strings(Injected(logged)["spec"]["initContainers"][1]["args"]),
              ::testing::IsSupersetOf({"--access-log=-", "--access-log-requests"}));
  // tether.io/http-forward: which outbound HTTP/1.1 the proxy terminates.
  Json forwarded = Doc("pod.yaml");
  forwarded["metadata"]["annotations"] = {{"tether.io/http-forward", "all"}};
  EXPECT_THAT(Strings(Injected(forwarded)["spec"]["initContainers"][1]["args"]),
              ::testing::Contains("--http-forward=all"));
  // Without it the proxy keeps its default list.
  const Json plain = Injected(Doc("pod.yaml"))["spec"]["initContainers"][1];
  for (const std::string& arg : Strings(plain["args"])) {
    EXPECT_FALSE(absl::StartsWith(arg, "--opaque-ports")) << arg;
    EXPECT_FALSE(absl::StartsWith(arg, "--http-forward")) << arg;
  }
}

TEST(InjectorTest, MalformedAnnotationsAreRefusedByName) {
  struct Case {
    const char* key;
    Json value;
  } cases[] = {
      {"tether.io/exclude-inbound-ports", "80,http"},
      {"tether.io/exclude-inbound-ports", "70000"},
      {"tether.io/exclude-outbound-ports", "-1"},
      {"tether.io/exclude-outbound-cidrs", "10.0.0.0/33"},
      {"tether.io/exclude-outbound-cidrs", "not-an-ip"},
      {"tether.io/proxy-cpu", "lots"},
      {"tether.io/proxy-memory", "64MB"},
      {"tether.io/proxy-memory-limit", "-1Gi"},
      {"tether.io/log-level", "verbose"},
      {"tether.io/opaque-ports", "mysql"},
      {"tether.io/access-log", "verbose"},
      {"tether.io/http-forward", "everything"},
      {"tether.io/native-sidecar", "yes"},
      {"tether.io/rewrite-probes", "no"},
      {"tether.io/inject", "maybe"},
      {"tether.io/proxy-cpu", 2},  // annotations are strings
  };
  for (const Case& c : cases) {
    Json pod = Doc("pod.yaml");
    pod["metadata"]["annotations"] = {{c.key, c.value}};
    const Json original = pod;
    absl::StatusOr<std::vector<InjectReport>> r = InjectObject(pod, InjectOptions());
    ASSERT_FALSE(r.ok()) << c.key << "=" << c.value;
    EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(r.status().message(), HasSubstr(c.key));
    EXPECT_THAT(r.status().message(), HasSubstr("Pod/nginx"));
    EXPECT_EQ(pod, original);  // nothing changed on error
  }
}

TEST(InjectorTest, NameCollisionsAreRefused) {
  Json pod = Doc("pod.yaml");
  pod["spec"]["containers"][0]["name"] = "tether-proxy";
  absl::StatusOr<std::vector<InjectReport>> r = InjectObject(pod, InjectOptions());
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(r.status().message(), HasSubstr("tether-proxy"));

  pod = Doc("pod.yaml");
  pod["spec"]["volumes"] = Json::array({{{"name", "tether-token"}, {"emptyDir", Json::object()}}});
  r = InjectObject(pod, InjectOptions());
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(r.status().message(), HasSubstr("volume named tether-token"));
}

TEST(InjectorTest, MalformedObjectsAreErrorsNotCrashes) {
  const char* bad[] = {
      "kind: Deployment\nmetadata: {name: x}\nspec: {replicas: 1}\n",  // no template
      "kind: Pod\nmetadata: {name: x}\n",                              // no spec
      "kind: Pod\nspec: {containers: {}}\n",                           // not a list
      "kind: Pod\nspec: {containers: []}\n",                           // empty
      "kind: Pod\nspec: {containers: [5]}\n",
      "kind: Pod\nmetadata: []\nspec: {containers: [{name: a}]}\n",
      "kind: Pod\nmetadata: {annotations: [1]}\nspec: {containers: [{name: a}]}\n",
      "kind: CronJob\nspec: {jobTemplate: {spec: {}}}\n",
      "kind: List\nitems: {a: 1}\n",
      "kind: [Pod]\n",
      "- just\n- a list\n",
      "kind: Pod\nspec: {containers: [{name: a}]\n",  // YAML syntax error
      "a: b: c\n",
  };
  for (const char* yaml : bad) {
    absl::StatusOr<std::string> out = InjectYaml(yaml, InjectOptions(), nullptr);
    EXPECT_FALSE(out.ok()) << yaml;
    EXPECT_EQ(out.status().code(), absl::StatusCode::kInvalidArgument) << yaml << out.status();
  }
  absl::StatusOr<std::string> syntax = InjectYaml("a: [1, 2\n", InjectOptions(), nullptr);
  EXPECT_THAT(syntax.status().message(), HasSubstr("line"));
  // Deep nesting is refused, not recursed into.
  std::string deep(5000, '[');
  EXPECT_FALSE(InjectYaml(deep, InjectOptions(), nullptr).ok());
}

TEST(InjectorTest, UninjectRefusesAStatusItDidNotWrite) {
  for (const char* status : {"not json", "{\"version\":7}", "[1]", "{\"version\":1,\"volumes\":3}",
                             "{\"version\":1,\"containers\":[1]}"}) {
    Json pod = Doc("pod.yaml");
    pod["metadata"]["annotations"] = {{kStatusAnnotation, status}};
    absl::StatusOr<std::vector<InjectReport>> r = UninjectObject(pod);
    EXPECT_FALSE(r.ok()) << status;
    EXPECT_THAT(r.status().message(), HasSubstr("tether.io/status")) << status;
  }
}

}  // namespace
}  // namespace tether::control::inject
