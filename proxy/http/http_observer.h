// HttpObserver: the relay tap that counts HTTP requests on a byte-exact TCP
// connection, whichever version the client speaks: it holds the client's
// first bytes (at most the 24 of the HTTP/2 preface, copied, never
// delaying the relay) and then hands everything to an Http2Observer when
// they are the HTTP/2 preface (h2c, gRPC), or to an Http1Observer
// otherwise (which goes opaque on what is not HTTP/1.x). What the server
// sends before that (an HTTP/2 server's SETTINGS may come first) is held
// too, up to kMaxHeldServerBytes: past it the server is speaking first (a
// MySQL or SMTP greeting), which decides for HTTP/1.x, opaque then.
//
//   relay->SetTap(std::make_unique<HttpObserver>(Http1Observer::Options{...}));
#ifndef TETHER_PROXY_HTTP_HTTP_OBSERVER_H_
#define TETHER_PROXY_HTTP_HTTP_OBSERVER_H_

#include <cstdint>
#include <memory>
#include <string>

#include "absl/types/span.h"
#include "proxy/http/http1_observer.h"
#include "proxy/http/http2_observer.h"
#include "proxy/relay/relay_tap.h"

namespace tether::proxy {

class HttpObserver final : public RelayTap {
 public:
  explicit HttpObserver(Http1Observer::Options options) : options_(std::move(options)) {}

  void OnData(bool from_downstream, absl::Span<const uint8_t> data) override;
  void OnClose() override;

  // IdleBetweenRequests: HTTP was seen and nothing is in flight (see each
  // observer); false before the version is known.
  bool IdleBetweenRequests() const;
  // The chosen observer, null before the client's first bytes decide.
  const Http1Observer* http1() const { return h1_.get(); }
  const Http2Observer* http2() const { return h2_.get(); }

 private:
  // Choose hands the held prefix to the observer for the version.
  void Choose(bool http2);

  Http1Observer::Options options_;
  static constexpr size_t kMaxHeldServerBytes = 16 * 1024;
  std::string prefix_;  // the client's first bytes, while they may be the preface
  std::string server_prefix_;  // the server's bytes before the client decided
  std::unique_ptr<Http1Observer> h1_;
  std::unique_ptr<Http2Observer> h2_;
};

}  // namespace tether::proxy

#endif  // TETHER_PROXY_HTTP_HTTP_OBSERVER_H_
