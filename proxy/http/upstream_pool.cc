#include "proxy/http/upstream_pool.h"

#include <utility>

namespace tether::proxy {

UpstreamPool::UpstreamPool(Dispatcher& dispatcher, Options options)
    : dispatcher_(dispatcher), options_(options) {
  sweep_ = dispatcher_.CreateTimer([this] { Sweep(); });
}

UpstreamPool::~UpstreamPool() {
  for (auto& [key, list] : idle_) {
    for (Idle& i : list) i.event.reset();  // before the sockets close
  }
}

std::unique_ptr<Transport> UpstreamPool::Take(const std::string& key) {
  auto it = idle_.find(key);
  if (it == idle_.end() || it->second.empty()) return nullptr;
  Idle& front = it->second.front();
  front.event.reset();
  std::unique_ptr<Transport> t = std::move(front.transport);
  it->second.pop_front();
  --idle_count_;
  if (it->second.empty()) idle_.erase(it);
  ++reused_;
  return t;
}

void UpstreamPool::Give(const std::string& key, std::unique_ptr<Transport> t) {
  List& list = idle_[key];
  Transport* raw = t.get();
  Idle idle;
  idle.since = dispatcher_.MonotonicNow();
  idle.event = dispatcher_.CreateFileEvent(raw->fd(), FileEvent::kRead,
                                           [this, key, raw](uint32_t) { OnIdleEvent(key, raw); });
  idle.transport = std::move(t);
  list.push_front(std::move(idle));
  ++idle_count_;
  while (list.size() > options_.max_idle_per_key) Erase(key, std::prev(list.end()));
  if (!sweep_->enabled()) sweep_->Enable(options_.idle_timeout / 2);
}

void UpstreamPool::OnIdleEvent(const std::string& key, Transport* t) {
  auto it = idle_.find(key);
  if (it == idle_.end()) return;
  for (auto i = it->second.begin(); i != it->second.end(); ++i) {
    if (i->transport.get() != t) continue;
    // Nothing was asked: TLS housekeeping (a session ticket) is all that may
    // arrive. Data, the end, or an error: it cannot carry a request.
    uint8_t buf[512];
    size_t n = 0;
    if (t->Read(buf, sizeof(buf), &n) != IoStatus::kWouldBlock) Erase(key, i);
    return;
  }
}

void UpstreamPool::Erase(const std::string& key, List::iterator it) {
  auto list = idle_.find(key);
  it->event.reset();
  it->transport.reset();  // closes it
  list->second.erase(it);
  --idle_count_;
  if (list->second.empty()) idle_.erase(list);
}

void UpstreamPool::RemoveIf(const std::function<bool(const Transport&)>& pred) {
  std::vector<std::pair<std::string, List::iterator>> doomed;
  for (auto& [key, list] : idle_) {
    for (auto i = list.begin(); i != list.end(); ++i) {
      if (pred(*i->transport)) doomed.emplace_back(key, i);
    }
  }
  for (auto& [key, it] : doomed) Erase(key, it);
}

void UpstreamPool::Sweep() {
  const absl::Duration now = dispatcher_.MonotonicNow();
  std::vector<std::pair<std::string, List::iterator>> old;
  for (auto& [key, list] : idle_) {
    for (auto i = list.begin(); i != list.end(); ++i) {
      if (now - i->since >= options_.idle_timeout) old.emplace_back(key, i);
    }
  }
  for (auto& [key, it] : old) Erase(key, it);
  if (idle_count_ > 0) sweep_->Enable(options_.idle_timeout / 2);
}

}  // namespace tether::proxy
