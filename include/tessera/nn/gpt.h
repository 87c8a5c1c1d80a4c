#pragma once
/// GPT: a decoder-only Transformer language model (GPT-2 / nanoGPT architecture): token
/// embedding plus learned positions (or rotary positions inside attention), a stack of
/// pre-norm TransformerBlocks, a final norm, and an LM head tied to the token embedding.
#include <memory>
#include <utility>
#include <vector>

#include "tessera/nn/container.h"
#include "tessera/nn/embedding.h"
#include "tessera/nn/transformer.h"

namespace ts::nn {

struct GPTConfig : TransformerConfig {
  int64_t vocab_size = 65;
  int64_t n_layer = 4;
  void validate(const char* who) const;
};

/// One LayerKVCache per block, all advancing together.
struct KVCache {
  std::vector<LayerKVCache> layers;
  int64_t length() const { return layers.empty() ? 0 : layers.front().length; }
  int64_t capacity() const { return layers.empty() ? 0 : layers.front().capacity(); }
  /// Forgets every cached position (keeps the storage).
  void reset();
};

class GPT : public Module {
 public:
  /// Initialized like GPT-2 / nanoGPT: N(0, 0.02) weights and embeddings, zero biases, and
  /// residual projections (c_proj) scaled by 1/sqrt(2 * n_layer).
  explicit GPT(const GPTConfig& config);

  /// idx (B, T) Int64 token ids, T <= block_size -> logits (B, T, vocab_size).
  Tensor forward(const Tensor& idx);
  /// The next T positions after those in `cache`, which they are appended to (inference).
  Tensor forward(const Tensor& idx, KVCache& cache);
  /// Mean next-token cross-entropy of forward(idx) against targets (B, T), in nats.
  Tensor loss(const Tensor& idx, const Tensor& targets);

  /// An empty cache for `batch` sequences of up to `capacity` positions (0: block_size).
  KVCache make_kv_cache(int64_t batch, int64_t capacity = 0) const;
  /// nanoGPT's AdamW grouping: {matrices and embeddings (decayed), biases and norm weights (not)}.
  std::pair<std::vector<Tensor>, std::vector<Tensor>> weight_decay_groups() const;
  /// Parameter count (the tied head counted once); without the position embedding when
  /// `non_embedding`, as nanoGPT reports it.
  int64_t num_params(bool non_embedding = true) const;
  /// Training FLOPs per token at sequence length T: 6 N + 12 L C T (forward + backward of the
  /// weights plus attention; PaLM appendix B, as nanoGPT's MFU estimate).
  double flops_per_token(int64_t seq_len) const;
  const GPTConfig& config() const { return config_; }
  std::string extra_repr() const override;

  std::shared_ptr<Embedding> wte;
  std::shared_ptr<Embedding> wpe;  ///< null with rotary positions
  std::shared_ptr<ModuleList> h;   ///< n_layer TransformerBlocks
  std::shared_ptr<UnaryModule> ln_f;

 private:
  Tensor forward_impl(const Tensor& idx, KVCache* cache);

  GPTConfig config_;
};

}  // namespace ts::nn
