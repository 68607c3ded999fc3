// gen_client_hello ALPN: writes the first flight of a real BoringSSL TLS
// client offering ALPN (and SNI "svc.shop") to stdout; used to make the
// protocol detector's seed corpus.
#include <cstdio>
#include <cstring>
#include <string>

#include <openssl/ssl.h>

int main(int argc, char** argv) {
  if (argc != 2) return 2;
  bssl::UniquePtr<SSL_CTX> ctx(SSL_CTX_new(TLS_method()));
  bssl::UniquePtr<SSL> ssl(SSL_new(ctx.get()));
  std::string wire = std::string(1, static_cast<char>(strlen(argv[1]))) + argv[1];
  SSL_set_alpn_protos(ssl.get(), reinterpret_cast<const uint8_t*>(wire.data()), wire.size());
  SSL_set_tlsext_host_name(ssl.get(), "svc.shop");
  BIO* rbio = BIO_new(BIO_s_mem());
  BIO* wbio = BIO_new(BIO_s_mem());
  SSL_set_bio(ssl.get(), rbio, wbio);
  SSL_set_connect_state(ssl.get());
  SSL_do_handshake(ssl.get());
  const uint8_t* data;
  size_t len;
  BIO_mem_contents(wbio, &data, &len);
  return fwrite(data, 1, len, stdout) == len ? 0 : 1;
}
