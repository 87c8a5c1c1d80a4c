#pragma once
// Launchers of the fused scaled-dot-product attention kernels (kernels/attention.cu), called by
// src/backend/cuda/cuda_attention.cpp. Flash-attention-2 tiling: nothing T x S is ever written
// to memory; the forward keeps only each row's log-sum-exp, the backward recomputes the
// probabilities from it.
#include <cstdint>

#include <cuda_runtime_api.h>

#include "kernels/kernel_types.h"

namespace ts::kernels {

/// Largest head dim (D and Dv) the kernels take.
inline constexpr int64_t kAttentionMaxHeadDim = 256;

/// A (B, H, rows, cols) operand whose last dim has unit stride; strides in elements.
struct AttentionOperand {
  const void* data = nullptr;
  int64_t stride_b = 0, stride_h = 0, stride_t = 0;
};

/// q (B, H, T, D), k (B, H, S, D), v (B, H, S, Dv). With `causal`, query i sees key j iff
/// j <= i + S - T. 16-bit types compute in float32, float64 in double.
struct AttentionProblem {
  ScalarType dtype = ScalarType::F32;
  int64_t batch = 0, heads = 0, t = 0, s = 0, d = 0, dv = 0;
  double scale = 1.0;
  bool causal = false;
  /// f16/bf16 with head dims <= 128 run on tensor cores (mma.sync) unless this is false;
  /// everything else takes the CUDA-core (FMA) kernels.
  bool allow_tensor_cores = true;
};

/// out (B, H, T, Dv) contiguous; lse (B, H, T) contiguous, float32 (float64 for f64 inputs).
cudaError_t attention_forward(const AttentionProblem& p, AttentionOperand q, AttentionOperand k, AttentionOperand v,
                              void* out, void* lse, cudaStream_t stream);

/// grad_q/k/v contiguous with q/k/v's shapes; `row_dot` is (B, H, T) scratch of lse's dtype
/// (it receives dO_i . O_i). Deterministic: no atomics.
cudaError_t attention_backward(const AttentionProblem& p, AttentionOperand grad_out, AttentionOperand q,
                               AttentionOperand k, AttentionOperand v, AttentionOperand out, const void* lse,
                               void* row_dot, void* grad_q, void* grad_k, void* grad_v, cudaStream_t stream);

}  // namespace ts::kernels
