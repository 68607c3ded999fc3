#include "proxy/relay/ring_buffer.h"

#include <deque>
#include <random>
#include <vector>

#include <gtest/gtest.h>

namespace tether::proxy {
namespace {

TEST(RingBufferTest, FillsDrainsAndWraps) {
  uint8_t mem[8];
  RingBuffer buf(mem, sizeof(mem));
  EXPECT_TRUE(buf.empty());
  EXPECT_EQ(buf.WritableSpan().size(), 8u);
  EXPECT_EQ(buf.ReadableSpan().size(), 0u);

  buf.WritableSpan()[0] = 'a';
  buf.Commit(6);
  EXPECT_EQ(buf.size(), 6u);
  EXPECT_EQ(buf.WritableSpan().size(), 2u);
  buf.Consume(4);  // head at 4, data [4, 6)
  EXPECT_EQ(buf.ReadableSpan().size(), 2u);
  EXPECT_EQ(buf.WritableSpan().data(), mem + 6);
  EXPECT_EQ(buf.WritableSpan().size(), 2u);
  buf.Commit(2);                              // data [4, 8)
  EXPECT_EQ(buf.WritableSpan().data(), mem);  // wraps: [0, 4)
  EXPECT_EQ(buf.WritableSpan().size(), 4u);
  buf.Commit(4);
  EXPECT_TRUE(buf.full());
  EXPECT_EQ(buf.WritableSpan().size(), 0u);
  EXPECT_EQ(buf.ReadableSpan().data(), mem + 4);
  EXPECT_EQ(buf.ReadableSpan().size(), 4u);  // up to the end; the rest after Consume
  buf.Consume(4);
  EXPECT_EQ(buf.ReadableSpan().data(), mem);
  EXPECT_EQ(buf.ReadableSpan().size(), 4u);
  buf.Consume(4);
  EXPECT_TRUE(buf.empty());
  EXPECT_EQ(buf.WritableSpan().data(), mem);  // empty: back to the start
  EXPECT_EQ(buf.WritableSpan().size(), 8u);
}

TEST(RingBufferTest, ReadableSpanKeepsItsStartAndOnlyGrowsUntilConsumed) {
  uint8_t mem[16];
  RingBuffer buf(mem, sizeof(mem));
  buf.Commit(10);
  buf.Consume(8);  // data [8, 10)
  absl::Span<const uint8_t> before = buf.ReadableSpan();
  buf.Commit(buf.WritableSpan().size());  // fills [10, 16)
  absl::Span<const uint8_t> after = buf.ReadableSpan();
  EXPECT_EQ(after.data(), before.data());
  EXPECT_GE(after.size(), before.size());
}

TEST(RingBufferTest, RandomOperationsPreserveByteOrder) {
  std::vector<uint8_t> mem(37);
  RingBuffer buf(mem.data(), mem.size());
  std::deque<uint8_t> model;
  std::mt19937 rng(42);
  uint8_t next = 0;
  for (int i = 0; i < 100000; ++i) {
    if (rng() % 2) {
      absl::Span<uint8_t> space = buf.WritableSpan();
      size_t n = space.empty() ? 0 : rng() % (space.size() + 1);
      for (size_t k = 0; k < n; ++k) {
        space[k] = next;
        model.push_back(next++);
      }
      buf.Commit(n);
    } else {
      absl::Span<const uint8_t> data = buf.ReadableSpan();
      size_t n = data.empty() ? 0 : rng() % (data.size() + 1);
      for (size_t k = 0; k < n; ++k) {
        ASSERT_EQ(data[k], model.front());
        model.pop_front();
      }
      buf.Consume(n);
    }
    ASSERT_EQ(buf.size(), model.size());
    ASSERT_LE(buf.size(), buf.capacity());
  }
}

}  // namespace
}  // namespace tether::proxy
