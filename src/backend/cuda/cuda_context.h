#pragma once
// Per-process CUDA state the backend's host code shares: error checking that raises ts::Error,
// the device guard, each device's current stream, and the cuBLAS/cuBLASLt handles.
#include <cstddef>

#include <cublasLt.h>
#include <cublas_v2.h>
#include <cuda_runtime_api.h>

#include "tessera/error.h"

namespace ts::cuda_detail {

[[noreturn]] void throw_cuda_error(cudaError_t err, const char* what, const char* file, int line);
[[noreturn]] void throw_cublas_error(cublasStatus_t st, const char* what, const char* file, int line);

/// Checks a CUDA runtime call (or a kernel launcher's returned status); `what` names the op.
#define TS_CUDA_CHECK(expr, what)                                                          \
  do {                                                                                     \
    const cudaError_t ts_cuda_err_ = (expr);                                               \
    if (ts_cuda_err_ != cudaSuccess) ::ts::cuda_detail::throw_cuda_error(ts_cuda_err_, what, __FILE__, __LINE__); \
  } while (0)
#define TS_CUBLAS_CHECK(expr, what)                                                        \
  do {                                                                                     \
    const cublasStatus_t ts_cublas_st_ = (expr);                                           \
    if (ts_cublas_st_ != CUBLAS_STATUS_SUCCESS)                                            \
      ::ts::cuda_detail::throw_cublas_error(ts_cublas_st_, what, __FILE__, __LINE__);      \
  } while (0)

/// Number of usable GPUs, probed once; 0 when the driver is missing or too old.
int device_count();
/// Why device_count() is 0 (the runtime's message), or "" when GPUs were found.
const char* unavailable_reason();

/// Makes `device` current for the guard's lifetime (cudaSetDevice), restoring the previous one.
class DeviceGuard {
 public:
  explicit DeviceGuard(int device);
  ~DeviceGuard();
  DeviceGuard(const DeviceGuard&) = delete;
  DeviceGuard& operator=(const DeviceGuard&) = delete;

 private:
  int previous_ = -1;
};

/// The stream this thread enqueues work on for `device` (the legacy default stream until
/// set_current_stream changes it, as in PyTorch).
cudaStream_t current_stream(int device);
void set_current_stream(int device, cudaStream_t stream);

/// This thread's cuBLAS handle for `device`, bound to the current stream and its workspace.
cublasHandle_t cublas_handle(int device);
cublasLtHandle_t cublaslt_handle(int device);
/// cuBLAS/cuBLASLt scratch memory for the current stream of `device` (one buffer per stream,
/// so GEMMs running concurrently on different streams never share it).
void* cublaslt_workspace(int device, size_t* nbytes);

/// TF32 tensor cores for float32 GEMM and convolution (ts::cuda::set_allow_tf32).
bool allow_tf32();
void set_allow_tf32(bool allow);

}  // namespace ts::cuda_detail
