// UpstreamPool: a worker's idle upstream connections (mTLS to another
// proxy, handshaken, between requests), kept for the next HTTP request to
// the same destination and server identities, so that an app that opens a
// connection per request does not cost a TLS handshake per request.
//
//   UpstreamPool pool(dispatcher, {});
//   std::unique_ptr<Transport> t = pool.Take(key);  // null: dial one
//   ... one request ...
//   pool.Give(key, std::move(t));                   // kept-alive: for the next
//
// An idle connection is watched: if its server closes it or sends anything
// (it was asked nothing), it is closed and forgotten. It is also closed
// after idle_timeout, and when more than max_idle_per_key wait for one key.
// A connection taken may still have been closed by its server at that very
// moment; the forwarder retries an idempotent request once on a new one.
// Dispatcher thread only.
#ifndef TETHER_PROXY_HTTP_UPSTREAM_POOL_H_
#define TETHER_PROXY_HTTP_UPSTREAM_POOL_H_

#include <cstddef>
#include <cstdint>
#include <functional>
#include <list>
#include <memory>
#include <string>

#include "absl/container/flat_hash_map.h"
#include "absl/time/time.h"
#include "proxy/event/dispatcher.h"
#include "proxy/net/transport.h"

namespace tether::proxy {

class UpstreamPool {
 public:
  struct Options {
    size_t max_idle_per_key = 16;
    absl::Duration idle_timeout = absl::Seconds(10);
  };

  UpstreamPool(Dispatcher& dispatcher, Options options);
  ~UpstreamPool();
  UpstreamPool(const UpstreamPool&) = delete;
  UpstreamPool& operator=(const UpstreamPool&) = delete;

  // Take: the most recently given idle connection for `key`, or null.
  std::unique_ptr<Transport> Take(const std::string& key);
  // Give keeps `t` for `key` (closing the oldest beyond the cap).
  void Give(const std::string& key, std::unique_ptr<Transport> t);
  // RemoveIf closes the idle connections `pred` picks (a revoked peer).
  void RemoveIf(const std::function<bool(const Transport&)>& pred);
  size_t idle() const { return idle_count_; }
  uint64_t reused() const { return reused_; }

 private:
  struct Idle {
    std::unique_ptr<Transport> transport;
    std::unique_ptr<FileEvent> event;
    absl::Duration since;
  };
  using List = std::list<Idle>;
  void OnIdleEvent(const std::string& key, Transport* t);
  void Erase(const std::string& key, List::iterator it);
  void Sweep();

  Dispatcher& dispatcher_;
  const Options options_;
  absl::flat_hash_map<std::string, List> idle_;  // newest at the front
  size_t idle_count_ = 0;
  uint64_t reused_ = 0;
  std::unique_ptr<Timer> sweep_;
};

}  // namespace tether::proxy

#endif  // TETHER_PROXY_HTTP_UPSTREAM_POOL_H_
