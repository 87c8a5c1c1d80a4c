// gpt train: nanoGPT's training recipe on Tiny Shakespeare -- random (B, T+1) windows,
// AdamW with weight-decay groups, linear warmup + cosine decay, gradient clipping and
// accumulation -- with a validation loss every --eval-interval steps, a CSV log, an SVG plot of
// the loss curves, checkpoints that resume exactly, tokens/s and model FLOPs utilization.
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <limits>

#include <tessera/dist.h>
#include <tessera/tessera.h>
#include <tessera/util/cli.h>
#include <tessera/util/metrics_log.h>
#include <tessera/util/progress.h>

#include "common/classifier.h"
#include "gpt/gpt_commands.h"
#include "gpt/gpt_model_config.h"
#include "gpt/gpt_text.h"
#include "gpt/gpt_train_options.h"

namespace ts::examples::gpt {
namespace {

using Clock = std::chrono::steady_clock;

// Mean loss over fixed validation windows (the same ones at every evaluation).
double validation_loss(nn::GPT& model, const text::TokenDataset& val, const TrainOptions& o, Device device) {
  const bool was_training = model.is_training();
  model.eval();
  NoGradGuard no_grad;
  double total = 0;
  for (int64_t i = 0; i < o.eval_iters; ++i) {
    auto [x, y] = val.sample_batch(o.batch, o.seed ^ 0x5eed'0fa1ULL, static_cast<uint64_t>(i));
    total += model.loss(to_device(x, device), to_device(y, device)).item<double>();
  }
  model.train(was_training);
  return total / static_cast<double>(o.eval_iters);
}

void print_sample(nn::GPT& model, const Tokenizer& tokenizer, const TrainOptions& o) {
  if (o.sample_tokens <= 0) return;
  nn::SamplingOptions sampling;
  sampling.temperature = 0.8;
  sampling.seed = o.seed;
  const auto newline = tokenizer.encode("\n");
  const Tensor prompt = tensor(std::vector<int64_t>{newline.front()}, {1, 1}, kInt64);
  const auto ids = nn::generate(model, prompt, o.sample_tokens, sampling).to_vector<int64_t>();
  const std::string text = tokenizer.decode(std::vector<int32_t>(ids.begin(), ids.end()));
  std::printf("---- sample (%lld tokens, temperature 0.8) ----%s\n----\n", static_cast<long long>(o.sample_tokens),
              text.c_str());
}

}  // namespace

double measure_peak_gflops(Device device) {
  NoGradGuard no_grad;
  const auto rng = get_rng_state();  // the measurement must not shift dropout's random stream
  const int64_t n = device.is_cuda() ? 8192 : 1024;
  const Tensor a = randn({n, n}).to(device), b = randn({n, n}).to(device);
  set_rng_state(rng);
  auto sync = [&] {
    if (device.is_cuda()) cuda::synchronize(device.index);
  };
  if (device.is_cuda()) {  // first use: kernels load, the allocator reserves memory
    (void)matmul(a, b);
    sync();
  }
  double best = 0;
  for (int i = 0; i < 5; ++i) {
    const auto t0 = Clock::now();
    const Tensor c = matmul(a, b);
    sync();
    const double s = std::chrono::duration<double>(Clock::now() - t0).count();
    best = std::max(best, 2.0 * static_cast<double>(n * n * n) / s / 1e9);
  }
  return best;
}

int train_command(int argc, char** argv) {
  util::ArgParser args("gpt", "Trains a GPT language model on Tiny Shakespeare (`gpt sample --help` for generation).");
  add_train_flags(args);
  if (!args.parse(argc, argv)) return 0;
  const TrainOptions o = read_train_flags(args);
  if (o.dp * o.pp * o.tp > 1 || dist::world_size() > 1) {
    if (!Device(o.device).is_cpu())
      throw Error(fmt::format("--device {}: the parallel layouts (--dp, --pp, --tp, mpirun) run on the CPU only; "
                              "train on one GPU without them, or drop --device",
                              o.device));
    return train_parallel(args, o);
  }
  const Device device = select_device(o.device, o.tf32);
  set_num_threads(static_cast<int>(args.get_int("threads", 1)));
  manual_seed(o.seed);

  const PreparedData data = prepare_shakespeare(args.get("data"), args.get("cache"), args.get("tokenizer"),
                                                args.get_int("bpe-vocab", 257));
  nn::GPTConfig config = model_config_from_flags(args, data.tokenizer.vocab_size());
  if (!o.resume.empty()) config = model_config_from_metadata(load(o.resume).metadata, o.resume);
  nn::GPT model(config);  // initialized on the CPU (the same weights for a seed on every device), then moved
  model.to(device);
  const text::TokenDataset train_set(std::make_shared<text::TokenFile>(data.train_path), config.block_size);
  const text::TokenDataset val_set(std::make_shared<text::TokenFile>(data.val_path), config.block_size);

  auto [decay, no_decay] = model.weight_decay_groups();
  const auto adamw = optim::AdamWOptions(o.lr).betas({0.9, o.beta2}).weight_decay(o.weight_decay);
  optim::AdamW opt({optim::OptimizerParamGroup(decay, adamw),
                    optim::OptimizerParamGroup(no_decay, optim::AdamWOptions(adamw).weight_decay(0.0))},
                   adamw);
  // Warmup starts at lr / warmup (not 0, so the first step already learns), as nanoGPT's.
  const int64_t warmup = std::min(o.warmup, o.max_iters - 1);
  optim::LinearWarmupCosine sched(opt, warmup, o.max_iters, o.min_lr, warmup > 0 ? 1.0 / static_cast<double>(warmup) : 1.0);
  train::TrainingPosition pos;
  if (!o.resume.empty()) {
    pos = train::load_training_checkpoint(o.resume, model, opt, &sched).position;
    std::printf("resumed from %s at step %lld\n", o.resume.c_str(), static_cast<long long>(pos.step));
  }
  const double peak = measure_peak_gflops(device);
  const int64_t tokens_per_step = o.batch * o.accum * config.block_size;
  const double flops_per_step = model.flops_per_token(config.block_size) * static_cast<double>(tokens_per_step);
  std::printf("GPT: %.2fM parameters (%s), %s tokenizer (vocab %lld), %lld train / %lld val tokens\n",
              static_cast<double>(model.num_params()) / 1e6, model.extra_repr().c_str(), data.tokenizer.kind().c_str(),
              static_cast<long long>(config.vocab_size), static_cast<long long>(train_set.file().size()),
              static_cast<long long>(val_set.file().size()));
  const std::string where = device.is_cuda() ? fmt::format("{}{}", device.str(), cuda::allow_tf32() ? " (TF32)" : "")
                                             : fmt::format("{} threads", get_num_threads());
  std::printf("%lld tokens per step (batch %lld x grad-accum %lld x block %lld); measured peak %.0f GFLOP/s on %s\n",
              static_cast<long long>(tokens_per_step), static_cast<long long>(o.batch), static_cast<long long>(o.accum),
              static_cast<long long>(config.block_size), peak, where.c_str());

  const std::vector<std::string> columns{"step", "tokens", "train_loss", "val_loss", "lr", "tokens_per_s", "mfu", "seconds"};
  util::MetricsLog log(columns, o.log, /*append=*/!o.resume.empty());
  std::map<std::string, std::string> meta = model_config_metadata(config);
  meta.merge(data.tokenizer.metadata());
  const auto start = Clock::now();
  double val_loss = std::numeric_limits<double>::quiet_NaN();
  bool out_of_time = false;
  model.train();
  while (pos.step < o.max_iters && !out_of_time) {
    const int64_t round_end = std::min(o.max_iters, (pos.step / o.eval_interval + 1) * o.eval_interval);
    util::ProgressBar bar(fmt::format("steps {}-{}", pos.step + 1, round_end), round_end - pos.step, "tokens");
    const auto round_start = Clock::now();
    const int64_t first = pos.step;
    double loss_sum = 0;
    for (; pos.step < round_end; ++pos.step) {
      opt.zero_grad();
      std::vector<Tensor> losses;
      for (int64_t m = 0; m < o.accum; ++m) {
        auto [x, y] = train_set.sample_batch(o.batch, o.seed, static_cast<uint64_t>(pos.step * o.accum + m));
        const Tensor loss = model.loss(to_device(x, device), to_device(y, device));
        losses.push_back(loss.detach());
        (loss / static_cast<double>(o.accum)).backward();
      }
      if (o.clip > 0) optim::clip_grad_norm_tensor_(model.parameters(), o.clip);  // no host sync
      opt.step();
      sched.step();
      // The losses are read (item() waits for the device) once the whole step is queued.
      double step_loss = 0;
      for (const Tensor& loss : losses) step_loss += loss.item<double>() / static_cast<double>(o.accum);
      loss_sum += step_loss;
      bar.update(pos.step - first + 1, tokens_per_step, {{"loss", step_loss}, {"lr", opt.param_groups()[0].options().get_lr()}});
      if (o.time_limit_s > 0 && std::chrono::duration<double>(Clock::now() - start).count() > o.time_limit_s) {
        out_of_time = true;
        ++pos.step;
        break;
      }
    }
    bar.finish();
    const double seconds = std::chrono::duration<double>(Clock::now() - round_start).count();
    const int64_t steps = pos.step - first;
    const double tokens_per_s = static_cast<double>(steps * tokens_per_step) / seconds;
    const double mfu = flops_per_step * static_cast<double>(steps) / seconds / (peak * 1e9);
    val_loss = validation_loss(model, val_set, o, device);
    const double lr = opt.param_groups()[0].options().get_lr();
    std::printf("step %lld/%lld: train loss %.4f | val loss %.4f | %.0f tokens/s | MFU %.1f%% | lr %.3g | %.0f s elapsed\n",
                static_cast<long long>(pos.step), static_cast<long long>(o.max_iters), loss_sum / static_cast<double>(steps),
                val_loss, tokens_per_s, 100 * mfu, lr, std::chrono::duration<double>(Clock::now() - start).count());
    std::fflush(stdout);
    log.log({{"step", static_cast<double>(pos.step)}, {"tokens", static_cast<double>(pos.step * tokens_per_step)},
             {"train_loss", loss_sum / static_cast<double>(steps)}, {"val_loss", val_loss}, {"lr", lr},
             {"tokens_per_s", tokens_per_s}, {"mfu", mfu}, {"seconds", seconds}});
    if (!o.save.empty()) train::save_training_checkpoint(o.save, model, opt, &sched, pos, meta);
    if (!o.plot.empty()) {
      auto cols = o.log.empty() ? std::map<std::string, std::vector<double>>{} : util::read_metrics_csv(o.log);
      if (cols.empty())
        for (const auto& c : columns) cols[c] = log.series(c);
      util::write_svg_plot(o.plot, "GPT on Tiny Shakespeare",
                           {{"loss (nats/token)", {{"train", cols["step"], cols["train_loss"]}, {"val", cols["step"], cols["val_loss"]}}}},
                           "step");
    }
  }
  if (out_of_time) std::printf("stopped by --time-limit after step %lld\n", static_cast<long long>(pos.step));
  if (std::isnan(val_loss)) val_loss = validation_loss(model, val_set, o, device);  // resumed a finished run
  print_sample(model, data.tokenizer, o);
  std::printf("final validation loss: %.4f\n", val_loss);
  if (o.target_val_loss > 0 && !(val_loss <= o.target_val_loss)) {
    std::fprintf(stderr, "gpt: validation loss %.4f is above --target-val-loss %.4f\n", val_loss, o.target_val_loss);
    return 3;
  }
  return 0;
}

}  // namespace ts::examples::gpt
