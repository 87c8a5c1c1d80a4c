#pragma once
// Softmax / log-softmax over one dim of a contiguous tensor, forward and backward. The tensor
// is viewed as (outer, n, inner) with the softmax taken over n; floating types only, 16-bit
// types computed in float32.
#include <cstdint>

#include <cuda_runtime_api.h>

#include "kernels/kernel_types.h"

namespace ts::kernels {

struct SoftmaxShape {
  int64_t outer = 1, n = 1, inner = 1;
};

/// y = softmax(x) (or log_softmax); x and y contiguous, same dtype.
cudaError_t softmax_forward(const void* x, void* y, SoftmaxShape shape, bool log, ScalarType type,
                            cudaStream_t stream);

/// grad_in from grad_out and the forward result y (all contiguous, same dtype):
/// softmax: y * (g - sum(g * y)); log_softmax: g - exp(y) * sum(g).
cudaError_t softmax_backward(const void* grad_out, const void* y, void* grad_in, SoftmaxShape shape, bool log,
                             ScalarType type, cudaStream_t stream);

}  // namespace ts::kernels
