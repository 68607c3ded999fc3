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
    Choose(false);  // the server spoke first
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
  if (http2) {
    h2_ = std::make_unique<Http2Observer>(std::move(options_));
    h2_->OnData(true, Bytes(prefix_));
  } else {
    h1_ = std::make_unique<Http1Observer>(std::move(options_));
    h1_->OnData(true, Bytes(prefix_));
  }
  prefix_.clear();
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
