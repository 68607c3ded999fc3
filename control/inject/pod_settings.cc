#include "control/inject/pod_settings.h"

#include <regex>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "proxy/init/rules.h"

namespace tether::control::inject {
namespace {

constexpr absl::string_view kLogLevels[] = {"error", "warning", "info", "debug"};

// IsQuantity: Kubernetes' resource.Quantity syntax ("100m", "1.5", "64Mi", "1e3").
bool IsQuantity(const std::string& s) {
  static const std::regex kQuantity(
      R"(^[+]?([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][+-]?[0-9]+|[KMGTPE]i|[numkMGTPE])?$)");
  return std::regex_match(s, kQuantity);
}

absl::Status AnnotationError(const std::string& key, absl::string_view what) {
  return absl::InvalidArgumentError(absl::StrCat("annotation ", key, ": ", what));
}

}  // namespace

absl::StatusOr<std::optional<std::string>> StringField(const Json& obj, const std::string& key,
                                                       absl::string_view what) {
  if (!obj.is_object()) return std::optional<std::string>();
  auto it = obj.find(key);
  if (it == obj.end() || it->is_null()) return std::optional<std::string>();
  if (!it->is_string()) {
    return absl::InvalidArgumentError(absl::StrCat(what, " ", key, " must be a string"));
  }
  return std::optional<std::string>(it->get<std::string>());
}

absl::StatusOr<std::optional<std::string>> Annotation(const Json& metadata,
                                                      const std::string& key) {
  if (!metadata.is_object() || !metadata.contains("annotations")) {
    return std::optional<std::string>();
  }
  return StringField(metadata["annotations"], key, "annotation");
}

absl::StatusOr<PodSettings> ReadSettings(const Json& metadata, const InjectOptions& options) {
  PodSettings s;
  s.cpu_request = options.cpu_request;
  s.memory_request = options.memory_request;
  s.cpu_limit = options.cpu_limit;
  s.memory_limit = options.memory_limit;
  s.log_level = options.log_level;
  s.native_sidecar = options.native_sidecar;

  struct PortsAnnotation {
    const char* key;
    std::vector<int>* out;
  };
  for (const PortsAnnotation& p :
       {PortsAnnotation{kExcludeInboundPortsAnnotation, &s.exclude_inbound_ports},
        PortsAnnotation{kExcludeOutboundPortsAnnotation, &s.exclude_outbound_ports}}) {
    absl::StatusOr<std::optional<std::string>> value = Annotation(metadata, p.key);
    if (!value.ok()) return value.status();
    if (!value->has_value()) continue;
    absl::StatusOr<std::vector<int>> ports = proxy::ParsePorts(**value);
    if (!ports.ok()) return AnnotationError(p.key, ports.status().message());
    *p.out = std::move(*ports);
  }
  absl::StatusOr<std::optional<std::string>> opaque = Annotation(metadata, kOpaquePortsAnnotation);
  if (!opaque.ok()) return opaque.status();
  if (opaque->has_value()) {
    absl::StatusOr<std::vector<int>> ports = proxy::ParsePorts(**opaque);
    if (!ports.ok()) return AnnotationError(kOpaquePortsAnnotation, ports.status().message());
    s.opaque_ports = std::move(*ports);
  }
  absl::StatusOr<std::optional<std::string>> cidrs =
      Annotation(metadata, kExcludeOutboundCidrsAnnotation);
  if (!cidrs.ok()) return cidrs.status();
  if (cidrs->has_value()) {
    absl::StatusOr<std::vector<std::string>> parsed = proxy::ParseCidrs(**cidrs);
    if (!parsed.ok()) {
      return AnnotationError(kExcludeOutboundCidrsAnnotation, parsed.status().message());
    }
    s.exclude_outbound_cidrs = std::move(*parsed);
  }

  struct QuantityAnnotation {
    const char* key;
    std::string* out;
  };
  for (const QuantityAnnotation& q :
       {QuantityAnnotation{kProxyCpuAnnotation, &s.cpu_request},
        QuantityAnnotation{kProxyMemoryAnnotation, &s.memory_request},
        QuantityAnnotation{kProxyCpuLimitAnnotation, &s.cpu_limit},
        QuantityAnnotation{kProxyMemoryLimitAnnotation, &s.memory_limit}}) {
    absl::StatusOr<std::optional<std::string>> value = Annotation(metadata, q.key);
    if (!value.ok()) return value.status();
    if (!value->has_value()) continue;
    if (!IsQuantity(**value)) {
      return AnnotationError(
          q.key, absl::StrCat("\"", **value, "\" is not a quantity (e.g. 100m, 0.5, 128Mi)"));
    }
    *q.out = **value;
  }

  // Annotations that take one of a few words.
  struct EnumAnnotation {
    const char* key;
    std::vector<absl::string_view> words;
    std::string* out;
  };
  std::string access = "off";
  for (const EnumAnnotation& e :
       {EnumAnnotation{
            kLogLevelAnnotation, {std::begin(kLogLevels), std::end(kLogLevels)}, &s.log_level},
        EnumAnnotation{kAccessLogAnnotation, {"off", "connections", "requests"}, &access},
        EnumAnnotation{kHttpForwardAnnotation, {"policy", "all"}, &s.http_forward}}) {
    absl::StatusOr<std::optional<std::string>> value = Annotation(metadata, e.key);
    if (!value.ok()) return value.status();
    if (!value->has_value()) continue;
    if (std::find(e.words.begin(), e.words.end(), **value) == e.words.end()) {
      return AnnotationError(
          e.key, absl::StrCat("\"", **value, "\" is not one of ", absl::StrJoin(e.words, ", ")));
    }
    *e.out = **value;
  }
  if (access != "off") s.access_log = access;
  struct BoolAnnotation {
    const char* key;
    bool* out;
  };
  for (const BoolAnnotation& b : {BoolAnnotation{kNativeSidecarAnnotation, &s.native_sidecar},
                                  BoolAnnotation{kRewriteProbesAnnotation, &s.rewrite_probes}}) {
    absl::StatusOr<std::optional<std::string>> value = Annotation(metadata, b.key);
    if (!value.ok()) return value.status();
    if (!value->has_value()) continue;
    if (**value != "true" && **value != "false") {
      return AnnotationError(b.key, "must be \"true\" or \"false\"");
    }
    *b.out = **value == "true";
  }
  return s;
}

absl::StatusOr<bool> InjectionDisabled(const Json& metadata) {
  for (const char* field : {"annotations", "labels"}) {
    if (!metadata.is_object() || !metadata.contains(field)) continue;
    absl::StatusOr<std::optional<std::string>> value =
        StringField(metadata[field], kInjectAnnotation,
                    field == std::string("labels") ? "label" : "annotation");
    if (!value.ok()) return value.status();
    if (!value->has_value()) continue;
    if (**value == "false") return true;
    if (**value != "true") {
      return AnnotationError(kInjectAnnotation, "must be \"true\" or \"false\"");
    }
  }
  return false;
}

}  // namespace tether::control::inject
