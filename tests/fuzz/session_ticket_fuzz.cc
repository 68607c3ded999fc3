// session_ticket_fuzz: SessionTicketKey::Open on the bytes a client puts in
// its ClientHello, and Seal/Open round trips of arbitrary bounds and sessions.
//
// Input: one mode byte, then
//   even mode: a ticket, opened as it arrives from the network. No input may
//     crash it, and none opens: only this key's seal authenticates.
//   odd mode: u8 serial length | u16 identity length (little-endian) |
//     8 bytes valid_until | u8 byte to flip | serial | identity | session.
//     Seal, then Open: the bound and session come back exactly (or the
//     ticket is sealed never-resumable, when a length is over its limit);
//     with one byte flipped the ticket does not open.
// Seed corpus: corpus/session_ticket/.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "proxy/tls/session_ticket.h"

namespace {

using tether::proxy::SessionTicketKey;
using tether::proxy::TicketBound;

const SessionTicketKey& Key() {
  static const auto* key = [] {
    uint8_t bytes[32];
    for (size_t i = 0; i < sizeof(bytes); ++i) bytes[i] = static_cast<uint8_t>(i * 7 + 1);
    return new std::shared_ptr<const SessionTicketKey>(SessionTicketKey::FromBytes(bytes));
  }();
  if (*key == nullptr) std::abort();
  return **key;
}

void OpenFromNetwork(const uint8_t* data, size_t size) {
  std::vector<uint8_t> out(size + 1);
  size_t out_len = 0;
  if (Key().Open({data, size}, out.data(), &out_len, out.size())) std::abort();
}

void RoundTrip(const uint8_t* data, size_t size) {
  constexpr size_t kHeader = 1 + 2 + 8 + 1;
  if (size < kHeader) return;
  const size_t serial_len = data[0];
  const size_t id_len = data[1] | (static_cast<size_t>(data[2]) << 8);
  int64_t until = 0;
  memcpy(&until, data + 3, 8);
  const uint8_t flip = data[11];
  data += kHeader;
  size -= kHeader;
  if (size < serial_len + id_len) return;
  TicketBound bound;
  bound.valid_until = absl::FromUnixSeconds(until % (int64_t{1} << 40));
  bound.peer_serial.assign(reinterpret_cast<const char*>(data), serial_len);
  bound.peer_id.assign(reinterpret_cast<const char*>(data + serial_len), id_len);
  const uint8_t* session = data + serial_len + id_len;
  const size_t session_len = size - serial_len - id_len;

  std::vector<uint8_t> ticket(session_len + SessionTicketKey::MaxOverhead());
  size_t ticket_len = 0;
  if (!Key().Seal(bound, {session, session_len}, ticket.data(), &ticket_len, ticket.size())) {
    std::abort();  // MaxOverhead promised room
  }
  std::vector<uint8_t> out(ticket_len);
  size_t out_len = 0;
  auto opened = Key().Open({ticket.data(), ticket_len}, out.data(), &out_len, out.size());
  if (!opened || out_len != session_len || memcmp(out.data(), session, session_len) != 0) {
    std::abort();
  }
  const bool fits = serial_len <= tether::proxy::kMaxTicketSerialLength &&
                    id_len <= tether::proxy::kMaxTicketPeerIdLength;
  if (fits ? (opened->valid_until != bound.valid_until ||
              opened->peer_serial != bound.peer_serial || opened->peer_id != bound.peer_id)
           : (opened->valid_until >= absl::UnixEpoch() + absl::Seconds(1) ||
              !opened->peer_serial.empty() || !opened->peer_id.empty())) {
    std::abort();
  }
  // In place, as BoringSSL hands the ticket's own buffer.
  auto again = Key().Open({ticket.data(), ticket_len}, ticket.data(), &out_len, ticket_len);
  if (!again || out_len != session_len) std::abort();
  if (!Key().Seal(bound, {session, session_len}, ticket.data(), &ticket_len, ticket.size())) {
    std::abort();
  }
  ticket[flip % ticket_len] ^= 0x01;
  if (Key().Open({ticket.data(), ticket_len}, out.data(), &out_len, out.size())) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  if (data[0] % 2 == 0) {
    OpenFromNetwork(data + 1, size - 1);
  } else {
    RoundTrip(data + 1, size - 1);
  }
  return 0;
}
