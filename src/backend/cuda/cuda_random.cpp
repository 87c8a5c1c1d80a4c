// Counter-based random fills on the GPU: element i (row-major in `out`) draws from
// Philox(seed, offset + i), the CPU backend's stream value for value (kernels/random.cu).
#include "backend/cuda/cuda_backend.h"
#include "backend/cuda/cuda_context.h"
#include "backend/cuda/cuda_tensor_args.h"
#include "kernels/random.h"

namespace ts {

void CudaBackend::fill_uniform(const Tensor& out, double low, double high, uint64_t seed, uint64_t offset) {
  const int dev = cuda_detail::common_device("random fill", {&out});
  TS_CHECK(out.is_contiguous(), "random fill: expected a contiguous output");
  if (out.numel() == 0) return;
  cuda_detail::DeviceGuard guard(dev);
  TS_CUDA_CHECK(kernels::fill_uniform(cuda_detail::scalar_type(out.dtype()), out.raw_data(), out.numel(), low, high,
                                      seed, offset, cuda_detail::current_stream(dev)),
                "uniform_");
}

void CudaBackend::fill_normal(const Tensor& out, double mean, double std, uint64_t seed, uint64_t offset) {
  const int dev = cuda_detail::common_device("random fill", {&out});
  TS_CHECK(out.is_contiguous(), "random fill: expected a contiguous output");
  if (out.numel() == 0) return;
  cuda_detail::DeviceGuard guard(dev);
  TS_CUDA_CHECK(kernels::fill_normal(cuda_detail::scalar_type(out.dtype()), out.raw_data(), out.numel(), mean, std,
                                     seed, offset, cuda_detail::current_stream(dev)),
                "normal_");
}

}  // namespace ts
