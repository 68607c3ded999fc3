// TlsServerContext: HTTPS for AdminServer. It holds the current server
// certificate and key; each accepted connection is served over TLS (1.2 or
// 1.3) with the certificate current at accept time, so a renewed one is
// used from the next connection on.
//
//   TlsServerContext tls;
//   TETHER_RETURN_IF_ERROR(tls.SetCertificate(key_pem, chain_pem));
//   AdminServerOptions opts;
//   opts.allow_remote = true;
//   opts.stream_factory = tls.Factory();   // `tls` must outlive the server
//   AdminServer server(opts);
//
// No client certificate is asked for. Thread-safe.
#ifndef TETHER_COMMON_HTTP_TLS_STREAM_H_
#define TETHER_COMMON_HTTP_TLS_STREAM_H_

#include <memory>

#include <openssl/ssl.h>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "common/http/server.h"
#include "common/sync/mutex.h"

namespace tether::http {

class TlsServerContext {
 public:
  // SetCertificate replaces the certificate: `chain_pem` is the leaf first,
  // then its intermediates; `key_pem` the leaf's private key (PKCS#8 or
  // traditional). InvalidArgument if they do not parse or do not match;
  // the previous certificate stays in use then.
  absl::Status SetCertificate(absl::string_view key_pem, absl::string_view chain_pem);

  // Factory makes the streams; a connection accepted before any certificate
  // was set is refused.
  ByteStreamFactory Factory();

 private:
  std::shared_ptr<SSL_CTX> Current();

  Mutex mu_;
  std::shared_ptr<SSL_CTX> ctx_ ABSL_GUARDED_BY(mu_);
};

}  // namespace tether::http

#endif  // TETHER_COMMON_HTTP_TLS_STREAM_H_
