// FullUpdate and DeltaUpdate: the registry's snapshots as the messages of
// the discovery stream (api/tether/discovery/v1). Pure functions.
//
//   stream.Send(FullUpdate(*now));                 // after Welcome
//   stream.Send(DeltaUpdate(*last_sent, *now));    // on every change
//
// A delta holds the entries of `to` that are new or differ from `from`, and
// the keys of `from` that `to` no longer has; applied to `from` it gives
// `to` exactly. Both carry `to.version`.
#ifndef TETHER_CONTROL_DISCOVERY_DISCOVERY_UPDATE_H_
#define TETHER_CONTROL_DISCOVERY_DISCOVERY_UPDATE_H_

#include "api/tether/discovery/v1/discovery.pb.h"
#include "control/discovery/endpoint_registry.h"

namespace tether::control {

tether::discovery::v1::DiscoveryUpdate FullUpdate(const EndpointSnapshot& to);
tether::discovery::v1::DiscoveryUpdate DeltaUpdate(const EndpointSnapshot& from,
                                                   const EndpointSnapshot& to);

}  // namespace tether::control

#endif  // TETHER_CONTROL_DISCOVERY_DISCOVERY_UPDATE_H_
