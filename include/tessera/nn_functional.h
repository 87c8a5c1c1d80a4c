#pragma once
/// Neural-network primitives (torch::nn::functional). All differentiable.
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "tessera/tensor.h"

namespace ts {

enum class Reduction { None, Mean, Sum };

Tensor softmax(const Tensor& x, int64_t dim);
Tensor log_softmax(const Tensor& x, int64_t dim);

/// input (N, C) or (N, C, d1, ...) logits; target (N) or (N, d1, ...) Int64 class indices.
/// `weight` (C) optional class weights; mean reduction divides by the summed weights of
/// non-ignored targets (PyTorch). label_smoothing in [0, 1].
Tensor cross_entropy(const Tensor& input, const Tensor& target, const Tensor& weight = Tensor(),
                     Reduction reduction = Reduction::Mean, int64_t ignore_index = -100, double label_smoothing = 0.0);
/// input holds log-probabilities with the same layout as cross_entropy's.
Tensor nll_loss(const Tensor& input, const Tensor& target, const Tensor& weight = Tensor(),
                Reduction reduction = Reduction::Mean, int64_t ignore_index = -100);
Tensor mse_loss(const Tensor& input, const Tensor& target, Reduction reduction = Reduction::Mean);
/// |input - target| (shapes must broadcast), reduced.
Tensor l1_loss(const Tensor& input, const Tensor& target, Reduction reduction = Reduction::Mean);
/// Sigmoid + binary cross entropy, stable for any logit: target (input's shape) in [0, 1];
/// `weight` broadcasts to the input; `pos_weight` (broadcast along the last dim, one per
/// class) scales the positive term. Differentiable w.r.t. all four tensors.
Tensor binary_cross_entropy_with_logits(const Tensor& input, const Tensor& target, const Tensor& weight = Tensor(),
                                        const Tensor& pos_weight = Tensor(), Reduction reduction = Reduction::Mean);

/// x (N, C, H, W), weight (O, C/groups, kH, kW), bias (O) optional.
Tensor conv2d(const Tensor& x, const Tensor& weight, const Tensor& bias = Tensor(),
              std::vector<int64_t> stride = {1, 1}, std::vector<int64_t> padding = {0, 0},
              std::vector<int64_t> dilation = {1, 1}, int64_t groups = 1);
/// stride empty = kernel_size (PyTorch default).
Tensor max_pool2d(const Tensor& x, std::vector<int64_t> kernel_size, std::vector<int64_t> stride = {},
                  std::vector<int64_t> padding = {0, 0}, std::vector<int64_t> dilation = {1, 1},
                  bool ceil_mode = false);
/// max_pool2d that also returns, per output, the flat h*W+w index of its max within the input
/// plane (Int64; not differentiable), like torch's return_indices=True.
std::pair<Tensor, Tensor> max_pool2d_with_indices(const Tensor& x, std::vector<int64_t> kernel_size,
                                                  std::vector<int64_t> stride = {},
                                                  std::vector<int64_t> padding = {0, 0},
                                                  std::vector<int64_t> dilation = {1, 1}, bool ceil_mode = false);
Tensor avg_pool2d(const Tensor& x, std::vector<int64_t> kernel_size, std::vector<int64_t> stride = {},
                  std::vector<int64_t> padding = {0, 0}, bool ceil_mode = false, bool count_include_pad = true);
Tensor adaptive_avg_pool2d(const Tensor& x, std::vector<int64_t> output_size);

/// Zeroes elements with probability p and scales the rest by 1/(1-p) when training.
Tensor dropout(const Tensor& x, double p = 0.5, bool training = true);
/// weight (num_embeddings, dim); indices any shape of Int64 -> (*indices.shape, dim).
Tensor embedding(const Tensor& indices, const Tensor& weight);
Tensor layer_norm(const Tensor& x, const Shape& normalized_shape, const Tensor& weight = Tensor(),
                  const Tensor& bias = Tensor(), double eps = 1e-5);
/// x * rsqrt(mean(x^2 over normalized_shape) + eps) * weight (torch.nn.functional.rms_norm);
/// eps defaults to the dtype's machine epsilon, as in PyTorch.
Tensor rms_norm(const Tensor& x, const Shape& normalized_shape, const Tensor& weight = Tensor(),
                std::optional<double> eps = std::nullopt);
/// x (N, C, *). In training, running stats (if defined) are updated in place.
Tensor batch_norm(const Tensor& x, const Tensor& running_mean, const Tensor& running_var,
                  const Tensor& weight = Tensor(), const Tensor& bias = Tensor(), bool training = false,
                  double momentum = 0.1, double eps = 1e-5);

/// softmax(query key^T * scale + mask) value (torch.nn.functional.scaled_dot_product_attention).
/// query (B, H, T, D) or (B, T, D), key (.., S, D), value (.., S, Dv) -> (.., T, Dv).
/// scale defaults to 1/sqrt(D). attn_mask: Bool (true = may attend) or additive, broadcasting
/// to (.., T, S). is_causal: query i attends key j only when j <= i + S - T (bottom-right
/// aligned, so a decode step against a KV cache sees all cached keys; T == S is the usual
/// lower triangle). Without attn_mask and dropout this runs a fused kernel that saves only the
/// row log-sum-exp and builds no mask tensor; dropout_p is applied whenever it is > 0 (pass 0
/// in eval mode, as with PyTorch).
Tensor scaled_dot_product_attention(const Tensor& query, const Tensor& key, const Tensor& value,
                                    const Tensor& attn_mask = Tensor(), double dropout_p = 0.0,
                                    bool is_causal = false, std::optional<double> scale = std::nullopt);

/// Rotary position embedding (RoFormer; the GPT-NeoX/LLaMA "rotate half" layout) of
/// x (.., T, D) with D even: the pairs (x[i], x[i + D/2]) are rotated by angle
/// position * base^(-2i/D). cos and sin are (T, D/2) tables for the positions of x's rows
/// (see rotary_tables).
Tensor apply_rotary_embedding(const Tensor& x, const Tensor& cos, const Tensor& sin);
/// cos and sin tables (positions [offset, offset + length), D/2 frequencies) in `dtype`.
std::pair<Tensor, Tensor> rotary_tables(int64_t offset, int64_t length, int64_t head_dim, double base = 10000.0,
                                        DType dtype = DType::Float32, Device device = Device());

}  // namespace ts
