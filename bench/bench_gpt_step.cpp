// GPT training-step time (forward + cross-entropy + backward + clip + AdamW) for the issue's
// two shapes: L4 H4 C128 T128 B32 (the Tiny Shakespeare model) and L6 H6 C384 T256 B8.
// Prints "name batch median_ms" lines that bench/gpt_step_vs_torch.sh pairs with PyTorch's,
// plus tokens/s and achieved GFLOP/s (6N + 12LCT FLOPs per token).
#include <algorithm>
#include <chrono>
#include <cstdio>

#include <tessera/tessera.h>
#include <tessera/util/cli.h>

using namespace ts;

namespace {

struct Shape4 {
  const char* name;
  int64_t n_layer, n_head, n_embd, block_size, batch;
};

double median_step_ms(const Shape4& s, int iters, double* flops_per_step) {
  manual_seed(0);
  nn::GPTConfig c;
  c.vocab_size = 65;
  c.n_layer = s.n_layer;
  c.n_head = s.n_head;
  c.n_embd = s.n_embd;
  c.block_size = s.block_size;
  nn::GPT model(c);
  auto [decay, no_decay] = model.weight_decay_groups();
  const auto opts = optim::AdamWOptions(1e-3).betas({0.9, 0.95}).weight_decay(0.1);
  optim::AdamW opt({optim::OptimizerParamGroup(decay, opts),
                    optim::OptimizerParamGroup(no_decay, optim::AdamWOptions(opts).weight_decay(0.0))},
                   opts);
  const Tensor x = randint(0, 65, {s.batch, s.block_size}), y = randint(0, 65, {s.batch, s.block_size});
  model.train();
  auto step = [&] {
    opt.zero_grad();
    model.loss(x, y).backward();
    optim::clip_grad_norm_(model.parameters(), 1.0);
    opt.step();
  };
  for (int i = 0; i < 3; ++i) step();
  std::vector<double> ms;
  for (int i = 0; i < iters; ++i) {
    const auto t0 = std::chrono::steady_clock::now();
    step();
    ms.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
  }
  std::sort(ms.begin(), ms.end());
  *flops_per_step = model.flops_per_token(s.block_size) * static_cast<double>(s.batch * s.block_size);
  return ms[ms.size() / 2];
}

// Generation speed of the larger shape's model (random weights): `tokens` new tokens after a
// one-token prompt, with the KV cache (one-token steps) and with full recomputation.
void report_generation(int64_t tokens) {
  manual_seed(0);
  nn::GPTConfig c;
  c.n_layer = 6;
  c.n_head = 6;
  c.n_embd = 384;
  c.block_size = 256;
  nn::GPT model(c);
  const Tensor prompt = zeros({1, 1}, kInt64);
  for (bool cache : {true, false}) {
    const auto t0 = std::chrono::steady_clock::now();
    nn::generate(model, prompt, tokens, nn::SamplingOptions{}, cache);
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    std::printf("# generate %lld tokens (L6 C384 T256) %s KV cache: %.2f s, %.1f tokens/s\n",
                static_cast<long long>(tokens), cache ? "with" : "without", s, static_cast<double>(tokens) / s);
  }
}

}  // namespace

int main(int argc, char** argv) {
  try {
    util::ArgParser args("bench_gpt_step", "Median GPT training-step time (AdamW) for two model shapes.");
    args.add("threads", "CPU threads", "2").add("iters", "timed steps per shape", "10");
    args.add("only", "run one shape: gpt_l4_c128 or gpt_l6_c384");
    args.add("generate", "also time generating this many tokens with and without the KV cache (0: skip)", "0");
    if (!args.parse(argc, argv)) return 0;
    set_num_threads(static_cast<int>(args.get_int("threads", 1)));
    const int iters = static_cast<int>(args.get_int("iters", 1));
    const std::string only = args.has("only") ? args.get("only") : "";
    std::printf("# tessera, %d threads, median of %d steps\n", get_num_threads(), iters);
    for (const Shape4& s : {Shape4{"gpt_l4_c128", 4, 4, 128, 128, 32}, Shape4{"gpt_l6_c384", 6, 6, 384, 256, 8}}) {
      if (!only.empty() && only != s.name) continue;
      double flops = 0;
      const double ms = median_step_ms(s, iters, &flops);
      std::printf("%s %lld %.3f\n", s.name, static_cast<long long>(s.batch), ms);
      std::printf("# %s: %.0f tokens/s, %.1f GFLOP/s\n", s.name,
                  static_cast<double>(s.batch * s.block_size) / (ms / 1e3), flops / (ms / 1e3) / 1e9);
      std::fflush(stdout);
    }
    if (args.get_int("generate", 0) > 0) report_generation(args.get_int("generate", 0));
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_gpt_step: error: %s\n", e.what());
    return 1;
  }
}
