#pragma once
// cuDNN behind the CUDA backend, when the build has it (TESSERA_HAVE_CUDNN): a pool of handles
// per device (cuda_cudnn_support.*); conv2d for cuda_conv.cpp with per-problem plans
// (descriptors, algorithm, workspace size) built once and cached (cuda_cudnn_conv.cpp); batch
// norm in training mode for cuda_norm.cpp (cuda_cudnn_batch_norm.cpp) and average pooling for
// cuda_pool.cpp (cuda_cudnn_pool.cpp), with descriptors set per call. Every entry point returns false, having
// written nothing, when cuDNN cannot compute exactly what our kernels compute, or when an
// operand's data is not 16-byte aligned (cudnn_util::aligned_for_cudnn); the caller then runs
// its own kernels (as it does without cuDNN).
#include <cstdint>

#include "tessera/backend.h"

namespace ts::cuda_detail {

/// The three convolutions of conv2d's forward and backward.
enum class ConvPass : uint8_t {
  Forward,         ///< writes y from x and w
  BackwardData,    ///< writes x (the input gradient) from y (the output gradient) and w
  BackwardFilter,  ///< writes w (the weight gradient) from x and y (the output gradient)
};

/// The two passes of average pooling.
enum class PoolPass : uint8_t {
  Forward,   ///< writes y from x
  Backward,  ///< writes x (the input gradient) from y (the output gradient)
};

/// False without cuDNN in the build, or when the environment sets TESSERA_CUDNN=0: every entry
/// point below then declines, and conv2d, batch norm and average pooling run our kernels (tests
/// use it to check both paths). Read on every call, so a test can flip it. Without cuDNN the
/// entry points exist too (cuda_cudnn_support.cpp), so callers need no build switch.
bool cudnn_enabled();

/// Runs one pass of conv2d on cuDNN on the current stream of the tensors' device (the caller
/// holds a DeviceGuard). x (N, C, H, W), w (O, C / groups, kh, kw) and y (N, O, Ho, Wo) are
/// dense, of one float dtype. Returns false, having written nothing, when cuDNN does not
/// support the problem (dtype, sizes beyond its 32-bit limits, no algorithm); the caller then
/// uses its own kernels. Other cuDNN failures raise ts::Error.
bool cudnn_conv2d(ConvPass pass, const Tensor& x, const Tensor& w, const Tensor& y, const Conv2dParams& p);

/// Batch norm's training forward on cuDNN (CUDNN_BATCHNORM_SPATIAL, deterministic), with x
/// (N, C, *) seen as an NCHW (N, C, S, 1) tensor: y, save_mean (the batch mean), save_invstd
/// (1 / sqrt(biased batch variance + eps)) and, when defined, the running stats updated with
/// `momentum` and the unbiased variance: what kernels/norm.cu computes. Operands as
/// CudaBackend::batch_norm has them: x and y dense, weight / bias dense in x's dtype or undefined
/// (cuDNN then gets ones / zeros). Returns false, having written nothing, unless: x is float32,
/// float16 or float64 within cuDNN's sizes, N * S > 1, eps >= CUDNN_BN_MIN_EPSILON, the running stats are both
/// undefined or both contiguous in cuDNN's parameter dtype (float32 for 16-bit x, x's dtype
/// otherwise), and so are save_mean / save_invstd.
bool cudnn_batch_norm_training(const Tensor& x, const Tensor& weight, const Tensor& bias, const Tensor& running_mean,
                               const Tensor& running_var, double momentum, double eps, const Tensor& y,
                               const Tensor& save_mean, const Tensor& save_invstd);

/// Batch norm's training backward on cuDNN from save_mean / save_invstd, which either forward
/// (cuDNN's or our kernels') leaves in the same form (batch mean, 1 / sqrt(var + eps)). grad_x is
/// required: without it our kernels, which can skip the input gradient, are cheaper. grad_weight
/// / grad_bias may be undefined (cuDNN writes scratch). Same conditions and result as
/// cudnn_batch_norm_training.
bool cudnn_batch_norm_backward(const Tensor& grad_y, const Tensor& x, const Tensor& weight, const Tensor& save_mean,
                               const Tensor& save_invstd, const Tensor& grad_x, const Tensor& grad_weight,
                               const Tensor& grad_bias);

/// One pass of average pooling on cuDNN; x (N, C, H, W) and y (N, C, Ho, Wo) dense, of one float
/// dtype other than bfloat16 (see legacy_op_data_type). Returns false, having written nothing,
/// unless cuDNN's windows are exactly ours: dilation 1 and the floor formula's output size (a ceil_mode window reaching past the padding has a
/// divisor cuDNN does not use), so every divisor is kernel_h * kernel_w (count_include_pad) or
/// the window's count of input elements. Max pooling stays on our kernels: it must return the
/// argmax indices, which cuDNN does not (PyTorch keeps its own kernels for the same reason).
bool cudnn_avg_pool2d(PoolPass pass, const Tensor& x, const Tensor& y, const Pool2dParams& p);

}  // namespace ts::cuda_detail
