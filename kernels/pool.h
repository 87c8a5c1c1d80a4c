#pragma once
// 2-d pooling launchers (kernels/pool.cu): max (with argmax indices), average and adaptive
// average, forward and backward, over dense (planes, H, W) tensors. Float dtypes; 16-bit types
// are computed in float32, as on the CPU backend (src/backend/cpu/cpu_pool.cpp).
#include <cstdint>

#include <cuda_runtime_api.h>

#include "kernels/kernel_types.h"

namespace ts::kernels {

/// planes = N * C; every plane of the input is h x w and of the output ho x wo.
struct PoolGeometry {
  int64_t planes = 0, h = 0, w = 0, ho = 0, wo = 0;
};

/// Window of one output element (Pool2dParams without the framework types).
struct PoolWindow {
  int64_t kernel_h = 1, kernel_w = 1, stride_h = 1, stride_w = 1, pad_h = 0, pad_w = 0;
  int64_t dilation_h = 1, dilation_w = 1;  ///< max pooling only
  bool count_include_pad = true;           ///< avg pooling only
};

/// y and indices (flat h*W+w argmax within the plane; first max wins, NaN propagates).
cudaError_t max_pool2d_forward(const void* x, void* y, int64_t* indices, const PoolGeometry& g, const PoolWindow& p,
                               ScalarType st, cudaStream_t stream);
/// grad_in[plane][i] = sum of grad_out[plane][j] over the outputs j (in row-major order) with
/// indices[plane][j] == i, i being a tap of j's window (an output whose window has no tap inside
/// the input routes nothing). `indices` must come from max_pool2d_forward with the same window
/// `p`: each input gathers from the outputs whose windows cover it (deterministic, no atomics,
/// the CPU backend's summation order; 16-bit types add in float32 and round once).
cudaError_t max_pool2d_backward(const void* grad_out, const int64_t* indices, void* grad_in, const PoolGeometry& g,
                                const PoolWindow& p, ScalarType st, cudaStream_t stream);

cudaError_t avg_pool2d_forward(const void* x, void* y, const PoolGeometry& g, const PoolWindow& p, ScalarType st,
                               cudaStream_t stream);
/// Gathers, for each input element, the outputs whose windows contain it (no atomics).
cudaError_t avg_pool2d_backward(const void* grad_out, void* grad_in, const PoolGeometry& g, const PoolWindow& p,
                                ScalarType st, cudaStream_t stream);

/// PyTorch's adaptive windows: start = floor(i*H/Ho), end = ceil((i+1)*H/Ho).
cudaError_t adaptive_avg_pool2d_forward(const void* x, void* y, const PoolGeometry& g, ScalarType st,
                                        cudaStream_t stream);
cudaError_t adaptive_avg_pool2d_backward(const void* grad_out, void* grad_in, const PoolGeometry& g, ScalarType st,
                                         cudaStream_t stream);

}  // namespace ts::kernels
