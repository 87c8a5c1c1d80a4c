// GPT training-step time (forward + cross-entropy + backward + clip + AdamW) for the issue's
// two shapes: L4 H4 C128 T128 B32 (the Tiny Shakespeare model) and L6 H6 C384 T256 B8, or with
// --gpt2-small for GPT-2 124M (L12 H12 C768 T1024, vocabulary 50257 padded to 50304 as llm.c).
// Prints "name batch median_ms" lines that bench/gpt_step_vs_torch.sh pairs with PyTorch's,
// plus tokens/s, achieved GFLOP/s (6N + 12LCT FLOPs per token) and, against --peak-tflops
// (default on a GPU: H100 SXM dense TF32), the MFU. --device cuda runs on a GPU (the model is
// initialized on the CPU, then moved), timing each step between two synchronize() calls.
#include <cstdio>
#include <vector>

#include <tessera/tessera.h>
#include <tessera/util/cli.h>

#include "bench_common.h"

using namespace ts;

namespace {

// H100 SXM5 dense TF32 tensor-core peak (989.4 with 2:4 sparsity): what the float32 step runs
// on with --tf32. (Without TF32 a float32 matmul runs at the 66.9 TFLOP/s FP32 peak.)
constexpr double kDefaultGpuPeakTflops = 494.7;

struct GptShape {
  const char* name;
  int64_t n_layer, n_head, n_embd, block_size, batch;
  int64_t vocab = 65;        ///< embedding / LM-head rows
  int64_t data_vocab = 65;   ///< token ids are drawn below this (GPT-2: 50257 real tokens of 50304)
};

struct StepResult {
  double ms = 0, flops_per_step = 0;
};

StepResult time_step(const GptShape& s, int iters, Device device) {
  manual_seed(0);
  nn::GPTConfig c;
  c.vocab_size = s.vocab;
  c.n_layer = s.n_layer;
  c.n_head = s.n_head;
  c.n_embd = s.n_embd;
  c.block_size = s.block_size;
  nn::GPT model(c);  // initialized on the CPU, then moved
  model.to(device);
  auto [decay, no_decay] = model.weight_decay_groups();
  const auto opts = optim::AdamWOptions(1e-3).betas({0.9, 0.95}).weight_decay(0.1);
  optim::AdamW opt({optim::OptimizerParamGroup(decay, opts),
                    optim::OptimizerParamGroup(no_decay, optim::AdamWOptions(opts).weight_decay(0.0))},
                   opts);
  const Tensor x = randint(0, s.data_vocab, {s.batch, s.block_size}).to(device);
  const Tensor y = randint(0, s.data_vocab, {s.batch, s.block_size}).to(device);
  model.train();
  auto step = [&] {
    opt.zero_grad();
    model.loss(x, y).backward();
    optim::clip_grad_norm_tensor_(model.parameters(), 1.0);  // like PyTorch's: no host sync
    opt.step();
  };
  StepResult r;
  r.ms = bench::median_step_ms(step, /*warmup=*/3, iters, device);
  r.flops_per_step = model.flops_per_token(s.block_size) * static_cast<double>(s.batch * s.block_size);
  return r;
}

// Generation speed of the L6 C384 T256 model (random weights): `tokens` new tokens after a
// one-token prompt, with the KV cache (one-token steps) and with full recomputation.
void report_generation(int64_t tokens, Device device) {
  manual_seed(0);
  nn::GPTConfig c;
  c.n_layer = 6;
  c.n_head = 6;
  c.n_embd = 384;
  c.block_size = 256;
  nn::GPT model(c);
  model.to(device);
  const Tensor prompt = zeros({1, 1}, kInt64);
  for (bool cache : {true, false}) {
    bench::sync(device);
    const auto t0 = std::chrono::steady_clock::now();
    nn::generate(model, prompt, tokens, nn::SamplingOptions{}, cache);
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    std::printf("# generate %lld tokens (L6 C384 T256, %s) %s KV cache: %.2f s, %.1f tokens/s\n",
                static_cast<long long>(tokens), device.str().c_str(), cache ? "with" : "without", s,
                static_cast<double>(tokens) / s);
  }
}

}  // namespace

int main(int argc, char** argv) {
  try {
    util::ArgParser args("bench_gpt_step",
                         "Median GPT training-step time (AdamW) for two model shapes, or for GPT-2 124M.");
    args.add("threads", "CPU threads", "2").add("iters", "timed steps per shape", "10");
    args.add("only", "run one shape: gpt_l4_c128 or gpt_l6_c384");
    args.add("generate", "also time generating this many tokens with and without the KV cache (0: skip)", "0");
    args.add("device", "cpu, cuda or cuda:N (the model is initialized on the CPU, then moved)", "cpu")
        .add_switch("tf32", "let float32 matmuls use TF32 tensor cores (CUDA only)")
        .add_switch("gpt2-small", "time GPT-2 124M instead (L12 H12 C768 T1024, vocab 50304; batch from --batch)")
        .add("batch", "sequences per step (default: 8 for --gpt2-small, else each shape's own: 32 and 8)")
        .add("peak-tflops", "peak TFLOP/s the MFU is relative to (default on a GPU: 494.7, H100 SXM dense TF32; "
                            "on the CPU no MFU unless given)");
    if (!args.parse(argc, argv)) return 0;
    const Device device = bench::select_device(args.get("device"), args.get_switch("tf32"));
    set_num_threads(static_cast<int>(args.get_int("threads", 1)));
    const int iters = static_cast<int>(args.get_int("iters", 1));
    const std::string only = args.has("only") ? args.get("only") : "";
    double peak_tflops = device.is_cuda() ? kDefaultGpuPeakTflops : 0;
    if (args.has("peak-tflops")) peak_tflops = args.get_double("peak-tflops");

    std::vector<GptShape> shapes;
    if (args.get_switch("gpt2-small")) {
      shapes.push_back({"gpt2_124m", 12, 12, 768, 1024, 8, 50304, 50257});
    } else {
      shapes.push_back({"gpt_l4_c128", 4, 4, 128, 128, 32});
      shapes.push_back({"gpt_l6_c384", 6, 6, 384, 256, 8});
    }
    if (args.has("batch"))
      for (auto& s : shapes) s.batch = args.get_int("batch", 1);

    std::printf("# tessera, %d threads, median of %d steps, device %s%s\n", get_num_threads(), iters,
                device.str().c_str(), device.is_cuda() ? (cuda::allow_tf32() ? " (TF32 on)" : " (TF32 off)") : "");
    if (peak_tflops > 0)
      std::printf("# MFU against a peak of %.1f TFLOP/s (%s)\n", peak_tflops,
                  args.has("peak-tflops") ? "--peak-tflops" : "default: H100 SXM dense TF32; set --peak-tflops");
    for (const GptShape& s : shapes) {
      if (!only.empty() && only != s.name) continue;
      const StepResult r = time_step(s, iters, device);
      const double tokens_per_s = static_cast<double>(s.batch * s.block_size) / (r.ms / 1e3);
      const double flops_per_s = r.flops_per_step / (r.ms / 1e3);
      std::printf("%s %lld %.3f\n", s.name, static_cast<long long>(s.batch), r.ms);
      std::string mfu;
      if (peak_tflops > 0) mfu = fmt::format(", MFU {:.1f}%", 100.0 * flops_per_s / (peak_tflops * 1e12));
      std::printf("# %s: %.0f tokens/s, %.1f GFLOP/s%s\n", s.name, tokens_per_s, flops_per_s / 1e9, mfu.c_str());
      std::fflush(stdout);
    }
    if (args.get_int("generate", 0) > 0) report_generation(args.get_int("generate", 0), device);
    if (device.is_cuda()) std::printf("%s\n", bench::device_comment(device).c_str());
    std::fflush(stdout);
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_gpt_step: error: %s\n", e.what());
    return 1;
  }
}
