#include "control/ca/registry.h"

#include <algorithm>

#include <nlohmann/json.hpp>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "common/files.h"
#include "common/pki/spiffe_id.h"

namespace tether::control {
namespace {

nlohmann::json ToJson(const IssuedRecord& r) {
  return {{"serial", r.serial_hex},
          {"spiffe_id", r.spiffe_id},
          {"not_before", absl::ToUnixSeconds(r.not_before)},
          {"not_after", absl::ToUnixSeconds(r.not_after)},
          {"issuer", r.issuer_serial_hex},
          {"instance", r.instance}};
}

bool FromJson(const nlohmann::json& j, IssuedRecord* out) {
  if (!j.is_object()) return false;
  for (const char* key : {"serial", "spiffe_id", "issuer"}) {
    if (!j.contains(key) || !j[key].is_string()) return false;
  }
  for (const char* key : {"not_before", "not_after"}) {
    if (!j.contains(key) || !j[key].is_number_integer()) return false;
  }
  out->serial_hex = j["serial"].get<std::string>();
  out->spiffe_id = j["spiffe_id"].get<std::string>();
  out->issuer_serial_hex = j["issuer"].get<std::string>();
  // Absent in records of older versions.
  out->instance = j.contains("instance") && j["instance"].is_string()
                      ? j["instance"].get<std::string>()
                      : "";
  out->not_before = absl::FromUnixSeconds(j["not_before"].get<int64_t>());
  out->not_after = absl::FromUnixSeconds(j["not_after"].get<int64_t>());
  return true;
}

}  // namespace

absl::StatusOr<std::unique_ptr<CertificateRegistry>> CertificateRegistry::Open(
    const std::string& state_dir, const Clock* clock) {
  std::unique_ptr<CertificateRegistry> reg(new CertificateRegistry(state_dir, clock));
  if (absl::Status st = reg->Load(); !st.ok()) return st;
  return reg;
}

CertificateRegistry::~CertificateRegistry() {
  MutexLock lock(&mu_);
  if (issued_log_ != nullptr) fclose(issued_log_);
}

absl::Status CertificateRegistry::Load() {
  MutexLock lock(&mu_);
  const absl::Time now = clock_->Now();
  if (!state_dir_.empty()) {
    absl::StatusOr<std::string> issued = ReadFile(state_dir_ + "/issued.jsonl");
    if (issued.ok()) {
      size_t start = 0;
      int line_no = 0;
      while (start < issued->size()) {
        size_t end = issued->find('\n', start);
        if (end == std::string::npos) end = issued->size();
        ++line_no;
        std::string line = issued->substr(start, end - start);
        start = end + 1;
        if (line.empty()) continue;
        IssuedRecord rec;
        nlohmann::json j = nlohmann::json::parse(line, nullptr, false);
        if (j.is_discarded() || !FromJson(j, &rec)) {
          // A torn last line after a crash is expected; anything else is not.
          if (start >= issued->size()) break;
          return absl::DataLossError(
              absl::StrCat(state_dir_, "/issued.jsonl line ", line_no, " is corrupt"));
        }
        if (rec.not_after > now) issued_[rec.serial_hex] = rec;
      }
    } else if (!absl::IsNotFound(issued.status())) {
      return issued.status();
    }

    if (absl::Status st = LoadRevocationsLocked(); !st.ok()) return st;
    if (absl::Status st = RewriteIssuedLocked(); !st.ok()) return st;
  }
  if (revoked_.version == 0) revoked_.version = NextRevocationVersion(0, now);
  PublishLocked();
  return absl::OkStatus();
}

absl::Status CertificateRegistry::LoadRevocationsLocked() {
  const std::string path = state_dir_ + "/revocations.json";
  absl::StatusOr<std::string> text = ReadFile(path);
  if (absl::IsNotFound(text.status())) return absl::OkStatus();
  if (!text.ok()) return text.status();
  absl::StatusOr<RevocationState> state = DecodeRevocations(*text, path);
  if (!state.ok()) return state.status();
  revoked_ = *std::move(state);
  DropExpiredSerials(revoked_, clock_->Now());
  return absl::OkStatus();
}

absl::Status CertificateRegistry::RewriteIssuedLocked() {
  std::string out;
  for (const auto& [serial, rec] : issued_) out += ToJson(rec).dump() + "\n";
  const std::string path = state_dir_ + "/issued.jsonl";
  if (absl::Status st = WriteFileAtomic(path, out, 0600); !st.ok()) return st;
  if (issued_log_ != nullptr) fclose(issued_log_);
  issued_log_ = fopen(path.c_str(), "ae");
  if (issued_log_ == nullptr) return absl::InternalError(absl::StrCat("cannot append to ", path));
  return absl::OkStatus();
}

absl::Status CertificateRegistry::RecordIssued(const IssuedRecord& record) {
  MutexLock lock(&mu_);
  issued_[record.serial_hex] = record;
  if (issued_log_ != nullptr) {
    std::string line = ToJson(record).dump() + "\n";
    if (fwrite(line.data(), 1, line.size(), issued_log_) != line.size() ||
        fflush(issued_log_) != 0) {
      return absl::InternalError("cannot append to issued.jsonl");
    }
  }
  return absl::OkStatus();
}

std::vector<IssuedRecord> CertificateRegistry::List(absl::string_view spiffe_id) const {
  MutexLock lock(&mu_);
  const absl::Time now = clock_->Now();
  std::vector<IssuedRecord> out;
  for (const auto& [serial, rec] : issued_) {
    if (rec.not_after <= now) continue;
    if (!spiffe_id.empty() && rec.spiffe_id != spiffe_id) continue;
    out.push_back(rec);
  }
  std::sort(out.begin(), out.end(), [](const IssuedRecord& a, const IssuedRecord& b) {
    return a.not_before != b.not_before ? a.not_before > b.not_before : a.serial_hex < b.serial_hex;
  });
  return out;
}

std::optional<IssuedRecord> CertificateRegistry::Find(absl::string_view serial_hex) const {
  MutexLock lock(&mu_);
  auto it = issued_.find(serial_hex);
  if (it == issued_.end() || it->second.not_after <= clock_->Now()) return std::nullopt;
  return it->second;
}

absl::StatusOr<uint64_t> CertificateRegistry::RevokeSerial(absl::string_view serial_hex) {
  uint64_t version;
  {
    MutexLock lock(&mu_);
    const std::string serial = absl::AsciiStrToLower(serial_hex);
    if (!IsSerialHex(serial)) {
      return absl::InvalidArgumentError(
          absl::StrCat("\"", serial_hex, "\" is not a certificate serial (hex digits)"));
    }
    const absl::Time now = clock_->Now();
    absl::Time expiry;
    auto it = issued_.find(serial);
    if (it != issued_.end() && it->second.not_after > now) {
      expiry = it->second.not_after;
    } else if (unknown_serial_lifetime_ > absl::ZeroDuration()) {
      expiry = now + unknown_serial_lifetime_;
    } else {
      return absl::NotFoundError(
          absl::StrCat("this CA issued no unexpired certificate with serial ", serial));
    }
    if (revoked_.serials.contains(serial)) return revoked_.version;
    absl::Status st =
        ChangeRevocationsLocked([&](RevocationState& s) { s.serials[serial] = expiry; });
    if (!st.ok()) return st;
    version = revoked_.version;
  }
  NotifyChange();
  return version;
}

absl::StatusOr<uint64_t> CertificateRegistry::RevokeIdentity(absl::string_view spiffe_id) {
  absl::StatusOr<pki::SpiffeId> id = pki::SpiffeId::Parse(spiffe_id);
  if (!id.ok()) return id.status();
  uint64_t version;
  {
    MutexLock lock(&mu_);
    const std::string canonical = id->ToString();
    if (revoked_.spiffe_ids.contains(canonical)) return revoked_.version;
    absl::Status st =
        ChangeRevocationsLocked([&](RevocationState& s) { s.spiffe_ids.insert(canonical); });
    if (!st.ok()) return st;
    version = revoked_.version;
  }
  NotifyChange();
  return version;
}

void CertificateRegistry::AcceptUnknownSerials(absl::Duration max_lifetime) {
  MutexLock lock(&mu_);
  unknown_serial_lifetime_ = max_lifetime;
}

RevocationState CertificateRegistry::RevocationEntries() const {
  MutexLock lock(&mu_);
  return revoked_;
}

absl::Status CertificateRegistry::Adopt(const RevocationState& state) {
  {
    MutexLock lock(&mu_);
    if (state.version < revoked_.version) {
      return absl::FailedPreconditionError(
          absl::StrCat("revocation list version ", state.version, " is older than the ",
                       revoked_.version, " held"));
    }
    const RevocationState merged = UnionOfRevocations(revoked_, state, clock_->Now());
    if (!merged.SameEntries(UnionOfRevocations(state, state, clock_->Now()))) {
      return absl::FailedPreconditionError(
          "the revocation list to adopt drops revocations this control plane holds");
    }
    if (state.version == revoked_.version && state.SameEntries(revoked_)) {
      return absl::OkStatus();
    }
    RevocationState saved = std::move(revoked_);
    revoked_ = state;
    if (absl::Status st = SaveRevocationsLocked(); !st.ok()) {
      revoked_ = std::move(saved);
      return st;
    }
    PublishLocked();
  }
  NotifyChange();
  return absl::OkStatus();
}

std::shared_ptr<const RevocationSnapshot> CertificateRegistry::Revocations() const {
  MutexLock lock(&mu_);
  return snapshot_;
}

bool CertificateRegistry::IsRevoked(absl::string_view serial_hex) const {
  MutexLock lock(&mu_);
  return revoked_.serials.contains(serial_hex);
}

bool CertificateRegistry::Prune() {
  bool changed = false;
  {
    MutexLock lock(&mu_);
    const absl::Time now = clock_->Now();
    for (auto it = issued_.begin(); it != issued_.end();) {
      if (it->second.not_after <= now) {
        issued_.erase(it++);
      } else {
        ++it;
      }
    }
    RevocationState pruned = revoked_;
    if (DropExpiredSerials(pruned, now)) {
      // A failed save leaves the expired serials listed: harmless.
      changed = ChangeRevocationsLocked([now](RevocationState& s) { DropExpiredSerials(s, now); })
                    .ok();
    }
  }
  if (changed) NotifyChange();
  return changed;
}

absl::Status CertificateRegistry::ChangeRevocationsLocked(
    const std::function<void(RevocationState&)>& change) {
  RevocationState saved = revoked_;
  change(revoked_);
  revoked_.version = NextRevocationVersion(saved.version, clock_->Now());
  if (absl::Status st = SaveRevocationsLocked(); !st.ok()) {
    revoked_ = std::move(saved);
    return st;
  }
  PublishLocked();
  return absl::OkStatus();
}

absl::Status CertificateRegistry::SaveRevocationsLocked() {
  if (state_dir_.empty()) return absl::OkStatus();
  return WriteFileAtomic(state_dir_ + "/revocations.json", EncodeRevocations(revoked_), 0600);
}

void CertificateRegistry::PublishLocked() {
  auto snap = std::make_shared<RevocationSnapshot>();
  snap->revoked = revoked_.ToRevocations();
  snap->version = revoked_.version;
  snapshot_ = std::move(snap);
}

void CertificateRegistry::SetOnChange(std::function<void()> callback) {
  MutexLock lock(&mu_);
  on_change_ = std::move(callback);
}

void CertificateRegistry::NotifyChange() {
  std::function<void()> cb;
  {
    MutexLock lock(&mu_);
    cb = on_change_;
  }
  if (cb) cb();
}

}  // namespace tether::control
