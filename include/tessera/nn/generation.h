#pragma once
/// Autoregressive sampling from a GPT: temperature, top-k and nucleus (top-p) filtering, and
/// generation with a KV cache, so N new tokens cost N one-token forward steps instead of N
/// forwards over the whole growing sequence.
#include <cstdint>
#include <functional>
#include <vector>

#include "tessera/nn/gpt.h"

namespace ts::nn {

struct SamplingOptions {
  double temperature = 1.0;  ///< 0: greedy (argmax)
  int64_t top_k = 0;         ///< keep the k most likely tokens (0: all)
  double top_p = 1.0;        ///< keep the smallest set whose probability reaches top_p (1: all)
  uint64_t seed = 0;
};

/// One token id per row of logits (B, V). Draw number `draw` of a run with `opts.seed` uses
/// its own counter-based random stream per row, so results do not depend on threads or on
/// anything sampled before.
std::vector<int64_t> sample_tokens(const Tensor& logits, const SamplingOptions& opts, uint64_t draw);

/// Called after each generated step with the step number and the new token of each row.
using TokenCallback = std::function<void(int64_t step, const std::vector<int64_t>& tokens)>;

/// Extends prompt (B, T0) Int64 by max_new_tokens sampled tokens -> (B, T0 + max_new_tokens).
/// Runs in eval mode without recording gradients (the model's mode is restored). The context
/// is the last block_size tokens, as in nanoGPT. With use_kv_cache, each step feeds only the
/// new token; when the sequence outgrows block_size the window slides, which learned positions
/// cannot reuse, so the cache is refilled from the window -- the same tokens either way.
Tensor generate(GPT& model, const Tensor& prompt, int64_t max_new_tokens, const SamplingOptions& opts,
                bool use_kv_cache = true, const TokenCallback& on_token = {});

}  // namespace ts::nn
