#include "tessera/nn/generation.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "tessera/autograd.h"
#include "tessera/creation.h"
#include "tessera/data/random.h"
#include "tessera/ops.h"

namespace ts::nn {
namespace {

// Row `row` of the filtered, renormalized distribution sampled with one uniform draw.
int64_t sample_row(const double* logits, int64_t vocab, const SamplingOptions& opts, double u) {
  if (opts.temperature == 0.0) return std::max_element(logits, logits + vocab) - logits;
  std::vector<int64_t> order(static_cast<size_t>(vocab));
  std::iota(order.begin(), order.end(), 0);
  // Descending by logit, ties by id, so the filtering is deterministic.
  std::stable_sort(order.begin(), order.end(), [&](int64_t a, int64_t b) { return logits[a] > logits[b]; });
  int64_t keep = opts.top_k > 0 ? std::min(opts.top_k, vocab) : vocab;
  const double top = logits[order[0]] / opts.temperature;
  std::vector<double> probs(static_cast<size_t>(keep));
  double total = 0;
  for (int64_t i = 0; i < keep; ++i) {
    probs[static_cast<size_t>(i)] = std::exp(logits[order[static_cast<size_t>(i)]] / opts.temperature - top);
    total += probs[static_cast<size_t>(i)];
  }
  if (opts.top_p < 1.0) {
    // The nucleus: the shortest prefix whose mass reaches top_p (at least one token).
    double mass = 0;
    int64_t n = 0;
    while (n < keep && mass < opts.top_p * total) mass += probs[static_cast<size_t>(n++)];
    keep = std::max<int64_t>(n, 1);
    total = std::accumulate(probs.begin(), probs.begin() + keep, 0.0);
  }
  double target = u * total;
  for (int64_t i = 0; i < keep; ++i) {
    target -= probs[static_cast<size_t>(i)];
    if (target < 0) return order[static_cast<size_t>(i)];
  }
  return order[static_cast<size_t>(keep - 1)];
}

Tensor ids_tensor(const std::vector<std::vector<int64_t>>& rows, size_t start, size_t length, Device device) {
  std::vector<int64_t> flat;
  flat.reserve(rows.size() * length);
  for (const auto& r : rows) flat.insert(flat.end(), r.begin() + static_cast<std::ptrdiff_t>(start),
                                         r.begin() + static_cast<std::ptrdiff_t>(start + length));
  return tensor(flat, {static_cast<int64_t>(rows.size()), static_cast<int64_t>(length)}, kInt64).to(device);
}

// Logits (B, V) of the last position as float64 on the host (moved to the CPU in their own
// dtype first, so a GPU model sends half the bytes and needs no float64 kernel).
Tensor last_logits(const Tensor& logits) { return logits.select(1, logits.size(1) - 1).to(Device()).to(kFloat64); }

}  // namespace

std::vector<int64_t> sample_tokens(const Tensor& logits, const SamplingOptions& opts, uint64_t draw) {
  TS_CHECK(logits.defined() && logits.dim() == 2 && logits.size(1) > 0,
           "sample_tokens: expected logits of shape (B, V) but got {}",
           logits.defined() ? shape_str(logits.shape()) : "an undefined tensor");
  TS_CHECK(opts.temperature >= 0 && std::isfinite(opts.temperature),
           "sample_tokens: temperature must be >= 0 but got {}", opts.temperature);
  TS_CHECK(opts.top_k >= 0, "sample_tokens: top_k must be >= 0 but got {}", opts.top_k);
  TS_CHECK(opts.top_p > 0 && opts.top_p <= 1, "sample_tokens: top_p must be in (0, 1] but got {}", opts.top_p);
  const Tensor host = logits.to(Device()).to(kFloat64).contiguous();
  const double* data = host.data_ptr<double>();
  const int64_t rows = host.size(0), vocab = host.size(1);
  std::vector<int64_t> out(static_cast<size_t>(rows));
  for (int64_t r = 0; r < rows; ++r) {
    data::SampleRng rng(opts.seed, draw, static_cast<uint64_t>(r));
    out[static_cast<size_t>(r)] = sample_row(data + r * vocab, vocab, opts, rng.uniform());
  }
  return out;
}

Tensor generate(GPT& model, const Tensor& prompt, int64_t max_new_tokens, const SamplingOptions& opts,
                bool use_kv_cache, const TokenCallback& on_token) {
  TS_CHECK(prompt.defined() && prompt.dim() == 2 && prompt.size(1) > 0 && prompt.dtype() == kInt64,
           "generate: expected an Int64 prompt of shape (B, T0) with T0 >= 1 but got {}",
           prompt.defined() ? fmt::format("{} {}", dtype_name(prompt.dtype()), shape_str(prompt.shape()))
                            : "an undefined tensor");
  TS_CHECK(max_new_tokens >= 0, "generate: max_new_tokens must be >= 0 but got {}", max_new_tokens);
  const bool was_training = model.is_training();
  model.eval();
  NoGradGuard no_grad;
  const int64_t batch = prompt.size(0), block = model.config().block_size;
  const Device device = model.wte->weight.device();
  std::vector<std::vector<int64_t>> seqs(static_cast<size_t>(batch));
  {
    const auto flat = prompt.to(Device()).contiguous().to_vector<int64_t>();
    for (int64_t b = 0; b < batch; ++b)
      seqs[static_cast<size_t>(b)].assign(flat.begin() + b * prompt.size(1), flat.begin() + (b + 1) * prompt.size(1));
  }
  auto window = [&] {
    const size_t len = seqs[0].size(), w = std::min<size_t>(len, static_cast<size_t>(block));
    return ids_tensor(seqs, len - w, w, device);
  };
  KVCache cache;
  Tensor logits;
  if (use_kv_cache) {
    cache = model.make_kv_cache(batch);
    logits = last_logits(model.forward(window(), cache));
  }
  for (int64_t step = 0; step < max_new_tokens; ++step) {
    if (!use_kv_cache) logits = last_logits(model.forward(window()));
    const auto next = sample_tokens(logits, opts, static_cast<uint64_t>(step));
    for (int64_t b = 0; b < batch; ++b) seqs[static_cast<size_t>(b)].push_back(next[static_cast<size_t>(b)]);
    if (on_token) on_token(step, next);
    if (!use_kv_cache || step + 1 == max_new_tokens) continue;
    if (cache.length() < cache.capacity()) {
      logits = last_logits(model.forward(tensor(next, {batch, 1}, kInt64).to(device), cache));
    } else {
      cache.reset();
      logits = last_logits(model.forward(window(), cache));
    }
  }
  model.train(was_training);
  return ids_tensor(seqs, 0, seqs[0].size(), Device());
}

}  // namespace ts::nn
