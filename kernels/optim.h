#pragma once
// Fused optimizer updates: one pass over a parameter, its gradient and its state, any strides.
// float32 / float64 only, as on the CPU. The arithmetic is PyTorch 1.13's op sequence with
// every intermediate rounded to the parameter's dtype and no fused multiply-adds, so results
// match the CPU backend bit for bit.
#include <cstdint>

#include <cuda_runtime_api.h>

#include "kernels/kernel_types.h"

namespace ts::kernels {

/// torch.optim.SGD's hyperparameters for one step (ts::SgdUpdate without framework types).
struct SgdStep {
  double lr = 0, momentum = 0, dampening = 0, weight_decay = 0;
  bool nesterov = false, maximize = false, init_buffer = false;
};

/// g's operands: 0 = param, 1 = grad, 2 = momentum_buffer (present iff momentum != 0).
cudaError_t sgd_update(void* param, const void* grad, void* momentum_buffer, const ElementwiseGeometry& g,
                       const SgdStep& step, ScalarType type, cudaStream_t stream);

/// torch.optim.Adam / AdamW's hyperparameters for one step (ts::AdamUpdate).
struct AdamStep {
  double lr = 0, beta1 = 0.9, beta2 = 0.999, eps = 1e-8, weight_decay = 0;
  bool amsgrad = false, maximize = false, decoupled_weight_decay = false;
  int64_t step = 1;
};

/// g's operands: 0 = param, 1 = grad, 2 = exp_avg, 3 = exp_avg_sq. With amsgrad,
/// max_exp_avg_sq is addressed through its own coalesced layout `max_layout` (same shape,
/// walked in the same row-major order).
cudaError_t adam_update(void* param, const void* grad, void* exp_avg, void* exp_avg_sq, void* max_exp_avg_sq,
                        const ElementwiseGeometry& g, const StridedLayout& max_layout, const AdamStep& step,
                        ScalarType type, cudaStream_t stream);

}  // namespace ts::kernels
