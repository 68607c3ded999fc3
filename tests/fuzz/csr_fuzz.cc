// csr_fuzz: pki::ParseCsr on arbitrary bytes (DER or PEM). It must never
// crash, and whatever it accepts must carry a valid SPIFFE ID and a key that
// passes CheckKeyStrength. Seed corpus: corpus/csr/.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "common/pki/csr.h"
#include "common/pki/keys.h"
#include "common/pki/spiffe_id.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  absl::string_view input(reinterpret_cast<const char*>(data), size);
  absl::StatusOr<tether::pki::ParsedCsr> csr = tether::pki::ParseCsr(input);
  if (!csr.ok()) return 0;
  // What the parser accepts, the CA signs: check its promises hold.
  const tether::pki::SpiffeId& id = csr->spiffe_id;
  if (size > tether::pki::kMaxCsrBytes || csr->public_key == nullptr ||
      !tether::pki::CheckKeyStrength(csr->public_key.get()).ok() ||
      !tether::pki::SpiffeId::Parse(id.ToString()).ok()) {
    std::abort();
  }
  return 0;
}
