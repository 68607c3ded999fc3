// AtomicSharedPtr: a shared_ptr published by one thread and read by many, and
// SnapshotReader: a per-thread cache of it that takes no lock while the value
// is unchanged.
//
//   AtomicSharedPtr<const Config> config;           // shared
//   config.Store(std::make_shared<const Config>(...));  // writer, rarely
//
//   SnapshotReader<const Config> reader(&config);   // one per reader thread
//   const std::shared_ptr<const Config>& c = reader.Get();  // every request
//
// Get() is one acquire load of a version counter while nothing changed; after
// a Store it copies the new pointer under the lock once. Load() always takes
// the lock (for code off the hot path).
//
// Why not std::atomic<std::shared_ptr<T>>: libstdc++ 12 implements it with a
// spin lock in the pointer's low bit and a plain read of the control block,
// which ThreadSanitizer reports as a data race (it cannot see that lock); and
// its load is a read-modify-write on one shared cache line for every reader,
// where the version check here is a plain load.
#ifndef TETHER_COMMON_SYNC_ATOMIC_SHARED_PTR_H_
#define TETHER_COMMON_SYNC_ATOMIC_SHARED_PTR_H_

#include <atomic>
#include <cstdint>
#include <memory>
#include <utility>

#include "common/sync/mutex.h"

namespace tether {

template <typename T>
class AtomicSharedPtr {
 public:
  AtomicSharedPtr() = default;
  explicit AtomicSharedPtr(std::shared_ptr<T> value) : value_(std::move(value)) {}
  AtomicSharedPtr(const AtomicSharedPtr&) = delete;
  AtomicSharedPtr& operator=(const AtomicSharedPtr&) = delete;

  std::shared_ptr<T> Load() const {
    MutexLock lock(&mu_);
    return value_;
  }

  void Store(std::shared_ptr<T> value) {
    std::shared_ptr<T> old;
    {
      MutexLock lock(&mu_);
      old = std::exchange(value_, std::move(value));
      version_.fetch_add(1, std::memory_order_release);
    }
    // `old` is released here, outside the lock.
  }

  // Version: changes on every Store.
  uint64_t version() const { return version_.load(std::memory_order_acquire); }

 private:
  mutable Mutex mu_;
  std::shared_ptr<T> value_ ABSL_GUARDED_BY(mu_);
  std::atomic<uint64_t> version_{0};
};

// SnapshotReader: not thread-safe; each reading thread keeps its own.
template <typename T>
class SnapshotReader {
 public:
  explicit SnapshotReader(const AtomicSharedPtr<T>* source) : source_(source) {}

  // Get: the latest stored value (null if `source` is null). The reference is
  // valid until the next Get on this reader.
  const std::shared_ptr<T>& Get() {
    if (source_ == nullptr) return cached_;
    uint64_t v = source_->version();
    if (v != seen_ || !loaded_) {
      cached_ = source_->Load();
      seen_ = v;
      loaded_ = true;
    }
    return cached_;
  }

 private:
  const AtomicSharedPtr<T>* source_;
  std::shared_ptr<T> cached_;
  uint64_t seen_ = 0;
  bool loaded_ = false;
};

}  // namespace tether

#endif  // TETHER_COMMON_SYNC_ATOMIC_SHARED_PTR_H_
