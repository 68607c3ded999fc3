// Injection flags, shared by `tetherctl inject` and tether-control's webhook
// so that both inject alike:
//   --proxy-image tether/proxy:dev  --proxy-image-pull-policy IfNotPresent
//   --inject-control-address tether-control.tether-system.svc:15012
//   --inject-native-sidecar=true    --inject-log-level info
//   --trust-bundle-configmap tether-trust-bundle
#ifndef TETHER_CONTROL_INJECT_FLAGS_H_
#define TETHER_CONTROL_INJECT_FLAGS_H_

#include "absl/status/statusor.h"
#include "control/inject/injector.h"

namespace tether::control::inject {

// InjectOptionsFromFlags: InvalidArgument naming the flag for a bad value.
absl::StatusOr<InjectOptions> InjectOptionsFromFlags();

}  // namespace tether::control::inject

#endif  // TETHER_CONTROL_INJECT_FLAGS_H_
