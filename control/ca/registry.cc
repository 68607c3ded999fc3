#include "control/ca/registry.h"

#include <algorithm>

#include <nlohmann/json.hpp>

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

    absl::StatusOr<std::string> rev = ReadFile(state_dir_ + "/revocations.json");
    if (rev.ok()) {
      nlohmann::json doc = nlohmann::json::parse(*rev, nullptr, false);
      if (doc.is_discarded() || !doc.is_object() || !doc.contains("serials") ||
          !doc["serials"].is_object() || !doc.contains("spiffe_ids") ||
          !doc["spiffe_ids"].is_array() || !doc.contains("version") ||
          !doc["version"].is_number_unsigned()) {
        return absl::DataLossError(absl::StrCat(state_dir_, "/revocations.json is corrupt"));
      }
      version_ = doc["version"].get<uint64_t>();
      for (const auto& [serial, expiry] : doc["serials"].items()) {
        if (!expiry.is_number_integer()) {
          return absl::DataLossError(absl::StrCat(state_dir_, "/revocations.json is corrupt"));
        }
        absl::Time t = absl::FromUnixSeconds(expiry.get<int64_t>());
        if (t > now) revoked_serials_[serial] = t;
      }
      for (const auto& id : doc["spiffe_ids"]) {
        if (!id.is_string()) {
          return absl::DataLossError(absl::StrCat(state_dir_, "/revocations.json is corrupt"));
        }
        revoked_ids_.push_back(id.get<std::string>());
      }
    } else if (!absl::IsNotFound(rev.status())) {
      return rev.status();
    }
    if (absl::Status st = RewriteIssuedLocked(); !st.ok()) return st;
  }
  PublishLocked();
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
    std::string serial(serial_hex);
    std::transform(serial.begin(), serial.end(), serial.begin(), ::tolower);
    auto it = issued_.find(serial);
    if (it == issued_.end() || it->second.not_after <= clock_->Now()) {
      return absl::NotFoundError(
          absl::StrCat("this CA issued no unexpired certificate with serial ", serial));
    }
    if (revoked_serials_.contains(serial)) return version_;
    revoked_serials_[serial] = it->second.not_after;
    ++version_;
    if (absl::Status st = SaveRevocationsLocked(); !st.ok()) {
      revoked_serials_.erase(serial);
      --version_;
      return st;
    }
    PublishLocked();
    version = version_;
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
    std::string canonical = id->ToString();
    if (std::find(revoked_ids_.begin(), revoked_ids_.end(), canonical) != revoked_ids_.end()) {
      return version_;
    }
    revoked_ids_.push_back(canonical);
    ++version_;
    if (absl::Status st = SaveRevocationsLocked(); !st.ok()) {
      revoked_ids_.pop_back();
      --version_;
      return st;
    }
    PublishLocked();
    version = version_;
  }
  NotifyChange();
  return version;
}

std::shared_ptr<const RevocationSnapshot> CertificateRegistry::Revocations() const {
  MutexLock lock(&mu_);
  return snapshot_;
}

bool CertificateRegistry::IsRevoked(absl::string_view serial_hex) const {
  MutexLock lock(&mu_);
  return revoked_serials_.contains(serial_hex);
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
    for (auto it = revoked_serials_.begin(); it != revoked_serials_.end();) {
      if (it->second <= now) {
        revoked_serials_.erase(it++);
        changed = true;
      } else {
        ++it;
      }
    }
    if (changed) {
      ++version_;
      (void)SaveRevocationsLocked();
      PublishLocked();
    }
  }
  if (changed) NotifyChange();
  return changed;
}

absl::Status CertificateRegistry::SaveRevocationsLocked() {
  if (state_dir_.empty()) return absl::OkStatus();
  nlohmann::json serials = nlohmann::json::object();
  for (const auto& [serial, expiry] : revoked_serials_) {
    serials[serial] = absl::ToUnixSeconds(expiry);
  }
  nlohmann::json doc = {{"version", version_}, {"serials", serials}, {"spiffe_ids", revoked_ids_}};
  return WriteFileAtomic(state_dir_ + "/revocations.json", doc.dump(2) + "\n", 0600);
}

void CertificateRegistry::PublishLocked() {
  auto snap = std::make_shared<RevocationSnapshot>();
  for (const auto& [serial, expiry] : revoked_serials_) snap->revoked.serials.insert(serial);
  for (const auto& id : revoked_ids_) snap->revoked.spiffe_ids.insert(id);
  snap->version = version_;
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
