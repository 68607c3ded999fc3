#include "proxy/event/dispatcher.h"

#include <atomic>
#include <cstdint>
#include <memory>
#include <thread>
#include <vector>

#include <gtest/gtest.h>
#include <sys/socket.h>
#include <unistd.h>

#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "common/sync/notification.h"
#include "tests/proxy/testing/dispatcher_thread.h"

namespace tether::proxy {
namespace {

using testing::DispatcherThread;

constexpr absl::Duration kWait = absl::Seconds(10);

// SocketPair: a connected pair of non-blocking stream sockets.
struct SocketPair {
  SocketPair() {
    int fds[2];
    EXPECT_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, fds), 0);
    a = fds[0];
    b = fds[1];
  }
  ~SocketPair() {
    close(a);
    close(b);
  }
  int a;
  int b;
};

void WriteByte(int fd) { ASSERT_EQ(write(fd, "x", 1), 1); }

// Turn lets the loop run several full iterations (polls included).
void Turns(DispatcherThread& loop, int n = 5) {
  for (int i = 0; i < n; ++i) loop.RunSync([] {});
}

TEST(DispatcherTest, PostFromManyThreadsRunsEverythingOnTheLoopInOrder) {
  DispatcherThread loop;
  constexpr int kThreads = 4;
  constexpr int kPerThread = 2000;
  std::vector<int> last(kThreads, -1);  // touched on the loop thread only
  int ran = 0;
  bool in_order = true;
  bool on_loop = true;
  std::vector<std::thread> threads;
  threads.reserve(kThreads);
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kPerThread; ++i) {
        loop.dispatcher().Post([&, t, i] {
          on_loop = on_loop && loop.dispatcher().IsCurrentThread();
          in_order = in_order && last[t] == i - 1;
          last[t] = i;
          ++ran;
        });
      }
    });
  }
  for (auto& th : threads) th.join();
  int seen = 0;
  loop.RunSync([&] { seen = ran; });
  EXPECT_EQ(seen, kThreads * kPerThread);
  EXPECT_TRUE(in_order);
  EXPECT_TRUE(on_loop);
  EXPECT_FALSE(loop.dispatcher().IsCurrentThread());
}

TEST(DispatcherTest, ExitBeforeRunReturnsAtOnce) {
  std::unique_ptr<Dispatcher> d = Dispatcher::Create();
  d->Exit();
  d->Run();  // must not block
  EXPECT_TRUE(d->IsCurrentThread());
}

TEST(DispatcherTest, PostedCallbacksLeftAtDestructionAreDestroyedNotRun) {
  auto token = std::make_shared<int>(0);
  bool ran = false;
  {
    std::unique_ptr<Dispatcher> d = Dispatcher::Create();
    d->Post([token, &ran] { ran = true; });
    EXPECT_EQ(token.use_count(), 2);
  }
  EXPECT_FALSE(ran);
  EXPECT_EQ(token.use_count(), 1);
}

TEST(DispatcherTest, TimerFiresOnceAndReportsEnabled) {
  DispatcherThread loop;
  std::unique_ptr<Timer> timer;
  Notification fired;
  std::atomic<int> count{0};
  bool enabled_after_arm = false;
  loop.RunSync([&] {
    timer = loop.dispatcher().CreateTimer([&] {
      ++count;
      fired.Notify();
    });
    EXPECT_FALSE(timer->enabled());
    timer->Enable(absl::Milliseconds(10));
    enabled_after_arm = timer->enabled();
  });
  EXPECT_TRUE(enabled_after_arm);
  ASSERT_TRUE(fired.WaitForNotificationWithTimeout(kWait));
  Turns(loop);
  bool enabled_after_fire = true;
  loop.RunSync([&] {
    enabled_after_fire = timer->enabled();
    timer.reset();
  });
  EXPECT_FALSE(enabled_after_fire);
  EXPECT_EQ(count.load(), 1);
}

TEST(DispatcherTest, DisabledTimerDoesNotFireAndReEnableMovesTheDeadline) {
  DispatcherThread loop;
  std::unique_ptr<Timer> cancelled, moved, sentinel;
  std::atomic<bool> cancelled_fired{false};
  Notification moved_fired, sentinel_fired;
  absl::Time moved_at;
  absl::Time armed_at;
  loop.RunSync([&] {
    Dispatcher& d = loop.dispatcher();
    cancelled = d.CreateTimer([&] { cancelled_fired = true; });
    moved = d.CreateTimer([&] {
      moved_at = absl::Now();
      moved_fired.Notify();
    });
    sentinel = d.CreateTimer([&] { sentinel_fired.Notify(); });
    cancelled->Enable(absl::Milliseconds(20));
    cancelled->Disable();
    EXPECT_FALSE(cancelled->enabled());
    moved->Enable(absl::Milliseconds(1));
    armed_at = absl::Now();
    moved->Enable(absl::Milliseconds(150));  // replaces the first deadline
    sentinel->Enable(absl::Milliseconds(60));
  });
  ASSERT_TRUE(sentinel_fired.WaitForNotificationWithTimeout(kWait));
  ASSERT_TRUE(moved_fired.WaitForNotificationWithTimeout(kWait));
  EXPECT_GE(moved_at - armed_at, absl::Milliseconds(100));
  EXPECT_FALSE(cancelled_fired.load());
  loop.RunSync([&] {
    cancelled.reset();
    moved.reset();
    sentinel.reset();
  });
}

TEST(DispatcherTest, TimerMayDestroyItselfInItsCallback) {
  DispatcherThread loop;
  std::unique_ptr<Timer> timer;
  Notification fired;
  loop.RunSync([&] {
    timer = loop.dispatcher().CreateTimer([&] {
      timer.reset();
      fired.Notify();
    });
    timer->Enable(absl::ZeroDuration());
  });
  ASSERT_TRUE(fired.WaitForNotificationWithTimeout(kWait));
  loop.RunSync([&] { EXPECT_EQ(timer, nullptr); });
}

TEST(DispatcherTest, FileEventIsEdgeTriggered) {
  SocketPair sp;
  DispatcherThread loop;
  std::unique_ptr<FileEvent> ev;
  std::atomic<int> calls{0};
  std::atomic<uint32_t> last_ready{0};
  loop.RunSync([&] {
    ev = loop.dispatcher().CreateFileEvent(sp.a, FileEvent::kRead, [&](uint32_t ready) {
      last_ready = ready;
      ++calls;
    });
  });
  WriteByte(sp.b);
  while (calls.load() == 0) Turns(loop, 1);
  EXPECT_EQ(last_ready.load(), FileEvent::kRead);
  // The byte is never read: a level-triggered event would fire on every turn.
  Turns(loop, 20);
  EXPECT_EQ(calls.load(), 1);
  // New data is a new edge.
  WriteByte(sp.b);
  while (calls.load() == 1) Turns(loop, 1);
  Turns(loop, 5);
  EXPECT_EQ(calls.load(), 2);
  EXPECT_EQ(last_ready.load(), FileEvent::kRead);
  // The peer's end of stream is an edge too, and says so (kReadClosed).
  ASSERT_EQ(shutdown(sp.b, SHUT_WR), 0);
  while (calls.load() == 2) Turns(loop, 1);
  EXPECT_EQ(last_ready.load(), FileEvent::kRead | FileEvent::kReadClosed);
  loop.RunSync([&] { ev.reset(); });
}

TEST(DispatcherTest, ActivateRunsTheCallbackWithoutAnEdge) {
  SocketPair sp;
  DispatcherThread loop;
  std::unique_ptr<FileEvent> ev;
  std::atomic<int> calls{0};
  std::atomic<uint32_t> last_ready{0};
  loop.RunSync([&] {
    // Readability of an idle socket: no edge ever comes by itself.
    ev = loop.dispatcher().CreateFileEvent(sp.a, FileEvent::kRead, [&](uint32_t ready) {
      last_ready = ready;
      ++calls;
    });
  });
  Turns(loop);
  EXPECT_EQ(calls.load(), 0);  // nothing to read
  loop.RunSync([&] { ev->Activate(FileEvent::kRead | FileEvent::kWrite); });
  Turns(loop);
  EXPECT_EQ(calls.load(), 1);
  EXPECT_EQ(last_ready.load(), FileEvent::kRead | FileEvent::kWrite);
  // Two activations before the callback runs merge into one call.
  loop.RunSync([&] {
    ev->Activate(FileEvent::kRead);
    ev->Activate(FileEvent::kRead);
  });
  Turns(loop);
  EXPECT_EQ(calls.load(), 2);
  // SetEnabled(0) cancels a pending activation.
  loop.RunSync([&] {
    ev->Activate(FileEvent::kRead);
    ev->SetEnabled(0);
  });
  Turns(loop);
  EXPECT_EQ(calls.load(), 2);
  loop.RunSync([&] { ev.reset(); });
}

TEST(DispatcherTest, SetEnabledChangesWhatIsWatchedAndReportsCurrentReadiness) {
  SocketPair sp;
  DispatcherThread loop;
  std::unique_ptr<FileEvent> ev;
  std::atomic<int> calls{0};
  std::atomic<uint32_t> last_ready{0};
  loop.RunSync([&] {
    ev = loop.dispatcher().CreateFileEvent(sp.a, 0, [&](uint32_t ready) {
      last_ready = ready;
      ++calls;
    });
  });
  WriteByte(sp.b);
  Turns(loop);
  EXPECT_EQ(calls.load(), 0);  // watching nothing
  loop.RunSync([&] { ev->SetEnabled(FileEvent::kRead | FileEvent::kWrite); });
  while (calls.load() == 0) Turns(loop, 1);
  EXPECT_EQ(last_ready.load(), FileEvent::kRead | FileEvent::kWrite);
  loop.RunSync([&] { ev.reset(); });
}

TEST(DispatcherTest, FileEventMayDestroyItselfInItsCallback) {
  SocketPair sp;
  DispatcherThread loop;
  std::unique_ptr<FileEvent> ev;
  Notification fired;
  loop.RunSync([&] {
    ev = loop.dispatcher().CreateFileEvent(sp.a, FileEvent::kRead | FileEvent::kWrite,
                                           [&](uint32_t) {
                                             ev.reset();
                                             fired.Notify();
                                           });
    ev->Activate(FileEvent::kRead);  // and an edge from registration: merged or cancelled
  });
  ASSERT_TRUE(fired.WaitForNotificationWithTimeout(kWait));
  WriteByte(sp.b);
  Turns(loop);
  loop.RunSync([&] { EXPECT_EQ(ev, nullptr); });
}

TEST(DispatcherTest, FdClosedInsideTheCallbackCanBeReusedAtOnce) {
  // The callback destroys its event, closes the fd, and watches a new socket
  // that gets the same fd number: the new registration must work.
  int fds[2];
  ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, fds), 0);
  int old_fd = fds[0];
  int old_peer = fds[1];
  DispatcherThread loop;
  std::unique_ptr<FileEvent> first, second;
  int new_peer = -1;
  int new_fd = -1;
  Notification second_fired;
  loop.RunSync([&] {
    first = loop.dispatcher().CreateFileEvent(old_fd, FileEvent::kRead, [&](uint32_t) {
      first.reset();
      close(old_fd);
      int pair[2];
      ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, pair), 0);
      new_fd = pair[0];
      new_peer = pair[1];
      second = loop.dispatcher().CreateFileEvent(new_fd, FileEvent::kRead,
                                                 [&](uint32_t) { second_fired.Notify(); });
    });
  });
  WriteByte(old_peer);
  int reused = -1;
  while (reused < 0) {
    loop.RunSync([&] { reused = new_fd; });
  }
  EXPECT_EQ(reused, old_fd);  // the lowest free number: the one just closed
  WriteByte(new_peer);
  EXPECT_TRUE(second_fired.WaitForNotificationWithTimeout(kWait));
  loop.RunSync([&] { second.reset(); });
  close(old_peer);
  close(new_fd);
  close(new_peer);
}

TEST(DispatcherTest, AnEventThatKeepsReactivatingDoesNotStarveOthers) {
  SocketPair busy_pair, quiet_pair;
  DispatcherThread loop;
  std::unique_ptr<FileEvent> busy, quiet;
  std::unique_ptr<Timer> timer;
  std::atomic<bool> stop{false};
  std::atomic<int64_t> busy_calls{0};
  Notification quiet_fired, timer_fired;
  loop.RunSync([&] {
    Dispatcher& d = loop.dispatcher();
    busy = d.CreateFileEvent(busy_pair.a, FileEvent::kRead, [&](uint32_t) {
      ++busy_calls;
      if (!stop.load()) busy->Activate(FileEvent::kRead);
    });
    quiet =
        d.CreateFileEvent(quiet_pair.a, FileEvent::kRead, [&](uint32_t) { quiet_fired.Notify(); });
    timer = d.CreateTimer([&] { timer_fired.Notify(); });
    busy->Activate(FileEvent::kRead);
    timer->Enable(absl::Milliseconds(5));
  });
  WriteByte(quiet_pair.b);
  EXPECT_TRUE(quiet_fired.WaitForNotificationWithTimeout(kWait));
  EXPECT_TRUE(timer_fired.WaitForNotificationWithTimeout(kWait));
  // Posted callbacks get their turn as well.
  loop.RunSync([&] { stop = true; });
  EXPECT_GT(busy_calls.load(), 0);
  loop.RunSync([&] {
    busy.reset();
    quiet.reset();
    timer.reset();
  });
}

TEST(DispatcherTest, MonotonicNowMovesForward) {
  std::unique_ptr<Dispatcher> d = Dispatcher::Create();
  absl::Duration a = d->MonotonicNow();
  absl::SleepFor(absl::Milliseconds(30));
  absl::Duration b = d->MonotonicNow();
  EXPECT_GE(b - a, absl::Milliseconds(20));
}

}  // namespace
}  // namespace tether::proxy
