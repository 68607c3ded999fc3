#include "common/sync/atomic_shared_ptr.h"

#include <atomic>
#include <memory>
#include <thread>
#include <vector>

#include "gtest/gtest.h"

namespace tether {
namespace {

struct Snapshot {
  explicit Snapshot(int v) : value(v), check(v * 7) {}
  int value;
  int check;  // written in the constructor; a torn publication would show here
};

TEST(AtomicSharedPtrTest, StartsNullAndStores) {
  AtomicSharedPtr<const Snapshot> p;
  EXPECT_EQ(p.Load(), nullptr);
  uint64_t v0 = p.version();
  p.Store(std::make_shared<const Snapshot>(1));
  ASSERT_NE(p.Load(), nullptr);
  EXPECT_EQ(p.Load()->value, 1);
  EXPECT_NE(p.version(), v0);
  p.Store(nullptr);
  EXPECT_EQ(p.Load(), nullptr);
}

TEST(SnapshotReaderTest, SeesEveryChangeAndCachesBetween) {
  AtomicSharedPtr<const Snapshot> p(std::make_shared<const Snapshot>(1));
  SnapshotReader<const Snapshot> reader(&p);
  const Snapshot* first = reader.Get().get();
  ASSERT_NE(first, nullptr);
  EXPECT_EQ(first->value, 1);
  // Unchanged: the same object, not a new copy of the pointer.
  EXPECT_EQ(reader.Get().get(), first);
  p.Store(std::make_shared<const Snapshot>(2));
  EXPECT_EQ(reader.Get()->value, 2);
  p.Store(nullptr);
  EXPECT_EQ(reader.Get(), nullptr);
}

TEST(SnapshotReaderTest, NullSourceReadsNull) {
  SnapshotReader<const Snapshot> reader(nullptr);
  EXPECT_EQ(reader.Get(), nullptr);
}

TEST(SnapshotReaderTest, OldSnapshotStaysAliveWhileAReaderHoldsIt) {
  AtomicSharedPtr<const Snapshot> p(std::make_shared<const Snapshot>(1));
  SnapshotReader<const Snapshot> reader(&p);
  std::shared_ptr<const Snapshot> held = reader.Get();
  p.Store(std::make_shared<const Snapshot>(2));
  EXPECT_EQ(held->value, 1);
  EXPECT_EQ(held->check, 7);
}

// Readers on several threads while one thread publishes: every value read is
// whole, and values never go backwards for a reader. Under --config=tsan this
// is the test that the publication is race-free.
TEST(SnapshotReaderTest, ConcurrentPublishAndRead) {
  AtomicSharedPtr<const Snapshot> p(std::make_shared<const Snapshot>(0));
  constexpr int kLast = 2000;
  std::atomic<bool> failed{false};
  std::vector<std::thread> readers;
  for (int t = 0; t < 3; ++t) {
    readers.emplace_back([&] {
      SnapshotReader<const Snapshot> reader(&p);
      int last = 0;
      while (last < kLast) {
        const std::shared_ptr<const Snapshot>& s = reader.Get();
        if (s->check != s->value * 7 || s->value < last) failed = true;
        last = s->value;
        std::this_thread::yield();
      }
    });
  }
  for (int v = 1; v <= kLast; ++v) p.Store(std::make_shared<const Snapshot>(v));
  for (auto& r : readers) r.join();
  EXPECT_FALSE(failed.load());
}

}  // namespace
}  // namespace tether
