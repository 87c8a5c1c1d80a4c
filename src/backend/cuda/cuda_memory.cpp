// CudaBackend memory entry points: allocation through the caching allocator on the current
// stream, transfers, synchronization; and the device/pinned-host memory sources it uses.
#include "backend/cuda/cuda_memory.h"

#include <array>
#include <mutex>

#include <fmt/format.h>

#include "backend/cuda/cuda_backend.h"
#include "backend/cuda/cuda_context.h"

namespace ts {
namespace cuda_detail {
namespace {

constexpr int kMaxDevices = 16;

detail::StreamId stream_id(cudaStream_t s) { return reinterpret_cast<detail::StreamId>(s); }
cudaStream_t to_stream(detail::StreamId id) { return reinterpret_cast<cudaStream_t>(id); }

// Events shared by both sources: timing off (cheaper), queried without blocking.
void* record_event_on(detail::StreamId stream) {
  cudaEvent_t e;
  TS_CUDA_CHECK(cudaEventCreateWithFlags(&e, cudaEventDisableTiming), "caching allocator: cudaEventCreate");
  TS_CUDA_CHECK(cudaEventRecord(e, to_stream(stream)), "caching allocator: cudaEventRecord");
  return e;
}
bool event_done(void* event) {
  const cudaError_t err = cudaEventQuery(static_cast<cudaEvent_t>(event));
  if (err == cudaErrorNotReady) {
    (void)cudaGetLastError();
    return false;
  }
  TS_CUDA_CHECK(err, "caching allocator: cudaEventQuery");
  return true;
}

class DeviceSource final : public detail::DeviceMemorySource {
 public:
  explicit DeviceSource(int device) : device_(device) {}
  void* allocate_segment(size_t nbytes) override {
    DeviceGuard guard(device_);
    void* p = nullptr;
    const cudaError_t err = cudaMalloc(&p, nbytes);
    if (err == cudaErrorMemoryAllocation) {
      (void)cudaGetLastError();
      return nullptr;  // the allocator frees its cache, retries, then reports
    }
    TS_CUDA_CHECK(err, "cudaMalloc");
    return p;
  }
  void free_segment(void* ptr, size_t) override {
    DeviceGuard guard(device_);
    TS_CUDA_CHECK(cudaFree(ptr), "cudaFree");
  }
  void* record_event(detail::StreamId stream) override {
    DeviceGuard guard(device_);
    return record_event_on(stream);
  }
  bool event_completed(void* event) override { return event_done(event); }
  void destroy_event(void* event) override { (void)cudaEventDestroy(static_cast<cudaEvent_t>(event)); }
  void synchronize() override {
    DeviceGuard guard(device_);
    TS_CUDA_CHECK(cudaDeviceSynchronize(), "cudaDeviceSynchronize");
  }
  std::string describe() const override {
    cudaDeviceProp prop{};
    size_t free_bytes = 0, total_bytes = 0;
    if (cudaGetDeviceProperties(&prop, device_) != cudaSuccess) return fmt::format("cuda:{}", device_);
    {
      DeviceGuard guard(device_);
      (void)cudaMemGetInfo(&free_bytes, &total_bytes);
    }
    (void)cudaGetLastError();
    return fmt::format("cuda:{} ({}, {:.2f} GiB total, {:.2f} GiB free on the device)", device_, prop.name,
                       static_cast<double>(total_bytes) / (1 << 30), static_cast<double>(free_bytes) / (1 << 30));
  }

 private:
  int device_;
};

class PinnedHostSource final : public detail::DeviceMemorySource {
 public:
  void* allocate_segment(size_t nbytes) override {
    void* p = nullptr;
    const cudaError_t err = cudaHostAlloc(&p, nbytes, cudaHostAllocDefault);
    if (err == cudaErrorMemoryAllocation) {
      (void)cudaGetLastError();
      return nullptr;
    }
    TS_CUDA_CHECK(err, "cudaHostAlloc");
    return p;
  }
  void free_segment(void* ptr, size_t) override { TS_CUDA_CHECK(cudaFreeHost(ptr), "cudaFreeHost"); }
  void* record_event(detail::StreamId stream) override {
    // The event must live on the stream's device, which need not be the current one.
    int device = 0;
    TS_CUDA_CHECK(cudaStreamGetDevice(to_stream(stream), &device), "pinned memory: cudaStreamGetDevice");
    DeviceGuard guard(device);
    return record_event_on(stream);
  }
  bool event_completed(void* event) override { return event_done(event); }
  void destroy_event(void* event) override { (void)cudaEventDestroy(static_cast<cudaEvent_t>(event)); }
  void synchronize() override { TS_CUDA_CHECK(cudaDeviceSynchronize(), "cudaDeviceSynchronize"); }
  std::string describe() const override { return "pinned host memory"; }
};

}  // namespace

detail::CachingAllocator& device_allocator(int device) {
  TS_CHECK(device >= 0 && device < device_count(), "cuda:{} does not exist: {} CUDA device(s) are usable", device,
           device_count());
  static std::mutex mutex;
  static std::array<detail::CachingAllocator*, kMaxDevices> allocators{};
  std::lock_guard<std::mutex> lock(mutex);
  auto& slot = allocators[static_cast<size_t>(device)];
  if (slot == nullptr) slot = new detail::CachingAllocator(std::make_unique<DeviceSource>(device));
  return *slot;
}

detail::CachingAllocator& pinned_allocator() {
  static auto* allocator = new detail::CachingAllocator(std::make_unique<PinnedHostSource>());
  return *allocator;
}

bool is_pinned_host_pointer(const void* ptr) {
  if (ptr == nullptr || device_count() == 0) return false;
  cudaPointerAttributes attr{};
  if (cudaPointerGetAttributes(&attr, ptr) != cudaSuccess) {
    (void)cudaGetLastError();
    return false;
  }
  return attr.type == cudaMemoryTypeHost;
}

}  // namespace cuda_detail

CudaBackend& cuda_backend() {
  // Never destroyed, like the allocators: a tensor in static storage constructed before the
  // first CUDA use is freed after this function's statics are gone, and a destroyed backend's
  // deallocate is a pure virtual call.
  static auto* instance = new CudaBackend;
  return *instance;
}

int CudaBackend::device_count() const { return cuda_detail::device_count(); }

void* CudaBackend::allocate(size_t nbytes, int device_index) {
  return cuda_detail::device_allocator(device_index)
      .allocate(nbytes, cuda_detail::stream_id(cuda_detail::current_stream(device_index)));
}

void CudaBackend::deallocate(void* ptr, size_t, int device_index) {
  cuda_detail::device_allocator(device_index).free(ptr);
}

void CudaBackend::copy_bytes(void* dst, Device dst_device, const void* src, Device src_device, size_t nbytes) {
  if (nbytes == 0) return;
  TS_CHECK(dst_device.is_cuda() || src_device.is_cuda(), "cuda backend: copy between {} and {} is not a CUDA copy",
           src_device.str(), dst_device.str());
  // The copy is queued on the current stream of the GPU side (the destination's when both
  // are GPUs), so it is ordered after the kernels that produced the source.
  const int device = dst_device.is_cuda() ? dst_device.index : src_device.index;
  cuda_detail::DeviceGuard guard(device);
  cudaStream_t stream = cuda_detail::current_stream(device);
  if (dst_device.is_cuda() && src_device.is_cuda() && dst_device.index != src_device.index) {
    // The source was produced on its own GPU's current stream, which the destination's stream
    // does not follow (not even two legacy default streams order across devices): wait for it.
    cudaEvent_t ready = nullptr;
    {
      cuda_detail::DeviceGuard src_guard(src_device.index);
      TS_CUDA_CHECK(cudaEventCreateWithFlags(&ready, cudaEventDisableTiming), "copy between GPUs");
      const cudaError_t err = cudaEventRecord(ready, cuda_detail::current_stream(src_device.index));
      if (err != cudaSuccess) (void)cudaEventDestroy(ready);
      TS_CUDA_CHECK(err, "copy between GPUs");
    }
    const cudaError_t err = cudaStreamWaitEvent(stream, ready, 0);
    (void)cudaEventDestroy(ready);  // the wait already captured it
    TS_CUDA_CHECK(err, "copy between GPUs");
    TS_CUDA_CHECK(cudaMemcpyPeerAsync(dst, dst_device.index, src, src_device.index, nbytes, stream),
                  "copy between GPUs");
    return;
  }
  TS_CUDA_CHECK(cudaMemcpyAsync(dst, src, nbytes, cudaMemcpyDefault, stream), "copy to/from cuda");
  // A pinned host source may be freed before this copy has read it (Tensor::to(device,
  // non_blocking)): its block must wait for this stream before reuse.
  if (src_device.is_cpu()) cuda_detail::pinned_allocator().record_stream_containing(src, cuda_detail::stream_id(stream));
}

void CudaBackend::synchronize(int device_index) {
  cuda_detail::DeviceGuard guard(device_index);
  TS_CUDA_CHECK(cudaDeviceSynchronize(), "synchronize");
}

}  // namespace ts
