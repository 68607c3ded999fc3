// Policy commands of tetherctl: `policy apply|list|delete` and `authz check`.
#ifndef TETHER_CONTROL_TETHERCTL_POLICY_COMMANDS_H_
#define TETHER_CONTROL_TETHERCTL_POLICY_COMMANDS_H_

#include <optional>
#include <string>

#include "api/tether/admin/v1/admin.grpc.pb.h"

namespace tether::tetherctl {

// RunPolicyCommand runs `cmd` (the command words joined by spaces) if it is
// a policy command and returns its exit status; nullopt if it is not one.
std::optional<int> RunPolicyCommand(const std::string& cmd,
                                    tether::admin::v1::AdminService::Stub& stub);

}  // namespace tether::tetherctl

#endif  // TETHER_CONTROL_TETHERCTL_POLICY_COMMANDS_H_
