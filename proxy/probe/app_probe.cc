#include "proxy/probe/app_probe.h"

#include <nlohmann/json.hpp>
#include <unistd.h>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/http/client.h"
#include "common/ip_text.h"

namespace tether::proxy {
namespace {

using Json = nlohmann::json;

absl::Status Bad(absl::string_view path, absl::string_view what) {
  return absl::InvalidArgumentError(absl::StrCat("--app-probes ", path, ": ", what));
}

absl::StatusOr<uint16_t> Port(const Json& action, absl::string_view path) {
  if (!action.contains("port") || !action["port"].is_number_integer()) {
    return Bad(path, "port must be a number");
  }
  const int64_t port = action["port"].get<int64_t>();
  if (port < 1 || port > 65535) return Bad(path, absl::StrCat("port ", port, " is not 1..65535"));
  return static_cast<uint16_t>(port);
}

absl::StatusOr<AppProbe> ParseOne(const std::string& path, const Json& entry) {
  if (!absl::StartsWith(path, kAppHealthPrefix) || path.size() == sizeof(kAppHealthPrefix) - 1 ||
      path.find_first_of("?# \r\n") != std::string::npos) {
    return Bad(path, absl::StrCat("a probe's path must start with ", kAppHealthPrefix));
  }
  if (!entry.is_object()) return Bad(path, "must be a mapping");
  AppProbe probe;
  if (entry.contains("timeoutSeconds")) {
    if (!entry["timeoutSeconds"].is_number_integer() ||
        entry["timeoutSeconds"].get<int64_t>() < 1 ||
        entry["timeoutSeconds"].get<int64_t>() > 3600) {
      return Bad(path, "timeoutSeconds must be a number of seconds in 1..3600");
    }
    probe.timeout = absl::Seconds(entry["timeoutSeconds"].get<int64_t>());
  }
  const bool http = entry.contains("httpGet"), tcp = entry.contains("tcpSocket");
  if (http == tcp) return Bad(path, "needs exactly one of httpGet and tcpSocket");
  const Json& action = entry[http ? "httpGet" : "tcpSocket"];
  if (!action.is_object()) return Bad(path, "the handler must be a mapping");
  absl::StatusOr<uint16_t> port = Port(action, path);
  if (!port.ok()) return port.status();
  probe.port = *port;
  if (tcp) {
    probe.kind = AppProbe::Kind::kTcpSocket;
    return probe;
  }
  probe.kind = AppProbe::Kind::kHttpGet;
  if (action.contains("scheme") &&
      !(action["scheme"].is_string() && action["scheme"].get<std::string>() == "HTTP")) {
    return Bad(path, "scheme must be HTTP (HTTPS probes are not rewritten)");
  }
  if (action.contains("path")) {
    if (!action["path"].is_string()) return Bad(path, "path must be a string");
    probe.path = action["path"].get<std::string>();
    if (probe.path.empty()) probe.path = "/";
    if (probe.path.front() != '/') probe.path.insert(0, "/");  // as the kubelet does
    if (probe.path.find_first_of(" \r\n") != std::string::npos) {
      return Bad(path, "path must not hold spaces, CR or LF");
    }
  }
  if (action.contains("httpHeaders")) {
    if (!action["httpHeaders"].is_array()) return Bad(path, "httpHeaders must be a list");
    for (const Json& h : action["httpHeaders"]) {
      if (!h.is_object() || !h.contains("name") || !h["name"].is_string() || !h.contains("value") ||
          !h["value"].is_string()) {
        return Bad(path, "each of httpHeaders needs a name and a value");
      }
      const std::string name = h["name"].get<std::string>();
      const std::string value = h["value"].get<std::string>();
      if (name.empty() || name.find_first_of(": \r\n") != std::string::npos ||
          value.find_first_of("\r\n") != std::string::npos) {
        return Bad(path, absl::StrCat("header \"", name, "\" is malformed"));
      }
      probe.headers.emplace_back(name, value);
    }
  }
  return probe;
}

}  // namespace

absl::StatusOr<AppProbes> ParseAppProbes(absl::string_view json) {
  AppProbes out;
  if (json.empty()) return out;
  const Json doc = Json::parse(json.begin(), json.end(), nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded() || !doc.is_object()) {
    return absl::InvalidArgumentError("--app-probes must be a JSON object of paths to probes");
  }
  for (const auto& [path, entry] : doc.items()) {
    absl::StatusOr<AppProbe> probe = ParseOne(path, entry);
    if (!probe.ok()) return probe.status();
    out.emplace(path, *std::move(probe));
  }
  return out;
}

http::HttpResponse RunAppProbe(const AppProbe& probe, absl::string_view host) {
  const std::string target = JoinHostPort(host, probe.port);
  if (probe.kind == AppProbe::Kind::kTcpSocket) {
    absl::StatusOr<int> fd = http::ConnectTcp(target, probe.timeout);
    if (!fd.ok()) return http::HttpResponse::Text(absl::StrCat(fd.status().message(), "\n"), 503);
    close(*fd);
    return http::HttpResponse::Text(absl::StrCat("ok: ", target, " accepts connections\n"));
  }
  http::GetOptions options;
  options.timeout = probe.timeout;
  options.headers = probe.headers;
  options.user_agent = "kube-probe (tether-proxy)";
  options.max_body = 10 * 1024;  // the kubelet reads no more either
  absl::StatusOr<http::HttpResult> r = http::Get(target, probe.path, options);
  if (!r.ok()) return http::HttpResponse::Text(absl::StrCat(r.status().message(), "\n"), 503);
  const std::string what = absl::StrCat("GET http://", target, probe.path, ": ", r->status);
  if (r->status >= 200 && r->status < 400) {
    return http::HttpResponse::Text(absl::StrCat("ok: ", what, "\n"));
  }
  return http::HttpResponse::Text(absl::StrCat(what, "\n"), r->status);
}

void RegisterAppProbeEndpoints(http::AdminServer& server, const AppProbes& probes,
                               const std::string& host) {
  for (const auto& [path, probe] : probes) {
    server.Handle("GET", path, [probe = probe, host](const http::HttpRequest&) {
      return RunAppProbe(probe, host);
    });
  }
}

}  // namespace tether::proxy
