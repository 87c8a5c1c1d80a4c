#include "tessera/nn/transformer.h"

#include "tessera/autograd.h"
#include "tessera/creation.h"
#include "tessera/nn/init.h"
#include "tessera/nn/normalization.h"
#include "tessera/nn_functional.h"
#include "tessera/ops.h"

namespace ts::nn {

void TransformerConfig::validate(const char* who) const {
  TS_CHECK(n_embd > 0 && n_head > 0 && n_embd % n_head == 0,
           "{}: n_embd ({}) must be a positive multiple of n_head ({})", who, n_embd, n_head);
  TS_CHECK(block_size > 0, "{}: block_size must be positive but got {}", who, block_size);
  TS_CHECK(dropout >= 0 && dropout < 1, "{}: dropout must be in [0, 1) but got {}", who, dropout);
  TS_CHECK(!rotary || head_dim() % 2 == 0, "{}: rotary embeddings need an even head_dim but n_embd/n_head = {}", who,
           head_dim());
}

// ---- RMSNorm ------------------------------------------------------------------------------

RMSNorm::RMSNorm(Shape normalized_shape, std::optional<double> eps, bool elementwise_affine)
    : UnaryModule("RMSNorm"), normalized_shape_(std::move(normalized_shape)), eps_(eps) {
  if (elementwise_affine) weight = register_parameter("weight", ones(normalized_shape_));
}

Tensor RMSNorm::forward(const Tensor& x) { return rms_norm(x, normalized_shape_, weight, eps_); }

std::string RMSNorm::extra_repr() const {
  return fmt::format("{}, eps={}, elementwise_affine={}", shape_str(normalized_shape_),
                     eps_ ? fmt::format("{}", *eps_) : "None", weight.defined() ? "True" : "False");
}

std::shared_ptr<UnaryModule> make_norm(const TransformerConfig& config) {
  if (config.norm == NormKind::RMSNorm) return std::make_shared<RMSNorm>(Shape{config.n_embd}, config.norm_eps);
  return std::make_shared<LayerNorm>(Shape{config.n_embd}, config.norm_eps, true, config.bias);
}

// ---- attention ----------------------------------------------------------------------------

CausalSelfAttention::CausalSelfAttention(const TransformerConfig& config)
    : Module("CausalSelfAttention"), config_(config) {
  config.validate("CausalSelfAttention");
  c_attn = register_module("c_attn", std::make_shared<Linear>(config.n_embd, 3 * config.n_embd, config.bias));
  c_proj = register_module("c_proj", std::make_shared<Linear>(config.n_embd, config.n_embd, config.bias));
}

Tensor CausalSelfAttention::forward(const Tensor& x, LayerKVCache* cache) {
  const int64_t C = config_.n_embd, H = config_.n_head, D = config_.head_dim();
  TS_CHECK(x.defined() && x.dim() == 3 && x.size(2) == C,
           "CausalSelfAttention: expected an input of shape (B, T, {}) but got {}", C,
           x.defined() ? shape_str(x.shape()) : "an undefined tensor");
  const int64_t B = x.size(0), T = x.size(1);
  const int64_t past = cache ? cache->length : 0;
  // (B, T, 3C) -> three (B, H, T, D) views of the one projection (no copies).
  const auto qkv = unbind(c_attn->forward(x).view({B, T, 3, H, D}), 2);
  Tensor q = qkv[0].permute({0, 2, 1, 3});
  Tensor k = qkv[1].permute({0, 2, 1, 3});
  Tensor v = qkv[2].permute({0, 2, 1, 3});
  if (config_.rotary) {
    auto [cos_t, sin_t] = rotary_tables(past, T, D, config_.rotary_base, x.dtype(), x.device());
    q = apply_rotary_embedding(q, cos_t, sin_t);
    k = apply_rotary_embedding(k, cos_t, sin_t);
  }
  if (cache) {
    TS_CHECK(cache->k.defined() && cache->k.size(0) == B && cache->k.size(1) == H && cache->k.size(3) == D,
             "CausalSelfAttention: the KV cache holds {} but this layer needs (B={}, H={}, *, D={})",
             cache->k.defined() ? shape_str(cache->k.shape()) : "nothing", B, H, D);
    TS_CHECK(past + T <= cache->capacity(),
             "CausalSelfAttention: the KV cache holds {} positions and {} more do not fit in its capacity {}", past,
             T, cache->capacity());
    {
      NoGradGuard no_grad;
      cache->k.narrow(2, past, T).copy_(k);
      cache->v.narrow(2, past, T).copy_(v);
    }
    cache->length = past + T;
    k = cache->k.narrow(2, 0, past + T);
    v = cache->v.narrow(2, 0, past + T);
  }
  const double p = is_training() ? config_.dropout : 0.0;
  const Tensor y = scaled_dot_product_attention(q, k, v, Tensor(), p, /*is_causal=*/true);
  return c_proj->forward(y.permute({0, 2, 1, 3}).reshape({B, T, C}));
}

std::string CausalSelfAttention::extra_repr() const {
  return fmt::format("n_embd={}, n_head={}, rotary={}", config_.n_embd, config_.n_head,
                     config_.rotary ? "True" : "False");
}

// ---- MLP and block ------------------------------------------------------------------------

TransformerMLP::TransformerMLP(const TransformerConfig& config) : UnaryModule("TransformerMLP"), config_(config) {
  const int64_t fc_out = config.mlp == MlpKind::SwiGLU ? 2 * config.hidden() : config.hidden();
  c_fc = register_module("c_fc", std::make_shared<Linear>(config.n_embd, fc_out, config.bias));
  c_proj = register_module("c_proj", std::make_shared<Linear>(config.hidden(), config.n_embd, config.bias));
}

Tensor TransformerMLP::forward(const Tensor& x) {
  const Tensor h = c_fc->forward(x);
  if (config_.mlp == MlpKind::SwiGLU) {
    const auto parts = chunk(h, 2, -1);
    return c_proj->forward(silu(parts[0]) * parts[1]);
  }
  return c_proj->forward(gelu(h));
}

TransformerBlock::TransformerBlock(const TransformerConfig& config)
    : Module("TransformerBlock"), dropout_(config.dropout) {
  ln_1 = register_module("ln_1", make_norm(config));
  attn = register_module("attn", std::make_shared<CausalSelfAttention>(config));
  ln_2 = register_module("ln_2", make_norm(config));
  mlp = register_module("mlp", std::make_shared<TransformerMLP>(config));
}

Tensor TransformerBlock::forward(const Tensor& x, LayerKVCache* cache) {
  const double p = is_training() ? dropout_ : 0.0;
  const Tensor h = x + dropout(attn->forward(ln_1->forward(x), cache), p, is_training());
  return h + dropout(mlp->forward(ln_2->forward(h)), p, is_training());
}

}  // namespace ts::nn
