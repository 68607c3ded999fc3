// revocations_fuzz: ParseRevocationsConfigMap on arbitrary bytes, as the API
// server answers the GET of the ConfigMap in which replicas share the
// revocation list (anyone allowed to edit ConfigMaps in the control plane's
// namespace writes its data).
//
// Besides not crashing, hanging or throwing: an accepted list has only
// lowercase hex serials and canonical SPIFFE IDs, and encodes to a form that
// decodes to the same list; a refusal is Unavailable or DataLoss.
// Seed corpus: tests/fuzz/corpus/revocations/.
#include <cstddef>
#include <cstdint>
#include <cstdlib>

#include "absl/strings/string_view.h"
#include "common/pki/spiffe_id.h"
#include "control/ca/revocation_state.h"
#include "control/kubernetes/revocation_configmap.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using tether::control::DecodeRevocations;
  using tether::control::EncodeRevocations;
  using tether::control::IsSerialHex;
  using tether::control::RevocationState;

  const absl::string_view body(reinterpret_cast<const char*>(data), size);
  auto stored = tether::control::kubernetes::ParseRevocationsConfigMap(body);
  if (!stored.ok()) {
    if (!absl::IsUnavailable(stored.status()) && !absl::IsDataLoss(stored.status())) abort();
  } else if (stored->revision.empty()) {
    abort();
  }
  // The list's own form, as read from revocations.json too.
  absl::StatusOr<RevocationState> state = DecodeRevocations(body, "fuzz");
  if (!state.ok()) {
    if (!absl::IsDataLoss(state.status())) abort();
    return 0;
  }
  for (const auto& [serial, expiry] : state->serials) {
    if (!IsSerialHex(serial)) abort();
  }
  for (const auto& id : state->spiffe_ids) {
    auto parsed = tether::pki::SpiffeId::Parse(id);
    if (!parsed.ok() || parsed->ToString() != id) abort();
  }
  absl::StatusOr<RevocationState> again = DecodeRevocations(EncodeRevocations(*state), "again");
  if (!again.ok() || !again->SameEntries(*state) || again->version != state->version) abort();
  return 0;
}
