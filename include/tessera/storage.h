#pragma once
/// A refcounted block of device memory shared by a tensor and all of its views.
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>

#include "tessera/device.h"

namespace ts {

class Storage {
 public:
  /// Allocates `nbytes` on `device` through that device's Backend.
  Storage(size_t nbytes, Device device);
  /// Wraps memory the caller owns (from_blob); `deleter` (may be empty) runs on destruction.
  Storage(void* data, size_t nbytes, Device device, std::function<void(void*)> deleter);
  ~Storage();
  Storage(const Storage&) = delete;
  Storage& operator=(const Storage&) = delete;

  void* data() const { return data_; }
  size_t nbytes() const { return nbytes_; }
  Device device() const { return device_; }

  /// Bumped by every in-place write to any view of this storage; autograd compares it with
  /// the version recorded when a tensor was saved for backward.
  uint64_t version() const { return version_.load(std::memory_order_relaxed); }
  void bump_version() { version_.fetch_add(1, std::memory_order_relaxed); }

 private:
  void* data_ = nullptr;
  size_t nbytes_ = 0;
  Device device_;
  bool owned_ = true;
  std::function<void(void*)> deleter_;
  std::atomic<uint64_t> version_{0};
};

}  // namespace ts
