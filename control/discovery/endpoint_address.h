// ParseEndpointAddress reads an address an operator binds to a workload
// (`tetherctl token create --address`): "10.1.2.3", "10.1.2.3:8080",
// "fd00::1", "[fd00::1]:8080". The IP comes back canonical (inet_ntop), the
// port 0 when none is given (every port). InvalidArgument, naming the input,
// for anything else: a host name, a port of 0 or over 65535, a CIDR.
#ifndef TETHER_CONTROL_DISCOVERY_ENDPOINT_ADDRESS_H_
#define TETHER_CONTROL_DISCOVERY_ENDPOINT_ADDRESS_H_

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace tether::control {

struct EndpointAddress {
  std::string ip;
  uint16_t port = 0;
  // "10.1.2.3", "10.1.2.3:8080", "[fd00::1]:8080".
  std::string ToString() const;
};

absl::StatusOr<EndpointAddress> ParseEndpointAddress(absl::string_view text);

}  // namespace tether::control

#endif  // TETHER_CONTROL_DISCOVERY_ENDPOINT_ADDRESS_H_
