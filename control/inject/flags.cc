#include "control/inject/flags.h"

#include <string>

#include "absl/flags/flag.h"
#include "absl/strings/str_cat.h"

ABSL_FLAG(std::string, proxy_image, tether::control::inject::InjectOptions().proxy_image,
          "inject: the tether-proxy image (sidecar and init container)");
ABSL_FLAG(std::string, proxy_image_pull_policy, "",
          "inject: imagePullPolicy of the injected containers (default: the cluster's)");
ABSL_FLAG(std::string, inject_control_address,
          tether::control::inject::InjectOptions().control_address,
          "inject: tether-control's certificate stream, as the proxies reach it");
ABSL_FLAG(bool, inject_native_sidecar, true,
          "inject: the proxy as a native sidecar (Kubernetes >= 1.29); false: as the first app "
          "container");
ABSL_FLAG(std::string, inject_log_level, "info", "inject: the proxies' log level");
ABSL_FLAG(std::string, trust_bundle_configmap,
          tether::control::inject::InjectOptions().trust_bundle_configmap,
          "inject: the ConfigMap (in each injected namespace) holding the trust bundle");

namespace tether::control::inject {

absl::StatusOr<InjectOptions> InjectOptionsFromFlags() {
  InjectOptions o;
  o.proxy_image = absl::GetFlag(FLAGS_proxy_image);
  o.image_pull_policy = absl::GetFlag(FLAGS_proxy_image_pull_policy);
  o.control_address = absl::GetFlag(FLAGS_inject_control_address);
  o.native_sidecar = absl::GetFlag(FLAGS_inject_native_sidecar);
  o.log_level = absl::GetFlag(FLAGS_inject_log_level);
  o.trust_bundle_configmap = absl::GetFlag(FLAGS_trust_bundle_configmap);
  if (o.proxy_image.empty()) return absl::InvalidArgumentError("--proxy-image is empty");
  if (!o.image_pull_policy.empty() && o.image_pull_policy != "Always" &&
      o.image_pull_policy != "IfNotPresent" && o.image_pull_policy != "Never") {
    return absl::InvalidArgumentError(absl::StrCat("--proxy-image-pull-policy \"",
                                                   o.image_pull_policy,
                                                   "\" is not Always, IfNotPresent or Never"));
  }
  if (o.log_level != "error" && o.log_level != "warning" && o.log_level != "info" &&
      o.log_level != "debug") {
    return absl::InvalidArgumentError(absl::StrCat("--inject-log-level \"", o.log_level,
                                                   "\" is not error, warning, info or debug"));
  }
  if (o.control_address.empty()) {
    return absl::InvalidArgumentError("--inject-control-address is empty");
  }
  if (o.trust_bundle_configmap.empty()) {
    return absl::InvalidArgumentError("--trust-bundle-configmap is empty");
  }
  return o;
}

}  // namespace tether::control::inject
