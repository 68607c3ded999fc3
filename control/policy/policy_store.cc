#include "control/policy/policy_store.h"

#include <algorithm>

#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/files.h"
#include "common/policy/policy_proto.h"

namespace tether::control {
namespace {

constexpr char kAuthorization[] = "AuthorizationPolicy";
constexpr char kDefault[] = "DefaultPolicy";
constexpr char kTraffic[] = "TrafficPolicy";

std::string Key(absl::string_view kind, absl::string_view ns, absl::string_view name) {
  return absl::StrCat(kind, "/", ns, "/", name);
}

// Display: "AuthorizationPolicy shop/cart", "DefaultPolicy default (mesh)".
std::string Display(absl::string_view kind, absl::string_view ns, absl::string_view name) {
  return ns.empty() ? absl::StrCat(kind, " ", name, " (mesh)")
                    : absl::StrCat(kind, " ", ns, "/", name);
}

// CanonicalFile: where `tetherctl policy apply` keeps one resource.
std::string CanonicalFile(absl::string_view kind, absl::string_view ns, absl::string_view name) {
  return absl::StrCat(absl::AsciiStrToLower(kind), ".", ns.empty() ? "mesh" : ns, ".", name,
                      ".yaml");
}

// One resource of a set, alone, for rendering and comparing.
policy::PolicySet Only(const policy::AuthorizationPolicy& p) { return {{p}, {}}; }
policy::PolicySet Only(const policy::DefaultPolicy& d) { return {{}, {d}}; }
policy::PolicySet Only(const policy::TrafficPolicy& t) { return {{}, {}, {t}}; }

}  // namespace

bool PolicyState::Knows(absl::string_view ns) const {
  return loaded && unknown_namespaces.count("") == 0 &&
         unknown_namespaces.count(std::string(ns)) == 0;
}

absl::StatusOr<std::unique_ptr<PolicyStore>> PolicyStore::Open(std::string dir) {
  if (absl::Status st = MakeDirs(dir, 0755); !st.ok()) return st;
  auto source = std::make_unique<DirectoryPolicySource>(dir);
  DirectoryPolicySource* directory = source.get();
  std::unique_ptr<PolicyStore> store(new PolicyStore(std::move(source), directory, std::move(dir)));
  MutexLock write_lock(&store->write_mu_);
  {
    MutexLock lock(&store->mu_);
    store->current_ = std::make_shared<PolicyState>();
  }
  if (absl::StatusOr<bool> loaded = store->ReloadLocked(); !loaded.ok()) return loaded.status();
  return store;
}

std::unique_ptr<PolicyStore> PolicyStore::FromSource(std::shared_ptr<PolicySource> source,
                                                     std::string cache_dir) {
  std::unique_ptr<PolicyStore> store(new PolicyStore(std::move(source), nullptr, ""));
  if (!cache_dir.empty()) store->cache_ = std::make_unique<PolicyCache>(std::move(cache_dir));
  MutexLock write_lock(&store->write_mu_);
  {
    MutexLock lock(&store->mu_);
    auto initial = std::make_shared<PolicyState>();
    initial->loaded = false;
    store->current_ = std::move(initial);
  }
  (void)store->ReloadLocked();  // failures are in reload_error
  return store;
}

absl::StatusOr<PolicyStore::Group> PolicyStore::Validate(
    const std::vector<const PolicyDocument*>& docs) {
  Group group;
  for (const PolicyDocument* doc : docs) {
    absl::StatusOr<policy::PolicySet> set =
        policy::ParsePolicies(doc->yaml, doc->origin, doc->parse);
    if (!set.ok()) return set.status();
    auto claim = [&](std::string key, const std::string& display) -> absl::Status {
      auto [it, inserted] = group.origins.emplace(std::move(key), doc->short_name);
      if (inserted) return absl::OkStatus();
      return absl::InvalidArgumentError(
          absl::StrCat(doc->origin, ": ", display, " is also defined in ", it->second));
    };
    for (policy::AuthorizationPolicy& p : set->policies) {
      if (absl::Status st = claim(Key(kAuthorization, p.namespace_name, p.name),
                                  Display(kAuthorization, p.namespace_name, p.name));
          !st.ok()) {
        return st;
      }
      group.set.policies.push_back(std::move(p));
    }
    for (policy::DefaultPolicy& d : set->defaults) {
      for (const policy::DefaultPolicy& other : group.set.defaults) {
        if (other.namespace_name == d.namespace_name) {
          return absl::InvalidArgumentError(
              absl::StrCat(doc->origin, ": a second DefaultPolicy for ",
                           d.namespace_name.empty() ? "the mesh" : "namespace " + d.namespace_name,
                           " (", Display(kDefault, other.namespace_name, other.name), " is in ",
                           group.origins[Key(kDefault, other.namespace_name, other.name)], ")"));
        }
      }
      if (absl::Status st = claim(Key(kDefault, d.namespace_name, d.name),
                                  Display(kDefault, d.namespace_name, d.name));
          !st.ok()) {
        return st;
      }
      group.set.defaults.push_back(std::move(d));
    }
    for (policy::TrafficPolicy& t : set->traffic) {
      if (absl::Status st = claim(Key(kTraffic, t.namespace_name, t.name),
                                  Display(kTraffic, t.namespace_name, t.name));
          !st.ok()) {
        return st;
      }
      group.set.traffic.push_back(std::move(t));
    }
  }
  return group;
}

PolicyStore::Loaded PolicyStore::Validated(const PolicyDocuments& docs, const Groups& previous,
                                           PolicyCache* cache) {
  Loaded loaded;
  loaded.revision = docs.revision;
  std::map<std::string, std::vector<const PolicyDocument*>> by_group;
  for (const PolicyDocument& doc : docs.documents) by_group[doc.group].push_back(&doc);
  for (const auto& [name, group_docs] : by_group) {
    absl::StatusOr<Group> group = Validate(group_docs);
    if (group.ok()) {
      loaded.groups.emplace(name, *std::move(group));
      if (cache != nullptr) {
        if (absl::Status st = cache->Save(name, group_docs); !st.ok()) {
          absl::StrAppend(&loaded.errors, loaded.errors.empty() ? "" : "; ",
                          "cannot keep the last valid policy: ", st.message());
        }
      }
      continue;
    }
    absl::StrAppend(&loaded.errors, loaded.errors.empty() ? "" : "; ", group.status().message());
    if (auto it = previous.find(name); it != previous.end()) {
      loaded.groups.emplace(name, it->second);  // the last valid version stays
      continue;
    }
    // After a restart: the last valid version this control plane kept.
    if (std::optional<std::vector<PolicyDocument>> kept =
            cache != nullptr ? cache->Load(name) : std::nullopt) {
      std::vector<const PolicyDocument*> kept_docs;
      for (const PolicyDocument& d : *kept) kept_docs.push_back(&d);
      if (absl::StatusOr<Group> last = Validate(kept_docs); last.ok()) {
        loaded.groups.emplace(name, *std::move(last));
        absl::StrAppend(&loaded.errors, " (enforcing the last valid version, kept in ",
                        cache->Path(name), ")");
        continue;
      }
    }
    // Nothing valid to keep: the namespaces these documents speak for are unknown.
    for (const PolicyDocument* doc : group_docs) {
      const policy::ParseOptions& scope = doc->parse;
      if (scope.scope_namespace.empty() || scope.scope_sets_mesh_default) {
        loaded.unknown_namespaces.insert("");
      }
      if (!scope.scope_namespace.empty()) loaded.unknown_namespaces.insert(scope.scope_namespace);
    }
  }
  return loaded;
}

absl::StatusOr<bool> PolicyStore::ReloadLocked() {
  absl::StatusOr<std::optional<PolicyDocuments>> docs = source_->ReadIfChanged();
  if (!docs.ok()) {
    MutexLock lock(&mu_);
    source_error_ = absl::StrCat("cannot read the policies from ", source_->Describe(), ": ",
                                 docs.status().message());
    return absl::Status(docs.status().code(), source_error_);
  }
  Groups previous;
  {
    MutexLock lock(&mu_);
    source_error_.clear();
    if (!docs->has_value()) return false;
    previous = groups_;
  }
  Loaded loaded = Validated(**docs, previous, cache_.get());  // parsing YAML: without mu_
  std::string errors = loaded.errors;
  bool changed;
  {
    MutexLock lock(&mu_);
    changed = InstallLocked(std::move(loaded));
  }
  if (changed) NotifyChanged();  // valid groups count even when others failed
  if (!errors.empty()) return absl::InvalidArgumentError(errors);
  return changed;
}

bool PolicyStore::InstallLocked(Loaded loaded) {
  policy::PolicySet set;
  origins_.clear();
  for (const auto& [name, group] : loaded.groups) {
    set.policies.insert(set.policies.end(), group.set.policies.begin(), group.set.policies.end());
    set.defaults.insert(set.defaults.end(), group.set.defaults.begin(), group.set.defaults.end());
    set.traffic.insert(set.traffic.end(), group.set.traffic.begin(), group.set.traffic.end());
    origins_.insert(group.origins.begin(), group.origins.end());
  }
  groups_ = std::move(loaded.groups);
  validation_error_ = std::move(loaded.errors);
  const bool same_set = current_->loaded && policy::ToYaml(set) == policy::ToYaml(current_->set);
  if (same_set && loaded.unknown_namespaces == current_->unknown_namespaces) return false;
  auto next = std::make_shared<PolicyState>();
  // A new version for a new policy (or the first one read), not for a
  // namespace that only became unknown or known: what proxies were sent
  // stays what it was. The source's revision, when it has one, numbers the
  // policy alike on every replica that reads the same state; it must still
  // grow here.
  next->version = same_set ? current_->version : std::max(current_->version + 1, loaded.revision);
  next->set = std::move(set);
  next->unknown_namespaces = std::move(loaded.unknown_namespaces);
  current_ = std::move(next);
  return true;
}

std::shared_ptr<const PolicyState> PolicyStore::Current() const {
  MutexLock lock(&mu_);
  return current_;
}

std::string PolicyStore::reload_error() const {
  MutexLock lock(&mu_);
  if (source_error_.empty()) return validation_error_;
  if (validation_error_.empty()) return source_error_;
  return absl::StrCat(source_error_, "; ", validation_error_);
}

absl::Status PolicyStore::RefuseWrites() const {
  return absl::FailedPreconditionError(source_->ReadOnlyMessage());
}

void PolicyStore::SetOnChange(std::function<void()> on_change) {
  on_change_ = std::move(on_change);
}

void PolicyStore::NotifyChanged() {
  if (on_change_) on_change_();
}

absl::StatusOr<std::vector<std::string>> PolicyStore::Apply(absl::string_view yaml,
                                                            absl::string_view origin) {
  if (directory_ == nullptr) return RefuseWrites();
  absl::StatusOr<policy::PolicySet> incoming = policy::ParsePolicies(yaml, origin);
  if (!incoming.ok()) return incoming.status();
  MutexLock write_lock(&write_mu_);
  std::shared_ptr<const PolicyState> current = Current();
  Origins origins;
  {
    MutexLock lock(&mu_);
    origins = origins_;
  }
  // Plan every write before making any, so a refusal changes nothing.
  struct Write {
    std::string file;
    std::string yaml;
  };
  std::vector<Write> writes;
  std::vector<std::string> results;
  auto plan = [&](absl::string_view kind, const std::string& ns, const std::string& name,
                  std::string rendered, std::string before) -> absl::Status {
    const std::string key = Key(kind, ns, name);
    std::string file = CanonicalFile(kind, ns, name);
    if (auto it = origins.find(key); it != origins.end() && it->second != file) {
      const size_t in_file = std::count_if(origins.begin(), origins.end(),
                                           [&](const auto& kv) { return kv.second == it->second; });
      if (in_file > 1) {
        return absl::FailedPreconditionError(
            absl::StrCat(Display(kind, ns, name), " is defined in ", dir_, "/", it->second,
                         " with other resources: edit that file instead"));
      }
      file = it->second;
    }
    const char* verb = before.empty() ? "created" : before == rendered ? "unchanged" : "configured";
    results.push_back(absl::StrCat(Display(kind, ns, name), " ", verb));
    if (before != rendered) writes.push_back({std::move(file), std::move(rendered)});
    return absl::OkStatus();
  };
  for (const policy::DefaultPolicy& d : incoming->defaults) {
    std::string before;
    for (const policy::DefaultPolicy& old : current->set.defaults) {
      if (old.namespace_name != d.namespace_name) continue;
      if (old.name != d.name) {
        return absl::FailedPreconditionError(
            absl::StrCat(d.namespace_name.empty() ? "the mesh" : "namespace " + d.namespace_name,
                         " already has ", Display(kDefault, old.namespace_name, old.name),
                         ": delete it first, or apply under that name"));
      }
      before = policy::ToYaml(Only(old));
    }
    if (absl::Status st =
            plan(kDefault, d.namespace_name, d.name, policy::ToYaml(Only(d)), std::move(before));
        !st.ok()) {
      return st;
    }
  }
  for (const policy::AuthorizationPolicy& p : incoming->policies) {
    std::string before;
    for (const policy::AuthorizationPolicy& old : current->set.policies) {
      if (old.namespace_name == p.namespace_name && old.name == p.name) {
        before = policy::ToYaml(Only(old));
      }
    }
    if (absl::Status st = plan(kAuthorization, p.namespace_name, p.name, policy::ToYaml(Only(p)),
                               std::move(before));
        !st.ok()) {
      return st;
    }
  }
  for (const policy::TrafficPolicy& t : incoming->traffic) {
    std::string before;
    for (const policy::TrafficPolicy& old : current->set.traffic) {
      if (old.namespace_name == t.namespace_name && old.name == t.name) {
        before = policy::ToYaml(Only(old));
      }
    }
    if (absl::Status st =
            plan(kTraffic, t.namespace_name, t.name, policy::ToYaml(Only(t)), std::move(before));
        !st.ok()) {
      return st;
    }
  }
  absl::Status written = absl::OkStatus();
  for (const Write& w : writes) {
    written = WriteFileAtomic(absl::StrCat(dir_, "/", w.file), w.yaml, 0644);
    if (!written.ok()) break;
  }
  // Whatever reached the directory is what is in force.
  directory_->Forget();
  absl::StatusOr<bool> changed = ReloadLocked();
  if (!written.ok()) return written;
  if (!changed.ok()) return changed.status();
  return results;
}

absl::Status PolicyStore::Delete(absl::string_view kind, absl::string_view ns,
                                 absl::string_view name) {
  if (kind != kAuthorization && kind != kDefault && kind != kTraffic) {
    return absl::InvalidArgumentError(absl::StrCat(
        "kind \"", kind, "\" is not AuthorizationPolicy, DefaultPolicy or TrafficPolicy"));
  }
  if (directory_ == nullptr) return RefuseWrites();
  MutexLock write_lock(&write_mu_);
  std::string file;
  {
    MutexLock lock(&mu_);
    auto it = origins_.find(Key(kind, ns, name));
    if (it == origins_.end()) {
      return absl::NotFoundError(absl::StrCat("no ", Display(kind, ns, name)));
    }
    file = it->second;
    const size_t in_file = std::count_if(origins_.begin(), origins_.end(),
                                         [&](const auto& kv) { return kv.second == file; });
    if (in_file > 1) {
      return absl::FailedPreconditionError(
          absl::StrCat(Display(kind, ns, name), " is defined in ", dir_, "/", file,
                       " with other resources: edit that file instead"));
    }
  }
  const std::string path = absl::StrCat(dir_, "/", file);
  if (unlink(path.c_str()) != 0) {
    return absl::InternalError(absl::StrCat("cannot remove ", path, ": ", strerror(errno)));
  }
  directory_->Forget();
  return ReloadLocked().status();
}

absl::StatusOr<bool> PolicyStore::ReloadIfChanged() {
  MutexLock write_lock(&write_mu_);
  return ReloadLocked();
}

}  // namespace tether::control
