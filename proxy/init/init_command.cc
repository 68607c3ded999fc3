#include "proxy/init/init_command.h"

#include "absl/flags/flag.h"
#include "proxy/init/iptables.h"
#include "proxy/init/rules.h"

ABSL_FLAG(int, proxy_uid, 1337, "init: UID the proxy runs as; its traffic is not redirected");
ABSL_FLAG(int, inbound_port, 15006, "init: port of the inbound listener");
ABSL_FLAG(int, outbound_port, 15001, "init: port of the outbound listener");
ABSL_FLAG(int, admin_port, 15000, "init: the proxy's admin port, never redirected");
ABSL_FLAG(std::string, exclude_inbound_ports, "", "init: inbound ports not redirected");
ABSL_FLAG(std::string, exclude_outbound_ports, "", "init: outbound ports not redirected");
ABSL_FLAG(std::string, exclude_outbound_cidrs, "", "init: destinations reached directly");
ABSL_FLAG(std::string, iptables_mode, "auto", "init: auto, nft or legacy");
ABSL_FLAG(bool, ipv6, true, "init: also write ip6tables rules");
ABSL_FLAG(bool, dry_run, false, "init: print the rules instead of applying them");
ABSL_FLAG(bool, remove, false, "init: remove Tether's rules");

namespace tether::proxy {

int RunInitCommand(CommandRunner* runner, std::ostream& out, std::ostream& err) {
  InterceptionConfig config;
  config.proxy_uid = absl::GetFlag(FLAGS_proxy_uid);
  config.inbound_port = absl::GetFlag(FLAGS_inbound_port);
  config.outbound_port = absl::GetFlag(FLAGS_outbound_port);
  config.admin_port = absl::GetFlag(FLAGS_admin_port);
  config.ipv6 = absl::GetFlag(FLAGS_ipv6);
  auto in_ports = ParsePorts(absl::GetFlag(FLAGS_exclude_inbound_ports));
  auto out_ports = ParsePorts(absl::GetFlag(FLAGS_exclude_outbound_ports));
  auto cidrs = ParseCidrs(absl::GetFlag(FLAGS_exclude_outbound_cidrs));
  for (const absl::Status& st : {in_ports.status(), out_ports.status(), cidrs.status()}) {
    if (!st.ok()) {
      err << "tether-proxy init: " << st.message() << "\n";
      return 2;
    }
  }
  config.exclude_inbound_ports = *in_ports;
  config.exclude_outbound_ports = *out_ports;
  config.exclude_outbound_cidrs = *cidrs;
  if (absl::Status st = Validate(config); !st.ok()) {
    err << "tether-proxy init: " << st.message() << "\n";
    return 2;
  }
  auto mode = ParseIptablesMode(absl::GetFlag(FLAGS_iptables_mode));
  if (!mode.ok()) {
    err << "tether-proxy init: " << mode.status().message() << "\n";
    return 2;
  }

  if (absl::GetFlag(FLAGS_dry_run)) {
    out << "# IPv4\n" << RenderRules(config, Family::kIpv4);
    if (config.ipv6) out << "# IPv6\n" << RenderRules(config, Family::kIpv6);
    return 0;
  }
  Iptables iptables(runner, *mode);
  auto resolved = iptables.Mode();
  if (!resolved.ok()) {
    err << "tether-proxy init: " << resolved.status().message() << "\n";
    return 1;
  }
  const char* flavour = *resolved == IptablesMode::kLegacy ? "iptables-legacy" : "iptables-nft";
  if (absl::GetFlag(FLAGS_remove)) {
    if (absl::Status st = iptables.Remove(); !st.ok()) {
      err << "tether-proxy init --remove: " << st.message() << "\n";
      return 1;
    }
    out << "tether-proxy init: removed the redirection rules (" << flavour << ")\n";
    return 0;
  }
  if (absl::Status st = iptables.Apply(config); !st.ok()) {
    err << "tether-proxy init: " << st.message() << "\n";
    return 1;
  }
  out << "tether-proxy init: TCP redirected with " << flavour << " (IPv4"
      << (config.ipv6 ? " and IPv6" : "") << "): inbound to :" << config.inbound_port
      << ", outbound to :" << config.outbound_port << ", UID " << config.proxy_uid << " exempt\n";
  return 0;
}

}  // namespace tether::proxy
