#include "dist/executor.h"

namespace ts::dist::detail {

Executor::~Executor() { shutdown(); }

void Executor::submit(std::function<void()> task) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (!worker_.joinable()) {
    stop_ = false;
    worker_ = std::thread([this] { loop(); });
  }
  queue_.push_back(std::move(task));
  outstanding_.fetch_add(1, std::memory_order_relaxed);
  cv_.notify_all();
}

void Executor::drain() {
  // Only the issuing thread submits, so zero here stays zero until it submits again.
  if (outstanding_.load(std::memory_order_acquire) == 0) return;
  std::unique_lock<std::mutex> lock(mutex_);
  cv_.wait(lock, [this] { return queue_.empty() && !busy_; });
}

void Executor::shutdown() {
  {
    std::unique_lock<std::mutex> lock(mutex_);
    cv_.wait(lock, [this] { return queue_.empty() && !busy_; });
    stop_ = true;
    cv_.notify_all();
  }
  if (worker_.joinable()) worker_.join();
}

void Executor::loop() {
  std::unique_lock<std::mutex> lock(mutex_);
  for (;;) {
    cv_.wait(lock, [this] { return stop_ || !queue_.empty(); });
    if (queue_.empty()) return;  // stop_ and nothing left
    auto task = std::move(queue_.front());
    queue_.pop_front();
    busy_ = true;
    lock.unlock();
    task();
    lock.lock();
    busy_ = false;
    outstanding_.fetch_sub(1, std::memory_order_release);
    cv_.notify_all();
  }
}

Executor& executor() {
  // Leaked on purpose: it must outlive static destructors of user code that may still hold
  // Work handles; shutdown() (from finalize) joins the thread.
  static Executor* instance = new Executor();
  return *instance;
}

}  // namespace ts::dist::detail
