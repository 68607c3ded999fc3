#include "common/http/tls_stream.h"

#include <openssl/err.h>
#include <openssl/pem.h>
#include <poll.h>

#include "absl/strings/str_cat.h"

namespace tether::http {
namespace {

// TlsStream drives one server-side TLS connection over a non-blocking
// socket; the handshake happens inside the first Read.
class TlsStream final : public ByteStream {
 public:
  explicit TlsStream(bssl::UniquePtr<SSL> ssl) : ssl_(std::move(ssl)) {}

  ssize_t Read(char* buf, size_t n, int16_t* out_wait) override {
    ERR_clear_error();
    const int r = SSL_read(ssl_.get(), buf, static_cast<int>(std::min<size_t>(n, INT32_MAX)));
    if (r > 0) return r;
    const int err = SSL_get_error(ssl_.get(), r);
    // close_notify, or TCP closed without it: the end either way (HTTP
    // framing detects a truncated request).
    if (err == SSL_ERROR_ZERO_RETURN ||
        (err == SSL_ERROR_SYSCALL && ERR_peek_error() == 0 && r == 0)) {
      return 0;
    }
    *out_wait = Want(err);
    return -1;
  }

  ssize_t Write(const char* buf, size_t n, int16_t* out_wait) override {
    ERR_clear_error();
    const int w = SSL_write(ssl_.get(), buf, static_cast<int>(std::min<size_t>(n, INT32_MAX)));
    if (w > 0) return w;
    *out_wait = Want(SSL_get_error(ssl_.get(), w));
    return -1;
  }

  void Shutdown() override {
    if (SSL_is_init_finished(ssl_.get())) (void)SSL_shutdown(ssl_.get());
  }

 private:
  static int16_t Want(int err) {
    if (err == SSL_ERROR_WANT_READ) return POLLIN;
    if (err == SSL_ERROR_WANT_WRITE) return POLLOUT;
    return 0;
  }

  bssl::UniquePtr<SSL> ssl_;
};

}  // namespace

absl::Status TlsServerContext::SetCertificate(absl::string_view key_pem,
                                              absl::string_view chain_pem) {
  bssl::UniquePtr<SSL_CTX> ctx(SSL_CTX_new(TLS_server_method()));
  if (ctx == nullptr || !SSL_CTX_set_min_proto_version(ctx.get(), TLS1_2_VERSION)) {
    return absl::InternalError("cannot create a TLS context");
  }
  SSL_CTX_set_mode(ctx.get(), SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
  bssl::UniquePtr<BIO> chain(BIO_new_mem_buf(chain_pem.data(), static_cast<int>(chain_pem.size())));
  bssl::UniquePtr<X509> leaf(PEM_read_bio_X509(chain.get(), nullptr, nullptr, nullptr));
  if (leaf == nullptr || !SSL_CTX_use_certificate(ctx.get(), leaf.get())) {
    return absl::InvalidArgumentError("TLS: the certificate chain holds no usable certificate");
  }
  for (;;) {
    bssl::UniquePtr<X509> next(PEM_read_bio_X509(chain.get(), nullptr, nullptr, nullptr));
    if (next == nullptr) break;
    if (!SSL_CTX_add1_chain_cert(ctx.get(), next.get())) {
      return absl::InvalidArgumentError("TLS: cannot add an intermediate certificate");
    }
  }
  ERR_clear_error();
  bssl::UniquePtr<BIO> key_bio(BIO_new_mem_buf(key_pem.data(), static_cast<int>(key_pem.size())));
  bssl::UniquePtr<EVP_PKEY> key(PEM_read_bio_PrivateKey(key_bio.get(), nullptr, nullptr, nullptr));
  if (key == nullptr || !SSL_CTX_use_PrivateKey(ctx.get(), key.get()) ||
      !SSL_CTX_check_private_key(ctx.get())) {
    ERR_clear_error();
    return absl::InvalidArgumentError(
        "TLS: the private key does not parse or match the certificate");
  }
  std::shared_ptr<SSL_CTX> shared(ctx.release(), SSL_CTX_free);
  MutexLock lock(&mu_);
  ctx_ = std::move(shared);
  return absl::OkStatus();
}

std::shared_ptr<SSL_CTX> TlsServerContext::Current() {
  MutexLock lock(&mu_);
  return ctx_;
}

ByteStreamFactory TlsServerContext::Factory() {
  return [this](int fd) -> std::unique_ptr<ByteStream> {
    std::shared_ptr<SSL_CTX> ctx = Current();
    if (ctx == nullptr) return nullptr;
    bssl::UniquePtr<SSL> ssl(SSL_new(ctx.get()));  // holds its own reference to ctx
    if (ssl == nullptr || !SSL_set_fd(ssl.get(), fd)) return nullptr;
    SSL_set_accept_state(ssl.get());
    return std::make_unique<TlsStream>(std::move(ssl));
  };
}

}  // namespace tether::http
