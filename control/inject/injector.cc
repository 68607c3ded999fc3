#include "control/inject/injector.h"

#include <optional>
#include <set>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "control/inject/pod_settings.h"
#include "control/inject/probe_rewrite.h"

namespace tether::control::inject {
namespace {

constexpr int kStatusVersion = 1;

// The fields a pod template may lack that injection creates; uninjection
// removes them again when they end up empty.
constexpr char kCreatedMetadata[] = "metadata";
constexpr char kCreatedAnnotations[] = "annotations";
constexpr char kCreatedInitContainers[] = "initContainers";
constexpr char kCreatedVolumes[] = "volumes";

Json Resources(const std::string& cpu_request, const std::string& memory_request,
               const std::string& cpu_limit, const std::string& memory_limit) {
  return Json{{"requests", {{"cpu", cpu_request}, {"memory", memory_request}}},
              {"limits", {{"cpu", cpu_limit}, {"memory", memory_limit}}}};
}

std::string JoinPorts(const std::vector<int>& ports) { return absl::StrJoin(ports, ","); }

Json InitContainer(const InjectOptions& options, const PodSettings& s) {
  std::vector<int> inbound = {kHealthPort, kMetricsPort};
  inbound.insert(inbound.end(), s.exclude_inbound_ports.begin(), s.exclude_inbound_ports.end());
  Json args = Json::array({"init", absl::StrCat("--proxy-uid=", options.proxy_uid),
                           absl::StrCat("--exclude-inbound-ports=", JoinPorts(inbound))});
  if (!s.exclude_outbound_ports.empty()) {
    args.push_back(absl::StrCat("--exclude-outbound-ports=", JoinPorts(s.exclude_outbound_ports)));
  }
  if (!s.exclude_outbound_cidrs.empty()) {
    args.push_back(
        absl::StrCat("--exclude-outbound-cidrs=", absl::StrJoin(s.exclude_outbound_cidrs, ",")));
  }
  Json c = {{"name", kInitContainerName}, {"image", options.proxy_image}};
  if (!options.image_pull_policy.empty()) c["imagePullPolicy"] = options.image_pull_policy;
  c["args"] = std::move(args);
  c["resources"] = Resources("10m", "16Mi", "100m", "64Mi");
  // iptables needs root with NET_ADMIN (and NET_RAW for its raw sockets),
  // nothing else; it writes its lock file, so the root filesystem stays
  // writable for this short-lived container.
  c["securityContext"] = {
      {"runAsUser", 0},
      {"runAsGroup", 0},
      {"runAsNonRoot", false},
      {"privileged", false},
      {"allowPrivilegeEscalation", false},
      {"readOnlyRootFilesystem", false},
      {"capabilities", {{"add", {"NET_ADMIN", "NET_RAW"}}, {"drop", {"ALL"}}}},
  };
  return c;
}

Json HttpProbe(const char* path, int period, int failures) {
  return Json{{"httpGet", {{"path", path}, {"port", kHealthPort}}},
              {"periodSeconds", period},
              {"failureThreshold", failures}};
}

// ProxyContainer: the proxy; `app_probes` is what it runs for the app's
// rewritten probes (empty: none).
Json ProxyContainer(const InjectOptions& options, const PodSettings& s, const Json& app_probes) {
  Json c = {{"name", kProxyContainerName}, {"image", options.proxy_image}};
  if (!options.image_pull_policy.empty()) c["imagePullPolicy"] = options.image_pull_policy;
  // A native sidecar: started in order with the init containers, kept
  // running beside the app, stopped after it.
  if (s.native_sidecar) c["restartPolicy"] = "Always";
  c["args"] = Json::array({
      absl::StrCat("--control=", options.control_address),
      absl::StrCat("--control-server-name=", options.control_server_name),
      absl::StrCat("--ca-bundle=", kTrustBundleDir, "/", kTrustBundleKey),
      absl::StrCat("--kubernetes-token-file=", kTokenDir, "/token"),
      "--workload-name=$(POD_NAMESPACE)/$(POD_NAME)",
      absl::StrCat("--health-listen=0.0.0.0:", kHealthPort),
      absl::StrCat("--metrics-listen=0.0.0.0:", kMetricsPort),
      absl::StrCat("--log-level=", s.log_level),
  });
  // The access log goes to the container's stdout (kubectl logs).
  if (!s.http_forward.empty()) c["args"].push_back("--http-forward=" + s.http_forward);
  if (s.access_log == "connections") c["args"].push_back("--access-log=-");
  if (s.access_log == "requests") {
    c["args"].push_back("--access-log=-");
    c["args"].push_back("--access-log-requests");
  }
  if (s.opaque_ports) {
    c["args"].push_back(absl::StrCat("--opaque-ports=", absl::StrJoin(*s.opaque_ports, ",")));
  }
  c["env"] = Json::array({
      {{"name", "POD_NAME"}, {"valueFrom", {{"fieldRef", {{"fieldPath", "metadata.name"}}}}}},
      {{"name", "POD_NAMESPACE"},
       {"valueFrom", {{"fieldRef", {{"fieldPath", "metadata.namespace"}}}}}},
  });
  if (!app_probes.empty()) {
    // The kubelet probes the pod's IP; so does the proxy on its behalf.
    c["args"].push_back(absl::StrCat("--app-probes=", app_probes.dump()));
    c["args"].push_back("--app-probe-host=$(POD_IP)");
    c["env"].push_back(
        {{"name", "POD_IP"}, {"valueFrom", {{"fieldRef", {{"fieldPath", "status.podIP"}}}}}});
  }
  c["ports"] = Json::array(
      {{{"name", "tether-health"}, {"containerPort", kHealthPort}, {"protocol", "TCP"}},
       {{"name", kMetricsPortName}, {"containerPort", kMetricsPort}, {"protocol", "TCP"}}});
  c["resources"] = Resources(s.cpu_request, s.memory_request, s.cpu_limit, s.memory_limit);
  c["volumeMounts"] = Json::array({
      {{"name", kTokenVolumeName}, {"mountPath", kTokenDir}, {"readOnly", true}},
      {{"name", kTrustBundleVolumeName}, {"mountPath", kTrustBundleDir}, {"readOnly", true}},
  });
  // Started means holding a certificate: the containers after it (the app)
  // start only then, so their first connections already go out over mTLS.
  c["startupProbe"] = HttpProbe("/ready", 1, 120);
  c["readinessProbe"] = HttpProbe("/ready", 5, 3);
  c["livenessProbe"] = HttpProbe("/live", 10, 3);
  if (!s.native_sidecar) {
    // Without native sidecars the app containers start right after this one
    // has been started; hold them until the proxy is ready.
    c["lifecycle"] = {
        {"postStart",
         {{"exec",
           {{"command",
             {"/bin/bash", "-c",
              absl::StrCat(
                  "for i in $(seq 1 120); do (exec 3<>/dev/tcp/127.0.0.1/", kHealthPort,
                  " && printf 'GET /ready HTTP/1.0\\r\\n\\r\\n' >&3 && read -r l <&3 && "
                  "[[ $l == *' 200 '* ]]) 2>/dev/null && exit 0; sleep 1; done; exit 1")}}}}}}};
  }
  c["securityContext"] = {
      {"runAsUser", options.proxy_uid},
      {"runAsGroup", options.proxy_uid},
      {"runAsNonRoot", true},
      {"privileged", false},
      {"allowPrivilegeEscalation", false},
      {"readOnlyRootFilesystem", true},
      {"capabilities", {{"drop", {"ALL"}}}},
  };
  return c;
}

Json Volumes(const InjectOptions& options) {
  return Json::array({
      {{"name", kTokenVolumeName},
       {"projected",
        {{"sources",
          {{{"serviceAccountToken",
             {{"audience", options.token_audience},
              {"expirationSeconds", options.token_expiration_seconds},
              {"path", "token"}}}}}}}}},
      {{"name", kTrustBundleVolumeName},
       {"configMap",
        {{"name", options.trust_bundle_configmap},
         {"items", {{{"key", kTrustBundleKey}, {"path", kTrustBundleKey}}}}}}},
  });
}

// Names returns the "name" of each element of spec[field] (an array of
// objects), or an error if the field is not such an array.
absl::StatusOr<std::set<std::string>> Names(const Json& spec, const char* field) {
  std::set<std::string> names;
  if (!spec.contains(field) || spec[field].is_null()) return names;
  if (!spec[field].is_array()) {
    return absl::InvalidArgumentError(absl::StrCat("spec.", field, " must be a list"));
  }
  for (const Json& item : spec[field]) {
    absl::StatusOr<std::optional<std::string>> name = StringField(item, "name", "field");
    if (!name.ok()) return name.status();
    if (!item.is_object()) {
      return absl::InvalidArgumentError(absl::StrCat("spec.", field, " holds a non-object"));
    }
    if (name->has_value()) names.insert(**name);
  }
  return names;
}

absl::Status CheckFree(const std::set<std::string>& taken, const char* name, const char* what) {
  if (taken.count(name) != 0) {
    return absl::FailedPreconditionError(absl::StrCat(
        "the pod already has a ", what, " named ", name, " but no ", kStatusAnnotation,
        " annotation; rename it, or add the annotation if Tether's sidecar is already there"));
  }
  return absl::OkStatus();
}

// Insert puts `items` at the front (or the back) of spec[field], creating
// the list if needed; returns whether it was created.
bool Insert(Json& spec, const char* field, const std::vector<Json>& items, bool front) {
  bool created = !spec.contains(field) || spec[field].is_null();
  if (created) spec[field] = Json::array();
  Json& list = spec[field];
  Json joined = Json::array();
  if (!front) joined = list;
  for (const Json& item : items) joined.push_back(item);
  if (front) {
    for (const Json& item : list) joined.push_back(item);
  }
  list = std::move(joined);
  return created;
}

void RemoveNamed(Json& spec, const char* field, const std::set<std::string>& names) {
  if (!spec.contains(field) || !spec[field].is_array()) return;
  Json& list = spec[field];
  for (auto it = list.begin(); it != list.end();) {
    if (it->is_object() && it->contains("name") && (*it)["name"].is_string() &&
        names.count((*it)["name"].get<std::string>()) != 0) {
      it = list.erase(it);
    } else {
      ++it;
    }
  }
}

absl::StatusOr<std::set<std::string>> StringSet(const Json& status, const char* field) {
  std::set<std::string> out;
  if (!status.contains(field)) return out;
  if (!status[field].is_array()) {
    return absl::InvalidArgumentError(
        absl::StrCat(kStatusAnnotation, ": ", field, " must be a list"));
  }
  for (const Json& item : status[field]) {
    if (!item.is_string()) {
      return absl::InvalidArgumentError(
          absl::StrCat(kStatusAnnotation, ": ", field, " must hold strings"));
    }
    out.insert(item.get<std::string>());
  }
  return out;
}

std::string Describe(const Json& object, const std::string& kind) {
  std::string name = "(unnamed)";
  std::string ns;
  if (object.contains("metadata") && object["metadata"].is_object()) {
    const Json& md = object["metadata"];
    if (md.contains("name") && md["name"].is_string()) {
      name = md["name"].get<std::string>();
    } else if (md.contains("generateName") && md["generateName"].is_string()) {
      name = md["generateName"].get<std::string>() + "*";
    }
    if (md.contains("namespace") && md["namespace"].is_string()) {
      ns = md["namespace"].get<std::string>() + "/";
    }
  }
  return absl::StrCat(kind.empty() ? "(no kind)" : kind, "/", ns, name);
}

// PodTemplate returns where the pod (metadata + spec) lives in `object` of
// `kind`, or null for kinds that hold none.
Json* PodTemplate(Json& object, const std::string& kind) {
  static const std::set<std::string> kTemplated = {
      "Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job", "ReplicationController"};
  if (kind == "Pod") return &object;
  auto child = [](Json* j, const char* key) -> Json* {
    if (j == nullptr || !j->is_object() || !j->contains(key)) return nullptr;
    return &(*j)[key];
  };
  if (kTemplated.count(kind) != 0) return child(child(&object, "spec"), "template");
  if (kind == "CronJob") {
    return child(child(child(child(&object, "spec"), "jobTemplate"), "spec"), "template");
  }
  return nullptr;
}

using PodFn = absl::StatusOr<InjectOutcome> (*)(Json& metadata, Json& spec,
                                                const InjectOptions& options);

absl::StatusOr<InjectOutcome> InjectPodFn(Json& metadata, Json& spec,
                                          const InjectOptions& options) {
  return InjectPod(metadata, spec, options);
}

absl::StatusOr<InjectOutcome> UninjectPodFn(Json& metadata, Json& spec, const InjectOptions&) {
  return UninjectPod(metadata, spec);
}

// ApplyToPod runs `fn` on copies of a pod's metadata and spec and writes
// them back only if it changed something; a created metadata goes first.
absl::StatusOr<InjectOutcome> ApplyToPod(Json& pod, PodFn fn, const InjectOptions& options) {
  if (!pod.is_object() || !pod.contains("spec") || !pod["spec"].is_object()) {
    return absl::InvalidArgumentError("has no pod spec");
  }
  const bool had_metadata = pod.contains("metadata");
  Json metadata = had_metadata ? pod["metadata"] : Json(nullptr);
  Json spec = pod["spec"];
  absl::StatusOr<InjectOutcome> outcome = fn(metadata, spec, options);
  if (!outcome.ok()) return outcome.status();
  if (*outcome != InjectOutcome::kInjected && *outcome != InjectOutcome::kUninjected) {
    return outcome;
  }
  pod["spec"] = std::move(spec);
  if (metadata.is_null()) {
    pod.erase("metadata");
  } else if (had_metadata) {
    pod["metadata"] = std::move(metadata);
  } else {
    Json rebuilt = Json::object();
    rebuilt["metadata"] = std::move(metadata);
    for (auto& [key, value] : pod.items()) rebuilt[key] = std::move(value);
    pod = std::move(rebuilt);
  }
  return outcome;
}

absl::Status ApplyToObject(Json& object, PodFn fn, const InjectOptions& options,
                           std::vector<InjectReport>* reports) {
  if (!object.is_object()) return absl::InvalidArgumentError("not a Kubernetes object (a mapping)");
  absl::StatusOr<std::optional<std::string>> kind = StringField(object, "kind", "field");
  if (!kind.ok()) return kind.status();
  const std::string k = kind->value_or("");
  if (absl::EndsWith(k, "List") && object.contains("items")) {
    if (!object["items"].is_array()) {
      return absl::InvalidArgumentError(absl::StrCat(k, ": items must be a list"));
    }
    size_t index = 0;
    for (Json& item : object["items"]) {
      if (absl::Status st = ApplyToObject(item, fn, options, reports); !st.ok()) {
        return absl::Status(st.code(), absl::StrCat(k, " item ", index, ": ", st.message()));
      }
      ++index;
    }
    return absl::OkStatus();
  }
  const std::string name = Describe(object, k);
  Json* pod = PodTemplate(object, k);
  if (pod == nullptr) {
    static const std::set<std::string> kWorkloads = {
        "Deployment", "StatefulSet",           "DaemonSet", "ReplicaSet",
        "Job",        "ReplicationController", "CronJob"};
    if (kWorkloads.count(k) != 0) {
      return absl::InvalidArgumentError(absl::StrCat(name, ": has no pod template"));
    }
    reports->push_back({name, InjectOutcome::kNotAWorkload});
    return absl::OkStatus();
  }
  absl::StatusOr<InjectOutcome> outcome = ApplyToPod(*pod, fn, options);
  if (!outcome.ok()) {
    return absl::Status(outcome.status().code(),
                        absl::StrCat(name, ": ", outcome.status().message()));
  }
  reports->push_back({name, *outcome});
  return absl::OkStatus();
}

absl::StatusOr<std::string> ApplyToYaml(absl::string_view yaml, PodFn fn,
                                        const InjectOptions& options,
                                        std::vector<InjectReport>* out_reports) {
  absl::StatusOr<std::vector<Json>> docs = ParseYamlDocuments(yaml);
  if (!docs.ok()) return docs.status();
  std::vector<InjectReport> reports;
  for (size_t i = 0; i < docs->size(); ++i) {
    if (absl::Status st = ApplyToObject((*docs)[i], fn, options, &reports); !st.ok()) {
      return absl::Status(st.code(), absl::StrCat("document ", i + 1, ": ", st.message()));
    }
  }
  if (out_reports != nullptr) *out_reports = std::move(reports);
  return EmitYamlDocuments(*docs);
}

}  // namespace

const char* InjectOutcomeName(InjectOutcome outcome) {
  switch (outcome) {
    case InjectOutcome::kInjected:
      return "injected";
    case InjectOutcome::kUninjected:
      return "uninjected";
    case InjectOutcome::kAlreadyInjected:
      return "already injected";
    case InjectOutcome::kNotInjected:
      return "not injected";
    case InjectOutcome::kDisabled:
      return "skipped (tether.io/inject: \"false\")";
    case InjectOutcome::kHostNetwork:
      return "skipped (hostNetwork)";
    case InjectOutcome::kNotAWorkload:
      return "unchanged (not a workload)";
  }
  return "?";
}

absl::StatusOr<InjectOutcome> InjectPod(Json& metadata, Json& spec, const InjectOptions& options) {
  if (!metadata.is_null() && !metadata.is_object()) {
    return absl::InvalidArgumentError("metadata must be a mapping");
  }
  if (!spec.is_object()) return absl::InvalidArgumentError("spec must be a mapping");
  if (metadata.is_object() && metadata.contains("annotations") &&
      !metadata["annotations"].is_null() && !metadata["annotations"].is_object()) {
    return absl::InvalidArgumentError("metadata.annotations must be a mapping");
  }
  absl::StatusOr<std::optional<std::string>> status = Annotation(metadata, kStatusAnnotation);
  if (!status.ok()) return status.status();
  if (status->has_value()) return InjectOutcome::kAlreadyInjected;
  absl::StatusOr<bool> disabled = InjectionDisabled(metadata);
  if (!disabled.ok()) return disabled.status();
  if (*disabled) return InjectOutcome::kDisabled;
  if (spec.contains("hostNetwork") && spec["hostNetwork"] == true) {
    return InjectOutcome::kHostNetwork;
  }
  absl::StatusOr<PodSettings> settings = ReadSettings(metadata, options);
  if (!settings.ok()) return settings.status();

  absl::StatusOr<std::set<std::string>> containers = Names(spec, "containers");
  if (!containers.ok()) return containers.status();
  if (containers->empty()) return absl::InvalidArgumentError("spec.containers is empty");
  absl::StatusOr<std::set<std::string>> init_containers = Names(spec, "initContainers");
  if (!init_containers.ok()) return init_containers.status();
  absl::StatusOr<std::set<std::string>> volumes = Names(spec, "volumes");
  if (!volumes.ok()) return volumes.status();
  for (const char* name : {kInitContainerName, kProxyContainerName}) {
    if (absl::Status st = CheckFree(*containers, name, "container"); !st.ok()) return st;
    if (absl::Status st = CheckFree(*init_containers, name, "init container"); !st.ok()) return st;
  }
  for (const char* name : {kTokenVolumeName, kTrustBundleVolumeName}) {
    if (absl::Status st = CheckFree(*volumes, name, "volume"); !st.ok()) return st;
  }

  ProbePlan probes;
  if (settings->rewrite_probes) {
    absl::StatusOr<ProbePlan> plan = PlanProbeRewrites(spec, kHealthPort, {kMetricsPort});
    if (!plan.ok()) return plan.status();
    probes = *std::move(plan);
  }

  Json record = {{"version", kStatusVersion}};
  Json created = Json::array();
  if (metadata.is_null()) {
    metadata = Json::object();
    created.push_back(kCreatedMetadata);
  }
  if (!metadata.contains("annotations") || metadata["annotations"].is_null()) {
    created.push_back(kCreatedAnnotations);
  }
  if (settings->native_sidecar) {
    // The rules first, then the proxy, then the pod's own init containers
    // (whose traffic the proxy then already carries).
    if (Insert(spec, "initContainers",
               {InitContainer(options, *settings),
                ProxyContainer(options, *settings, probes.app_probes)},
               true)) {
      created.push_back(kCreatedInitContainers);
    }
    record["initContainers"] = {kInitContainerName, kProxyContainerName};
    record["containers"] = Json::array();
  } else {
    if (Insert(spec, "initContainers", {InitContainer(options, *settings)}, true)) {
      created.push_back(kCreatedInitContainers);
    }
    Insert(spec, "containers", {ProxyContainer(options, *settings, probes.app_probes)}, true);
    record["initContainers"] = {kInitContainerName};
    record["containers"] = {kProxyContainerName};
  }
  std::vector<Json> new_volumes;
  for (const Json& v : Volumes(options)) new_volumes.push_back(v);
  if (Insert(spec, "volumes", new_volumes, false)) created.push_back(kCreatedVolumes);
  record["volumes"] = {kTokenVolumeName, kTrustBundleVolumeName};
  record["created"] = std::move(created);
  if (!probes.originals.empty()) {
    ApplyProbeRewrites(spec, probes);
    record["probes"] = std::move(probes.originals);
  }
  if (!metadata.contains("annotations") || metadata["annotations"].is_null()) {
    metadata["annotations"] = Json::object();
  }
  metadata["annotations"][kStatusAnnotation] = record.dump();
  return InjectOutcome::kInjected;
}

absl::StatusOr<InjectOutcome> UninjectPod(Json& metadata, Json& spec) {
  if (!spec.is_object()) return absl::InvalidArgumentError("spec must be a mapping");
  absl::StatusOr<std::optional<std::string>> status = Annotation(metadata, kStatusAnnotation);
  if (!status.ok()) return status.status();
  if (!status->has_value()) return InjectOutcome::kNotInjected;
  const Json record = Json::parse(**status, nullptr, /*allow_exceptions=*/false);
  if (!record.is_object() || !record.contains("version") || record["version"] != kStatusVersion) {
    return absl::InvalidArgumentError(absl::StrCat(
        kStatusAnnotation, " is not a status this version of Tether wrote: ", **status));
  }
  absl::StatusOr<std::set<std::string>> init_containers = StringSet(record, "initContainers");
  absl::StatusOr<std::set<std::string>> containers = StringSet(record, "containers");
  absl::StatusOr<std::set<std::string>> volumes = StringSet(record, "volumes");
  absl::StatusOr<std::set<std::string>> created = StringSet(record, "created");
  for (const auto* s : {&init_containers, &containers, &volumes, &created}) {
    if (!s->ok()) return s->status();
  }
  if (record.contains("probes")) {
    if (absl::Status st = RestoreProbes(spec, record["probes"]); !st.ok()) {
      return absl::InvalidArgumentError(absl::StrCat(kStatusAnnotation, ": ", st.message()));
    }
  }
  RemoveNamed(spec, "initContainers", *init_containers);
  RemoveNamed(spec, "containers", *containers);
  RemoveNamed(spec, "volumes", *volumes);
  for (const char* field : {kCreatedInitContainers, kCreatedVolumes}) {
    if (created->count(field) != 0 && spec.contains(field) && spec[field].is_array() &&
        spec[field].empty()) {
      spec.erase(field);
    }
  }
  Json& annotations = metadata["annotations"];
  annotations.erase(kStatusAnnotation);
  if (created->count(kCreatedAnnotations) != 0 && annotations.empty()) {
    metadata.erase("annotations");
  }
  if (created->count(kCreatedMetadata) != 0 && metadata.empty()) metadata = Json(nullptr);
  return InjectOutcome::kUninjected;
}

absl::StatusOr<std::vector<InjectReport>> InjectObject(Json& object, const InjectOptions& options) {
  std::vector<InjectReport> reports;
  Json copy = object;
  if (absl::Status st = ApplyToObject(copy, InjectPodFn, options, &reports); !st.ok()) return st;
  object = std::move(copy);
  return reports;
}

absl::StatusOr<std::vector<InjectReport>> UninjectObject(Json& object) {
  std::vector<InjectReport> reports;
  Json copy = object;
  if (absl::Status st = ApplyToObject(copy, UninjectPodFn, InjectOptions(), &reports); !st.ok()) {
    return st;
  }
  object = std::move(copy);
  return reports;
}

absl::StatusOr<std::string> InjectYaml(absl::string_view yaml, const InjectOptions& options,
                                       std::vector<InjectReport>* out_reports) {
  return ApplyToYaml(yaml, InjectPodFn, options, out_reports);
}

absl::StatusOr<std::string> UninjectYaml(absl::string_view yaml,
                                         std::vector<InjectReport>* out_reports) {
  return ApplyToYaml(yaml, UninjectPodFn, InjectOptions(), out_reports);
}

}  // namespace tether::control::inject
