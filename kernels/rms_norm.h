#pragma once
// RMS norm, forward and backward, on x (rows, d) contiguous. Floating types only; 16-bit types
// compute in float32. rstd is float32, or float64 for float64 inputs.
#include <cstdint>

#include <cuda_runtime_api.h>

#include "kernels/kernel_types.h"

namespace ts::kernels {

/// y = round(x * rstd) * weight (rounded again) with rstd = 1 / sqrt(mean(x^2) + eps) per row;
/// without weight (null) y = x * rstd. weight (d) contiguous in x's type.
cudaError_t rms_norm_forward(const void* x, const void* weight, double eps, int64_t rows, int64_t d, void* y,
                             void* rstd, ScalarType type, cudaStream_t stream);

/// Doubles of scratch rms_norm_backward needs when grad_weight is requested.
int64_t rms_norm_backward_scratch(int64_t rows, int64_t d);

/// Either of grad_x / grad_weight may be null; weight may be null (ones). `scratch` holds
/// rms_norm_backward_scratch(rows, d) doubles when grad_weight is given.
cudaError_t rms_norm_backward(const void* grad_y, const void* x, const void* rstd, const void* weight, int64_t rows,
                              int64_t d, void* grad_x, void* grad_weight, double* scratch, ScalarType type,
                              cudaStream_t stream);

}  // namespace ts::kernels
