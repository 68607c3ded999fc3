#include "common/pki/spiffe_id.h"

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"

namespace tether::pki {
namespace {

constexpr absl::string_view kScheme = "spiffe://";
constexpr size_t kMaxTrustDomainBytes = 255;
constexpr size_t kMaxNameBytes = 253;

bool IsLowerAlnum(char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); }

bool IsTrustDomainChar(char c) { return IsLowerAlnum(c) || c == '.' || c == '-' || c == '_'; }

bool IsNameChar(char c) { return IsTrustDomainChar(c) || (c >= 'A' && c <= 'Z'); }

// A dot segment ("." or "..") would be rewritten by any URI normalizer, so an
// identity must never be one.
bool IsDotSegment(absl::string_view s) { return s == "." || s == ".."; }

absl::Status CheckName(absl::string_view what, absl::string_view name) {
  if (name.empty()) return absl::InvalidArgumentError(absl::StrCat(what, " is empty"));
  if (name.size() > kMaxNameBytes) {
    return absl::InvalidArgumentError(
        absl::StrCat(what, " is ", name.size(), " bytes (max ", kMaxNameBytes, ")"));
  }
  if (IsDotSegment(name)) {
    return absl::InvalidArgumentError(absl::StrCat(what, " \"", name, "\" is a dot segment"));
  }
  for (char c : name) {
    if (!IsNameChar(c)) {
      return absl::InvalidArgumentError(
          absl::StrCat(what, " \"", name, "\" has a character outside [A-Za-z0-9._-]"));
    }
  }
  return absl::OkStatus();
}

absl::Status CheckTrustDomain(absl::string_view td) {
  if (td.empty()) return absl::InvalidArgumentError("trust domain is empty");
  if (td.size() > kMaxTrustDomainBytes) {
    return absl::InvalidArgumentError(
        absl::StrCat("trust domain is ", td.size(), " bytes (max ", kMaxTrustDomainBytes, ")"));
  }
  if (IsDotSegment(td)) {
    return absl::InvalidArgumentError(absl::StrCat("trust domain \"", td, "\" is a dot segment"));
  }
  for (char c : td) {
    if (!IsTrustDomainChar(c)) {
      return absl::InvalidArgumentError(
          absl::StrCat("trust domain \"", td, "\" has a character outside [a-z0-9._-]"));
    }
  }
  return absl::OkStatus();
}

}  // namespace

bool ValidTrustDomain(absl::string_view td) { return CheckTrustDomain(td).ok(); }

absl::StatusOr<SpiffeId> SpiffeId::Make(absl::string_view trust_domain, absl::string_view ns,
                                        absl::string_view sa) {
  if (absl::Status s = CheckTrustDomain(trust_domain); !s.ok()) return s;
  if (absl::Status s = CheckName("namespace", ns); !s.ok()) return s;
  if (absl::Status s = CheckName("service account", sa); !s.ok()) return s;
  return SpiffeId{std::string{trust_domain}, std::string{ns}, std::string{sa}};
}

absl::StatusOr<SpiffeId> SpiffeId::Parse(absl::string_view uri) {
  if (!absl::StartsWith(uri, kScheme)) {
    return absl::InvalidArgumentError("SPIFFE ID must start with \"spiffe://\"");
  }
  absl::string_view rest = uri.substr(kScheme.size());
  if (rest.find_first_of("?#") != absl::string_view::npos) {
    return absl::InvalidArgumentError("SPIFFE ID must not have a query or fragment");
  }
  size_t slash = rest.find('/');
  if (slash == absl::string_view::npos) {
    return absl::InvalidArgumentError("SPIFFE ID has no path (want /ns/<namespace>/sa/<name>)");
  }
  absl::string_view td = rest.substr(0, slash);
  if (absl::Status s = CheckTrustDomain(td); !s.ok()) return s;
  // The path, without its leading slash: exactly "ns", NS, "sa", SA.
  std::vector<absl::string_view> parts = absl::StrSplit(rest.substr(slash + 1), '/');
  if (parts.size() != 4 || parts[0] != "ns" || parts[2] != "sa") {
    return absl::InvalidArgumentError(absl::StrCat(
        "SPIFFE ID path \"", rest.substr(slash), "\" is not /ns/<namespace>/sa/<service-account>"));
  }
  return Make(td, parts[1], parts[3]);
}

std::string SpiffeId::ToString() const {
  return absl::StrCat(kScheme, trust_domain, "/ns/", namespace_name, "/sa/", service_account);
}

}  // namespace tether::pki
