// Requirement 6: PickBackend and Done allocate nothing. This binary replaces
// the global operator new to count allocations while `g_counting` is set.
#include <cstdint>
#include <cstdlib>
#include <new>
#include <random>
#include <string>
#include <vector>

#include "common/testing/fake_clock.h"
#include "gtest/gtest.h"
#include "proxy/lb/p2c_balancer.h"

namespace {

bool g_counting = false;
int64_t g_allocations = 0;

void* Allocate(size_t size) {
  if (g_counting) ++g_allocations;
  if (void* p = std::malloc(size == 0 ? 1 : size)) return p;
  throw std::bad_alloc();
}

}  // namespace

void* operator new(size_t size) { return Allocate(size); }
void* operator new[](size_t size) { return Allocate(size); }
void* operator new(size_t size, const std::nothrow_t&) noexcept {
  if (g_counting) ++g_allocations;
  return std::malloc(size == 0 ? 1 : size);
}
void* operator new[](size_t size, const std::nothrow_t&) noexcept {
  if (g_counting) ++g_allocations;
  return std::malloc(size == 0 ? 1 : size);
}
void operator delete(void* p) noexcept { std::free(p); }
void operator delete[](void* p) noexcept { std::free(p); }
void operator delete(void* p, size_t) noexcept { std::free(p); }
void operator delete[](void* p, size_t) noexcept { std::free(p); }

namespace tether::proxy {
namespace {

std::vector<SocketAddress> Addresses(int n, int first = 0) {
  std::vector<SocketAddress> addresses;
  for (int i = first; i < first + n; ++i) {
    addresses.push_back(*SocketAddress::Parse("10.0." + std::to_string(i / 250) + "." +
                                              std::to_string(i % 250 + 1) + ":8080"));
  }
  return addresses;
}

TEST(P2cBalancerAllocTest, CountingWorks) {
  g_counting = true;
  std::vector<int>* v = new std::vector<int>(10);
  g_counting = false;
  EXPECT_GE(g_allocations, 1);
  delete v;
  g_allocations = 0;
}

TEST(P2cBalancerAllocTest, PickAndDoneDoNotAllocate) {
  FakeClock clock;
  std::mt19937_64 gen(1);
  P2cBalancer lb(clock, P2cBalancer::Options{}, [&gen] { return gen(); });
  lb.SetBackends(Addresses(100));
  std::vector<P2cBalancer::Pick> in_flight;
  in_flight.reserve(64);

  g_counting = true;
  g_allocations = 0;
  for (int i = 0; i < 20000; ++i) {
    std::optional<P2cBalancer::Pick> pick = lb.PickBackend();
    if (!pick) break;
    // Every third backend fails, so ejections, trials and fail-open happen.
    const bool fail = pick->key.ip[3] % 3 == 0;
    if (in_flight.size() < 64 && i % 2 == 0) {
      in_flight.push_back(*pick);
    } else {
      lb.Done(*pick,
              {.result = fail ? P2cBalancer::Result::kFailure : P2cBalancer::Result::kSuccess,
               .latency = absl::Milliseconds(fail ? 1 : 5 + i % 7)});
    }
    if (in_flight.size() == 64) {
      for (const P2cBalancer::Pick& held : in_flight) {
        lb.Done(held, {.result = P2cBalancer::Result::kSuccess});
      }
      in_flight.clear();
    }
    clock.Advance(absl::Milliseconds(3));
  }
  g_counting = false;
  EXPECT_EQ(g_allocations, 0);
}

// The last Done of a draining backend forgets it without allocating.
TEST(P2cBalancerAllocTest, DoneOfADrainingBackendDoesNotAllocate) {
  FakeClock clock;
  std::mt19937_64 gen(2);
  P2cBalancer lb(clock, P2cBalancer::Options{}, [&gen] { return gen(); });
  lb.SetBackends(Addresses(50));
  std::vector<P2cBalancer::Pick> in_flight;
  for (int i = 0; i < 200; ++i) in_flight.push_back(*lb.PickBackend());
  lb.SetBackends(Addresses(50, 25));  // half of them leave

  g_counting = true;
  g_allocations = 0;
  for (const P2cBalancer::Pick& pick : in_flight) {
    lb.Done(pick, {.result = P2cBalancer::Result::kSuccess, .latency = absl::Milliseconds(2)});
  }
  g_counting = false;
  EXPECT_EQ(g_allocations, 0);
  EXPECT_EQ(lb.Snapshot().size(), 50u);
}

}  // namespace
}  // namespace tether::proxy
