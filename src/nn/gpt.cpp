#include "tessera/nn/gpt.h"

#include <cmath>

#include "tessera/autograd.h"
#include "tessera/creation.h"
#include "tessera/nn/init.h"
#include "tessera/nn_functional.h"
#include "tessera/ops.h"

namespace ts::nn {

void GPTConfig::validate(const char* who) const {
  TransformerConfig::validate(who);
  TS_CHECK(vocab_size > 0, "{}: vocab_size must be positive but got {}", who, vocab_size);
  TS_CHECK(n_layer > 0, "{}: n_layer must be positive but got {}", who, n_layer);
}

void KVCache::reset() {
  for (auto& layer : layers) layer.length = 0;
}

GPT::GPT(const GPTConfig& config) : Module("GPT"), config_(config) {
  config.validate("GPT");
  wte = register_module("wte", std::make_shared<Embedding>(config.vocab_size, config.n_embd));
  if (!config.rotary) wpe = register_module("wpe", std::make_shared<Embedding>(config.block_size, config.n_embd));
  h = register_module("h", std::make_shared<ModuleList>());
  for (int64_t i = 0; i < config.n_layer; ++i) h->push_back(std::make_shared<TransformerBlock>(config));
  ln_f = register_module("ln_f", make_norm(config));

  // Norm weights keep their ones; every bias (Linear and norm) starts at zero.
  const double residual_std = 0.02 / std::sqrt(2.0 * static_cast<double>(config.n_layer));
  for (auto& [name, p] : named_parameters()) {
    if (name.ends_with("c_proj.weight")) {
      init::normal_(p, 0.0, residual_std);
    } else if (p.dim() >= 2) {
      init::normal_(p, 0.0, 0.02);
    } else if (name.ends_with(".bias")) {
      init::zeros_(p);
    }
  }
}

Tensor GPT::forward(const Tensor& idx) { return forward_impl(idx, nullptr); }
Tensor GPT::forward(const Tensor& idx, KVCache& cache) { return forward_impl(idx, &cache); }

Tensor GPT::forward_impl(const Tensor& idx, KVCache* cache) {
  TS_CHECK(idx.defined() && idx.dim() == 2, "GPT: expected token ids of shape (B, T) but got {}",
           idx.defined() ? shape_str(idx.shape()) : "an undefined tensor");
  const int64_t T = idx.size(1), past = cache ? cache->length() : 0;
  TS_CHECK(past + T <= config_.block_size, "GPT: {} positions{} exceed block_size {}", past + T,
           cache ? fmt::format(" ({} cached + {} new)", past, T) : std::string(), config_.block_size);
  if (cache) {
    TS_CHECK(static_cast<int64_t>(cache->layers.size()) == config_.n_layer,
             "GPT: the KV cache has {} layers but the model has {}", cache->layers.size(), config_.n_layer);
  }
  Tensor x = wte->forward(idx);
  if (wpe) {
    const Tensor pos = arange(past, past + T, 1, TensorOptions(DType::Int64).with_device(idx.device()));
    x = x + wpe->forward(pos);
  }
  x = dropout(x, config_.dropout, is_training());
  for (size_t i = 0; i < h->size(); ++i) {
    x = h->at<TransformerBlock>(i)->forward(x, cache ? &cache->layers[i] : nullptr);
  }
  x = ln_f->forward(x);
  // The LM head is the token embedding (weight tying): logits = x wte^T.
  return linear(x, wte->weight);
}

Tensor GPT::loss(const Tensor& idx, const Tensor& targets) {
  TS_CHECK(targets.defined() && targets.shape() == idx.shape(),
           "GPT::loss: targets must have the ids' shape {} but got {}", shape_str(idx.shape()),
           targets.defined() ? shape_str(targets.shape()) : "an undefined tensor");
  const Tensor logits = forward(idx);
  return cross_entropy(logits.reshape({-1, config_.vocab_size}), targets.reshape({-1}));
}

KVCache GPT::make_kv_cache(int64_t batch, int64_t capacity) const {
  const int64_t cap = capacity > 0 ? capacity : config_.block_size;
  TS_CHECK(batch > 0 && cap <= config_.block_size, "GPT::make_kv_cache: batch {} must be positive and capacity {} "
           "at most block_size {}", batch, cap, config_.block_size);
  const Tensor& ref = wte->weight;
  const TensorOptions opts = TensorOptions(ref.dtype()).with_device(ref.device());
  KVCache cache;
  for (int64_t i = 0; i < config_.n_layer; ++i) {
    const Shape shape{batch, config_.n_head, cap, config_.head_dim()};
    cache.layers.push_back({zeros(shape, opts), zeros(shape, opts), 0});
  }
  return cache;
}

std::pair<std::vector<Tensor>, std::vector<Tensor>> GPT::weight_decay_groups() const {
  std::vector<Tensor> decay, no_decay;
  for (const auto& p : parameters()) {
    if (!p.requires_grad()) continue;
    (p.dim() >= 2 ? decay : no_decay).push_back(p);
  }
  return {decay, no_decay};
}

int64_t GPT::num_params(bool non_embedding) const {
  int64_t n = Module::num_parameters();
  if (non_embedding && wpe) n -= wpe->weight.numel();
  return n;
}

double GPT::flops_per_token(int64_t seq_len) const {
  const double n = static_cast<double>(num_params(true));
  return 6.0 * n + 12.0 * static_cast<double>(config_.n_layer * config_.n_embd * seq_len);
}

std::string GPT::extra_repr() const {
  return fmt::format("vocab_size={}, n_layer={}, n_head={}, n_embd={}, block_size={}", config_.vocab_size,
                     config_.n_layer, config_.n_head, config_.n_embd, config_.block_size);
}

}  // namespace ts::nn
