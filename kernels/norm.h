#pragma once
// Layer norm and batch norm, forward and backward. Floating types only; 16-bit types compute
// in float32. Statistics (mean, rstd / invstd) are float32, or float64 for float64 inputs.
#include <cstdint>

#include <cuda_runtime_api.h>

#include "kernels/kernel_types.h"

namespace ts::kernels {

// ---- layer norm: x (rows, d) contiguous; weight/bias (d) contiguous or null --------------------

cudaError_t layer_norm_forward(const void* x, const void* weight, const void* bias, double eps, int64_t rows,
                               int64_t d, void* y, void* mean, void* rstd, ScalarType type, cudaStream_t stream);

/// Doubles of scratch layer_norm_backward needs when grad_weight or grad_bias is requested.
int64_t layer_norm_backward_scratch(int64_t rows, int64_t d);

/// Any of grad_x / grad_weight / grad_bias may be null; `scratch` holds
/// layer_norm_backward_scratch(rows, d) doubles when grad_weight or grad_bias is given.
cudaError_t layer_norm_backward(const void* grad_y, const void* x, const void* mean, const void* rstd,
                                const void* weight, int64_t rows, int64_t d, void* grad_x, void* grad_weight,
                                void* grad_bias, double* scratch, ScalarType type, cudaStream_t stream);

// ---- batch norm: x (n, c, s) contiguous --------------------------------------------------------

struct BatchNormShape {
  int64_t n = 0, c = 0, s = 0;
};

/// A per-channel tensor of any floating dtype and stride (the running statistics, which the
/// op layer passes as the caller's tensors). data == nullptr: absent.
struct ChannelParam {
  void* data = nullptr;
  ScalarType type = ScalarType::F32;
  int64_t stride = 1;
};

/// Doubles of scratch batch_norm_forward / batch_norm_backward need.
int64_t batch_norm_scratch(BatchNormShape shape);

/// Training: batch statistics (two passes: mean, then squared deviations), save_mean /
/// save_invstd, and running stats updated with `momentum` and the unbiased variance when
/// present. Eval: running stats (required). weight/bias (c) contiguous in x's dtype, or null.
cudaError_t batch_norm_forward(const void* x, const void* weight, const void* bias, ChannelParam running_mean,
                               ChannelParam running_var, bool training, double momentum, double eps,
                               BatchNormShape shape, void* y, void* save_mean, void* save_invstd, double* scratch,
                               ScalarType type, cudaStream_t stream);

/// Any of grad_x / grad_weight / grad_bias may be null; weight may be null (ones).
cudaError_t batch_norm_backward(const void* grad_y, const void* x, const void* weight, const void* save_mean,
                                const void* save_invstd, bool training, BatchNormShape shape, void* grad_x,
                                void* grad_weight, void* grad_bias, double* scratch, ScalarType type,
                                cudaStream_t stream);

}  // namespace ts::kernels
