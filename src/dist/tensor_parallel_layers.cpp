// Column/row-parallel Linear, vocabulary-parallel embedding and the tensor-parallel GPT block.
// Each layer keeps only its shard; load_dense() takes a rank's shard of a dense layer, which
// is how the tests pin the parallel block to the dense one and how checkpoints reshard.
#include <cmath>

#include "tessera/autograd.h"
#include "tessera/creation.h"
#include "tessera/dist/tensor_parallel.h"
#include "tessera/nn/init.h"
#include "tessera/nn/normalization.h"
#include "tessera/nn_functional.h"
#include "tessera/ops.h"

namespace ts::dist {
namespace {

int64_t per_rank(int64_t n, const GroupPtr& group, const char* layer, const char* what) {
  TS_CHECK(group != nullptr, "{}: the tensor-parallel group is null", layer);
  TS_CHECK(n % group->size() == 0, "{}: {} = {} is not divisible by the {} ranks of group '{}'", layer, what, n,
           group->size(), group->name());
  return n / group->size();
}

// PyTorch's default Linear init, with the bound of the full (unsharded) fan-in.
void init_linear(Tensor& weight, Tensor& bias, int64_t fan_in) {
  const double bound = 1.0 / std::sqrt(static_cast<double>(std::max<int64_t>(fan_in, 1)));
  nn::init::uniform_(weight, -bound, bound);
  if (bias.defined()) nn::init::uniform_(bias, -bound, bound);
}

void copy_shard(Tensor& dst, const Tensor& src, const char* layer) {
  TS_CHECK(src.defined() && src.shape() == dst.shape(), "{}: a shard of shape {} was expected but the dense tensor "
           "gives {}", layer, shape_str(dst.shape()), src.defined() ? shape_str(src.shape()) : "none");
  NoGradGuard no_grad;
  dst.copy_(src);
}

}  // namespace

// ---- ColumnParallelLinear ------------------------------------------------------------------

ColumnParallelLinear::ColumnParallelLinear(int64_t in, int64_t out, GroupPtr group, bool with_bias, bool gather_output)
    : nn::UnaryModule("ColumnParallelLinear"), group_(std::move(group)),
      out_per_rank_(per_rank(out, group_, "ColumnParallelLinear", "out_features")), gather_output_(gather_output) {
  weight = register_parameter("weight", empty({out_per_rank_, in}));
  if (with_bias) bias = register_parameter("bias", empty({out_per_rank_}));
  init_linear(weight, bias, in);
}

Tensor ColumnParallelLinear::forward(const Tensor& x) {
  const Tensor y = linear(copy_to_parallel_region(x, group_), weight, bias);
  return gather_output_ ? gather_from_parallel_region(y, group_) : y;
}

void ColumnParallelLinear::load_dense(const Tensor& w, const Tensor& b) {
  const int64_t start = group_->rank() * out_per_rank_;
  copy_shard(weight, w.narrow(0, start, out_per_rank_), "ColumnParallelLinear");
  if (bias.defined()) copy_shard(bias, b.narrow(0, start, out_per_rank_), "ColumnParallelLinear");
}

// ---- RowParallelLinear -----------------------------------------------------------------------

RowParallelLinear::RowParallelLinear(int64_t in, int64_t out, GroupPtr group, bool with_bias, bool input_is_parallel)
    : nn::UnaryModule("RowParallelLinear"), group_(std::move(group)),
      in_per_rank_(per_rank(in, group_, "RowParallelLinear", "in_features")), input_is_parallel_(input_is_parallel) {
  weight = register_parameter("weight", empty({out, in_per_rank_}));
  if (with_bias) bias = register_parameter("bias", empty({out}));
  init_linear(weight, bias, in);
}

Tensor RowParallelLinear::forward(const Tensor& x) {
  const Tensor local = input_is_parallel_ ? x : scatter_to_parallel_region(x, group_);
  const Tensor y = reduce_from_parallel_region(linear(local, weight), group_);
  return bias.defined() ? y + bias : y;
}

void RowParallelLinear::load_dense(const Tensor& w, const Tensor& b) {
  copy_shard(weight, w.narrow(1, group_->rank() * in_per_rank_, in_per_rank_), "RowParallelLinear");
  if (bias.defined()) copy_shard(bias, b, "RowParallelLinear");
}

// ---- VocabParallelEmbedding --------------------------------------------------------------------

VocabParallelEmbedding::VocabParallelEmbedding(int64_t num_embeddings, int64_t dim, GroupPtr group)
    : nn::UnaryModule("VocabParallelEmbedding"), group_(std::move(group)),
      vocab_per_rank_(per_rank(num_embeddings, group_, "VocabParallelEmbedding", "num_embeddings")) {
  vocab_start_ = group_->rank() * vocab_per_rank_;
  weight = register_parameter("weight", empty({vocab_per_rank_, dim}));
  nn::init::normal_(weight, 0.0, 1.0);
}

Tensor VocabParallelEmbedding::forward(const Tensor& ids) {
  Tensor local, mine;
  {
    NoGradGuard no_grad;
    const Tensor shifted = ids - vocab_start_;
    mine = logical_and(ge(shifted, zeros({}, kInt64)), lt(shifted, full({}, vocab_per_rank_, kInt64)));
    local = where(mine, shifted, zeros({}, kInt64));
  }
  const Tensor rows = embedding(local, weight) * unsqueeze(mine.to(weight.dtype()), -1);
  return reduce_from_parallel_region(rows, group_);
}

void VocabParallelEmbedding::load_dense(const Tensor& w) {
  copy_shard(weight, w.narrow(0, vocab_start_, vocab_per_rank_), "VocabParallelEmbedding");
}

// ---- the tensor-parallel GPT block ------------------------------------------------------------

ParallelSelfAttention::ParallelSelfAttention(const nn::TransformerConfig& config, GroupPtr group)
    : nn::Module("ParallelSelfAttention"), config_(config), group_(std::move(group)) {
  config.validate("ParallelSelfAttention");
  per_rank(config.n_head, group_, "ParallelSelfAttention", "n_head");
  TS_CHECK(!config.rotary && config.dropout == 0.0,
           "ParallelSelfAttention: rotary positions and dropout are not supported in tensor-parallel blocks yet");
  c_attn = register_module("c_attn", std::make_shared<ColumnParallelLinear>(config.n_embd, 3 * config.n_embd, group_,
                                                                            config.bias));
  c_proj = register_module("c_proj", std::make_shared<RowParallelLinear>(config.n_embd, config.n_embd, group_,
                                                                         config.bias));
}

Tensor ParallelSelfAttention::forward(const Tensor& x) {
  const int64_t B = x.size(0), T = x.size(1), H = config_.n_head / group_->size(), D = config_.head_dim();
  const auto qkv = unbind(c_attn->forward(x).view({B, T, 3, H, D}), 2);
  auto part = [&](size_t i) { return qkv[i].permute({0, 2, 1, 3}); };
  const Tensor y = scaled_dot_product_attention(part(0), part(1), part(2), Tensor(), 0.0, true);
  return c_proj->forward(y.permute({0, 2, 1, 3}).reshape({B, T, H * D}));
}

void ParallelSelfAttention::load_dense(const nn::CausalSelfAttention& dense) {
  // The dense c_attn rows are [q; k; v], each C = n_head * head_dim wide; this rank's shard
  // is its heads' rows of each of the three, stacked the same way.
  const int64_t C = config_.n_embd, part = C / group_->size(), start = group_->rank() * part;
  std::vector<Tensor> w, b;
  for (int64_t i = 0; i < 3; ++i) {
    w.push_back(dense.c_attn->weight.narrow(0, i * C + start, part));
    if (dense.c_attn->bias.defined()) b.push_back(dense.c_attn->bias.narrow(0, i * C + start, part));
  }
  NoGradGuard no_grad;
  copy_shard(c_attn->weight, cat(w, 0), "ParallelSelfAttention");
  if (c_attn->bias.defined()) copy_shard(c_attn->bias, cat(b, 0), "ParallelSelfAttention");
  c_proj->load_dense(dense.c_proj->weight, dense.c_proj->bias);
}

ParallelMLP::ParallelMLP(const nn::TransformerConfig& config, GroupPtr group) : nn::UnaryModule("ParallelMLP") {
  TS_CHECK(config.mlp == nn::MlpKind::Gelu, "ParallelMLP: only the GELU MLP is tensor-parallel so far");
  c_fc = register_module("c_fc", std::make_shared<ColumnParallelLinear>(config.n_embd, config.hidden(), group,
                                                                        config.bias));
  c_proj = register_module("c_proj", std::make_shared<RowParallelLinear>(config.hidden(), config.n_embd, group,
                                                                         config.bias));
}

Tensor ParallelMLP::forward(const Tensor& x) { return c_proj->forward(gelu(c_fc->forward(x))); }

void ParallelMLP::load_dense(const nn::TransformerMLP& dense) {
  c_fc->load_dense(dense.c_fc->weight, dense.c_fc->bias);
  c_proj->load_dense(dense.c_proj->weight, dense.c_proj->bias);
}

ParallelTransformerBlock::ParallelTransformerBlock(const nn::TransformerConfig& config, GroupPtr group)
    : nn::Module("ParallelTransformerBlock") {
  TS_CHECK(config.norm == nn::NormKind::LayerNorm, "ParallelTransformerBlock: only LayerNorm blocks so far");
  ln_1 = register_module("ln_1", nn::make_norm(config));
  attn = register_module("attn", std::make_shared<ParallelSelfAttention>(config, group));
  ln_2 = register_module("ln_2", nn::make_norm(config));
  mlp = register_module("mlp", std::make_shared<ParallelMLP>(config, group));
}

Tensor ParallelTransformerBlock::forward(const Tensor& x) {
  const Tensor h = x + attn->forward(ln_1->forward(x));
  return h + mlp->forward(ln_2->forward(h));
}

void ParallelTransformerBlock::load_dense(const nn::TransformerBlock& dense) {
  NoGradGuard no_grad;
  for (auto [mine, theirs] : {std::pair{ln_1, dense.ln_1}, {ln_2, dense.ln_2}}) {
    auto a = mine->named_parameters(), b = theirs->named_parameters();
    for (size_t i = 0; i < a.size(); ++i) a[i].second.copy_(b[i].second);
  }
  attn->load_dense(*dense.attn);
  mlp->load_dense(*dense.mlp);
}

}  // namespace ts::dist
