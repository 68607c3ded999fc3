#include "control/inject/probe_rewrite.h"

#include <algorithm>
#include <optional>
#include <string>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace tether::control::inject {
namespace {

struct ProbeField {
  const char* field;  // in the container
  const char* path;   // the proxy's path suffix
};
constexpr ProbeField kProbeFields[] = {
    {"livenessProbe", "livez"},
    {"readinessProbe", "readyz"},
    {"startupProbe", "startupz"},
};

// The handlers a probe may have, of which the API server allows one.
constexpr const char* kNetworkHandlers[] = {"httpGet", "tcpSocket", "grpc"};

// ResolvePort resolves a probe's port as the kubelet does: a number, or the
// name of one of the container's ports (or, failing that, a number written
// as a string). nullopt when it resolves to nothing in 1..65535.
std::optional<int> ResolvePort(const Json& port, const Json& container) {
  int64_t number = -1;
  if (port.is_number_integer()) {
    number = port.get<int64_t>();
  } else if (port.is_string()) {
    const std::string name = port.get<std::string>();
    if (container.contains("ports") && container["ports"].is_array()) {
      for (const Json& p : container["ports"]) {
        if (p.is_object() && p.contains("name") && p["name"] == name &&
            p.contains("containerPort") && p["containerPort"].is_number_integer()) {
          number = p["containerPort"].get<int64_t>();
          break;
        }
      }
    }
    if (number < 0 && !absl::SimpleAtoi(name, &number)) return std::nullopt;
  } else {
    return std::nullopt;
  }
  if (number < 1 || number > 65535) return std::nullopt;
  return static_cast<int>(number);
}

// AppProbe turns `probe` into what the proxy runs, or nullopt when it is not
// to be rewritten.
std::optional<Json> AppProbe(const Json& probe, const Json& container, int health_port,
                             const std::vector<int>& reserved_ports) {
  const char* handler = nullptr;
  for (const char* h : kNetworkHandlers) {
    if (probe.contains(h)) handler = h;
  }
  if (handler == nullptr || !probe[handler].is_object()) return std::nullopt;
  const Json& action = probe[handler];
  if (action.contains("host") && action["host"].is_string() &&
      !action["host"].get<std::string>().empty()) {
    return std::nullopt;  // someone else's address: not this pod's to answer
  }
  if (!action.contains("port")) return std::nullopt;
  std::optional<int> port = ResolvePort(action["port"], container);
  if (!port.has_value() || *port == health_port ||
      std::find(reserved_ports.begin(), reserved_ports.end(), *port) != reserved_ports.end()) {
    return std::nullopt;
  }
  // The proxy runs HTTP and TCP probes; gRPC and HTTPS ones stay as they
  // are (they need the app's port excluded, tether.io/exclude-inbound-ports).
  if (std::string(handler) == "grpc") return std::nullopt;
  Json run = Json::object();
  run["port"] = *port;
  if (std::string(handler) == "httpGet") {
    if (action.contains("scheme") && action["scheme"] != "HTTP") return std::nullopt;
    run["path"] = action.contains("path") && action["path"].is_string() ? action["path"] : "/";
    run["scheme"] = "HTTP";
    if (action.contains("httpHeaders") && action["httpHeaders"].is_array()) {
      run["httpHeaders"] = action["httpHeaders"];
    }
  }
  Json out = {{handler, std::move(run)}};
  out["timeoutSeconds"] = probe.contains("timeoutSeconds") &&
                                  probe["timeoutSeconds"].is_number_integer() &&
                                  probe["timeoutSeconds"].get<int64_t>() > 0
                              ? probe["timeoutSeconds"]
                              : Json(1);
  return out;
}

// Each container whose probes may be rewritten: the app containers, and the
// pod's own native sidecars.
template <typename Fn>
void ForEachProbedContainer(const Json& spec, Fn fn) {
  for (const char* list : {"containers", "initContainers"}) {
    if (!spec.contains(list) || !spec[list].is_array()) continue;
    for (const Json& c : spec[list]) {
      if (!c.is_object()) continue;
      if (std::string(list) == "initContainers" &&
          !(c.contains("restartPolicy") && c["restartPolicy"] == "Always")) {
        continue;  // a plain init container has no probes
      }
      fn(c);
    }
  }
}

Json* FindContainer(Json& spec, const std::string& name) {
  for (const char* list : {"containers", "initContainers"}) {
    if (!spec.contains(list) || !spec[list].is_array()) continue;
    for (Json& c : spec[list]) {
      if (c.is_object() && c.contains("name") && c["name"] == name) return &c;
    }
  }
  return nullptr;
}

}  // namespace

absl::StatusOr<ProbePlan> PlanProbeRewrites(const Json& spec, int health_port,
                                            const std::vector<int>& reserved_ports) {
  ProbePlan plan;
  absl::Status error;
  ForEachProbedContainer(spec, [&](const Json& c) {
    if (!error.ok()) return;
    if (!c.contains("name") || !c["name"].is_string()) {
      error = absl::InvalidArgumentError("a container has no name");
      return;
    }
    const std::string name = c["name"].get<std::string>();
    for (const ProbeField& f : kProbeFields) {
      if (!c.contains(f.field) || c[f.field].is_null()) continue;
      const Json& probe = c[f.field];
      if (!probe.is_object()) {
        error = absl::InvalidArgumentError(
            absl::StrCat("container ", name, ": ", f.field, " must be a mapping"));
        return;
      }
      std::optional<Json> run = AppProbe(probe, c, health_port, reserved_ports);
      if (!run.has_value()) continue;
      const std::string path = absl::StrCat(kAppHealthPrefix, name, "/", f.path);
      // The handler is replaced where it stood, so the probe reads as before.
      Json rewritten = Json::object();
      for (const auto& [key, value] : probe.items()) {
        if (std::find_if(std::begin(kNetworkHandlers), std::end(kNetworkHandlers),
                         [&](const char* h) { return key == h; }) != std::end(kNetworkHandlers)) {
          rewritten["httpGet"] = {{"path", path}, {"port", health_port}, {"scheme", "HTTP"}};
        } else {
          rewritten[key] = value;
        }
      }
      plan.app_probes[path] = std::move(*run);
      plan.originals[name][f.field] = probe;
      plan.rewritten[name][f.field] = std::move(rewritten);
    }
  });
  if (!error.ok()) return error;
  return plan;
}

void ApplyProbeRewrites(Json& spec, const ProbePlan& plan) {
  for (const auto& [name, fields] : plan.rewritten.items()) {
    Json* c = FindContainer(spec, name);
    if (c == nullptr) continue;
    for (const auto& [field, probe] : fields.items()) (*c)[field] = probe;
  }
}

absl::Status RestoreProbes(Json& spec, const Json& originals) {
  if (!originals.is_object()) {
    return absl::InvalidArgumentError("the recorded probes are not a mapping");
  }
  for (const auto& [name, fields] : originals.items()) {
    if (!fields.is_object()) {
      return absl::InvalidArgumentError(
          absl::StrCat("the recorded probes of container ", name, " are not a mapping"));
    }
    for (const auto& [field, probe] : fields.items()) {
      if (std::none_of(std::begin(kProbeFields), std::end(kProbeFields),
                       [&](const ProbeField& f) { return field == f.field; })) {
        return absl::InvalidArgumentError(absl::StrCat("the recorded probes of container ", name,
                                                       " name ", field, ", which is not a probe"));
      }
    }
  }
  for (const auto& [name, fields] : originals.items()) {
    Json* c = FindContainer(spec, name);
    if (c == nullptr) continue;  // removed since: nothing to restore
    for (const auto& [field, probe] : fields.items()) (*c)[field] = probe;
  }
  return absl::OkStatus();
}

}  // namespace tether::control::inject
