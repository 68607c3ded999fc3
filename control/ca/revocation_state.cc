#include "control/ca/revocation_state.h"

#include <algorithm>

#include <nlohmann/json.hpp>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "common/pki/spiffe_id.h"

namespace tether::control {

pki::Revocations RevocationState::ToRevocations() const {
  pki::Revocations out;
  for (const auto& [serial, expiry] : serials) out.serials.insert(serial);
  for (const auto& id : spiffe_ids) out.spiffe_ids.insert(id);
  return out;
}

bool IsSerialHex(absl::string_view serial) {
  if (serial.empty() || serial.size() > 40) return false;
  return std::all_of(serial.begin(), serial.end(), [](char c) {
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
  });
}

std::string EncodeRevocations(const RevocationState& state) {
  nlohmann::ordered_json serials = nlohmann::ordered_json::object();
  for (const auto& [serial, expiry] : state.serials) serials[serial] = absl::ToUnixSeconds(expiry);
  nlohmann::ordered_json doc = {{"version", state.version},
                                {"serials", serials},
                                {"spiffe_ids", state.spiffe_ids}};
  return doc.dump(2) + "\n";
}

absl::StatusOr<RevocationState> DecodeRevocations(absl::string_view text,
                                                  absl::string_view where) {
  auto corrupt = [&](absl::string_view why) {
    return absl::DataLossError(absl::StrCat(where, " is corrupt: ", why));
  };
  nlohmann::json doc = nlohmann::json::parse(text.begin(), text.end(), nullptr, false);
  if (doc.is_discarded() || !doc.is_object()) return corrupt("not a JSON object");
  if (!doc.contains("version") || !doc["version"].is_number_unsigned()) {
    return corrupt("\"version\" is not a non-negative integer");
  }
  if (!doc.contains("serials") || !doc["serials"].is_object()) {
    return corrupt("\"serials\" is not an object");
  }
  if (!doc.contains("spiffe_ids") || !doc["spiffe_ids"].is_array()) {
    return corrupt("\"spiffe_ids\" is not an array");
  }
  RevocationState state;
  state.version = doc["version"].get<uint64_t>();
  for (const auto& [serial, expiry] : doc["serials"].items()) {
    if (!IsSerialHex(serial)) {
      return corrupt(absl::StrCat("serial \"", absl::CHexEscape(serial.substr(0, 64)),
                                  "\" is not lowercase hex of at most 40 digits"));
    }
    if (!expiry.is_number_integer()) {
      return corrupt(absl::StrCat("the expiry of serial ", serial, " is not an integer"));
    }
    state.serials[serial] = absl::FromUnixSeconds(expiry.get<int64_t>());
  }
  for (const auto& id : doc["spiffe_ids"]) {
    if (!id.is_string()) return corrupt("an identity is not a string");
    absl::StatusOr<pki::SpiffeId> parsed = pki::SpiffeId::Parse(id.get<std::string>());
    if (!parsed.ok()) return corrupt(parsed.status().message());
    state.spiffe_ids.insert(parsed->ToString());
  }
  return state;
}

RevocationState UnionOfRevocations(const RevocationState& a, const RevocationState& b,
                                   absl::Time now) {
  RevocationState out = a;
  for (const auto& [serial, expiry] : b.serials) {
    auto [it, inserted] = out.serials.emplace(serial, expiry);
    if (!inserted) it->second = std::max(it->second, expiry);
  }
  out.spiffe_ids.insert(b.spiffe_ids.begin(), b.spiffe_ids.end());
  out.version = std::max(a.version, b.version);
  DropExpiredSerials(out, now);
  return out;
}

bool DropExpiredSerials(RevocationState& state, absl::Time now) {
  bool dropped = false;
  for (auto it = state.serials.begin(); it != state.serials.end();) {
    if (it->second <= now) {
      it = state.serials.erase(it);
      dropped = true;
    } else {
      ++it;
    }
  }
  return dropped;
}

uint64_t NextRevocationVersion(uint64_t current, absl::Time now) {
  const int64_t seconds = absl::ToUnixSeconds(now);
  const uint64_t wall = seconds > 0 ? static_cast<uint64_t>(seconds) : 0;
  return std::max(current + 1, wall);
}

}  // namespace tether::control
