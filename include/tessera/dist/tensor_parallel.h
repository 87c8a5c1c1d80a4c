#pragma once
/// Megatron-style tensor parallelism over a tensor-parallel group (ParallelGrid::tp_group):
/// autograd-aware communication ops, column/row-parallel Linear layers, a vocabulary-parallel
/// embedding and cross-entropy, and a GPT block whose attention heads and MLP columns are
/// split across the group. Every rank of the group sees the same (replicated) activations at
/// block boundaries, so LayerNorms and residual adds are plain local ops.
///
/// The four region ops (Megatron's f, g and their gather/scatter variants) are what make the
/// layers differentiable: a column-parallel layer starts with copy_to_parallel_region (identity
/// forward, gradient all-reduce backward) and a row-parallel one ends with
/// reduce_from_parallel_region (all-reduce forward, identity backward).
#include <memory>

#include "tessera/dist/communicator.h"
#include "tessera/nn/module.h"
#include "tessera/nn/transformer.h"

namespace ts::dist {

using GroupPtr = std::shared_ptr<Communicator>;

/// Identity forward; the gradient is summed over the group backward.
Tensor copy_to_parallel_region(const Tensor& x, const GroupPtr& group);
/// Sum over the group forward; identity backward.
Tensor reduce_from_parallel_region(const Tensor& x, const GroupPtr& group);
/// Concatenates every rank's x along the last dim forward; keeps this rank's slice backward.
Tensor gather_from_parallel_region(const Tensor& x, const GroupPtr& group);
/// Keeps this rank's slice of the last dim forward; concatenates the gradients backward.
Tensor scatter_to_parallel_region(const Tensor& x, const GroupPtr& group);

/// y = x W^T + b with W's output rows split over the group: this rank holds rows
/// [rank * out/tp, (rank + 1) * out/tp). The output is this rank's slice of the columns
/// unless gather_output.
class ColumnParallelLinear : public nn::UnaryModule {
 public:
  ColumnParallelLinear(int64_t in_features, int64_t out_features, GroupPtr group, bool bias = true,
                       bool gather_output = false);
  Tensor forward(const Tensor& x) override;
  /// Copies this rank's rows of a dense (out, in) weight and (out) bias.
  void load_dense(const Tensor& weight, const Tensor& bias);

  Tensor weight;  ///< (out/tp, in)
  Tensor bias;    ///< (out/tp)

 private:
  GroupPtr group_;
  int64_t out_per_rank_;
  bool gather_output_;
};

/// y = x W^T + b with W's input columns split over the group: x is this rank's slice of the
/// features (input_is_parallel) or the full input (then sliced here); partial products are
/// summed over the group, and the (replicated) bias is added once after the sum.
class RowParallelLinear : public nn::UnaryModule {
 public:
  RowParallelLinear(int64_t in_features, int64_t out_features, GroupPtr group, bool bias = true,
                    bool input_is_parallel = true);
  Tensor forward(const Tensor& x) override;
  void load_dense(const Tensor& weight, const Tensor& bias);

  Tensor weight;  ///< (out, in/tp)
  Tensor bias;    ///< (out), replicated

 private:
  GroupPtr group_;
  int64_t in_per_rank_;
  bool input_is_parallel_;
};

/// Embedding with the vocabulary split over the group: this rank holds rows
/// [rank * V/tp, (rank + 1) * V/tp); ids outside them contribute zeros and the sum over the
/// group yields the full lookup on every rank.
class VocabParallelEmbedding : public nn::UnaryModule {
 public:
  VocabParallelEmbedding(int64_t num_embeddings, int64_t embedding_dim, GroupPtr group);
  Tensor forward(const Tensor& ids) override;
  void load_dense(const Tensor& weight);
  int64_t vocab_start() const { return vocab_start_; }

  Tensor weight;  ///< (V/tp, C)

 private:
  GroupPtr group_;
  int64_t vocab_start_, vocab_per_rank_;
};

/// Mean cross-entropy of logits whose vocabulary dim is split over the group: logits
/// (N, V/tp) are this rank's columns [rank * V/tp, ...), target (N) holds global ids. Only
/// three (N)-sized all-reduces; the full (N, V) logits never exist on one rank.
/// Columns at global ids >= vocab_size (padding that makes the vocabulary divisible by the
/// group, Megatron-style) are excluded from the softmax; -1 keeps every column.
Tensor vocab_parallel_cross_entropy(const Tensor& logits, const Tensor& target, const GroupPtr& group,
                                    int64_t vocab_size = -1);

/// CausalSelfAttention with n_head / tp heads on each rank: c_attn is column-parallel (this
/// rank's q, k and v rows), c_proj row-parallel.
class ParallelSelfAttention : public nn::Module {
 public:
  ParallelSelfAttention(const nn::TransformerConfig& config, GroupPtr group);
  Tensor forward(const Tensor& x);
  void load_dense(const nn::CausalSelfAttention& dense);

  std::shared_ptr<ColumnParallelLinear> c_attn;
  std::shared_ptr<RowParallelLinear> c_proj;

 private:
  nn::TransformerConfig config_;
  GroupPtr group_;
};

/// The GELU MLP with its hidden units split over the group.
class ParallelMLP : public nn::UnaryModule {
 public:
  ParallelMLP(const nn::TransformerConfig& config, GroupPtr group);
  Tensor forward(const Tensor& x) override;
  void load_dense(const nn::TransformerMLP& dense);

  std::shared_ptr<ColumnParallelLinear> c_fc;
  std::shared_ptr<RowParallelLinear> c_proj;
};

/// Pre-norm GPT block (LayerNorm, GELU MLP, learned positions outside) with attention and MLP
/// split over the group; LayerNorms are replicated.
class ParallelTransformerBlock : public nn::Module {
 public:
  ParallelTransformerBlock(const nn::TransformerConfig& config, GroupPtr group);
  Tensor forward(const Tensor& x);
  /// Takes the weights of a dense block with the same config (every rank its shard).
  void load_dense(const nn::TransformerBlock& dense);

  std::shared_ptr<nn::UnaryModule> ln_1, ln_2;
  std::shared_ptr<ParallelSelfAttention> attn;
  std::shared_ptr<ParallelMLP> mlp;
};

}  // namespace ts::dist
