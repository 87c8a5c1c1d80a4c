// Batch norm in training mode on cuDNN (cuda_cudnn.h): CUDNN_BATCHNORM_SPATIAL, with the few
// descriptors set on every call, which costs about what a cache lookup would.
#include "backend/cuda/cuda_cudnn.h"

#if defined(TESSERA_HAVE_CUDNN)
#include "backend/cuda/cuda_backend.h"
#include "backend/cuda/cuda_cudnn_support.h"
#include "backend/cuda/cuda_tensor_args.h"

namespace ts::cuda_detail {
using namespace cudnn_util;  // NOLINT(google-build-using-namespace): this file is a cudnn_util user
namespace {

// The largest batch cuDNN's spatial batch norm is known to handle in training (PyTorch's limit,
// measured on cuDNN 7.6, where larger N failed); larger batches run our kernels.
constexpr int64_t kMaxBatchNormN = 880801;

// x (N, C, *) as the (N, C, S, 1) NCHW tensor cuDNN normalizes per channel over N * S, and the
// derived (1, C, 1, 1) descriptor of the per-channel tensors in cuDNN's parameter dtype.
struct BatchNormDescriptors {
  TensorDescriptor x, param;
  int64_t n = 0, c = 0, s = 0;
};

// False when x is not a problem cuDNN's batch norm takes as ours (see cuda_cudnn.h).
bool set_batch_norm_descriptors(BatchNormDescriptors& d, const Tensor& x, cudnnDataType_t dt) {
  if (x.dim() < 2 || !x.is_contiguous() || !fits_cudnn(x)) return false;
  d.n = x.shape()[0];
  d.c = x.shape()[1];
  if (d.n == 0 || d.c == 0 || d.n > kMaxBatchNormN) return false;
  d.s = x.numel() / (d.n * d.c);  // < 2^31, as numel is
  if (d.n * d.s <= 1) return false;
  const auto i32 = [](int64_t v) { return static_cast<int>(v); };
  return ok(cudnnSetTensor4dDescriptor(d.x.get(), CUDNN_TENSOR_NCHW, dt, i32(d.n), i32(d.c), i32(d.s), 1)) &&
         ok(cudnnDeriveBNTensorDescriptor(d.param.get(), d.x.get(), CUDNN_BATCHNORM_SPATIAL));
}

// A per-channel tensor cuDNN can read or write in place: `channels` contiguous elements of
// `dtype` (cuDNN's parameter dtype).
bool is_channel_tensor(const Tensor& t, DType dtype, int64_t channels) {
  return t.defined() && t.dtype() == dtype && t.dim() == 1 && t.shape()[0] == channels && t.is_contiguous();
}

// Weight or bias as cuDNN's scale or bias operand: converted to the parameter dtype (float32
// for 16-bit x), or, when undefined, `value` for every channel (cuDNN has no "no weight" mode).
Tensor channel_operand(const Tensor& t, DType dtype, int64_t channels, const Device& device, double value) {
  if (t.defined()) return dense(t, dtype);
  Tensor filled = make_tensor({channels}, dtype, device);
  cuda_backend().fill(filled, value);
  return filled;
}

}  // namespace

bool cudnn_batch_norm_training(const Tensor& x, const Tensor& weight, const Tensor& bias, const Tensor& running_mean,
                               const Tensor& running_var, double momentum, double eps, const Tensor& y,
                               const Tensor& save_mean, const Tensor& save_invstd) {
  if (!cudnn_enabled()) return false;
  const std::optional<cudnnDataType_t> dt = legacy_op_data_type(x.dtype());
  // !(eps >= min) also declines a NaN eps.
  if (!dt || !(eps >= CUDNN_BN_MIN_EPSILON) || !y.is_contiguous()) return false;
  BatchNormDescriptors d;
  if (!set_batch_norm_descriptors(d, x, *dt)) return false;
  const DType param = stats_dtype(x.dtype());
  const bool running = running_mean.defined();
  if (running_var.defined() != running) return false;
  if (running && !(is_channel_tensor(running_mean, param, d.c) && is_channel_tensor(running_var, param, d.c)))
    return false;
  if (!is_channel_tensor(save_mean, param, d.c) || !is_channel_tensor(save_invstd, param, d.c)) return false;

  const Tensor scale = channel_operand(weight, param, d.c, x.device(), 1.0);
  const Tensor shift = channel_operand(bias, param, d.c, x.device(), 0.0);
  for (const Tensor* t : {&x, &y, &running_mean, &running_var, &save_mean, &save_invstd, &scale, &shift})
    if (!aligned_for_cudnn(*t)) return false;
  const Scaling scaling(*dt);
  BorrowedHandle handle(x.device().index);
  // cuDNN's running update is ours: stat = (1 - factor) * stat + factor * batch value, the
  // variance's batch value unbiased (N * S / (N * S - 1) times the one it normalizes with).
  const cudnnStatus_t st = cudnnBatchNormalizationForwardTraining(
      handle.get(), CUDNN_BATCHNORM_SPATIAL, scaling.one(), scaling.zero(), d.x.get(), x.raw_data(), d.x.get(),
      y.raw_data(), d.param.get(), scale.raw_data(), shift.raw_data(), momentum,
      running ? running_mean.raw_data() : nullptr, running ? running_var.raw_data() : nullptr, eps,
      save_mean.raw_data(), save_invstd.raw_data());
  if (not_supported(st)) return false;
  TS_CUDNN_CHECK(st, "batch_norm (cudnnBatchNormalizationForwardTraining)");
  return true;
}

bool cudnn_batch_norm_backward(const Tensor& grad_y, const Tensor& x, const Tensor& weight, const Tensor& save_mean,
                               const Tensor& save_invstd, const Tensor& grad_x, const Tensor& grad_weight,
                               const Tensor& grad_bias) {
  if (!cudnn_enabled()) return false;
  const std::optional<cudnnDataType_t> dt = legacy_op_data_type(x.dtype());
  if (!dt || !grad_x.defined() || !grad_x.is_contiguous() || !grad_y.is_contiguous() ||
      grad_y.dtype() != x.dtype() || grad_y.shape() != x.shape())
    return false;
  BatchNormDescriptors d;
  if (!set_batch_norm_descriptors(d, x, *dt)) return false;
  const DType param = stats_dtype(x.dtype());
  if (!is_channel_tensor(save_mean, param, d.c) || !is_channel_tensor(save_invstd, param, d.c)) return false;

  const Tensor scale = channel_operand(weight, param, d.c, x.device(), 1.0);
  // cuDNN writes both parameter gradients, in the parameter dtype: straight into the caller's
  // when they have it, else into scratch (converted afterwards when the caller wants them).
  const auto writes_direct = [&](const Tensor& g) { return is_channel_tensor(g, param, d.c); };
  const Tensor gw = writes_direct(grad_weight) ? grad_weight : make_tensor({d.c}, param, x.device());
  const Tensor gb = writes_direct(grad_bias) ? grad_bias : make_tensor({d.c}, param, x.device());
  for (const Tensor* t : {&grad_y, &x, &grad_x, &save_mean, &save_invstd, &scale, &gw, &gb})
    if (!aligned_for_cudnn(*t)) return false;
  const Scaling scaling(*dt);
  BorrowedHandle handle(x.device().index);
  // Given the saved statistics, cuDNN uses them instead of recomputing the batch's (cudnn_ops.h:
  // "optionally cached intermediate results from forward pass"), so epsilon only has to be
  // valid: the backend interface does not carry the forward's. The CUDA tests use a large eps,
  // which a cuDNN that read it would get visibly wrong.
  const cudnnStatus_t st = cudnnBatchNormalizationBackward(
      handle.get(), CUDNN_BATCHNORM_SPATIAL, scaling.one(), scaling.zero(), scaling.one(), scaling.zero(), d.x.get(),
      x.raw_data(), d.x.get(), grad_y.raw_data(), d.x.get(), grad_x.raw_data(), d.param.get(), scale.raw_data(),
      gw.raw_data(), gb.raw_data(), CUDNN_BN_MIN_EPSILON, save_mean.raw_data(), save_invstd.raw_data());
  if (not_supported(st)) return false;
  TS_CUDNN_CHECK(st, "batch_norm_backward (cudnnBatchNormalizationBackward)");
  if (grad_weight.defined() && !writes_direct(grad_weight)) cuda_backend().copy(gw, grad_weight);
  if (grad_bias.defined() && !writes_direct(grad_bias)) cuda_backend().copy(gb, grad_bias);
  return true;
}

}  // namespace ts::cuda_detail
#endif
