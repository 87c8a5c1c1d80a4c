// CudaBackend::cross_entropy / cross_entropy_backward -> kernels/cross_entropy.cu.
#include "backend/cuda/cuda_backend.h"
#include "backend/cuda/cuda_context.h"
#include "backend/cuda/cuda_tensor_args.h"
#include "kernels/cross_entropy.h"

namespace ts {

namespace {
void check_args(const char* op, const Tensor& logits, const Tensor& target, const Tensor& lse) {
  TS_CHECK(logits.dim() == 2 && logits.is_contiguous(), "{}: expected contiguous (N, C) logits, got {}", op,
           shape_str(logits.shape()));
  TS_CHECK(target.is_contiguous() && target.dtype() == DType::Int64 && target.numel() == logits.size(0),
           "{}: expected a contiguous int64 target of {} entries", op, logits.size(0));
  const DType want = logits.dtype() == DType::Float64 ? DType::Float64 : DType::Float32;
  TS_CHECK(lse.dtype() == want && lse.is_contiguous() && lse.numel() == logits.size(0),
           "{}: expected a contiguous {} lse of {} entries", op, dtype_name(want), logits.size(0));
}
}  // namespace

void CudaBackend::cross_entropy(const Tensor& logits, const Tensor& target, int64_t ignore_index, const Tensor& loss,
                                const Tensor& lse) {
  constexpr const char* op = "cross_entropy";
  check_args(op, logits, target, lse);
  TS_CHECK(loss.is_contiguous() && loss.dtype() == logits.dtype() && loss.numel() == logits.size(0),
           "{}: expected a contiguous loss of {} entries in the logits' dtype", op, logits.size(0));
  const int dev = cuda_detail::common_device(op, {&logits, &target, &loss, &lse});
  cuda_detail::DeviceGuard guard(dev);
  TS_CUDA_CHECK(kernels::cross_entropy_forward(cuda_detail::scalar_type(logits.dtype()), logits.raw_data(),
                                               static_cast<const int64_t*>(target.raw_data()), ignore_index,
                                               loss.raw_data(), lse.raw_data(), logits.size(0), logits.size(1),
                                               cuda_detail::current_stream(dev)),
                op);
}

void CudaBackend::cross_entropy_backward(const Tensor& grad_loss, const Tensor& logits, const Tensor& target,
                                         const Tensor& lse, int64_t ignore_index, const Tensor& grad_logits) {
  constexpr const char* op = "cross_entropy_backward";
  check_args(op, logits, target, lse);
  TS_CHECK(grad_loss.is_contiguous() && grad_loss.dtype() == logits.dtype() && grad_loss.numel() == logits.size(0) &&
               grad_logits.is_contiguous() &&
               grad_logits.dtype() == logits.dtype() && grad_logits.shape() == logits.shape(),
           "{}: expected contiguous gradients in the logits' dtype", op);
  const int dev = cuda_detail::common_device(op, {&grad_loss, &logits, &target, &lse, &grad_logits});
  cuda_detail::DeviceGuard guard(dev);
  TS_CUDA_CHECK(kernels::cross_entropy_backward(cuda_detail::scalar_type(logits.dtype()), grad_loss.raw_data(),
                                                logits.raw_data(), static_cast<const int64_t*>(target.raw_data()),
                                                lse.raw_data(), ignore_index, grad_logits.raw_data(), logits.size(0),
                                                logits.size(1), cuda_detail::current_stream(dev)),
                op);
}

}  // namespace ts
