#include "control/tetherctl/failure_explain.h"

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

namespace tether::tetherctl {

Explanation ExplainFailure(absl::string_view reason, absl::string_view direction,
                           absl::string_view detail) {
  const bool in = direction == "inbound";
  const std::string peer = in ? "the caller" : "the destination";
  if (reason == "untrusted") {
    return {absl::StrCat(peer,
                         " presented a certificate from a CA that is not in this proxy's trust "
                         "bundle"),
            "the peer belongs to another mesh, or one side's trust bundle is stale (started with "
            "another --ca-bundle, or a CA rotated without overlap); compare the proxies' roots "
            "with `tetherctl check --proxy ...` and give both the bundle from `tetherctl ca "
            "bundle`"};
  }
  if (reason == "expired") {
    return {absl::StrCat(peer, "'s certificate has expired"),
            "the peer's proxy cannot renew: check its control stream (`tetherctl diagnose "
            "--proxy <its admin address>`, `tetherctl workloads`); if the certificate is recent, "
            "this machine's clock runs ahead (`tetherctl check` shows clock skew)"};
  }
  if (reason == "not_yet_valid") {
    return {absl::StrCat(peer, "'s certificate is not valid yet"),
            "clock skew: this machine's clock runs behind the CA's by more than the minute "
            "certificates are backdated; synchronize the clocks (NTP)"};
  }
  if (reason == "revoked") {
    return {absl::StrCat(peer, "'s certificate or identity is revoked"),
            "expected if it was revoked on purpose (`tetherctl certs list` shows revoked "
            "certificates); otherwise the workload needs a new certificate: restart its proxy"};
  }
  if (reason == "bad_usage") {
    return {absl::StrCat(peer, "'s certificate is not meant for this use (key usage, or a CA)"),
            "the peer does not hold a certificate issued by tether-control; it is not a mesh "
            "proxy"};
  }
  if (reason == "weak_key") {
    return {absl::StrCat(peer, "'s certificate has a weak key"),
            "the peer's certificate was not issued by tether-control; it is not a mesh proxy"};
  }
  if (reason == "chain_too_long") {
    return {absl::StrCat(peer, "'s certificate chain is longer than allowed"),
            "check the intermediates in the CA's cert-chain.pem (--ca-dir)"};
  }
  if (reason == "bad_identity") {
    return {absl::StrCat(peer, "'s certificate has no valid SPIFFE ID of this trust domain"),
            "the peer belongs to another trust domain or is not a mesh workload; give both "
            "meshes one trust domain, or exclude this traffic from the mesh"};
  }
  if (reason == "identity_mismatch") {
    return {"the destination presented another identity than the one this proxy expects",
            "the address or --outbound-expect-identity points at the wrong service; correct "
            "whichever is wrong"};
  }
  if (reason == "wrong_server_identity") {
    return {
        "the destination proved another identity than the one the endpoint registry names "
        "for its address: it may be an impostor, or the address was reused",
        "compare `tetherctl endpoints` with the workload that now runs at that address; if "
        "the move is legitimate, bind the address to the new identity (its join token's "
        "--address, or its pod), else find out who took the address"};
  }
  if (reason == "no_client_certificate") {
    return {"the caller spoke TLS but sent no client certificate: it is not a mesh proxy",
            "send the caller's traffic through its own sidecar (inject it), or exclude this "
            "port (tether.io/exclude-inbound-ports)"};
  }
  if (reason == "protocol_version") {
    return {absl::StrCat(peer, " offered a TLS version below 1.3"),
            "the peer is not a Tether proxy; inject it or exclude this traffic from the mesh"};
  }
  if (reason == "plaintext") {
    if (in) {
      return {"the caller sent plaintext to a port that accepts mTLS only (strict mode)",
              "the caller is outside the mesh (no sidecar, or its traffic bypasses the proxy): "
              "inject it, or run this proxy with --permissive while migrating"};
    }
    return {"the destination did not answer with TLS: it has no mesh proxy",
            "inject the destination, or exclude it (tether.io/exclude-outbound-ports or "
            "tether.io/exclude-outbound-cidrs)"};
  }
  if (reason == "no_tether_alpn") {
    return {absl::StrCat(peer, " speaks TLS but not the mesh's protocol (ALPN tether)"),
            "the peer is an app doing its own TLS, not a mesh proxy; exclude its port"};
  }
  if (reason == "peer_rejected" && absl::StrContains(detail, "UNKNOWN_CA")) {
    return {absl::StrCat(peer,
                         " does not trust the CA that signed this proxy's certificate (TLS alert "
                         "unknown_ca)"),
            "the peer belongs to another mesh or holds a stale trust bundle: `tetherctl check "
            "--proxy ...` compares the proxies' roots; give it this mesh's bundle (`tetherctl ca "
            "bundle`)"};
  }
  if (reason == "peer_rejected" && absl::StrContains(detail, "CERTIFICATE_EXPIRED")) {
    return {absl::StrCat(peer,
                         " finds this proxy's certificate expired or not yet valid (TLS alert "
                         "certificate_expired)"),
            "one of the two clocks is off (`tetherctl check` shows clock skew), or this proxy "
            "cannot renew (its control stream, in `tetherctl diagnose`)"};
  }
  if (reason == "peer_rejected" && absl::StrContains(detail, "CERTIFICATE_REVOKED")) {
    return {absl::StrCat(peer, " finds this proxy's certificate revoked"),
            "this workload's certificate or identity was revoked (`tetherctl certs list`); "
            "restart the proxy for a new certificate if the identity itself is not revoked"};
  }
  if (reason == "peer_rejected" && absl::StrContains(detail, "ACCESS_DENIED")) {
    return {absl::StrCat(peer, " expected another identity than this proxy's"),
            "the caller's --outbound-expect-identity (or the address it dials) names another "
            "service"};
  }
  if (reason == "peer_rejected") {
    return {absl::StrCat(peer, " refused this proxy's certificate (it sent a TLS alert)"),
            "look at the other side: `tetherctl diagnose --proxy <its admin address>` names "
            "why; usually its trust bundle lacks this mesh's root, or its clock is off"};
  }
  if (reason == "reset") {
    return {"the connection was closed during the TLS handshake",
            "the peer stopped or restarted, or something on the path (a firewall, a load "
            "balancer) cut the connection; if it repeats, read the peer's log"};
  }
  if (reason == "handshake_timeout") {
    return {"no complete TLS handshake within the handshake timeout",
            "the peer is overloaded or packets are lost; a client that connects and sends "
            "nothing (a TCP health check) also shows this"};
  }
  if (reason == "tls_error") {
    return {"the TLS handshake failed (see the detail)",
            "the detail is the TLS library's error; if the peer is a mesh proxy, diagnose its "
            "side too"};
  }
  if (reason == "denied") {
    return {"the authorization policy refused this caller",
            "if the caller should be allowed, add its identity to an ALLOW rule of a policy that "
            "selects this workload (`tetherctl authz check --from <caller> --to <this workload> "
            "--port <port>` shows which rule decides); otherwise the policy works as intended"};
  }
  if (reason == "closed_by_policy") {
    return {"an open connection was closed because a new policy denies it",
            "if the caller should be allowed, change the policy (`tetherctl policy list`)"};
  }
  if (reason == "closed_by_revocation") {
    return {absl::StrCat("an open connection was closed because ", peer,
                         "'s certificate (its serial) or its whole identity was revoked"),
            absl::StrCat(
                "expected after `tetherctl revoke` (the detail names the certificate; `tetherctl "
                "certs list` shows what is revoked). A proxy whose own certificate is revoked "
                "drops it and asks for a new one: if ",
                in ? "the caller" : "the destination",
                " stays without one, give it a new bootstrap credential (a new join token in its "
                "file; on Kubernetes its projected token is re-read) unless its identity itself "
                "is revoked")};
  }
  if (reason == "connect_failed" || reason == "connect_timeout") {
    const char* how = reason == "connect_failed" ? "refused or unreachable" : "timed out";
    if (in) {
      return {absl::StrCat("the connection to the local app was ", how),
              "is the app running and listening on that port, on the pod's address or "
              "0.0.0.0? The proxy connects to the address the caller dialled, never to "
              "127.0.0.1: an app bound to loopback only is not reachable through the mesh"};
    }
    return {absl::StrCat("the connection to the destination was ", how),
            "the destination is down or unreachable: check the service and its endpoints"};
  }
  if (reason == "no_certificate") {
    return {
        "this proxy had no valid certificate, so it refused the connection rather than "
        "send plaintext",
        "the proxy cannot get a certificate: run `tetherctl check` (control plane reachable, "
        "bootstrap credential valid) and read the control stream's last error in /certs"};
  }
  if (reason == "no_policy") {
    return {
        "this proxy held no authorization policy yet, so it refused the connection rather "
        "than serve it under none (fail closed)",
        "the control plane has not sent this workload's policy: is the control stream "
        "connected (/certs), and can the control plane read the namespace's policies "
        "(`tetherctl check`, its /ready and log)? A namespace whose policies have never "
        "parsed gets none until they are fixed"};
  }
  if (reason == "no_original_destination") {
    return {"the connection's original destination could not be recovered",
            "the connection reached the proxy's port without iptables' redirection; check the "
            "rules of `tether-proxy init`"};
  }
  if (reason == "own_listener") {
    return {absl::StrCat(in ? "the caller" : "the app",
                         " dialled one of this proxy's own ports (inbound, outbound, admin, "
                         "health or metrics), which is never forwarded"),
            "expected if nobody meant to: a probe or an attempt to loop the proxy into "
            "itself or reach its admin API (the detail names the listener). If an app really "
            "listens on that port, move it: the proxy reserves 15000, 15001, 15006 and its "
            "health and metrics ports"};
  }
  if (reason == "not_pod_address") {
    return {
        "the caller's connection was addressed to loopback or to an address that is not "
        "this pod's, and was not forwarded",
        "a mesh peer reaches this pod on its own address only; a packet addressed to "
        "another host or to 127.0.0.1 and routed through the pod is an attack or a "
        "misrouted connection: look at the caller (peer_address)"};
  }
  if (reason == "unknown_destination") {
    return {
        "the endpoint registry does not know the destination, and this proxy runs with "
        "--outbound-unknown=deny",
        "bind the address to its workload (`tetherctl token create --address`, or run it as "
        "a pod), or exclude the destination (--exclude-outbound-cidrs)"};
  }
  if (reason == "over_limit") {
    return {"the proxy was at --max-connections and refused the connection",
            "raise --max-connections, or find the client that opens so many"};
  }
  return {absl::StrCat("the connection failed (", reason, ")"), "see the detail"};
}

}  // namespace tether::tetherctl
