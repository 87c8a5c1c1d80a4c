#pragma once
// conv2d's own kernels (kernels/im2col.cu), for the path without cuDNN and for the bias:
// im2col / col2im between dense NCHW images and column matrices, the permutes between a block
// of output images and its (O, images * Ho * Wo) GEMM matrix, and the bias forward/backward.
//
// A block is images [n0, n0 + nb) of the batch. Its column matrix has rows (c, ki, kj) =
// (c * kh + ki) * kw + kj and columns j = i * Ho * Wo + oh * Wo + ow for image n0 + i, so each
// group's rows are one contiguous (C/groups * kh * kw, nb * Ho * Wo) block: one GEMM per group.
//
// "acc" buffers (GEMM outputs) are float for F16/BF16 and the element type otherwise, so 16-bit
// convolutions are rounded once from float32, as on the CPU backend.
#include <cstdint>

#include <cuda_runtime_api.h>

#include "kernels/kernel_types.h"

namespace ts::kernels {

struct ConvGeometry {
  int64_t n = 0, c = 0, h = 0, w = 0;  ///< input (N, C, H, W)
  int64_t o = 0, kh = 1, kw = 1;       ///< weight (O, C / groups, kh, kw)
  int64_t ho = 0, wo = 0;              ///< output (N, O, Ho, Wo)
  int64_t stride_h = 1, stride_w = 1, pad_h = 0, pad_w = 0, dilation_h = 1, dilation_w = 1;
  int64_t groups = 1;
};

/// col (C * kh * kw, nb * Ho * Wo), element type: the block's column matrix; 0 where a tap
/// falls in the padding.
cudaError_t im2col(const void* x, void* col, const ConvGeometry& g, int64_t n0, int64_t nb, ScalarType st,
                   cudaStream_t stream);
/// The adjoint of im2col: each input element of images [n0, n0 + nb) of x is set to the sum of
/// the column-matrix entries (acc type) that read it. One thread per input element gathers
/// them (no atomics, deterministic); x is fully written.
cudaError_t col2im(const void* col, void* x, const ConvGeometry& g, int64_t n0, int64_t nb, ScalarType st,
                   cudaStream_t stream);
/// y[n0 + i][o][p] = cols[o][i * Ho * Wo + p]; cols (O, nb * Ho * Wo) in the acc type.
cudaError_t cols_to_output(const void* cols, void* y, const ConvGeometry& g, int64_t n0, int64_t nb, ScalarType st,
                           cudaStream_t stream);
/// cols[o][i * Ho * Wo + p] = y[n0 + i][o][p], both in the element type.
cudaError_t output_to_cols(const void* y, void* cols, const ConvGeometry& g, int64_t n0, int64_t nb, ScalarType st,
                           cudaStream_t stream);

/// y[i][o][p] += bias[o] for y dense (n, o, hw), computed in the acc type.
cudaError_t add_bias(void* y, const void* bias, int64_t n, int64_t o, int64_t hw, ScalarType st, cudaStream_t stream);
/// grad_bias[o] = sum over i, p of grad_out[i][o][p] (dense (n, o, hw)), accumulated in double
/// as on the CPU backend. One block per channel.
cudaError_t bias_grad(const void* grad_out, void* grad_bias, int64_t n, int64_t o, int64_t hw, ScalarType st,
                      cudaStream_t stream);

/// dst[i] = src[i] rounded to st (float32 accumulators back to a 16-bit type).
cudaError_t convert_from_float(const float* src, void* dst, int64_t count, ScalarType st, cudaStream_t stream);

}  // namespace ts::kernels
