// BufferPool: a worker's spare relay buffers. A relay given a pool takes a
// buffer when it has bytes to move and gives it back as soon as both of its
// directions are empty, so an idle connection holds no buffer and a busy
// worker reuses the same few (already paged-in) blocks instead of calling
// malloc and free for each request.
//
//   BufferPool pool(2 * 32 * 1024, /*max_free=*/64);
//   std::unique_ptr<uint8_t[]> block = pool.Get();   // block_size bytes
//   ...
//   pool.Put(std::move(block));                       // kept, or freed past max_free
//
// Not thread-safe: one per worker (dispatcher thread).
#ifndef TETHER_PROXY_RELAY_BUFFER_POOL_H_
#define TETHER_PROXY_RELAY_BUFFER_POOL_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

namespace tether::proxy {

class BufferPool {
 public:
  BufferPool(size_t block_size, size_t max_free) : block_size_(block_size), max_free_(max_free) {}

  size_t block_size() const { return block_size_; }
  std::unique_ptr<uint8_t[]> Get() {
    if (free_.empty()) return std::make_unique_for_overwrite<uint8_t[]>(block_size_);
    std::unique_ptr<uint8_t[]> block = std::move(free_.back());
    free_.pop_back();
    return block;
  }
  void Put(std::unique_ptr<uint8_t[]> block) {
    if (block != nullptr && free_.size() < max_free_) free_.push_back(std::move(block));
  }
  size_t free_blocks() const { return free_.size(); }

 private:
  const size_t block_size_;
  const size_t max_free_;
  std::vector<std::unique_ptr<uint8_t[]>> free_;
};

}  // namespace tether::proxy

#endif  // TETHER_PROXY_RELAY_BUFFER_POOL_H_
