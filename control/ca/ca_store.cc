#include "control/ca/ca_store.h"

#include <iostream>

#include <nlohmann/json.hpp>
#include <openssl/x509v3.h>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/files.h"
#include "common/pki/certs.h"
#include "common/pki/keys.h"

namespace tether::control {
namespace {

absl::StatusOr<std::string> ReadNamed(const std::string& path, absl::string_view what) {
  absl::StatusOr<std::string> data = ReadFile(path, 1 << 20);
  if (!data.ok()) {
    return absl::Status(data.status().code(),
                        absl::StrCat("cannot read the ", what, ": ", data.status().message()));
  }
  return data;
}

}  // namespace

absl::StatusOr<std::unique_ptr<CaStore>> CaStore::Open(const CaOptions& options,
                                                       const Clock* clock) {
  if (!pki::ValidTrustDomain(options.trust_domain)) {
    return absl::InvalidArgumentError(
        absl::StrCat("invalid trust domain \"", options.trust_domain, "\""));
  }
  std::unique_ptr<CaStore> store(new CaStore(options, clock));
  absl::Status st =
      store->operator_managed() ? store->LoadPlugged() : store->LoadOrCreateSelfManaged();
  if (!st.ok()) return st;
  return store;
}

std::shared_ptr<const CaSnapshot> CaStore::Current() const {
  MutexLock lock(&mu_);
  return current_;
}

void CaStore::SetOnChange(std::function<void()> callback) {
  MutexLock lock(&mu_);
  on_change_ = std::move(callback);
}

void CaStore::NotifyChange() {
  std::function<void()> cb;
  {
    MutexLock lock(&mu_);
    cb = on_change_;
  }
  if (cb) cb();
}

absl::Status CaStore::LoadPlugged() {
  const std::string& dir = options_.plugged_dir;
  absl::StatusOr<std::string> cert_pem = ReadNamed(dir + "/ca-cert.pem", "CA certificate");
  if (!cert_pem.ok()) return cert_pem.status();
  absl::StatusOr<std::string> key_pem = ReadNamed(dir + "/ca-key.pem", "CA key");
  if (!key_pem.ok()) return key_pem.status();
  absl::StatusOr<std::string> root_pem = ReadNamed(dir + "/root-cert.pem", "root certificate");
  if (!root_pem.ok()) return root_pem.status();
  std::string chain_pem;
  if (FileExists(dir + "/cert-chain.pem")) {
    absl::StatusOr<std::string> c = ReadNamed(dir + "/cert-chain.pem", "certificate chain");
    if (!c.ok()) return c.status();
    chain_pem = *c;
  }

  auto certs = pki::CertsFromPem(*cert_pem);
  if (!certs.ok())
    return absl::InvalidArgumentError(
        absl::StrCat(dir, "/ca-cert.pem: ", certs.status().message()));
  auto key = pki::PrivateKeyFromPem(*key_pem);
  if (!key.ok())
    return absl::InvalidArgumentError(absl::StrCat(dir, "/ca-key.pem: ", key.status().message()));
  auto bundle = pki::TrustBundle::FromPem(*root_pem);
  if (!bundle.ok())
    return absl::InvalidArgumentError(
        absl::StrCat(dir, "/root-cert.pem: ", bundle.status().message()));

  pki::Authority authority;
  authority.cert = std::move(certs->front());
  authority.key = std::move(*key);
  if (!chain_pem.empty()) {
    auto chain = pki::CertsFromPem(chain_pem);
    if (!chain.ok())
      return absl::InvalidArgumentError(
          absl::StrCat(dir, "/cert-chain.pem: ", chain.status().message()));
    for (auto& c : *chain) {
      // cert-chain.pem starts with ca-cert itself and may end with the root.
      if (X509_cmp(c.get(), authority.cert.get()) == 0) continue;
      if (X509_check_issued(c.get(), c.get()) == X509_V_OK) continue;
      authority.chain.push_back(std::move(c));
    }
  }
  if (absl::Status st = pki::ValidateAuthority(authority, clock_->Now()); !st.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("operator CA in ", dir, ": ", st.message()));
  }
  // The signer must chain to a root of the bundle.
  auto issuer = std::make_shared<pki::Issuer>(std::move(authority));
  MutexLock lock(&mu_);
  auto snap = std::make_shared<CaSnapshot>();
  snap->trust_domain = options_.trust_domain;
  snap->issuer = issuer;
  snap->version = ++version_;
  const pki::CertChain& top = issuer->authority().chain;
  const X509* root_side = top.empty() ? issuer->authority().cert.get() : top.back().get();
  snap->active_root_serial = pki::SerialHex(root_side);
  snap->bundle = std::move(*bundle);
  current_ = std::move(snap);
  return absl::OkStatus();
}

absl::Status CaStore::LoadOrCreateSelfManaged() {
  if (options_.state_dir.empty()) return absl::InvalidArgumentError("--state-dir is required");
  if (absl::Status st = MakeDirs(CaDir(), 0700); !st.ok()) return st;
  MutexLock lock(&mu_);
  absl::StatusOr<std::string> state = ReadFile(CaDir() + "/state.json");
  if (absl::IsNotFound(state.status())) {
    if (absl::Status st = CreateRootLocked(); !st.ok()) return st;
    if (absl::Status st = PublishLocked(); !st.ok()) return st;
    // A first start that crashed before its state was saved left a key.
    return RemoveOrphanKeysLocked();
  }
  if (!state.ok()) return state.status();
  nlohmann::json doc = nlohmann::json::parse(*state, nullptr, false);
  if (doc.is_discarded() || !doc.is_object() || !doc.contains("roots") ||
      !doc["roots"].is_array() || doc["roots"].empty() || !doc.contains("version") ||
      !doc["version"].is_number_unsigned()) {
    return absl::DataLossError(absl::StrCat(CaDir(), "/state.json is corrupt"));
  }
  if (doc.contains("trust_domain") && doc["trust_domain"].is_string() &&
      doc["trust_domain"].get<std::string>() != options_.trust_domain) {
    return absl::FailedPreconditionError(absl::StrCat(
        "the CA in ", options_.state_dir, " belongs to trust domain \"",
        doc["trust_domain"].get<std::string>(), "\", not \"", options_.trust_domain, "\""));
  }
  version_ = doc["version"].get<uint64_t>();
  for (const auto& r : doc["roots"]) {
    if (!r.is_object() || !r.contains("serial") || !r["serial"].is_string()) {
      return absl::DataLossError(absl::StrCat(CaDir(), "/state.json: malformed root entry"));
    }
    Root root;
    root.serial = r["serial"].get<std::string>();
    if (r.contains("drop_after") && r["drop_after"].is_number_integer()) {
      root.drop_after = absl::FromUnixSeconds(r["drop_after"].get<int64_t>());
    }
    roots_.push_back(std::move(root));
  }
  if (absl::Status st = PublishLocked(); !st.ok()) return st;
  return RemoveOrphanKeysLocked();
}

absl::Status CaStore::RemoveOrphanKeysLocked() {
  absl::StatusOr<std::vector<std::string>> names = ListDirectory(CaDir());
  if (!names.ok()) return names.status();
  const std::string signing = roots_.front().serial + ".key";
  for (const std::string& name : *names) {
    // "<serial>.key", or "<serial>.key.tmp.<pid>" from a write cut short.
    const bool key = absl::EndsWith(name, ".key") || absl::StrContains(name, ".key.tmp.");
    if (!key || name == signing) continue;
    const std::string path = CaDir() + "/" + name;
    if (absl::Status st = RemoveFileDurably(path); !st.ok()) {
      return absl::Status(st.code(), absl::StrCat("cannot remove the orphaned CA key: ",
                                                  st.message()));
    }
    std::cerr << "tether-control: removed " << path
              << ": a CA key that is not the signing root's (" << signing
              << " per state.json), left by a rotation or start that did not finish" << std::endl;
    removed_orphan_keys_.push_back(path);
  }
  return absl::OkStatus();
}

absl::Status CaStore::CreateRootLocked() {
  auto key = pki::GenerateP256Key();
  if (!key.ok()) return key.status();
  auto cert =
      pki::CreateRootCa(key->get(), options_.trust_domain, clock_->Now(), options_.root_ttl);
  if (!cert.ok()) return cert.status();
  std::string serial = pki::SerialHex(cert->get());
  if (absl::Status st =
          WriteFileAtomic(CaDir() + "/" + serial + ".key", pki::PrivateKeyToPem(key->get()), 0600);
      !st.ok()) {
    return st;
  }
  if (absl::Status st =
          WriteFileAtomic(CaDir() + "/" + serial + ".crt", pki::CertToPem(cert->get()), 0644);
      !st.ok()) {
    return st;
  }
  roots_.insert(roots_.begin(), Root{serial, absl::InfiniteFuture()});
  return SaveStateLocked();
}

absl::Status CaStore::SaveStateLocked() {
  nlohmann::json roots = nlohmann::json::array();
  for (const Root& r : roots_) {
    nlohmann::json j = {{"serial", r.serial}};
    if (r.drop_after != absl::InfiniteFuture()) j["drop_after"] = absl::ToUnixSeconds(r.drop_after);
    roots.push_back(j);
  }
  ++version_;
  nlohmann::json doc = {
      {"trust_domain", options_.trust_domain}, {"version", version_}, {"roots", roots}};
  return WriteFileAtomic(CaDir() + "/state.json", doc.dump(2) + "\n", 0600);
}

absl::Status CaStore::PublishLocked() {
  pki::CertChain certs;
  for (const Root& r : roots_) {
    auto pem = ReadNamed(CaDir() + "/" + r.serial + ".crt", "root certificate");
    if (!pem.ok()) return pem.status();
    auto parsed = pki::CertsFromPem(*pem);
    if (!parsed.ok()) {
      return absl::DataLossError(
          absl::StrCat(CaDir(), "/", r.serial, ".crt: ", parsed.status().message()));
    }
    certs.push_back(std::move(parsed->front()));
  }
  const Root& active = roots_.front();
  auto key_pem = ReadNamed(CaDir() + "/" + active.serial + ".key", "CA key");
  if (!key_pem.ok()) return key_pem.status();
  auto key = pki::PrivateKeyFromPem(*key_pem);
  if (!key.ok()) return absl::DataLossError(absl::StrCat("CA key: ", key.status().message()));
  pki::Authority authority;
  authority.cert = bssl::UniquePtr<X509>(X509_dup(certs.front().get()));
  authority.key = std::move(*key);
  if (absl::Status st = pki::ValidateAuthority(authority, clock_->Now()); !st.ok()) {
    return absl::FailedPreconditionError(
        absl::StrCat("the CA in ", CaDir(), " cannot sign: ", st.message(),
                     " (rotate it with `tetherctl ca rotate`, or start from a new --state-dir)"));
  }
  auto bundle = pki::TrustBundle::FromCerts(std::move(certs));
  if (!bundle.ok()) return bundle.status();
  auto snap = std::make_shared<CaSnapshot>();
  snap->issuer = std::make_shared<pki::Issuer>(std::move(authority));
  snap->bundle = std::move(*bundle);
  snap->version = version_;
  snap->trust_domain = options_.trust_domain;
  snap->active_root_serial = active.serial;
  current_ = std::move(snap);
  return absl::OkStatus();
}

absl::StatusOr<RotateResult> CaStore::Rotate(absl::Duration overlap) {
  if (operator_managed()) {
    return absl::FailedPreconditionError(
        "the CA is the operator's (--ca-dir): rotate it by replacing its files");
  }
  if (overlap <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError("the overlap period must be positive");
  }
  RotateResult result;
  {
    MutexLock lock(&mu_);
    const std::string old_serial = roots_.front().serial;
    std::vector<Root> saved = roots_;
    roots_.front().drop_after = clock_->Now() + overlap;
    absl::Status st = CreateRootLocked();
    if (st.ok()) st = PublishLocked();
    if (!st.ok()) {
      roots_ = std::move(saved);
      return st;
    }
    // The old root signs nothing any more: its key goes, durably. Should this
    // fail or a crash come first, the next Open removes it (the saved state
    // already names the new root).
    if (absl::Status removed = RemoveFileDurably(CaDir() + "/" + old_serial + ".key");
        !removed.ok()) {
      std::cerr << "tether-control: rotation: " << removed.message()
                << " (the next start removes it)" << std::endl;
    }
    result.new_root_serial = roots_.front().serial;
    result.old_root_serial = old_serial;
    result.old_root_dropped = roots_[1].drop_after;
  }
  NotifyChange();
  return result;
}

absl::StatusOr<bool> CaStore::DropExpiredRoots() {
  if (operator_managed()) return false;
  {
    MutexLock lock(&mu_);
    absl::Time now = clock_->Now();
    std::vector<Root> kept;
    std::vector<std::string> dropped;
    for (const Root& r : roots_) {
      if (&r != &roots_.front() && r.drop_after <= now) {
        dropped.push_back(r.serial);
      } else {
        kept.push_back(r);
      }
    }
    if (dropped.empty()) return false;
    roots_ = std::move(kept);
    if (absl::Status st = SaveStateLocked(); !st.ok()) return st;
    if (absl::Status st = PublishLocked(); !st.ok()) return st;
    for (const std::string& serial : dropped) {
      std::remove((CaDir() + "/" + serial + ".crt").c_str());
    }
  }
  NotifyChange();
  return true;
}

}  // namespace tether::control
