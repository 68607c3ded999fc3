#include "control/ca/stream_limits.h"

#include <algorithm>

#include <arpa/inet.h>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/strip.h"

namespace tether::control {

absl::string_view StreamLimitName(StreamLimit limit) {
  switch (limit) {
    case StreamLimit::kStreams:
      return "streams";
    case StreamLimit::kStreamsPerIdentity:
      return "streams_per_identity";
    case StreamLimit::kUnauthenticated:
      return "unauthenticated_streams";
    case StreamLimit::kUnauthenticatedPerPeer:
      return "unauthenticated_streams_per_peer";
    case StreamLimit::kHelloRate:
      return "hello_rate_per_peer";
    case StreamLimit::kAnswerQueue:
      return "answer_queue";
  }
  return "streams";
}

std::string PeerAddress(absl::string_view grpc_peer) {
  absl::string_view rest = grpc_peer;
  if (absl::ConsumePrefix(&rest, "ipv4:")) {
    const size_t colon = rest.rfind(':');
    return std::string(colon == absl::string_view::npos ? rest : rest.substr(0, colon));
  }
  if (absl::ConsumePrefix(&rest, "ipv6:")) {
    // gRPC writes the brackets as is or percent-encoded, by version.
    std::string text = absl::StrReplaceAll(rest, {{"%5B", "["}, {"%5D", "]"}});
    absl::string_view v = text;
    if (absl::ConsumePrefix(&v, "[")) {
      const size_t close = v.find(']');
      if (close != absl::string_view::npos) v = v.substr(0, close);
    }
    // Zone suffixes ("%25eth0") do not name a different machine.
    if (const size_t zone = v.find('%'); zone != absl::string_view::npos) v = v.substr(0, zone);
    in6_addr a6;
    const std::string host(v);
    if (inet_pton(AF_INET6, host.c_str(), &a6) == 1 && IN6_IS_ADDR_V4MAPPED(&a6)) {
      char v4[INET_ADDRSTRLEN];
      if (inet_ntop(AF_INET, &a6.s6_addr[12], v4, sizeof(v4)) != nullptr) return v4;
    }
    return host;
  }
  return std::string(grpc_peer);
}

StreamLimits::StreamLimits(const Clock* clock, StreamLimitsOptions options)
    : options_(options),
      hellos_(clock, options.hellos_per_minute_per_peer,
              std::max(1.0, options.hello_burst_per_peer)) {}

std::optional<StreamLimit> StreamLimits::Open(absl::string_view peer, Admission* admission) {
  MutexLock lock(&mu_);
  if (open_ >= options_.max_streams) return StreamLimit::kStreams;
  if (unauthenticated_ >= options_.max_unauthenticated_streams) {
    return StreamLimit::kUnauthenticated;
  }
  auto it = unauthenticated_by_peer_.find(peer);
  if (it != unauthenticated_by_peer_.end() && it->second >= options_.max_unauthenticated_per_peer) {
    return StreamLimit::kUnauthenticatedPerPeer;
  }
  if (it == unauthenticated_by_peer_.end()) it = unauthenticated_by_peer_.emplace(peer, 0).first;
  ++it->second;
  ++unauthenticated_;
  ++open_;
  admission->peer = std::string(peer);
  admission->open = true;
  admission->unauthenticated = true;
  return std::nullopt;
}

std::optional<StreamLimit> StreamLimits::Hello(const Admission& admission) {
  if (options_.hellos_per_minute_per_peer <= 0) return std::nullopt;
  if (!hellos_.Allow(admission.peer)) return StreamLimit::kHelloRate;
  return std::nullopt;
}

void StreamLimits::LeaveUnauthenticatedLocked(Admission* admission) {
  if (!admission->unauthenticated) return;
  admission->unauthenticated = false;
  --unauthenticated_;
  auto it = unauthenticated_by_peer_.find(admission->peer);
  if (it != unauthenticated_by_peer_.end() && --it->second == 0) {
    unauthenticated_by_peer_.erase(it);
  }
}

std::optional<StreamLimit> StreamLimits::Authenticated(Admission* admission,
                                                       absl::string_view identity) {
  MutexLock lock(&mu_);
  LeaveUnauthenticatedLocked(admission);
  admission->identity = std::string(identity);  // named by Refusal, too
  auto it = by_identity_.find(admission->identity);
  const size_t count = it == by_identity_.end() ? 0 : it->second;
  if (count >= options_.max_streams_per_identity) return StreamLimit::kStreamsPerIdentity;
  if (it == by_identity_.end()) it = by_identity_.emplace(admission->identity, 0).first;
  ++it->second;
  admission->has_identity = true;
  return std::nullopt;
}

void StreamLimits::HelloFailed(Admission* admission) {
  MutexLock lock(&mu_);
  LeaveUnauthenticatedLocked(admission);
}

void StreamLimits::Release(Admission* admission) {
  MutexLock lock(&mu_);
  LeaveUnauthenticatedLocked(admission);
  if (admission->has_identity) {
    admission->has_identity = false;
    auto it = by_identity_.find(admission->identity);
    if (it != by_identity_.end() && --it->second == 0) by_identity_.erase(it);
  }
  if (admission->open) {
    admission->open = false;
    --open_;
  }
}

absl::Status StreamLimits::Refusal(StreamLimit limit, const Admission& admission) const {
  switch (limit) {
    case StreamLimit::kStreams:
      return absl::ResourceExhaustedError(
          absl::StrCat("the control plane holds its limit of ", options_.max_streams,
                       " certificate streams (--max-streams); retry later"));
    case StreamLimit::kStreamsPerIdentity:
      return absl::ResourceExhaustedError(
          absl::StrCat(admission.identity.empty() ? "this identity" : admission.identity,
                       " already has ", options_.max_streams_per_identity,
                       " open certificate streams, its limit (--max-streams-per-identity)"));
    case StreamLimit::kUnauthenticated:
      return absl::ResourceExhaustedError(absl::StrCat(
          "too many certificate streams waiting to authenticate (",
          options_.max_unauthenticated_streams, ", --max-unauthenticated-streams); retry later"));
    case StreamLimit::kUnauthenticatedPerPeer:
      return absl::ResourceExhaustedError(
          absl::StrCat("too many certificate streams from ", admission.peer,
                       " waiting to authenticate (", options_.max_unauthenticated_per_peer,
                       ", --max-unauthenticated-streams-per-peer); retry later"));
    case StreamLimit::kHelloRate:
      return absl::ResourceExhaustedError(absl::StrCat(
          "too many Hellos from ", admission.peer, " (", options_.hellos_per_minute_per_peer,
          " a minute, --hellos-per-minute-per-peer); retry later"));
    case StreamLimit::kAnswerQueue:
      return absl::ResourceExhaustedError("answer queue full");
  }
  return absl::ResourceExhaustedError("stream limit");
}

size_t StreamLimits::open() const {
  MutexLock lock(&mu_);
  return open_;
}

size_t StreamLimits::unauthenticated() const {
  MutexLock lock(&mu_);
  return unauthenticated_;
}

}  // namespace tether::control
