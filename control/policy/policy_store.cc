#include "control/policy/policy_store.h"

#include <algorithm>

#include <dirent.h>
#include <errno.h>
#include <string.h>
#include <sys/stat.h>
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

bool IsPolicyFile(const std::string& name) {
  return !name.empty() && name[0] != '.' && !absl::StrContains(name, ".tmp.") &&
         (absl::EndsWith(name, ".yaml") || absl::EndsWith(name, ".yml"));
}

absl::StatusOr<std::vector<std::string>> ListPolicyFiles(const std::string& dir) {
  DIR* d = opendir(dir.c_str());
  if (d == nullptr) {
    return absl::InternalError(absl::StrCat("cannot read ", dir, ": ", strerror(errno)));
  }
  std::vector<std::string> names;
  while (dirent* e = readdir(d)) {
    if (IsPolicyFile(e->d_name)) names.emplace_back(e->d_name);
  }
  closedir(d);
  std::sort(names.begin(), names.end());
  return names;
}

// One resource of a set, alone, for rendering and comparing.
policy::PolicySet Only(const policy::AuthorizationPolicy& p) { return {{p}, {}}; }
policy::PolicySet Only(const policy::DefaultPolicy& d) { return {{}, {d}}; }

}  // namespace

absl::StatusOr<std::unique_ptr<PolicyStore>> PolicyStore::Open(std::string dir) {
  if (absl::Status st = MakeDirs(dir, 0755); !st.ok()) return st;
  std::unique_ptr<PolicyStore> store(new PolicyStore(std::move(dir)));
  absl::StatusOr<Loaded> loaded = store->LoadDir();
  if (!loaded.ok()) return loaded.status();
  MutexLock lock(&store->mu_);
  store->current_ = std::make_shared<PolicyState>();
  store->InstallLocked(*std::move(loaded));
  return store;
}

std::string PolicyStore::Signature() const {
  std::string sig;
  absl::StatusOr<std::vector<std::string>> names = ListPolicyFiles(dir_);
  if (!names.ok()) return "unreadable";
  for (const std::string& name : *names) {
    struct stat st;
    if (stat(absl::StrCat(dir_, "/", name).c_str(), &st) != 0) continue;
    absl::StrAppend(&sig, name, ":", st.st_size, ":", st.st_mtim.tv_sec, ".", st.st_mtim.tv_nsec,
                    ";");
  }
  return sig;
}

absl::StatusOr<PolicyStore::Loaded> PolicyStore::LoadDir() const {
  Loaded loaded;
  loaded.signature = Signature();
  absl::StatusOr<std::vector<std::string>> names = ListPolicyFiles(dir_);
  if (!names.ok()) return names.status();
  for (const std::string& name : *names) {
    const std::string path = absl::StrCat(dir_, "/", name);
    absl::StatusOr<std::string> yaml = ReadFile(path, 1 << 20);
    if (!yaml.ok()) return yaml.status();
    absl::StatusOr<policy::PolicySet> set = policy::ParsePolicies(*yaml, path);
    if (!set.ok()) return set.status();
    auto claim = [&](std::string key, const std::string& display) -> absl::Status {
      auto [it, inserted] = loaded.origins.emplace(std::move(key), name);
      if (inserted) return absl::OkStatus();
      return absl::InvalidArgumentError(
          absl::StrCat(path, ": ", display, " is also defined in ", it->second));
    };
    for (policy::AuthorizationPolicy& p : set->policies) {
      if (absl::Status st = claim(Key(kAuthorization, p.namespace_name, p.name),
                                  Display(kAuthorization, p.namespace_name, p.name));
          !st.ok()) {
        return st;
      }
      loaded.set.policies.push_back(std::move(p));
    }
    for (policy::DefaultPolicy& d : set->defaults) {
      for (const policy::DefaultPolicy& other : loaded.set.defaults) {
        if (other.namespace_name == d.namespace_name) {
          return absl::InvalidArgumentError(
              absl::StrCat(path, ": a second DefaultPolicy for ",
                           d.namespace_name.empty() ? "the mesh" : "namespace " + d.namespace_name,
                           " (", Display(kDefault, other.namespace_name, other.name), " is in ",
                           loaded.origins[Key(kDefault, other.namespace_name, other.name)], ")"));
        }
      }
      if (absl::Status st = claim(Key(kDefault, d.namespace_name, d.name),
                                  Display(kDefault, d.namespace_name, d.name));
          !st.ok()) {
        return st;
      }
      loaded.set.defaults.push_back(std::move(d));
    }
  }
  return loaded;
}

bool PolicyStore::InstallLocked(Loaded loaded) {
  origins_ = std::move(loaded.origins);
  signature_ = std::move(loaded.signature);
  if (policy::ToYaml(loaded.set) == policy::ToYaml(current_->set)) return false;
  auto next = std::make_shared<PolicyState>();
  next->version = current_->version + 1;
  next->set = std::move(loaded.set);
  current_ = std::move(next);
  return true;
}

std::shared_ptr<const PolicyState> PolicyStore::Current() const {
  MutexLock lock(&mu_);
  return current_;
}

std::string PolicyStore::reload_error() const {
  MutexLock lock(&mu_);
  return reload_error_;
}

void PolicyStore::SetOnChange(std::function<void()> on_change) {
  on_change_ = std::move(on_change);
}

void PolicyStore::NotifyChanged() {
  if (on_change_) on_change_();
}

absl::StatusOr<std::vector<std::string>> PolicyStore::Apply(absl::string_view yaml,
                                                            absl::string_view origin) {
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
  absl::Status written = absl::OkStatus();
  for (const Write& w : writes) {
    written = WriteFileAtomic(absl::StrCat(dir_, "/", w.file), w.yaml, 0644);
    if (!written.ok()) break;
  }
  // Whatever reached the directory is what is in force.
  absl::StatusOr<Loaded> loaded = LoadDir();
  bool changed = false;
  if (loaded.ok()) {
    MutexLock lock(&mu_);
    changed = InstallLocked(*std::move(loaded));
    reload_error_.clear();
  }
  if (changed) NotifyChanged();
  if (!written.ok()) return written;
  if (!loaded.ok()) return loaded.status();
  return results;
}

absl::Status PolicyStore::Delete(absl::string_view kind, absl::string_view ns,
                                 absl::string_view name) {
  if (kind != kAuthorization && kind != kDefault) {
    return absl::InvalidArgumentError(
        absl::StrCat("kind \"", kind, "\" is not AuthorizationPolicy or DefaultPolicy"));
  }
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
  absl::StatusOr<Loaded> loaded = LoadDir();
  if (!loaded.ok()) return loaded.status();
  bool changed;
  {
    MutexLock lock(&mu_);
    changed = InstallLocked(*std::move(loaded));
  }
  if (changed) NotifyChanged();
  return absl::OkStatus();
}

absl::StatusOr<bool> PolicyStore::ReloadIfChanged() {
  MutexLock write_lock(&write_mu_);
  const std::string signature = Signature();
  {
    MutexLock lock(&mu_);
    if (signature == signature_) return false;
  }
  absl::StatusOr<Loaded> loaded = LoadDir();
  bool changed;
  {
    MutexLock lock(&mu_);
    if (!loaded.ok()) {
      signature_ = signature;  // tried; wait for the next edit
      reload_error_ = std::string(loaded.status().message());
      return loaded.status();
    }
    reload_error_.clear();
    changed = InstallLocked(*std::move(loaded));
  }
  if (changed) NotifyChanged();
  return changed;
}

}  // namespace tether::control
