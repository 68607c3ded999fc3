// IdentityManager: obtains the proxy's certificate from the control plane
// and keeps it, the trust bundle and the revocations current.
//
//   IdentityManager manager(options, connector.get(), RealClock::Default());
//   manager.Start();
//   std::shared_ptr<const IdentitySnapshot> id = manager.Current();  // null until ready
//
// Keys are generated here and never leave the process. One background
// thread runs the stream: Hello (bootstrap credential, or the current
// certificate over mTLS once it has one), then a CSR whenever the current
// certificate reaches its renewal time (about half its lifetime, with
// jitter), and applies pushed trust bundles and revocations. A dropped stream
// is reopened with exponential backoff (1 s .. 30 s, jittered) while the
// proxy keeps serving with the certificate it has; once that certificate has
// expired, it reauthenticates with the bootstrap credential. An answer to a
// request older than the newest one is dropped.
//
// A pushed revocation list that names the current certificate (its serial or
// its SPIFFE ID) withdraws it at once: Current() turns null, so no new
// connection presents it (workers refuse with no_certificate, /ready is 503),
// and a new certificate is requested on the open stream right away. A revoked
// certificate never authenticates a stream: once withdrawn, a reconnect uses
// the bootstrap credential (re-read from its file), and if that is refused
// (a join token already used) the proxy stays without a certificate, says why
// in status().last_error, and retries with backoff.
//
// Current() copies the snapshot under a short lock; workers read it through
// a SnapshotReader over snapshots(), which takes no lock while it is
// unchanged.
#ifndef TETHER_PROXY_IDENTITY_IDENTITY_MANAGER_H_
#define TETHER_PROXY_IDENTITY_IDENTITY_MANAGER_H_

#include <atomic>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <thread>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "common/clock.h"
#include "common/sync/atomic_shared_ptr.h"
#include "common/sync/mutex.h"
#include "proxy/identity/bootstrap.h"
#include "proxy/identity/ca_connector.h"
#include "proxy/tls/identity_snapshot.h"

namespace tether::proxy {

struct IdentityOptions {
  // PEM roots to trust before the control plane pushes its bundle.
  std::string initial_bundle_pem;
  BootstrapOptions bootstrap;
  std::string workload_name;
  std::string proxy_version;
  // Requested certificate lifetime; zero: the CA's default.
  absl::Duration ttl = absl::ZeroDuration();
  absl::Duration min_backoff = absl::Seconds(1);
  absl::Duration max_backoff = absl::Seconds(30);
  // A stream that has not said Welcome by then is abandoned.
  absl::Duration hello_timeout = absl::Seconds(15);
};

// What the admin endpoint shows about the control-plane stream.
struct IdentityStatus {
  std::string stream_state;  // "connecting", "connected", "backoff", "stopped"
  std::string last_error;
  absl::Time last_error_time = absl::InfinitePast();
  uint64_t certificates_received = 0;
  uint64_t stream_failures = 0;
  uint64_t bundle_version = 0;
  uint64_t revocations_version = 0;
  // Revocation lists ignored because they were older than the one held.
  uint64_t revocations_ignored = 0;
  absl::Time connected_since = absl::InfinitePast();
  // Set when the last certificate was withdrawn because it was revoked, until
  // a new one arrives: its serial and the sentence that says so.
  std::string revoked_serial;
  std::string revoked_reason;
};

// RevocationUpdate: a revocation list as applied, for the observers that close
// open connections whose peers it names.
struct RevocationUpdate {
  std::shared_ptr<const pki::Revocations> revocations;  // never null
  uint64_t version = 0;
  // The list revoked this proxy's own certificate, which was withdrawn.
  bool own_certificate_revoked = false;
};

class IdentityManager {
 public:
  IdentityManager(IdentityOptions options, CaConnector* connector, const Clock* clock);
  ~IdentityManager();

  // Start parses the initial bundle (InvalidArgument if unusable) and starts
  // the background thread.
  absl::Status Start();
  void Stop();

  std::shared_ptr<const IdentitySnapshot> Current() const { return current_.Load(); }
  // The published snapshot, for a per-thread SnapshotReader.
  const AtomicSharedPtr<const IdentitySnapshot>& snapshots() const { return current_; }
  IdentityStatus status() const;

  // Wake makes the manager re-check its timers now (tests move a FakeClock).
  void Wake();
  // Observes every newly published snapshot (called on the manager thread).
  void SetOnChange(std::function<void(const IdentitySnapshot&)> callback);
  // Observes every authorization policy the control plane sends (called on
  // the manager thread; the message is unchecked input).
  void SetOnPolicy(std::function<void(const tether::policy::v1::PolicySnapshot&)> callback);
  // Observes every discovery update (api/tether/discovery/v1), likewise.
  void SetOnDiscovery(std::function<void(const tether::discovery::v1::DiscoveryUpdate&)> callback);
  // Observes every revocation list applied (called on the manager thread,
  // after the snapshot reflects it).
  void SetOnRevocations(std::function<void(const RevocationUpdate&)> callback);

 private:
  struct Event {
    std::optional<tether::ca::v1::StreamResponse> message;  // nullopt: stream ended
    uint64_t stream_generation = 0;
  };
  void Run();
  void Connect();
  void Disconnect(const std::string& why);
  void Handle(const tether::ca::v1::StreamResponse& msg);
  void SendCsr();
  void Publish(std::shared_ptr<const IdentitySnapshot> snap);
  // ApplyRevocations publishes the current snapshot with `revocations_`, or
  // withdraws it (true) when they name it, and asks for a new one now.
  bool ApplyRevocations(uint64_t version);
  void Fail(const std::string& error);
  absl::Duration Backoff();
  std::string RootsPem() const;

  const IdentityOptions options_;
  CaConnector* const connector_;
  const Clock* const clock_;
  AtomicSharedPtr<const IdentitySnapshot> current_;

  // Manager-thread state.
  std::unique_ptr<CaStream> stream_;
  std::thread reader_;
  uint64_t generation_ = 0;
  bool welcomed_ = false;
  absl::Time hello_deadline_ = absl::InfiniteFuture();
  absl::Time reconnect_at_ = absl::InfinitePast();
  absl::Time renew_at_ = absl::InfiniteFuture();
  int failures_in_a_row_ = 0;
  uint64_t next_request_id_ = 1;
  uint64_t pending_request_id_ = 0;
  bssl::UniquePtr<EVP_PKEY> pending_key_;
  pki::TrustBundle bundle_;
  pki::Revocations revocations_;
  std::string welcomed_identity_;
  absl::Time pending_since_ = absl::InfinitePast();
  // The server refused our certificate: use the bootstrap credential next.
  bool force_bootstrap_ = false;

  mutable Mutex mu_;
  CondVar cv_;
  std::deque<Event> events_ ABSL_GUARDED_BY(mu_);
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  bool woken_ ABSL_GUARDED_BY(mu_) = false;
  IdentityStatus status_ ABSL_GUARDED_BY(mu_);
  std::function<void(const IdentitySnapshot&)> on_change_ ABSL_GUARDED_BY(mu_);
  std::function<void(const tether::policy::v1::PolicySnapshot&)> on_policy_ ABSL_GUARDED_BY(mu_);
  std::function<void(const tether::discovery::v1::DiscoveryUpdate&)> on_discovery_
      ABSL_GUARDED_BY(mu_);
  std::function<void(const RevocationUpdate&)> on_revocations_ ABSL_GUARDED_BY(mu_);
  std::thread thread_;
};

}  // namespace tether::proxy

#endif  // TETHER_PROXY_IDENTITY_IDENTITY_MANAGER_H_
