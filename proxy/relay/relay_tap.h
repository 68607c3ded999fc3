// RelayTap: watches the bytes a Relay moves, without changing them, e.g. to
// count HTTP requests on a connection that stays byte-exact TCP
// (proxy/http/http1_observer.h).
//
//   relay->SetTap(std::make_unique<Http1Observer>(...));   // before Start
//
// OnData sees every byte read from one side, in order, once, before it is
// written to the other (the tap must not keep `data`). OnClose is called
// once, when the relay ends, before on_close. Both run on the relay's
// dispatcher thread and must not block; a tap that stops caring (not HTTP,
// say) simply ignores the rest.
#ifndef TETHER_PROXY_RELAY_RELAY_TAP_H_
#define TETHER_PROXY_RELAY_RELAY_TAP_H_

#include <cstdint>

#include "absl/types/span.h"

namespace tether::proxy {

class RelayTap {
 public:
  virtual ~RelayTap() = default;
  // from_downstream: the bytes come from the downstream side (the client:
  // requests); otherwise from upstream (the server: responses).
  virtual void OnData(bool from_downstream, absl::Span<const uint8_t> data) = 0;
  virtual void OnClose() = 0;
};

}  // namespace tether::proxy

#endif  // TETHER_PROXY_RELAY_RELAY_TAP_H_
