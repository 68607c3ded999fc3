// RingBuffer: a fixed-capacity byte queue over memory it does not own, read
// and written in place through contiguous spans (no copies, no allocation).
//
//   RingBuffer buf(memory, 32 * 1024);
//   absl::Span<uint8_t> free = buf.WritableSpan();   // read(fd, free.data(), free.size())
//   buf.Commit(n);
//   absl::Span<const uint8_t> data = buf.ReadableSpan();  // write(fd, data.data(), ...)
//   buf.Consume(m);
//
// The readable span keeps its start until bytes are consumed, and only grows
// when bytes are committed: a write retried after EAGAIN (or a TLS
// SSL_write retry) sees the same pointer and at least the same length.
#ifndef TETHER_PROXY_RELAY_RING_BUFFER_H_
#define TETHER_PROXY_RELAY_RING_BUFFER_H_

#include <cstddef>
#include <cstdint>

#include "absl/types/span.h"

namespace tether::proxy {

class RingBuffer {
 public:
  RingBuffer(uint8_t* memory, size_t capacity) : mem_(memory), capacity_(capacity) {}

  size_t size() const { return size_; }
  size_t capacity() const { return capacity_; }
  bool empty() const { return size_ == 0; }
  bool full() const { return size_ == capacity_; }

  // WritableSpan: the contiguous free space right after the data (empty when
  // full). Fill a prefix of it, then Commit the bytes written.
  absl::Span<uint8_t> WritableSpan() {
    size_t tail = head_ + size_;
    if (tail >= capacity_) return {mem_ + (tail - capacity_), capacity_ - size_};
    return {mem_ + tail, capacity_ - tail};
  }
  void Commit(size_t n) { size_ += n; }

  // ReadableSpan: the contiguous data at the front (empty when empty).
  absl::Span<const uint8_t> ReadableSpan() const {
    size_t end = head_ + size_;
    return {mem_ + head_, (end > capacity_ ? capacity_ : end) - head_};
  }
  void Consume(size_t n) {
    size_ -= n;
    head_ += n;
    if (head_ >= capacity_) head_ -= capacity_;
    if (size_ == 0) head_ = 0;  // keep spans as long as possible
  }

  void Clear() { head_ = size_ = 0; }

  // Attach points an empty buffer at other memory (or none, with nullptr:
  // then it may be neither read nor written until attached again).
  void Attach(uint8_t* memory) {
    mem_ = memory;
    head_ = size_ = 0;
  }
  bool attached() const { return mem_ != nullptr; }

 private:
  uint8_t* mem_;
  size_t capacity_;
  size_t head_ = 0;
  size_t size_ = 0;
};

}  // namespace tether::proxy

#endif  // TETHER_PROXY_RELAY_RING_BUFFER_H_
