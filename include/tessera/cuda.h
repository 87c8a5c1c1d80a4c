#pragma once
/// CUDA device management: availability, streams and events, the caching allocator's
/// statistics, pinned host memory and the TF32 switch. Every function exists in every build;
/// in a build without the CUDA backend (TESSERA_CUDA=OFF) is_available() is false and the rest
/// raise ts::Error saying so.
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "tessera/tensor.h"

namespace ts::cuda {

/// True when Tessera was built with CUDA and at least one GPU is usable.
bool is_available();
int device_count();
/// Why is_available() is false ("" when it is true): no CUDA build, no driver, no device.
std::string unavailable_reason();

/// Waits for all work queued on `device`.
void synchronize(int device = 0);

/// Float32 matmul and convolution may use TF32 tensor cores (10-bit mantissa inputs, float32
/// accumulation), as torch.backends.cuda.matmul.allow_tf32. Off by default.
void set_allow_tf32(bool allow);
bool allow_tf32();

/// The caching allocator's counters for one device, in bytes unless named num_.
struct MemoryStats {
  size_t allocated_bytes = 0;       ///< held by live tensors (rounded block sizes)
  size_t peak_allocated_bytes = 0;  ///< high-water mark of allocated_bytes
  size_t requested_bytes = 0;       ///< the sizes asked for, before rounding
  size_t reserved_bytes = 0;        ///< obtained from the device (cached or in use)
  size_t peak_reserved_bytes = 0;
  int64_t num_allocs = 0;
  int64_t num_frees = 0;
  int64_t num_device_allocs = 0;  ///< segments obtained from the device (cache misses)
  int64_t num_device_frees = 0;   ///< segments returned (empty_cache, retries after OOM)
  int64_t num_ooms = 0;
  int64_t num_segments = 0;
};
MemoryStats memory_stats(int device = 0);
void reset_peak_memory_stats(int device = 0);
/// Returns every cached block that no tensor uses to the device.
void empty_cache(int device = 0);
/// Readable one-line summary of memory_stats (used in out-of-memory errors).
std::string memory_summary(int device = 0);

class Event;

/// A CUDA stream (non-blocking with respect to the legacy default stream). Copyable handle.
class Stream {
 public:
  /// The legacy default stream of device 0.
  Stream() = default;
  /// The next stream of `device`'s pool of 32, handed out round-robin (PyTorch's
  /// getStreamFromPool). Pool streams are never destroyed, so no handle is ever recycled while
  /// the allocator or queued work still refers to it; 33 calls return one stream twice.
  static Stream create(int device = 0);
  /// The stream Tessera enqueues work on for `device` from this thread.
  static Stream current(int device = 0);
  int device() const { return device_; }
  void* handle() const { return handle_; }  ///< the cudaStream_t
  void synchronize() const;
  /// True when all work queued so far has finished.
  bool query() const;
  /// Makes later work on this stream wait for `e`.
  void wait(const Event& e) const;
  friend bool operator==(const Stream& a, const Stream& b) { return a.handle_ == b.handle_ && a.device_ == b.device_; }

 private:
  Stream(int device, void* handle) : device_(device), handle_(handle) {}
  int device_ = 0;
  void* handle_ = nullptr;
};

/// Makes `s` the current stream of its device for this thread, restoring the previous one.
class StreamGuard {
 public:
  explicit StreamGuard(const Stream& s);
  ~StreamGuard();
  StreamGuard(const StreamGuard&) = delete;
  StreamGuard& operator=(const StreamGuard&) = delete;

 private:
  Stream previous_;
};

/// A CUDA event with timing enabled.
class Event {
 public:
  explicit Event(int device = 0);
  void record(const Stream& s);
  void synchronize() const;
  bool query() const;
  /// Milliseconds between this event and a later one (both recorded and complete).
  float elapsed_ms(const Event& later) const;
  void* handle() const { return handle_.get(); }  ///< the cudaEvent_t

 private:
  int device_ = 0;
  std::shared_ptr<void> handle_;
};

/// A copy of a CPU tensor in page-locked (pinned) host memory, so host-to-device copies of it
/// run asynchronously (Tensor::to(device, non_blocking=true)) and overlap compute. A tensor
/// that is already pinned and contiguous is returned as it is (no copy).
Tensor pin_memory(const Tensor& cpu_tensor);
bool is_pinned(const Tensor& t);
/// `nbytes` of page-locked host memory as CPU storage, from the same caching pool as
/// pin_memory. data::DataLoaderOptions::pin_memory collates batches into it, off the main
/// thread when the loader has workers.
std::shared_ptr<Storage> pinned_storage(size_t nbytes);

/// Tells the allocator that `t`'s memory is used by work on `s` (not only the stream it was
/// allocated on), so it is not reused before that work finishes.
void record_stream(const Tensor& t, const Stream& s);

}  // namespace ts::cuda
