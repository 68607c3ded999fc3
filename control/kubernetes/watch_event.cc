#include "control/kubernetes/watch_event.h"

#include <nlohmann/json.hpp>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "control/kubernetes/token_review_response.h"

namespace tether::control::kubernetes {
namespace {

using Json = nlohmann::json;

constexpr size_t kMaxShownText = 100;
constexpr size_t kMaxMessageText = 512;

const Json* Member(const Json& object, const char* key) {
  if (!object.is_object()) return nullptr;
  auto it = object.find(key);
  return it == object.end() || it->is_null() ? nullptr : &*it;
}

const std::string* String(const Json& object, const char* key) {
  const Json* value = Member(object, key);
  return value != nullptr && value->is_string() ? value->get_ptr<const std::string*>() : nullptr;
}

// Context names what is being parsed in error messages.
struct Context {
  std::string what;  // "malformed watch event", "malformed PodList"
  absl::Status Error(absl::string_view detail) const {
    return absl::UnavailableError(absl::StrCat(what, ": ", detail));
  }
};

// Meta reads metadata.namespace, name and resourceVersion into the object.
template <typename T>
absl::Status ParseMeta(const Context& ctx, const Json& item, absl::string_view kind, T& out) {
  const Json* meta = Member(item, "metadata");
  if (meta == nullptr || !meta->is_object()) {
    return ctx.Error(absl::StrCat(kind, " has no metadata object"));
  }
  const std::string* ns = String(*meta, "namespace");
  if (ns == nullptr || !IsDns1123Label(*ns)) {
    return ctx.Error(absl::StrCat(kind, " metadata.namespace is not a namespace name"));
  }
  const std::string* name = String(*meta, "name");
  if (name == nullptr || !IsDns1123Subdomain(*name)) {
    return ctx.Error(absl::StrCat(kind, " metadata.name is not an object name"));
  }
  const std::string* version = String(*meta, "resourceVersion");
  if (version == nullptr || version->empty()) {
    return ctx.Error(absl::StrCat(kind, " ", *ns, "/", *name, " has no resourceVersion"));
  }
  out.namespace_name = *ns;
  out.name = *name;
  out.resource_version = PrintableText(*version, kMaxShownText);
  return absl::OkStatus();
}

absl::Status AddIp(const Context& ctx, const std::string& where, const std::string& text,
                   std::vector<std::string>& out) {
  std::optional<std::string> ip = CanonicalIp(text);
  if (!ip) {
    return ctx.Error(
        absl::StrCat(where, ": \"", PrintableText(text, kMaxShownText), "\" is not an IP"));
  }
  for (const std::string& have : out) {
    if (have == *ip) return absl::OkStatus();
  }
  out.push_back(*std::move(ip));
  return absl::OkStatus();
}

absl::Status ParsePorts(const Context& ctx, const std::string& where, const Json* ports,
                        bool allow_nil_port, std::vector<ServicePort>& out) {
  if (ports == nullptr) return absl::OkStatus();
  if (!ports->is_array()) return ctx.Error(absl::StrCat(where, ": ports is not a list"));
  for (const Json& p : *ports) {
    ServicePort port;
    const Json* number = Member(p, "port");
    if (number == nullptr && allow_nil_port && p.is_object()) {
      port.port = 0;
    } else if (number == nullptr || !number->is_number_integer() || number->get<int64_t>() < 1 ||
               number->get<int64_t>() > 65535) {
      return ctx.Error(absl::StrCat(where, ": a port is not a port number"));
    } else {
      port.port = static_cast<uint16_t>(number->get<int64_t>());
    }
    if (const std::string* protocol = String(p, "protocol")) {
      port.protocol = PrintableText(*protocol, 16);
    }
    // Names are DNS-1123 labels in a valid object; anything else is kept
    // printable and bounded, and simply matches nothing.
    if (const std::string* name = String(p, "name")) port.name = PrintableText(*name, 63);
    if (const std::string* app = String(p, "appProtocol")) {
      port.app_protocol = PrintableText(*app, kMaxShownText);
    }
    if (const Json* target = Member(p, "targetPort")) {
      if (target->is_number_integer() && target->get<int64_t>() >= 1 &&
          target->get<int64_t>() <= 65535) {
        port.target_port = static_cast<uint16_t>(target->get<int64_t>());
      } else if (target->is_string()) {
        port.target_port_name = PrintableText(target->get<std::string>(), 63);
      }
    }
    out.push_back(std::move(port));
  }
  return absl::OkStatus();
}

absl::StatusOr<Pod> ParsePod(const Context& ctx, const Json& item) {
  Pod pod;
  if (absl::Status s = ParseMeta(ctx, item, "Pod", pod); !s.ok()) return s;
  const std::string where = absl::StrCat("Pod ", pod.namespace_name, "/", pod.name);
  const Json* annotations = Member(*Member(item, "metadata"), "annotations");
  if (annotations != nullptr) {
    if (!annotations->is_object()) return ctx.Error(where + ": annotations is not an object");
    pod.injected = annotations->contains(kInjectedAnnotation);
  }
  if (const Json* spec = Member(item, "spec")) {
    const std::string* sa = String(*spec, "serviceAccountName");
    if (sa == nullptr || sa->empty()) sa = String(*spec, "serviceAccount");
    if (sa != nullptr && !sa->empty()) {
      if (!IsDns1123Subdomain(*sa)) {
        return ctx.Error(where + ": spec.serviceAccountName is not a service account name");
      }
      pod.service_account = *sa;
    }
    if (const Json* host = Member(*spec, "hostNetwork")) {
      if (!host->is_boolean()) return ctx.Error(where + ": spec.hostNetwork is not a boolean");
      pod.host_network = host->get<bool>();
    }
  }
  const Json* status = Member(item, "status");
  if (status == nullptr) return pod;
  if (const std::string* phase = String(*status, "phase")) {
    pod.phase = PrintableText(*phase, 32);
  }
  if (const Json* ips = Member(*status, "podIPs")) {
    if (!ips->is_array()) return ctx.Error(where + ": status.podIPs is not a list");
    for (const Json& entry : *ips) {
      const std::string* ip = String(entry, "ip");
      if (ip == nullptr) return ctx.Error(where + ": status.podIPs has an entry without ip");
      if (absl::Status s = AddIp(ctx, where, *ip, pod.ips); !s.ok()) return s;
    }
  }
  if (const std::string* ip = String(*status, "podIP"); ip != nullptr && !ip->empty()) {
    if (absl::Status s = AddIp(ctx, where, *ip, pod.ips); !s.ok()) return s;
  }
  if (const Json* conditions = Member(*status, "conditions")) {
    if (!conditions->is_array()) return ctx.Error(where + ": status.conditions is not a list");
    for (const Json& c : *conditions) {
      const std::string* type = String(c, "type");
      const std::string* value = String(c, "status");
      if (type != nullptr && *type == "Ready") pod.ready = value != nullptr && *value == "True";
    }
  }
  return pod;
}

absl::StatusOr<Service> ParseService(const Context& ctx, const Json& item) {
  Service svc;
  if (absl::Status s = ParseMeta(ctx, item, "Service", svc); !s.ok()) return s;
  const std::string where = absl::StrCat("Service ", svc.namespace_name, "/", svc.name);
  const Json* spec = Member(item, "spec");
  if (spec == nullptr) return svc;
  std::vector<std::string> ips;
  if (const Json* list = Member(*spec, "clusterIPs")) {
    if (!list->is_array()) return ctx.Error(where + ": spec.clusterIPs is not a list");
    for (const Json& ip : *list) {
      if (!ip.is_string()) return ctx.Error(where + ": spec.clusterIPs holds a non-string");
      ips.push_back(ip.get<std::string>());
    }
  }
  if (const std::string* ip = String(*spec, "clusterIP")) ips.push_back(*ip);
  for (const std::string& ip : ips) {
    if (ip.empty() || ip == "None") continue;  // headless
    if (absl::Status s = AddIp(ctx, where, ip, svc.cluster_ips); !s.ok()) return s;
  }
  if (absl::Status s = ParsePorts(ctx, where, Member(*spec, "ports"), false, svc.ports); !s.ok()) {
    return s;
  }
  return svc;
}

absl::StatusOr<EndpointSlice> ParseEndpointSlice(const Context& ctx, const Json& item) {
  EndpointSlice slice;
  if (absl::Status s = ParseMeta(ctx, item, "EndpointSlice", slice); !s.ok()) return s;
  const std::string where = absl::StrCat("EndpointSlice ", slice.namespace_name, "/", slice.name);
  if (const Json* labels = Member(*Member(item, "metadata"), "labels")) {
    if (const std::string* svc = String(*labels, kServiceNameLabel)) {
      if (!IsDns1123Subdomain(*svc)) return ctx.Error(where + ": bad service-name label");
      slice.service_name = *svc;
    }
  }
  const std::string* type = String(item, "addressType");
  const bool fqdn = type != nullptr && *type == "FQDN";
  if (const Json* endpoints = Member(item, "endpoints")) {
    if (!endpoints->is_array()) return ctx.Error(where + ": endpoints is not a list");
    for (const Json& e : *endpoints) {
      if (!e.is_object()) return ctx.Error(where + ": an endpoint is not an object");
      SliceEndpoint ep;
      const Json* addresses = Member(e, "addresses");
      if (addresses != nullptr && !addresses->is_array()) {
        return ctx.Error(where + ": endpoint addresses is not a list");
      }
      if (addresses != nullptr && !fqdn) {
        for (const Json& a : *addresses) {
          if (!a.is_string()) return ctx.Error(where + ": an endpoint address is not a string");
          if (absl::Status s = AddIp(ctx, where, a.get<std::string>(), ep.addresses); !s.ok()) {
            return s;
          }
        }
      }
      if (const Json* conditions = Member(e, "conditions")) {
        if (const Json* ready = Member(*conditions, "ready")) {
          if (!ready->is_boolean()) return ctx.Error(where + ": conditions.ready not a boolean");
          ep.ready = ready->get<bool>();
        }
      }
      if (const Json* ref = Member(e, "targetRef")) {
        const std::string* kind = String(*ref, "kind");
        const std::string* name = String(*ref, "name");
        const std::string* ns = String(*ref, "namespace");
        if (kind != nullptr && *kind == "Pod" && name != nullptr && IsDns1123Subdomain(*name)) {
          ep.pod_name = *name;
          ep.pod_namespace = ns != nullptr && IsDns1123Label(*ns) ? *ns : slice.namespace_name;
        }
      }
      slice.endpoints.push_back(std::move(ep));
    }
  }
  if (absl::Status s = ParsePorts(ctx, where, Member(item, "ports"), true, slice.ports); !s.ok()) {
    return s;
  }
  return slice;
}

absl::StatusOr<Object> ParseItem(const Context& ctx, ResourceKind kind, const Json& item) {
  if (!item.is_object()) return ctx.Error(absl::StrCat(KindName(kind), " is not an object"));
  if (const std::string* k = String(item, "kind"); k != nullptr && *k != KindName(kind)) {
    return ctx.Error(
        absl::StrCat("kind is \"", PrintableText(*k, kMaxShownText), "\", not ", KindName(kind)));
  }
  switch (kind) {
    case ResourceKind::kPod: {
      absl::StatusOr<Pod> pod = ParsePod(ctx, item);
      if (!pod.ok()) return pod.status();
      return Object(*std::move(pod));
    }
    case ResourceKind::kService: {
      absl::StatusOr<Service> svc = ParseService(ctx, item);
      if (!svc.ok()) return svc.status();
      return Object(*std::move(svc));
    }
    case ResourceKind::kEndpointSlice: {
      absl::StatusOr<EndpointSlice> slice = ParseEndpointSlice(ctx, item);
      if (!slice.ok()) return slice.status();
      return Object(*std::move(slice));
    }
  }
  return ctx.Error("unknown kind");
}

Json ParseJson(absl::string_view text) {
  return Json::parse(text.begin(), text.end(), /*cb=*/nullptr, /*allow_exceptions=*/false);
}

}  // namespace

const char* CollectionPath(ResourceKind kind) {
  switch (kind) {
    case ResourceKind::kPod:
      return "/api/v1/pods";
    case ResourceKind::kService:
      return "/api/v1/services";
    case ResourceKind::kEndpointSlice:
      return "/apis/discovery.k8s.io/v1/endpointslices";
  }
  return "";
}

const char* KindName(ResourceKind kind) {
  switch (kind) {
    case ResourceKind::kPod:
      return "Pod";
    case ResourceKind::kService:
      return "Service";
    case ResourceKind::kEndpointSlice:
      return "EndpointSlice";
  }
  return "";
}

std::string ObjectKey(const Object& object) {
  return std::visit([](const auto& o) { return absl::StrCat(o.namespace_name, "/", o.name); },
                    object);
}

const std::string& ObjectResourceVersion(const Object& object) {
  return std::visit([](const auto& o) -> const std::string& { return o.resource_version; }, object);
}

absl::StatusOr<WatchEvent> ParseWatchEvent(ResourceKind kind, absl::string_view line) {
  const Context ctx{"malformed watch event"};
  const Json doc = ParseJson(line);
  if (doc.is_discarded()) return ctx.Error("not valid JSON");
  if (!doc.is_object()) return ctx.Error("not a JSON object");
  const std::string* type = String(doc, "type");
  if (type == nullptr) return ctx.Error("no type");
  const Json* object = Member(doc, "object");
  if (object == nullptr || !object->is_object()) return ctx.Error("no object");
  WatchEvent event;
  if (*type == "ERROR") {
    event.type = WatchEventType::kError;
    const Json* code = Member(*object, "code");
    if (code != nullptr && code->is_number_integer()) {
      int64_t c = code->get<int64_t>();
      event.error_code = c >= 0 && c <= 999 ? static_cast<int>(c) : 0;
    }
    if (const std::string* reason = String(*object, "reason")) {
      event.error_reason = PrintableText(*reason, kMaxShownText);
    }
    if (const std::string* message = String(*object, "message")) {
      event.error_message = PrintableText(*message, kMaxMessageText);
    }
    return event;
  }
  if (*type == "BOOKMARK") {
    event.type = WatchEventType::kBookmark;
    const Json* meta = Member(*object, "metadata");
    const std::string* version = meta != nullptr ? String(*meta, "resourceVersion") : nullptr;
    if (version == nullptr || version->empty()) return ctx.Error("bookmark without version");
    event.resource_version = PrintableText(*version, kMaxShownText);
    return event;
  }
  if (*type == "ADDED") {
    event.type = WatchEventType::kAdded;
  } else if (*type == "MODIFIED") {
    event.type = WatchEventType::kModified;
  } else if (*type == "DELETED") {
    event.type = WatchEventType::kDeleted;
  } else {
    return ctx.Error(absl::StrCat("unknown type \"", PrintableText(*type, kMaxShownText), "\""));
  }
  absl::StatusOr<Object> parsed = ParseItem(ctx, kind, *object);
  if (!parsed.ok()) return parsed.status();
  event.resource_version = ObjectResourceVersion(*parsed);
  event.object = *std::move(parsed);
  return event;
}

absl::StatusOr<ObjectList> ParseObjectList(ResourceKind kind, absl::string_view json) {
  const std::string list_kind = absl::StrCat(KindName(kind), "List");
  const Context ctx{absl::StrCat("malformed ", list_kind)};
  const Json doc = ParseJson(json);
  if (doc.is_discarded()) return ctx.Error("not valid JSON");
  if (!doc.is_object()) return ctx.Error("not a JSON object");
  if (const std::string* k = String(doc, "kind"); k == nullptr || *k != list_kind) {
    return ctx.Error(absl::StrCat("kind is not ", list_kind));
  }
  const Json* meta = Member(doc, "metadata");
  if (meta == nullptr || !meta->is_object()) return ctx.Error("no metadata object");
  ObjectList list;
  const std::string* version = String(*meta, "resourceVersion");
  if (version == nullptr || version->empty()) return ctx.Error("no metadata.resourceVersion");
  list.resource_version = PrintableText(*version, kMaxShownText);
  if (const Json* cont = Member(*meta, "continue")) {
    if (!cont->is_string()) return ctx.Error("metadata.continue is not a string");
    list.continue_token = cont->get<std::string>();
    if (PrintableText(list.continue_token, list.continue_token.size()) != list.continue_token) {
      return ctx.Error("metadata.continue is not printable ASCII");
    }
  }
  const Json* items = Member(doc, "items");
  if (items == nullptr) return list;
  if (!items->is_array()) return ctx.Error("items is not a list");
  list.items.reserve(items->size());
  for (const Json& item : *items) {
    absl::StatusOr<Object> parsed = ParseItem(ctx, kind, item);
    if (!parsed.ok()) return parsed.status();
    list.items.push_back(*std::move(parsed));
  }
  return list;
}

}  // namespace tether::control::kubernetes
