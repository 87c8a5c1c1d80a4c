#pragma once
// Runs the process's communication: one worker thread executes non-blocking collectives in the
// order they were issued, while the issuing thread goes on (DDP's backward); blocking ops run
// on the issuing thread after the queue drained. One transport lock serializes every transport
// call (MPI_THREAD_SERIALIZED), so the issue order of collectives in this process is the
// order MPI sees, the same on every rank.
#include <atomic>
#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>

namespace ts::dist::detail {

class Executor {
 public:
  ~Executor();
  /// Queues `task` for the worker (started on first use). Tasks must not throw.
  void submit(std::function<void()> task);
  /// Blocks until every task submitted so far has finished.
  void drain();
  /// Drains, then stops and joins the worker.
  void shutdown();
  /// Held around every transport call.
  std::mutex& transport_lock() { return transport_mutex_; }

 private:
  void loop();

  std::mutex mutex_;
  std::condition_variable cv_;
  std::deque<std::function<void()>> queue_;
  bool busy_ = false;
  std::atomic<int> outstanding_{0};  ///< submitted, not finished: lets drain() skip the lock
  bool stop_ = false;
  std::thread worker_;
  std::mutex transport_mutex_;
};

/// The process's executor.
Executor& executor();

}  // namespace ts::dist::detail
