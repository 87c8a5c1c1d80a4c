#pragma once
/// Decoder-only Transformer building blocks: RMSNorm, causal multi-head self-attention (with an
/// optional KV cache and rotary positions), the MLP block and the pre-norm block that GPT
/// stacks. Parameter names follow nanoGPT ("attn.c_attn.weight", "mlp.c_fc.weight", ...) so
/// its checkpoints map one to one.
#include <memory>
#include <optional>

#include "tessera/nn/linear.h"
#include "tessera/nn/module.h"

namespace ts::nn {

enum class NormKind { LayerNorm, RMSNorm };
enum class MlpKind {
  Gelu,    ///< c_fc (C -> hidden), GELU, c_proj (GPT-2)
  SwiGLU,  ///< c_fc (C -> 2 * hidden) split into gate and value, silu(gate) * value, c_proj (LLaMA)
};

/// What a Transformer block is made of. The GPT-2 defaults; LLaMA-style blocks set
/// norm = RMSNorm, mlp = SwiGLU, rotary = true, bias = false.
struct TransformerConfig {
  int64_t n_embd = 128;
  int64_t n_head = 4;
  int64_t block_size = 128;  ///< longest sequence (positions, and KV cache capacity)
  double dropout = 0.0;      ///< attention-probability, residual and embedding dropout
  bool bias = true;          ///< biases in Linear and LayerNorm layers
  NormKind norm = NormKind::LayerNorm;
  double norm_eps = 1e-5;
  MlpKind mlp = MlpKind::Gelu;
  int64_t mlp_hidden = 0;  ///< 0: 4 * n_embd
  bool rotary = false;     ///< rotary position embedding of q and k (GPT then has no wpe)
  double rotary_base = 10000.0;

  int64_t head_dim() const { return n_embd / n_head; }
  int64_t hidden() const { return mlp_hidden > 0 ? mlp_hidden : 4 * n_embd; }
  /// Throws ts::Error naming `who` when the sizes are inconsistent.
  void validate(const char* who) const;
};

/// x * rsqrt(mean(x^2) + eps) * weight over the trailing `normalized_shape` (torch.nn.RMSNorm).
class RMSNorm : public UnaryModule {
 public:
  explicit RMSNorm(Shape normalized_shape, std::optional<double> eps = std::nullopt, bool elementwise_affine = true);
  Tensor forward(const Tensor& x) override;
  std::string extra_repr() const override;

  Tensor weight;  ///< normalized_shape, when elementwise_affine (initially ones)

 private:
  Shape normalized_shape_;
  std::optional<double> eps_;
};

/// LayerNorm or RMSNorm as the config says.
std::shared_ptr<UnaryModule> make_norm(const TransformerConfig& config);

/// Keys and values of the positions seen so far by one attention layer, for incremental
/// decoding. Storage is preallocated (B, H, capacity, D); `length` positions are filled.
struct LayerKVCache {
  Tensor k, v;
  int64_t length = 0;
  int64_t capacity() const { return k.defined() ? k.size(2) : 0; }
};

/// Multi-head causal self-attention through the fused scaled_dot_product_attention.
class CausalSelfAttention : public Module {
 public:
  explicit CausalSelfAttention(const TransformerConfig& config);
  /// x (B, T, C) -> (B, T, C). With `cache`, x holds the next T positions after the cached
  /// ones: their keys and values are appended and the queries attend to everything cached.
  /// Caching is for inference: it records no gradient through the cache.
  Tensor forward(const Tensor& x, LayerKVCache* cache = nullptr);
  std::string extra_repr() const override;

  std::shared_ptr<Linear> c_attn;  ///< (C -> 3C): q, k and v in one GEMM
  std::shared_ptr<Linear> c_proj;  ///< (C -> C)

 private:
  TransformerConfig config_;
};

/// The position-wise feed-forward block (GELU or SwiGLU, see MlpKind).
class TransformerMLP : public UnaryModule {
 public:
  explicit TransformerMLP(const TransformerConfig& config);
  Tensor forward(const Tensor& x) override;

  std::shared_ptr<Linear> c_fc, c_proj;

 private:
  TransformerConfig config_;
};

/// Pre-norm residual block: x + attn(ln_1(x)), then + mlp(ln_2(x)).
class TransformerBlock : public Module {
 public:
  explicit TransformerBlock(const TransformerConfig& config);
  Tensor forward(const Tensor& x, LayerKVCache* cache = nullptr);

  std::shared_ptr<UnaryModule> ln_1, ln_2;
  std::shared_ptr<CausalSelfAttention> attn;
  std::shared_ptr<TransformerMLP> mlp;

 private:
  double dropout_;
};

}  // namespace ts::nn
