// Dispatcher: one event loop (a libevent event_base over epoll) per worker
// thread. Everything a worker does on the data path runs as a callback of its
// dispatcher, on that one thread, without locks.
//
//   std::unique_ptr<Dispatcher> d = Dispatcher::Create();
//   auto ev = d->CreateFileEvent(fd, FileEvent::kRead | FileEvent::kWrite,
//                                [&](uint32_t ready) { ... });   // edge-triggered
//   auto timer = d->CreateTimer([&] { ... });
//   timer->Enable(absl::Seconds(5));
//   std::thread t([&] { d->Run(); });
//   d->Post([] { ... });   // from any thread: runs on the loop thread
//   d->Exit();             // from any thread: Run() returns
//
// Threading: Post() and Exit() may be called from any thread. Everything else
// (creating, changing and destroying events and timers) only from the thread
// that runs Run(), or from any one thread before Run() starts.
//
// Ownership: FileEvents and Timers must be destroyed before their Dispatcher
// (the process aborts otherwise). Destroying a FileEvent or Timer from inside
// its own callback is allowed: it stops at once (the fd may be closed right
// after), and the callback and its captures stay alive until it returns.
#ifndef TETHER_PROXY_EVENT_DISPATCHER_H_
#define TETHER_PROXY_EVENT_DISPATCHER_H_

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "absl/time/time.h"

struct event;
struct event_base;

namespace tether::proxy {

class Dispatcher;

// FileEvent: readiness callbacks for one file descriptor, edge-triggered and
// persistent (EV_ET | EV_PERSIST): the callback runs when the fd *becomes*
// readable or writable, so the owner must read/write until EAGAIN (or call
// Activate to come back later). The FileEvent does not own the fd; it must be
// destroyed (or disabled with SetEnabled(0)) before the fd is closed.
class FileEvent {
 public:
  static constexpr uint32_t kRead = 1;
  static constexpr uint32_t kWrite = 2;
  // Reported, never asked for: with kRead, the peer has ended its sending
  // side (EPOLLRDHUP): a short read does not mean nothing is left (the end
  // of the stream still is).
  static constexpr uint32_t kReadClosed = 4;
  using Callback = std::function<void(uint32_t ready)>;

  ~FileEvent();
  FileEvent(const FileEvent&) = delete;
  FileEvent& operator=(const FileEvent&) = delete;

  // SetEnabled changes the readiness kinds watched (kRead | kWrite, or 0 for
  // none). Re-enabling reports the current readiness as a new edge.
  void SetEnabled(uint32_t events);

  // Activate runs the callback with `ready` on a later turn of the loop,
  // without an fd edge (TLS data already decrypted, a fairness budget used
  // up). Activations and edges that meet before the callback runs merge into
  // one call. Cancelled by SetEnabled(0) or destruction.
  void Activate(uint32_t ready);

  int fd() const;

 private:
  friend class Dispatcher;
  struct State;  // the libevent event and the callback; outlives a running callback
  explicit FileEvent(State* state) : state_(state) {}
  State* state_;
};

// Timer: a one-shot timer on the dispatcher's monotonic clock.
class Timer {
 public:
  ~Timer();
  Timer(const Timer&) = delete;
  Timer& operator=(const Timer&) = delete;

  // Enable (re)arms the timer to fire once after `delay` (<= 0: on the next
  // turn of the loop). Replaces any earlier deadline.
  void Enable(absl::Duration delay);
  void Disable();
  bool enabled() const;

 private:
  friend class Dispatcher;
  struct State;
  explicit Timer(State* state) : state_(state) {}
  State* state_;
};

class Dispatcher {
 public:
  // Create returns a dispatcher on epoll (edge-triggered events), or crashes:
  // without an event loop a worker cannot exist.
  static std::unique_ptr<Dispatcher> Create();
  ~Dispatcher();
  Dispatcher(const Dispatcher&) = delete;
  Dispatcher& operator=(const Dispatcher&) = delete;

  // CreateFileEvent watches `fd` for `events` (FileEvent::kRead | kWrite).
  std::unique_ptr<FileEvent> CreateFileEvent(int fd, uint32_t events, FileEvent::Callback cb);

  // CreateTimer returns a disabled timer.
  std::unique_ptr<Timer> CreateTimer(std::function<void()> cb);

  // Post runs `cb` on the loop thread, after the current callback; callbacks
  // posted from one thread run in order. Thread-safe. Callbacks still queued
  // when the dispatcher is destroyed are destroyed without running.
  void Post(std::function<void()> cb);

  // Run runs the loop on the calling thread until Exit().
  void Run();

  // Exit makes Run() return (after the current callback). Thread-safe; if
  // called before Run(), Run() returns at once.
  void Exit();

  // IsCurrentThread: the caller is the thread running (or, before Run(), that
  // created) this dispatcher.
  bool IsCurrentThread() const { return std::this_thread::get_id() == thread_id_.load(); }

  // MonotonicNow: a cheap, coarse (a few ms) monotonic timestamp, fit to call
  // on every read. Only differences between two values mean anything.
  absl::Duration MonotonicNow() const;

 private:
  friend struct FileEvent::State;
  friend struct Timer::State;
  explicit Dispatcher(event_base* base, int wake_fd);
  void RunPosted();

  event_base* base_;
  int wake_fd_;  // eventfd written by Post()
  event* wake_event_ = nullptr;
  std::atomic<std::thread::id> thread_id_;
  std::atomic<bool> exit_requested_{false};
  int live_events_ = 0;  // FileEvents + Timers alive; must be 0 at destruction

  // std::mutex rather than Mutex: ThreadSanitizer sees pthread locks,
  // not the atomics inside Debian's (uninstrumented) Abseil.
  std::mutex mu_;
  std::vector<std::function<void()>> posted_;   // guarded by mu_
  std::vector<std::function<void()>> running_;  // loop thread only
};

}  // namespace tether::proxy

#endif  // TETHER_PROXY_EVENT_DISPATCHER_H_
