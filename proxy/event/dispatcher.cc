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
  (void)std::fprintf(stderr, "tether dispatcher: %s (errno %d)\n", what, errno);
  std::abort();
}

int16_t ToLibevent(uint32_t events) {
  int16_t what = 0;
  if (events & FileEvent::kRead) what |= EV_READ;
  if (events & FileEvent::kWrite) what |= EV_WRITE;
  return what;
}

// Watched: reading also watches for the peer's end of stream (EPOLLRDHUP).
int16_t Watched(uint32_t events) {
  int16_t what = ToLibevent(events);
  if (events & FileEvent::kRead) what |= EV_CLOSED;
  return what;
}

}  // namespace

// ---------------------------------------------------------------- FileEvent

// A FileEvent's state lives apart from the FileEvent: destroying the FileEvent
// inside its own callback removes the event from the loop at once, but the
// state (and so the callback and its captures) is freed only once the
// callback returned.
struct FileEvent::State {
  State(Dispatcher* d, int f, Callback c) : dispatcher(d), fd(f), cb(std::move(c)) {
    ++dispatcher->live_events_;
  }
  ~State() {
    event_free(ev);
    --dispatcher->live_events_;
  }
  static void OnEvent(int fd, int16_t what, void* arg);
  void Assign(uint32_t events);

  Dispatcher* dispatcher;
  int fd;
  Callback cb;
  event* ev = nullptr;
  bool in_callback = false;
  bool orphaned = false;  // the FileEvent was destroyed during the callback
};

void FileEvent::State::Assign(uint32_t events) {
  event_del(ev);
  int16_t what = Watched(events);
  if (event_assign(ev, dispatcher->base_, fd, static_cast<int16_t>(what | EV_ET | EV_PERSIST),
                   &State::OnEvent, this) != 0) {
    Die("event_assign failed");
  }
  if (what != 0 && event_add(ev, nullptr) != 0) Die("event_add failed");
}

void FileEvent::State::OnEvent(int /*fd*/, int16_t what, void* arg) {
  auto* state = static_cast<State*>(arg);
  uint32_t ready = 0;
  if (what & EV_READ) ready |= kRead;
  if (what & EV_WRITE) ready |= kWrite;
  if (what & EV_CLOSED) ready |= kRead | kReadClosed;
  state->in_callback = true;
  state->cb(ready);
  if (state->orphaned) {
    delete state;
    return;
  }
  state->in_callback = false;
}

FileEvent::~FileEvent() {
  event_del(state_->ev);  // out of epoll now: the owner may close the fd next
  if (state_->in_callback) {
    state_->orphaned = true;  // freed by State::OnEvent
  } else {
    delete state_;
  }
}

int FileEvent::fd() const { return state_->fd; }

void FileEvent::SetEnabled(uint32_t events) { state_->Assign(events); }

void FileEvent::Activate(uint32_t ready) {
  int16_t what = ToLibevent(ready);
  event_active(state_->ev, what != 0 ? what : EV_READ, 0);
}

// -------------------------------------------------------------------- Timer

struct Timer::State {
  State(Dispatcher* d, std::function<void()> c) : dispatcher(d), cb(std::move(c)) {
    ++dispatcher->live_events_;
  }
  ~State() {
    event_free(ev);
    --dispatcher->live_events_;
  }
  static void OnEvent(int fd, int16_t what, void* arg);

  Dispatcher* dispatcher;
  std::function<void()> cb;
  event* ev = nullptr;
  bool in_callback = false;
  bool orphaned = false;
};

void Timer::State::OnEvent(int /*fd*/, int16_t /*what*/, void* arg) {
  auto* state = static_cast<State*>(arg);
  state->in_callback = true;
  state->cb();
  if (state->orphaned) {
    delete state;
    return;
  }
  state->in_callback = false;
}

Timer::~Timer() {
  event_del(state_->ev);
  if (state_->in_callback) {
    state_->orphaned = true;
  } else {
    delete state_;
  }
}

void Timer::Enable(absl::Duration delay) {
  if (delay < absl::ZeroDuration()) delay = absl::ZeroDuration();
  timeval tv = absl::ToTimeval(delay);
  if (event_add(state_->ev, &tv) != 0) Die("event_add (timer) failed");
}

void Timer::Disable() { event_del(state_->ev); }

bool Timer::enabled() const { return event_pending(state_->ev, EV_TIMEOUT, nullptr) != 0; }

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
      [](int /*fd*/, int16_t /*what*/, void* arg) { static_cast<Dispatcher*>(arg)->RunPosted(); },
      this);
  if (wake_event_ == nullptr || event_add(wake_event_, nullptr) != 0) Die("wake event failed");
}

Dispatcher::~Dispatcher() {
  if (live_events_ != 0) {
    (void)std::fprintf(stderr, "tether dispatcher: destroyed with %d live FileEvents/Timers\n",
                       live_events_);
    std::abort();
  }
  event_free(wake_event_);
  close(wake_fd_);
  event_base_free(base_);
}

std::unique_ptr<FileEvent> Dispatcher::CreateFileEvent(int fd, uint32_t events,
                                                       FileEvent::Callback cb) {
  auto* state = new FileEvent::State(this, fd, std::move(cb));
  state->ev = event_new(base_, fd, EV_ET | EV_PERSIST, &FileEvent::State::OnEvent, state);
  if (state->ev == nullptr) Die("event_new failed");
  state->Assign(events);
  return std::unique_ptr<FileEvent>(new FileEvent(state));
}

std::unique_ptr<Timer> Dispatcher::CreateTimer(std::function<void()> cb) {
  auto* state = new Timer::State(this, std::move(cb));
  state->ev = event_new(base_, -1, 0, &Timer::State::OnEvent, state);
  if (state->ev == nullptr) Die("event_new (timer) failed");
  return std::unique_ptr<Timer>(new Timer(state));
}

void Dispatcher::Post(std::function<void()> cb) {
  bool was_empty;
  {
    std::lock_guard<std::mutex> lock(mu_);
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
    std::lock_guard<std::mutex> lock(mu_);
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
