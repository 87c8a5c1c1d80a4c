#include "backend/cuda/cuda_context.h"

#include <array>
#include <atomic>
#include <map>
#include <mutex>
#include <string>

#include <fmt/format.h>

namespace ts::cuda_detail {

namespace {
constexpr int kMaxDevices = 16;

struct Probe {
  int count = 0;
  std::string reason;
};

const Probe& probe() {
  static const Probe p = [] {
    Probe r;
    int n = 0;
    const cudaError_t err = cudaGetDeviceCount(&n);
    if (err != cudaSuccess) {
      (void)cudaGetLastError();  // clear the sticky-free error so later calls start clean
      r.reason = fmt::format("the CUDA runtime reports {}: {}", cudaGetErrorName(err), cudaGetErrorString(err));
      return r;
    }
    if (n == 0) {
      r.reason = "the CUDA runtime found no GPU";
      return r;
    }
    r.count = n < kMaxDevices ? n : kMaxDevices;
    return r;
  }();
  return p;
}

thread_local std::array<cudaStream_t, kMaxDevices> t_current_streams{};

// cuBLAS handles are per thread (a handle is bound to one stream at a time, and threads have
// their own current streams); cuBLASLt's handle is stateless and shared. Workspaces are per
// (device, stream) so concurrent GEMMs on two streams never share scratch memory.
struct ThreadHandles {
  std::array<cublasHandle_t, kMaxDevices> cublas{};
  ~ThreadHandles() {
    for (cublasHandle_t h : cublas)
      if (h != nullptr) (void)cublasDestroy(h);
  }
};
thread_local ThreadHandles t_handles;

std::mutex g_handles_mutex;
std::array<cublasLtHandle_t, kMaxDevices> g_cublaslt{};
std::map<std::pair<int, cudaStream_t>, void*> g_lt_workspaces;
constexpr size_t kLtWorkspaceBytes = size_t{32} << 20;  // what cuBLASLt's Hopper kernels like

std::atomic<bool> g_allow_tf32{false};

void check_device(int device) {
  TS_CHECK(device >= 0 && device < device_count(), "cuda:{} does not exist: {} CUDA device(s) are usable", device,
           device_count());
}
}  // namespace

void throw_cuda_error(cudaError_t err, const char* what, const char* file, int line) {
  (void)cudaGetLastError();
  detail::throw_error(file, line, fmt::format("{}: CUDA error {} ({})", what, cudaGetErrorName(err),
                                              cudaGetErrorString(err)));
}

void throw_cublas_error(cublasStatus_t st, const char* what, const char* file, int line) {
  detail::throw_error(file, line, fmt::format("{}: cuBLAS error {} ({})", what, cublasGetStatusName(st),
                                              cublasGetStatusString(st)));
}

int device_count() { return probe().count; }
const char* unavailable_reason() { return probe().reason.c_str(); }

DeviceGuard::DeviceGuard(int device) {
  TS_CUDA_CHECK(cudaGetDevice(&previous_), "cudaGetDevice");
  if (previous_ != device) {
    TS_CUDA_CHECK(cudaSetDevice(device), "cudaSetDevice");
  } else {
    previous_ = -1;  // nothing to restore
  }
}

DeviceGuard::~DeviceGuard() {
  if (previous_ >= 0) (void)cudaSetDevice(previous_);
}

cudaStream_t current_stream(int device) {
  check_device(device);
  return t_current_streams[static_cast<size_t>(device)];
}

void set_current_stream(int device, cudaStream_t stream) {
  check_device(device);
  t_current_streams[static_cast<size_t>(device)] = stream;
}

cublasHandle_t cublas_handle(int device) {
  check_device(device);
  auto& slot = t_handles.cublas[static_cast<size_t>(device)];
  if (slot == nullptr) {
    DeviceGuard guard(device);
    TS_CUBLAS_CHECK(cublasCreate(&slot), "cublasCreate");
    // By default cuBLAS may reduce split-K partial sums in the output type: for the 16-bit GEMMs
    // that fall back from cuBLASLt (cuda_matmul.cpp) that rounds to 16 bits between passes,
    // where the CPU backend (and cuBLASLt, by its reduction-scheme preference) rounds the
    // float32 sum once. No effect where the output is float32/float64.
    TS_CUBLAS_CHECK(cublasSetMathMode(slot, static_cast<cublasMath_t>(CUBLAS_DEFAULT_MATH |
                                                                      CUBLAS_MATH_DISALLOW_REDUCED_PRECISION_REDUCTION)),
                    "cublasSetMathMode");
  }
  TS_CUBLAS_CHECK(cublasSetStream(slot, current_stream(device)), "cublasSetStream");
  // cublasSetStream resets the handle to cuBLAS's own workspace, which is per handle, not per
  // stream: give it this stream's buffer (shared with cuBLASLt, whose GEMMs on the same stream
  // are ordered with these), so GEMMs queued on two streams never share scratch memory.
  size_t workspace_bytes = 0;
  void* workspace = cublaslt_workspace(device, &workspace_bytes);
  TS_CUBLAS_CHECK(cublasSetWorkspace(slot, workspace, workspace_bytes), "cublasSetWorkspace");
  return slot;
}

cublasLtHandle_t cublaslt_handle(int device) {
  check_device(device);
  std::lock_guard<std::mutex> lock(g_handles_mutex);
  auto& slot = g_cublaslt[static_cast<size_t>(device)];
  if (slot == nullptr) {
    DeviceGuard guard(device);
    TS_CUBLAS_CHECK(cublasLtCreate(&slot), "cublasLtCreate");
  }
  return slot;
}

void* cublaslt_workspace(int device, size_t* nbytes) {
  check_device(device);
  const cudaStream_t stream = current_stream(device);
  std::lock_guard<std::mutex> lock(g_handles_mutex);
  void*& slot = g_lt_workspaces[{device, stream}];
  if (slot == nullptr) {
    DeviceGuard guard(device);
    // Outside the caching allocator on purpose: it lives as long as the process, like the handle.
    TS_CUDA_CHECK(cudaMalloc(&slot, kLtWorkspaceBytes), "cuBLASLt workspace");
  }
  *nbytes = kLtWorkspaceBytes;
  return slot;
}

bool allow_tf32() { return g_allow_tf32.load(std::memory_order_relaxed); }
void set_allow_tf32(bool allow) { g_allow_tf32.store(allow, std::memory_order_relaxed); }

}  // namespace ts::cuda_detail
