#include "proxy/http/http_observer.h"

#include <algorithm>
#include <utility>

namespace tether::proxy {
namespace {

absl::Span<const uint8_t> Bytes(const std::string& s) {
  return {reinterpret_cast<const uint8_t*>(s.data()), s.size()};
}

}  // namespace

void HttpObserver::OnData(bool from_downstream, absl::Span<const uint8_t> data) {
  if (h1_ != nullptr) return h1_->OnData(from_downstream, data);
  if (h2_ != nullptr) return h2_->OnData(from_downstream, data);
  if (!from_downstream) {
    // An HTTP/2 server may send its SETTINGS before the client's preface
    // arrives: hold them too, up to a point. Past it, the server is
    // speaking first (a greeting), which decides for HTTP/1 (opaque).
    if (server_prefix_.size() + data.size() <= kMaxHeldServerBytes) {
      server_prefix_.append(reinterpret_cast<const char*>(data.data()), data.size());
      return;
    }
    Choose(false);
    h1_->OnData(false, data);
    return;
  }
  const size_t take = std::min(kHttp2PrefaceSize - prefix_.size(), data.size());
  prefix_.append(reinterpret_cast<const char*>(data.data()), take);
  const bool preface = IsHttp2Preface(Bytes(prefix_));
  if (preface && prefix_.size() < kHttp2PrefaceSize) return;  // not decided yet
  Choose(preface);
  OnData(true, data.subspan(take));
}

void HttpObserver::Choose(bool http2) {
  RelayTap* tap = nullptr;
  if (http2) {
    h2_ = std::make_unique<Http2Observer>(std::move(options_));
    tap = h2_.get();
  } else {
    h1_ = std::make_unique<Http1Observer>(std::move(options_));
    tap = h1_.get();
  }
  // The server's bytes came first (before any whole request): HTTP/1
  // goes opaque on them, as on a greeting; HTTP/2 reads each side apart.
  tap->OnData(false, Bytes(server_prefix_));
  tap->OnData(true, Bytes(prefix_));
  prefix_.clear();
  server_prefix_.clear();
}

void HttpObserver::OnClose() {
  if (h1_ != nullptr) h1_->OnClose();
  if (h2_ != nullptr) h2_->OnClose();
}

bool HttpObserver::IdleBetweenRequests() const {
  if (h1_ != nullptr) return h1_->IdleBetweenRequests();
  if (h2_ != nullptr) return h2_->IdleBetweenRequests();
  return false;
}

}  // namespace tether::proxy
