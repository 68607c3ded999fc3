#include "proxy/http/http1_observer.h"

#include <utility>

#include "proxy/http/route_template.h"

namespace tether::proxy {
namespace {

Http1Observer* Self(http_parser* p) { return static_cast<Http1Observer*>(p->data); }

}  // namespace

Http1Observer::Http1Observer(Options options) : options_(std::move(options)) {
  http_parser_init(&request_parser_, HTTP_REQUEST);
  http_parser_init(&response_parser_, HTTP_RESPONSE);
  request_parser_.data = this;
  response_parser_.data = this;
  http_parser_settings_init(&request_settings_);
  http_parser_settings_init(&response_settings_);
  request_settings_.on_message_begin = &OnRequestBegin;
  request_settings_.on_url = &OnRequestUrl;
  request_settings_.on_headers_complete = &OnRequestHeadersComplete;
  request_settings_.on_message_complete = &OnRequestComplete;
  response_settings_.on_headers_complete = &OnResponseHeadersComplete;
  response_settings_.on_message_complete = &OnResponseComplete;
}

void Http1Observer::OnData(bool from_downstream, absl::Span<const uint8_t> data) {
  if (state_ == State::kOpaque || data.empty()) return;
  if (from_downstream) {
    ParseRequests(data);
  } else {
    ParseResponses(data);
  }
}

void Http1Observer::ParseRequests(absl::Span<const uint8_t> data) {
  while (!data.empty() && state_ != State::kOpaque && !requests_tunnelled_) {
    const size_t n = http_parser_execute(&request_parser_, &request_settings_,
                                         reinterpret_cast<const char*>(data.data()), data.size());
    if (state_ == State::kOpaque) return;
    request_bytes_ += n;
    data = data.subspan(std::min(n, data.size()));
    if (request_complete_) {
      // Paused at the end of a request: its bytes are known now.
      request_complete_ = false;
      http_parser_pause(&request_parser_, 0);
      Pending& req = pending_.back();
      if (req.route != nullptr) req.route->AddRequestBytes(request_bytes_);
      req.request_bytes += request_bytes_;
      request_bytes_ = 0;
      if (request_parser_.upgrade) requests_tunnelled_ = true;
      continue;
    }
    if (HTTP_PARSER_ERRNO(&request_parser_) != HPE_OK) {
      GoOpaque();  // not HTTP/1.x (TLS, the HTTP/2 preface, anything else)
      return;
    }
    if (request_parser_.upgrade) requests_tunnelled_ = true;
    if (n == 0) return;
  }
}

void Http1Observer::ParseResponses(absl::Span<const uint8_t> data) {
  if (pending_.empty()) {
    GoOpaque();  // the server spoke first, or answered nothing asked
    return;
  }
  while (!data.empty() && state_ != State::kOpaque) {
    const size_t n = http_parser_execute(&response_parser_, &response_settings_,
                                         reinterpret_cast<const char*>(data.data()), data.size());
    if (state_ == State::kOpaque) return;
    response_bytes_ += n;
    data = data.subspan(std::min(n, data.size()));
    if (response_complete_) {
      response_complete_ = false;
      http_parser_pause(&response_parser_, 0);
      const int status = response_status_;
      if (status >= 100 && status < 200 && status != 101) continue;  // interim: wait on
      Pending req = pending_.front();
      pending_.pop_front();
      if (req.route == nullptr) {
        // Answered before its headers were even complete (a 400 to a
        // malformed request): past what is followed here.
        GoOpaque();
        return;
      }
      Finish(req, status, response_bytes_);
      response_bytes_ = 0;
      // A switch of protocols: a tunnel from now on, both ways.
      if (status == 101 || (req.connect && status >= 200 && status < 300) ||
          response_parser_.upgrade) {
        GoOpaque();
        return;
      }
      if (pending_.empty() && !data.empty()) {
        GoOpaque();
        return;
      }
      continue;
    }
    if (HTTP_PARSER_ERRNO(&response_parser_) != HPE_OK) {
      GoOpaque();
      return;
    }
    if (n == 0) return;
  }
}

void Http1Observer::OnClose() {
  if (state_ == State::kOpaque) return;
  // A response whose body runs to the end of the connection ends now.
  if (!pending_.empty()) {
    http_parser_execute(&response_parser_, &response_settings_, nullptr, 0);
    if (response_complete_) {
      response_complete_ = false;
      Pending req = pending_.front();
      pending_.pop_front();
      if (req.route != nullptr) Finish(req, response_status_, response_bytes_);
    }
  }
  for (const Pending& req : pending_) {
    if (req.route != nullptr) Finish(req, 0, 0);
  }
  pending_.clear();
}

void Http1Observer::Finish(const Pending& req, int status, uint64_t response_bytes) {
  const absl::Duration took = options_.clock->Monotonic() - req.start;
  req.route->RecordResponse(status, took, response_bytes);
  if (status != 0) ++responses_;
  if (!req.record) return;
  HttpRequestRecord r;
  r.method = req.method;
  r.path = req.path;
  r.route = req.route_name;
  r.status = status;
  r.duration = took;
  r.request_bytes = req.request_bytes;
  r.response_bytes = response_bytes;
  options_.on_request(r);
}

void Http1Observer::GoOpaque() {
  state_ = State::kOpaque;
  pending_.clear();
  target_.clear();
}

RouteStats* Http1Observer::RouteFor(absl::string_view method, absl::string_view target) {
  if (!peer_known_) {
    peer_known_ = true;
    if (options_.peer) peer_ = options_.peer();
  }
  return options_.stats->Find(options_.inbound, peer_, RouteTemplate(method, target));
}

int Http1Observer::OnRequestBegin(http_parser* p) {
  Http1Observer* self = Self(p);
  if (self->pending_.size() >= self->options_.max_pending) {
    self->GoOpaque();
    return -1;
  }
  Pending req;
  req.start = self->options_.clock->Monotonic();
  self->pending_.push_back(req);
  self->target_.clear();
  return 0;
}

int Http1Observer::OnRequestUrl(http_parser* p, const char* at, size_t n) {
  Http1Observer* self = Self(p);
  const size_t room = self->options_.max_target_bytes - std::min(self->options_.max_target_bytes,
                                                                 self->target_.size());
  self->target_.append(at, std::min(n, room));
  return 0;
}

int Http1Observer::OnRequestHeadersComplete(http_parser* p) {
  Http1Observer* self = Self(p);
  Pending& req = self->pending_.back();
  const auto method = static_cast<http_method>(p->method);
  req.head = method == HTTP_HEAD;
  req.connect = method == HTTP_CONNECT;
  req.upgrade = p->upgrade != 0;
  req.route = self->RouteFor(http_method_str(method), self->target_);
  req.record = self->options_.on_request &&
               (!self->options_.want_request || self->options_.want_request());
  if (req.record) {
    req.method = http_method_str(method);
    req.path = self->target_.substr(0, self->target_.find_first_of("?#"));
    req.route_name = RouteTemplate(req.method, self->target_);
  }
  req.route->RecordRequest(0);
  ++self->requests_;
  self->state_ = State::kObserving;
  return 0;
}

int Http1Observer::OnRequestComplete(http_parser* p) {
  Self(p)->request_complete_ = true;
  http_parser_pause(p, 1);
  return 0;
}

int Http1Observer::OnResponseHeadersComplete(http_parser* p) {
  Http1Observer* self = Self(p);
  if (self->pending_.empty()) {
    self->GoOpaque();
    return -1;
  }
  self->response_status_ = static_cast<int>(p->status_code);
  const Pending& req = self->pending_.front();
  // No body follows a response to HEAD, nor a 2xx to CONNECT (a tunnel).
  if (req.head || (req.connect && p->status_code >= 200 && p->status_code < 300)) return 1;
  return 0;
}

int Http1Observer::OnResponseComplete(http_parser* p) {
  Self(p)->response_complete_ = true;
  http_parser_pause(p, 1);
  return 0;
}

}  // namespace tether::proxy
