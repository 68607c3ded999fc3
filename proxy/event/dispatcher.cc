#include "proxy/event/dispatcher.h"

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <utility>

#include <event2/event.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

namespace tether::proxy {
namespace {

// After this many callbacks the loop polls the kernel again, so a connection
// that keeps re-activating itself (fairness budget) cannot starve fresh I/O.
constexpr int kMaxCallbacksBetweenPolls = 32;

[[noreturn]] void Die(const char* what) {
  std::fprintf(stderr, "tether dispatcher: %s (errno %d)\n", what, errno);
  std::abort();
}

short ToLibevent(uint32_t events) {
  short what = 0;
  if (events & FileEvent::kRead) what |= EV_READ;
  if (events & FileEvent::kWrite) what |= EV_WRITE;
  return what;
}

}  // namespace

// ---------------------------------------------------------------- FileEvent

FileEvent::FileEvent(Dispatcher* dispatcher, int fd, uint32_t events, Callback cb)
    : dispatcher_(dispatcher), fd_(fd), cb_(std::move(cb)) {
  ++dispatcher_->live_events_;
  ev_ = event_new(dispatcher_->base_, fd_, EV_ET | EV_PERSIST, &FileEvent::OnEvent, this);
  if (ev_ == nullptr) Die("event_new failed");
  SetEnabled(events);
}

FileEvent::~FileEvent() {
  event_free(ev_);  // also removes it from epoll and from the active queue
  --dispatcher_->live_events_;
}

void FileEvent::Assign(uint32_t events) {
  event_del(ev_);
  short what = ToLibevent(events);
  if (event_assign(ev_, dispatcher_->base_, fd_, static_cast<short>(what | EV_ET | EV_PERSIST),
                   &FileEvent::OnEvent, this) != 0) {
    Die("event_assign failed");
  }
  if (what != 0 && event_add(ev_, nullptr) != 0) Die("event_add failed");
}

void FileEvent::SetEnabled(uint32_t events) { Assign(events); }

void FileEvent::Activate(uint32_t ready) {
  short what = ToLibevent(ready);
  event_active(ev_, what != 0 ? what : EV_READ, 0);
}

void FileEvent::OnEvent(int /*fd*/, short what, void* arg) {
  auto* self = static_cast<FileEvent*>(arg);
  uint32_t ready = 0;
  if (what & EV_READ) ready |= kRead;
  if (what & EV_WRITE) ready |= kWrite;
  self->cb_(ready);  // may destroy *self: nothing after this line
}

// -------------------------------------------------------------------- Timer

Timer::Timer(Dispatcher* dispatcher, std::function<void()> cb)
    : dispatcher_(dispatcher), cb_(std::move(cb)) {
  ++dispatcher_->live_events_;
  ev_ = event_new(dispatcher_->base_, -1, 0, &Timer::OnEvent, this);
  if (ev_ == nullptr) Die("event_new (timer) failed");
}

Timer::~Timer() {
  event_free(ev_);
  --dispatcher_->live_events_;
}

void Timer::Enable(absl::Duration delay) {
  if (delay < absl::ZeroDuration()) delay = absl::ZeroDuration();
  timeval tv = absl::ToTimeval(delay);
  if (event_add(ev_, &tv) != 0) Die("event_add (timer) failed");
}

void Timer::Disable() { event_del(ev_); }

bool Timer::enabled() const { return event_pending(ev_, EV_TIMEOUT, nullptr) != 0; }

void Timer::OnEvent(int /*fd*/, short /*what*/, void* arg) {
  auto* self = static_cast<Timer*>(arg);
  self->cb_();  // may destroy *self: nothing after this line
}

// --------------------------------------------------------------- Dispatcher

std::unique_ptr<Dispatcher> Dispatcher::Create() {
  event_config* cfg = event_config_new();
  if (cfg == nullptr) Die("event_config_new failed");
  // Edge-triggered, O(1) readiness: epoll. No libevent locks: one thread owns
  // the base, and cross-thread wake-ups go through our own eventfd.
  event_config_require_features(cfg, EV_FEATURE_ET | EV_FEATURE_O1);
  event_config_set_flag(cfg, EVENT_BASE_FLAG_NOLOCK);
  event_config_set_max_dispatch_interval(cfg, nullptr, kMaxCallbacksBetweenPolls, 0);
  event_base* base = event_base_new_with_config(cfg);
  event_config_free(cfg);
  if (base == nullptr) Die("event_base_new_with_config (epoll) failed");
  int wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (wake_fd < 0) Die("eventfd failed");
  return std::unique_ptr<Dispatcher>(new Dispatcher(base, wake_fd));
}

Dispatcher::Dispatcher(event_base* base, int wake_fd)
    : base_(base), wake_fd_(wake_fd), thread_id_(std::this_thread::get_id()) {
  wake_event_ = event_new(
      base_, wake_fd_, EV_READ | EV_PERSIST,
      [](int /*fd*/, short /*what*/, void* arg) { static_cast<Dispatcher*>(arg)->RunPosted(); },
      this);
  if (wake_event_ == nullptr || event_add(wake_event_, nullptr) != 0) Die("wake event failed");
}

Dispatcher::~Dispatcher() {
  if (live_events_ != 0) {
    std::fprintf(stderr, "tether dispatcher: destroyed with %d live FileEvents/Timers\n",
                 live_events_);
    std::abort();
  }
  event_free(wake_event_);
  close(wake_fd_);
  event_base_free(base_);
}

std::unique_ptr<FileEvent> Dispatcher::CreateFileEvent(int fd, uint32_t events,
                                                       FileEvent::Callback cb) {
  return std::unique_ptr<FileEvent>(new FileEvent(this, fd, events, std::move(cb)));
}

std::unique_ptr<Timer> Dispatcher::CreateTimer(std::function<void()> cb) {
  return std::unique_ptr<Timer>(new Timer(this, std::move(cb)));
}

void Dispatcher::Post(std::function<void()> cb) {
  bool was_empty;
  {
    absl::MutexLock lock(&mu_);
    was_empty = posted_.empty();
    posted_.push_back(std::move(cb));
  }
  // The loop swaps the whole queue out after draining the eventfd, so only
  // the first Post into an empty queue needs to wake it.
  if (was_empty) {
    uint64_t one = 1;
    while (write(wake_fd_, &one, sizeof(one)) < 0 && errno == EINTR) {
    }
  }
}

void Dispatcher::RunPosted() {
  uint64_t count;
  while (read(wake_fd_, &count, sizeof(count)) < 0 && errno == EINTR) {
  }
  {
    absl::MutexLock lock(&mu_);
    running_.swap(posted_);
  }
  for (auto& cb : running_) {
    cb();
  }
  running_.clear();
}

void Dispatcher::Run() {
  thread_id_.store(std::this_thread::get_id());
  if (exit_requested_.load()) return;
  event_base_loop(base_, EVLOOP_NO_EXIT_ON_EMPTY);
}

void Dispatcher::Exit() {
  exit_requested_.store(true);
  Post([this] { event_base_loopbreak(base_); });
}

absl::Duration Dispatcher::MonotonicNow() const {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
  return absl::DurationFromTimespec(ts);
}

}  // namespace tether::proxy
