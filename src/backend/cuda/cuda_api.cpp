// ts::cuda (include/tessera/cuda.h) in builds with the CUDA backend.
#include <array>
#include <atomic>
#include <cstring>
#include <mutex>

#include <fmt/format.h>

#include "backend/cuda/cuda_context.h"
#include "backend/cuda/cuda_memory.h"
#include "tessera/creation.h"
#include "tessera/cuda.h"

namespace ts::cuda {

namespace {
void require_available(const char* what) {
  TS_CHECK(cuda_detail::device_count() > 0, "ts::cuda::{}: no usable CUDA device ({})", what,
           cuda_detail::unavailable_reason());
}
cudaStream_t as_stream(const Stream& s) { return static_cast<cudaStream_t>(s.handle()); }
cudaEvent_t as_event(const Event& e) { return static_cast<cudaEvent_t>(e.handle()); }
}  // namespace

bool is_available() { return cuda_detail::device_count() > 0; }
int device_count() { return cuda_detail::device_count(); }
std::string unavailable_reason() { return cuda_detail::unavailable_reason(); }

void synchronize(int device) {
  require_available("synchronize");
  cuda_detail::DeviceGuard guard(device);
  TS_CUDA_CHECK(cudaDeviceSynchronize(), "ts::cuda::synchronize");
}

void set_allow_tf32(bool allow) { cuda_detail::set_allow_tf32(allow); }
bool allow_tf32() { return cuda_detail::allow_tf32(); }

MemoryStats memory_stats(int device) {
  require_available("memory_stats");
  return cuda_detail::device_allocator(device).stats();
}
void reset_peak_memory_stats(int device) {
  require_available("reset_peak_memory_stats");
  cuda_detail::device_allocator(device).reset_peak_stats();
}
void empty_cache(int device) {
  require_available("empty_cache");
  cuda_detail::device_allocator(device).empty_cache();
}
std::string memory_summary(int device) {
  require_available("memory_summary");
  return cuda_detail::device_allocator(device).summary();
}

// ---- streams and events ---------------------------------------------------------------------

namespace {

// Streams are pooled, never destroyed: the caching allocator keys free blocks by stream and
// records events on streams when blocks are freed, and each stream gets its own cuBLAS
// workspace, so a destroyed stream whose handle value came back as a new stream would alias
// all of those.
constexpr uint32_t kStreamPoolSize = 32;

struct StreamPool {
  std::once_flag created;
  std::array<cudaStream_t, kStreamPoolSize> streams{};
  std::atomic<uint32_t> next{0};
};

StreamPool& stream_pool(int device) {
  static const int count = cuda_detail::device_count();
  static auto* pools = new StreamPool[static_cast<size_t>(count)];  // leaked, like the handles
  TS_CHECK(device >= 0 && device < count, "ts::cuda::Stream::create: there is no CUDA device {} ({} visible)", device,
           count);
  return pools[device];
}

}  // namespace

Stream Stream::create(int device) {
  require_available("Stream::create");
  StreamPool& pool = stream_pool(device);
  std::call_once(pool.created, [&] {
    cuda_detail::DeviceGuard guard(device);
    for (cudaStream_t& s : pool.streams)
      TS_CUDA_CHECK(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking), "cudaStreamCreate");
  });
  const uint32_t i = pool.next.fetch_add(1, std::memory_order_relaxed) % kStreamPoolSize;
  return Stream(device, pool.streams[i]);
}

Stream Stream::current(int device) {
  require_available("Stream::current");
  return Stream(device, cuda_detail::current_stream(device));
}

// A null handle is the legacy default stream of whichever device is current, so each call on
// a stream makes its own device current first.
void Stream::synchronize() const {
  cuda_detail::DeviceGuard guard(device_);
  TS_CUDA_CHECK(cudaStreamSynchronize(as_stream(*this)), "Stream::synchronize");
}

bool Stream::query() const {
  cuda_detail::DeviceGuard guard(device_);
  const cudaError_t err = cudaStreamQuery(as_stream(*this));
  if (err == cudaErrorNotReady) {
    (void)cudaGetLastError();
    return false;
  }
  TS_CUDA_CHECK(err, "Stream::query");
  return true;
}

void Stream::wait(const Event& e) const {
  cuda_detail::DeviceGuard guard(device_);
  TS_CUDA_CHECK(cudaStreamWaitEvent(as_stream(*this), as_event(e), 0), "Stream::wait");
}

StreamGuard::StreamGuard(const Stream& s) : previous_(Stream::current(s.device())) {
  cuda_detail::set_current_stream(s.device(), as_stream(s));
}
StreamGuard::~StreamGuard() { cuda_detail::set_current_stream(previous_.device(), as_stream(previous_)); }

Event::Event(int device) : device_(device) {
  require_available("Event");
  cuda_detail::DeviceGuard guard(device);
  cudaEvent_t e;
  TS_CUDA_CHECK(cudaEventCreate(&e), "cudaEventCreate");
  handle_ = std::shared_ptr<void>(e, [](void* p) { (void)cudaEventDestroy(static_cast<cudaEvent_t>(p)); });
}

void Event::record(const Stream& s) {
  TS_CHECK(s.device() == device_, "Event::record: the event is on cuda:{} but the stream on cuda:{}", device_,
           s.device());
  cuda_detail::DeviceGuard guard(device_);
  TS_CUDA_CHECK(cudaEventRecord(as_event(*this), as_stream(s)), "Event::record");
}

void Event::synchronize() const { TS_CUDA_CHECK(cudaEventSynchronize(as_event(*this)), "Event::synchronize"); }

bool Event::query() const {
  const cudaError_t err = cudaEventQuery(as_event(*this));
  if (err == cudaErrorNotReady) {
    (void)cudaGetLastError();
    return false;
  }
  TS_CUDA_CHECK(err, "Event::query");
  return true;
}

float Event::elapsed_ms(const Event& later) const {
  float ms = 0;
  TS_CUDA_CHECK(cudaEventElapsedTime(&ms, as_event(*this), as_event(later)), "Event::elapsed_ms");
  return ms;
}

// ---- pinned memory and cross-stream use ------------------------------------------------------

namespace {

// Pinned blocks are "allocated on" no stream, so any stream recorded at free is waited for.
// Asynchronous copies out of a block record their stream on it (CudaBackend::copy_bytes), so
// the allocator reuses it only after they have read it.
constexpr detail::StreamId kHostStream = ~detail::StreamId{0};

void* allocate_pinned(size_t nbytes) { return cuda_detail::pinned_allocator().allocate(nbytes, kHostStream); }
void free_pinned(void* ptr) { cuda_detail::pinned_allocator().free(ptr); }

}  // namespace

Tensor pin_memory(const Tensor& cpu_tensor) {
  require_available("pin_memory");
  TS_CHECK(cpu_tensor.defined() && cpu_tensor.is_cpu(), "pin_memory: expected a defined CPU tensor");
  if (cpu_tensor.is_contiguous() && is_pinned(cpu_tensor)) return cpu_tensor;
  const Tensor src = cpu_tensor.contiguous();
  const size_t nbytes = src.nbytes();
  Tensor out = from_blob(allocate_pinned(nbytes), src.shape(), src.dtype(), free_pinned);
  if (nbytes > 0) std::memcpy(out.raw_data(), src.raw_data(), nbytes);
  return out;
}

std::shared_ptr<Storage> pinned_storage(size_t nbytes) {
  require_available("pinned_storage");
  return std::make_shared<Storage>(allocate_pinned(nbytes), nbytes, Device(DeviceType::CPU), free_pinned);
}

bool is_pinned(const Tensor& t) { return t.defined() && t.is_cpu() && cuda_detail::is_pinned_host_pointer(t.raw_data()); }

void record_stream(const Tensor& t, const Stream& s) {
  TS_CHECK(t.defined() && t.device().is_cuda(), "record_stream: expected a CUDA tensor");
  cuda_detail::device_allocator(t.device().index)
      .record_stream(t.storage()->data(), reinterpret_cast<detail::StreamId>(s.handle()));
}

}  // namespace ts::cuda
