// DispatcherThread: a Dispatcher running on a thread of its own, for tests.
//
//   DispatcherThread loop;
//   std::unique_ptr<Timer> t;
//   loop.RunSync([&] { t = loop.dispatcher().CreateTimer(...); });  // on the loop thread
//   ...
//   loop.RunSync([&] { t.reset(); });   // events die on the loop thread
#ifndef TETHER_TESTS_PROXY_TESTING_DISPATCHER_THREAD_H_
#define TETHER_TESTS_PROXY_TESTING_DISPATCHER_THREAD_H_

#include <functional>
#include <memory>
#include <thread>

#include "common/sync/notification.h"
#include "proxy/event/dispatcher.h"

namespace tether::proxy::testing {

class DispatcherThread {
 public:
  DispatcherThread() : dispatcher_(Dispatcher::Create()) {
    thread_ = std::thread([this] { dispatcher_->Run(); });
  }
  ~DispatcherThread() { Stop(); }

  Dispatcher& dispatcher() { return *dispatcher_; }

  // RunSync runs `fn` on the loop thread and waits until it returned.
  void RunSync(const std::function<void()>& fn) {
    Notification done;
    dispatcher_->Post([&] {
      fn();
      done.Notify();
    });
    done.WaitForNotification();
  }

  // Stop makes Run() return and joins the thread (idempotent).
  void Stop() {
    if (thread_.joinable()) {
      dispatcher_->Exit();
      thread_.join();
    }
  }

 private:
  std::unique_ptr<Dispatcher> dispatcher_;
  std::thread thread_;
};

}  // namespace tether::proxy::testing

#endif  // TETHER_TESTS_PROXY_TESTING_DISPATCHER_THREAD_H_
