#include "tests/control/kubernetes/fake_watch_api.h"

#include <algorithm>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "tests/control/kubernetes/fake_kubernetes_api.h"

namespace tether::testing {
namespace {

using Json = nlohmann::json;

constexpr absl::Duration kWaitLimit = absl::Seconds(20);

std::string Chunk(absl::string_view data) {
  return absl::StrCat(absl::Hex(data.size()), "\r\n", data, "\r\n");
}

std::string Key(const Json& object) {
  return absl::StrCat(object["metadata"]["namespace"].get<std::string>(), "/",
                      object["metadata"]["name"].get<std::string>());
}

std::string UrlUnescape(absl::string_view s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    int hi = 0, lo = 0;
    if (s[i] == '%' && i + 2 < s.size() && absl::SimpleHexAtoi(s.substr(i + 1, 1), &hi) &&
        absl::SimpleHexAtoi(s.substr(i + 2, 1), &lo)) {
      out.push_back(static_cast<char>(hi * 16 + lo));
      i += 2;
    } else {
      out.push_back(s[i]);
    }
  }
  return out;
}

const char* ListKind(const std::string& collection) {
  if (collection == kPods) return "PodList";
  if (collection == kServices) return "ServiceList";
  return "EndpointSliceList";
}

}  // namespace

uint64_t FakeWatchApi::Log(const std::string& collection, const std::string& type, Json object) {
  uint64_t rv = ++revision_;
  object["metadata"]["resourceVersion"] = absl::StrCat(rv);
  Json event = {{"type", type}, {"object", object}};
  collections_[collection].events.push_back({rv, event.dump()});
  changed_.SignalAll();
  return rv;
}

uint64_t FakeWatchApi::Put(const std::string& collection, Json object) {
  MutexLock lock(&mu_);
  Collection& c = collections_[collection];
  const std::string key = Key(object);
  const bool exists = c.objects.count(key) > 0;
  uint64_t rv = Log(collection, exists ? "MODIFIED" : "ADDED", object);
  object["metadata"]["resourceVersion"] = absl::StrCat(rv);
  c.objects[key] = std::move(object);
  return rv;
}

uint64_t FakeWatchApi::Delete(const std::string& collection, const std::string& ns,
                              const std::string& name) {
  MutexLock lock(&mu_);
  Collection& c = collections_[collection];
  auto it = c.objects.find(absl::StrCat(ns, "/", name));
  if (it == c.objects.end()) {
    problems_.push_back(absl::StrCat("test deletes unknown ", ns, "/", name));
    return revision_;
  }
  Json object = it->second;
  c.objects.erase(it);
  return Log(collection, "DELETED", std::move(object));
}

uint64_t FakeWatchApi::Bookmark(const std::string& collection) {
  MutexLock lock(&mu_);
  return Log(collection, "BOOKMARK", Json{{"kind", "Pod"}, {"metadata", Json::object()}});
}

void FakeWatchApi::Compact() {
  MutexLock lock(&mu_);
  compacted_ = ++revision_;  // the cluster wrote on meanwhile
  for (auto& [name, c] : collections_) c.events.clear();
}

void FakeWatchApi::DropWatches() {
  MutexLock lock(&mu_);
  ++drops_;
  changed_.SignalAll();
}

void FakeWatchApi::EndWatches() {
  MutexLock lock(&mu_);
  ++ends_;
  changed_.SignalAll();
}

std::vector<std::string> FakeWatchApi::lists(const std::string& collection) const {
  MutexLock lock(&mu_);
  auto it = collections_.find(collection);
  return it == collections_.end() ? std::vector<std::string>{} : it->second.lists;
}

std::vector<std::string> FakeWatchApi::watch_versions(const std::string& collection) const {
  MutexLock lock(&mu_);
  auto it = collections_.find(collection);
  return it == collections_.end() ? std::vector<std::string>{} : it->second.watch_versions;
}

bool FakeWatchApi::WaitForWatch(const std::string& collection, const std::string& version) const {
  MutexLock lock(&mu_);
  return changed_.WaitFor(
      &mu_,
      [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
        auto it = collections_.find(collection);
        if (it == collections_.end()) return false;
        const auto& open = it->second.open_watches;
        return std::find(open.begin(), open.end(), version) != open.end();
      },
      kWaitLimit);
}

bool FakeWatchApi::WaitForLists(const std::string& collection, size_t n) const {
  MutexLock lock(&mu_);
  return changed_.WaitFor(
      &mu_,
      [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
        auto it = collections_.find(collection);
        return it != collections_.end() && it->second.lists.size() >= n;
      },
      kWaitLimit);
}

void FakeWatchApi::Serve(const RecordedRequest& req, ResponseStream& stream) {
  absl::string_view target = req.target;
  absl::string_view path = target.substr(0, target.find('?'));
  std::map<std::string, std::string> query;
  if (size_t q = target.find('?'); q != absl::string_view::npos) {
    for (absl::string_view kv : absl::StrSplit(target.substr(q + 1), '&')) {
      std::pair<std::string, std::string> p = absl::StrSplit(kv, absl::MaxSplits('=', 1));
      query[p.first] = UrlUnescape(p.second);
    }
  }
  const std::string collection(path);
  {
    MutexLock lock(&mu_);
    if (req.method != "GET") problems_.push_back(absl::StrCat("method ", req.method));
    if (req.Header("authorization") != absl::StrCat("Bearer ", caller_token_)) {
      problems_.push_back(absl::StrCat("bad authorization on ", req.target));
      stream.Write(HttpResponse(401, StatusBody(401, "Unauthorized", "Unauthorized")));
      return;
    }
    if (collection != kPods && collection != kServices && collection != kSlices) {
      problems_.push_back(absl::StrCat("unexpected request ", req.target));
      stream.Write(HttpResponse(404, StatusBody(404, "NotFound", "not found")));
      return;
    }
  }
  if (query.count("watch") > 0) {
    Watch(collection, query, stream);
  } else {
    List(collection, query, stream);
  }
}

void FakeWatchApi::List(const std::string& collection,
                        const std::map<std::string, std::string>& query, ResponseStream& stream) {
  std::string body;
  {
    MutexLock lock(&mu_);
    Collection& c = collections_[collection];
    std::string target = absl::StrCat(collection, "?");
    for (const auto& [k, v] : query) absl::StrAppend(&target, k, "=", v, "&");
    c.lists.push_back(target);
    changed_.SignalAll();
    size_t limit = 500, offset = 0;
    if (auto it = query.find("limit"); it != query.end())
      (void)absl::SimpleAtoi(it->second, &limit);
    std::string version = absl::StrCat(revision_);
    if (auto it = query.find("continue"); it != query.end()) {
      // "offset/version": the token of this fake (the real one is opaque).
      std::pair<std::string, std::string> p = absl::StrSplit(it->second, '/');
      (void)absl::SimpleAtoi(p.first, &offset);
      version = p.second;
    }
    Json items = Json::array();
    size_t i = 0;
    for (const auto& [key, object] : c.objects) {
      if (i >= offset && i < offset + limit) items.push_back(object);
      ++i;
    }
    Json meta = {{"resourceVersion", version}};
    if (offset + limit < c.objects.size()) {
      meta["continue"] = absl::StrCat(offset + limit, "/", version);  // '/' must be escaped
    }
    body = Json{{"kind", ListKind(collection)},
                {"apiVersion", "v1"},
                {"metadata", meta},
                {"items", items}}
               .dump();
  }
  stream.Write(HttpResponse(200, body));
}

void FakeWatchApi::Watch(const std::string& collection,
                         const std::map<std::string, std::string>& query, ResponseStream& stream) {
  uint64_t from = 0;
  std::string version;
  if (auto it = query.find("resourceVersion"); it != query.end()) version = it->second;
  MutexLock lock(&mu_);
  Collection& c = collections_[collection];
  c.watch_versions.push_back(version);
  if (query.count("allowWatchBookmarks") == 0 || query.count("timeoutSeconds") == 0) {
    problems_.push_back(absl::StrCat("watch without bookmarks or timeout: ", collection));
  }
  if (!absl::SimpleAtoi(version, &from)) problems_.push_back("watch without resourceVersion");
  if (from < compacted_) {
    Json status = {
        {"kind", "Status"},
        {"apiVersion", "v1"},
        {"status", "Failure"},
        {"reason", "Expired"},
        {"code", 410},
        {"message", absl::StrCat("too old resource version: ", from, " (", compacted_, ")")}};
    if (gone_as_http_) {
      stream.Write(HttpResponse(410, status.dump()));
    } else {
      Json event = {{"type", "ERROR"}, {"object", status}};
      stream.Write(absl::StrCat(
          "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n",
          Chunk(event.dump() + "\n"), "0\r\n\r\n"));
    }
    return;
  }
  if (!stream.Write("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                    "Transfer-Encoding: chunked\r\n\r\n")) {
    return;
  }
  c.open_watches.push_back(version);
  changed_.SignalAll();
  const uint64_t drops = drops_, ends = ends_;
  size_t next = 0;
  for (;;) {
    // Checked before sending: events written after a drop wait for the next watch.
    if (drops_ != drops || stream.stopping()) break;  // abruptly: no final chunk
    if (ends_ != ends) {
      stream.Write("0\r\n\r\n");
      break;
    }
    if (next > c.events.size()) next = c.events.size();  // compacted meanwhile
    // Events are appended in revision order; send those after `from`.
    bool gone = false;
    while (next < c.events.size() && !gone) {
      const Event& e = c.events[next++];
      if (e.revision <= from) continue;
      gone = !stream.Write(Chunk(e.line + "\n"));
    }
    if (gone) break;
    changed_.WaitWithTimeout(&mu_, absl::Milliseconds(20));  // to notice stopping()
  }
  c.open_watches.erase(std::find(c.open_watches.begin(), c.open_watches.end(), version));
}

Json PodJson(const std::string& ns, const std::string& name, const std::string& sa,
             const std::vector<std::string>& ips, bool injected, bool ready) {
  Json pod = {{"kind", "Pod"},
              {"apiVersion", "v1"},
              {"metadata", {{"namespace", ns}, {"name", name}, {"labels", {{"app", name}}}}},
              {"spec", {{"serviceAccountName", sa}, {"containers", {{{"name", "app"}}}}}},
              {"status", {{"phase", "Running"}}}};
  if (injected) pod["metadata"]["annotations"] = {{"tether.io/status", "{\"version\":1}"}};
  if (!ips.empty()) {
    pod["status"]["podIP"] = ips[0];
    for (const std::string& ip : ips) pod["status"]["podIPs"].push_back({{"ip", ip}});
  }
  pod["status"]["conditions"] = {{{"type", "Ready"}, {"status", ready ? "True" : "False"}}};
  return pod;
}

Json ServiceJson(const std::string& ns, const std::string& name, const std::string& cluster_ip,
                 const std::vector<int>& tcp_ports, const std::string& app_protocol) {
  Json svc = {{"kind", "Service"},
              {"apiVersion", "v1"},
              {"metadata", {{"namespace", ns}, {"name", name}}},
              {"spec", {{"clusterIP", cluster_ip}, {"clusterIPs", {cluster_ip}}}}};
  for (int port : tcp_ports) {
    Json p = {{"port", port}, {"protocol", "TCP"}};
    if (tcp_ports.size() > 1) p["name"] = absl::StrCat("p", port);
    if (!app_protocol.empty()) p["appProtocol"] = app_protocol;
    svc["spec"]["ports"].push_back(std::move(p));
  }
  return svc;
}

Json SliceJson(const std::string& ns, const std::string& name, const std::string& service,
               const std::vector<SliceEndpointJson>& endpoints, int target_port) {
  Json slice = {
      {"kind", "EndpointSlice"},
      {"apiVersion", "discovery.k8s.io/v1"},
      {"metadata",
       {{"namespace", ns}, {"name", name}, {"labels", {{"kubernetes.io/service-name", service}}}}},
      {"addressType", "IPv4"},
      {"endpoints", Json::array()},
      {"ports", {{{"port", target_port}, {"protocol", "TCP"}}}}};
  for (const SliceEndpointJson& e : endpoints) {
    slice["endpoints"].push_back(
        {{"addresses", {e.ip}},
         {"conditions", {{"ready", e.ready}}},
         {"targetRef", {{"kind", "Pod"}, {"namespace", ns}, {"name", e.pod}}}});
  }
  return slice;
}

}  // namespace tether::testing
