// GPT and its blocks: nanoGPT-compatible structure, gradients of the whole model by finite
// differences, KV-cache decoding against full recomputation, sampling and generation.
#include <cmath>
#include <map>

#include "test_util.h"

using namespace ts;
using ts::test::require_close;

namespace {

nn::GPTConfig tiny_config(bool llama_style) {
  nn::GPTConfig c;
  c.vocab_size = 7;
  c.n_layer = 2;
  c.n_head = 2;
  c.n_embd = 8;
  c.block_size = 6;
  if (llama_style) {
    c.norm = nn::NormKind::RMSNorm;
    c.mlp = nn::MlpKind::SwiGLU;
    c.mlp_hidden = 12;
    c.rotary = true;
    c.bias = false;
  }
  return c;
}

Tensor random_ids(int64_t b, int64_t t, int64_t vocab) { return randint(0, vocab, {b, t}); }

}  // namespace

TEST_CASE("GPT has nanoGPT's parameter names, tying and counts", "[nn][gpt]") {
  manual_seed(0);
  nn::GPTConfig c;  // L4 H4 C128 T128 V65: the Tiny Shakespeare model
  auto model = std::make_shared<nn::GPT>(c);
  std::map<std::string, Shape> shapes;
  for (const auto& [name, p] : model->named_parameters()) shapes[name] = p.shape();
  REQUIRE(shapes.at("wte.weight") == Shape{65, 128});
  REQUIRE(shapes.at("wpe.weight") == Shape{128, 128});
  REQUIRE(shapes.at("h.0.ln_1.weight") == Shape{128});
  REQUIRE(shapes.at("h.3.attn.c_attn.weight") == Shape{384, 128});
  REQUIRE(shapes.at("h.3.attn.c_proj.bias") == Shape{128});
  REQUIRE(shapes.at("h.1.mlp.c_fc.weight") == Shape{512, 128});
  REQUIRE(shapes.at("ln_f.bias") == Shape{128});
  REQUIRE(shapes.count("lm_head.weight") == 0);  // tied to wte
  // Per block: 12 C^2 + 13 C (two LNs, qkv and proj, fc and proj); plus embeddings and ln_f.
  const int64_t per_block = 12 * 128 * 128 + 13 * 128;
  REQUIRE(model->num_params(false) == 65 * 128 + 128 * 128 + 4 * per_block + 2 * 128);
  REQUIRE(model->num_params(true) == model->num_params(false) - 128 * 128);
  auto [decay, no_decay] = model->weight_decay_groups();
  REQUIRE(decay.size() == 2 + 4 * 4);       // wte, wpe and four matrices per block
  REQUIRE(no_decay.size() == 2 + 4 * 8);    // ln_f and eight vectors per block
  // GPT-2 init: N(0, 0.02) matrices, residual projections scaled down, zero biases.
  REQUIRE(ts::std(model->wte->weight).item<double>() == Approx(0.02).epsilon(0.05));
  const double proj_std = ts::std(model->h->at<nn::TransformerBlock>(0)->attn->c_proj->weight).item<double>();
  REQUIRE(proj_std == Approx(0.02 / std::sqrt(8.0)).epsilon(0.05));
  REQUIRE(max(abs(model->h->at<nn::TransformerBlock>(0)->mlp->c_fc->bias)).item<double>() == 0.0);
}

TEST_CASE("GPT initial loss is about ln(vocab) and logits have (B, T, V)", "[nn][gpt]") {
  manual_seed(1);
  nn::GPTConfig c;
  nn::GPT model(c);
  const Tensor x = random_ids(4, 32, 65), y = random_ids(4, 32, 65);
  REQUIRE(model.forward(x).shape() == Shape{4, 32, 65});
  REQUIRE(model.loss(x, y).item<double>() == Approx(std::log(65.0)).margin(0.1));
}

TEST_CASE("GPT gradients match finite differences (GPT-2 and LLaMA-style blocks)", "[nn][gpt][gradcheck]") {
  for (bool llama : {false, true}) {
    manual_seed(2);
    nn::GPT model(tiny_config(llama));
    model.to(kFloat64);
    const Tensor x = random_ids(2, 5, 7), y = random_ids(2, 5, 7);
    test::require_gradcheck([&](const std::vector<Tensor>&) { return model.loss(x, y); }, model.parameters());
  }
}

TEST_CASE("GPT decoding with a KV cache equals the full forward", "[nn][gpt][kv_cache]") {
  for (bool llama : {false, true}) {
    manual_seed(3);
    nn::GPT model(tiny_config(llama));
    model.to(kFloat64);
    model.eval();
    NoGradGuard no_grad;
    const Tensor ids = random_ids(3, 6, 7);
    const Tensor full = model.forward(ids);
    nn::KVCache cache = model.make_kv_cache(3);
    // A 2-token prefill, then one token at a time, then the last two together.
    std::vector<Tensor> parts{model.forward(ids.narrow(1, 0, 2), cache)};
    for (int64_t t = 2; t < 4; ++t) parts.push_back(model.forward(ids.narrow(1, t, 1), cache));
    parts.push_back(model.forward(ids.narrow(1, 4, 2), cache));
    REQUIRE(cache.length() == 6);
    require_close(cat(parts, 1), full, 1e-10, 1e-12);
    REQUIRE_THROWS_WITH(model.forward(ids.narrow(1, 0, 1), cache), Catch::Contains("block_size 6"));
  }
}

TEST_CASE("generate gives the same tokens with and without the KV cache", "[nn][gpt][generate]") {
  for (bool llama : {false, true}) {
    manual_seed(4);
    nn::GPT model(tiny_config(llama));
    model.train();
    const Tensor prompt = random_ids(2, 3, 7);
    nn::SamplingOptions opts;
    opts.seed = 42;
    opts.temperature = 0.9;
    opts.top_k = 5;
    opts.top_p = 0.95;
    // 12 new tokens run past block_size 6, so the context window slides.
    const Tensor cached = nn::generate(model, prompt, 12, opts, true);
    const Tensor recomputed = nn::generate(model, prompt, 12, opts, false);
    REQUIRE(cached.shape() == Shape{2, 15});
    REQUIRE(equal(cached, recomputed));
    REQUIRE(equal(cached.narrow(1, 0, 3), prompt));
    REQUIRE(model.is_training());  // mode restored
    opts.temperature = 0;          // greedy
    REQUIRE(equal(nn::generate(model, prompt, 8, opts, true), nn::generate(model, prompt, 8, opts, false)));
  }
}

TEST_CASE("sample_tokens: greedy, top-k, top-p, frequencies and determinism", "[nn][generate]") {
  const Tensor logits = tensor(std::vector<double>{0.0, 2.0, 1.0, -1.0, 0.5}, {1, 5});
  nn::SamplingOptions greedy;
  greedy.temperature = 0;
  REQUIRE(nn::sample_tokens(logits, greedy, 0) == std::vector<int64_t>{1});
  nn::SamplingOptions k1;
  k1.top_k = 1;
  nn::SamplingOptions p_small;
  p_small.top_p = 0.01;
  nn::SamplingOptions k2;
  k2.top_k = 2;
  std::vector<int> counts(5, 0), counts_k2(5, 0);
  for (uint64_t draw = 0; draw < 20000; ++draw) {
    REQUIRE(nn::sample_tokens(logits, k1, draw)[0] == 1);
    REQUIRE(nn::sample_tokens(logits, p_small, draw)[0] == 1);
    ++counts[static_cast<size_t>(nn::sample_tokens(logits, nn::SamplingOptions{}, draw)[0])];
    ++counts_k2[static_cast<size_t>(nn::sample_tokens(logits, k2, draw)[0])];
  }
  const auto probs = softmax(logits, 1).to_vector<double>();
  for (size_t i = 0; i < 5; ++i) REQUIRE(counts[i] / 20000.0 == Approx(probs[i]).margin(0.012));
  // top-k 2 renormalizes over tokens 1 and 2 only.
  REQUIRE(counts_k2[0] + counts_k2[3] + counts_k2[4] == 0);
  REQUIRE(counts_k2[1] / 20000.0 == Approx(std::exp(2.0) / (std::exp(2.0) + std::exp(1.0))).margin(0.012));
  REQUIRE(nn::sample_tokens(logits, nn::SamplingOptions{}, 7) == nn::sample_tokens(logits, nn::SamplingOptions{}, 7));
  REQUIRE_THROWS_WITH(nn::sample_tokens(logits, nn::SamplingOptions{1.0, 0, 0.0, 0}, 0), Catch::Contains("top_p"));
  REQUIRE_THROWS_WITH(nn::sample_tokens(randn({5}), nn::SamplingOptions{}, 0), Catch::Contains("(B, V)"));
}

TEST_CASE("GPT rejects bad configs and inputs with clear errors", "[nn][gpt][errors]") {
  nn::GPTConfig c = tiny_config(false);
  c.n_embd = 9;
  REQUIRE_THROWS_WITH(nn::GPT(c), Catch::Contains("multiple of n_head"));
  nn::GPT model(tiny_config(false));
  REQUIRE_THROWS_WITH(model.forward(random_ids(1, 7, 7)), Catch::Contains("exceed block_size 6"));
  REQUIRE_THROWS_WITH(model.forward(random_ids(1, 3, 7).view({3})), Catch::Contains("(B, T)"));
  REQUIRE_THROWS_WITH(model.loss(random_ids(1, 3, 7), random_ids(1, 4, 7)), Catch::Contains("targets"));
  REQUIRE_THROWS_WITH(model.forward(tensor(std::vector<int64_t>{1, 8, 2}, {1, 3}, kInt64)), Catch::Contains("embedding"));
}
