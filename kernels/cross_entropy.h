#pragma once
// Fused softmax cross-entropy launchers (kernels/cross_entropy.cu): per row of contiguous
// (rows, n) logits, loss = lse - x[target] (0 for ignore_index) and the row's log-sum-exp;
// the backward writes grad * (exp(x - lse) - onehot(target)). lse/accumulation is float32
// (float64 for F64 logits).
#include <cstdint>

#include "kernels/kernel_types.h"

namespace ts::kernels {

cudaError_t cross_entropy_forward(ScalarType dtype, const void* logits, const int64_t* target, int64_t ignore_index,
                                  void* loss, void* lse, int64_t rows, int64_t n, cudaStream_t stream);

cudaError_t cross_entropy_backward(ScalarType dtype, const void* grad_loss, const void* logits, const int64_t* target,
                                   const void* lse, int64_t ignore_index, void* grad_logits, int64_t rows, int64_t n,
                                   cudaStream_t stream);

}  // namespace ts::kernels
