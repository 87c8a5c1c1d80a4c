// gpt under mpirun with --dp/--pp/--tp: the same recipe as the single-process loop on a
// dist::ParallelGPT. Every rank draws the same global batch of dp * batch-size windows and
// takes its dp slice, so a run follows the single-process run with --batch-size dp * B (up to
// floating-point reordering). Rank 0 prints, logs and writes checkpoints; checkpoints are
// gathered into the one-process trainer's format (model, AdamW state, schedule), so a run
// resumes exactly under any other layout, in one process, or feeds `gpt sample`.
#include <chrono>
#include <cstdio>
#include <optional>

#include <tessera/dist.h>
#include <tessera/tessera.h>
#include <tessera/train/checkpointing.h>
#include <tessera/util/metrics_log.h>
#include <tessera/util/progress.h>

#include "gpt/gpt_model_config.h"
#include "gpt/gpt_text.h"
#include "gpt/gpt_train_options.h"

namespace ts::examples::gpt {
namespace {

using Clock = std::chrono::steady_clock;

// This dp rank's rows of the global batch for (seed, step).
std::pair<Tensor, Tensor> local_batch(const text::TokenDataset& data, const TrainOptions& o,
                                      const dist::ParallelGrid& grid, uint64_t seed, uint64_t step) {
  auto [x, y] = data.sample_batch(o.batch * grid.dp, seed, step);
  return {x.narrow(0, grid.dp_rank * o.batch, o.batch), y.narrow(0, grid.dp_rank * o.batch, o.batch)};
}

}  // namespace

int train_parallel(const util::ArgParser& args, const TrainOptions& o) {
  TS_CHECK(o.accum == 1, "gpt: --grad-accum is not supported with --dp/--pp/--tp; use --micro-batches (pipeline) or "
           "a larger --dp");
  TS_CHECK(o.time_limit_s == 0, "gpt: --time-limit is not supported with --dp/--pp/--tp yet");
  const dist::ParallelGrid grid = dist::make_grid(o.dp, o.pp, o.tp);
  const bool leader = dist::rank() == 0;
  set_num_threads(static_cast<int>(args.get_int("threads", 1)));
  manual_seed(o.seed);
  // Rank 0 tokenizes first so ranks never write the cache files concurrently.
  auto prepare = [&] {
    return prepare_shakespeare(args.get("data"), args.get("cache"), args.get("tokenizer"), args.get_int("bpe-vocab", 257));
  };
  std::optional<PreparedData> data;
  if (leader) data.emplace(prepare());
  grid.world->barrier();
  if (!leader) data.emplace(prepare());

  nn::GPTConfig config = model_config_from_flags(args, data->tokenizer.vocab_size());
  if (!o.resume.empty()) config = model_config_from_metadata(load(o.resume).metadata, o.resume);
  // Checkpoints use the one-process trainer's layout (a dense model, an AdamW on its decay
  // groups, the schedule), so they move freely between layouts and `gpt sample`.
  nn::GPT dense(config);  // the same initialization on every rank (same seed)
  auto dense_groups = dense.weight_decay_groups();
  const auto adamw = optim::AdamWOptions(o.lr).betas({0.9, o.beta2}).weight_decay(o.weight_decay);
  auto make_adamw = [&](std::pair<std::vector<Tensor>, std::vector<Tensor>> groups) {
    return optim::AdamW({optim::OptimizerParamGroup(groups.first, adamw),
                         optim::OptimizerParamGroup(groups.second, optim::AdamWOptions(adamw).weight_decay(0.0))},
                        adamw);
  };
  optim::AdamW dense_opt = make_adamw(dense_groups);
  const int64_t warmup = std::min(o.warmup, o.max_iters - 1);
  const double warmup_start = warmup > 0 ? 1.0 / static_cast<double>(warmup) : 1.0;
  optim::LinearWarmupCosine dense_sched(dense_opt, warmup, o.max_iters, o.min_lr, warmup_start);
  train::TrainingPosition pos;
  if (!o.resume.empty()) pos = train::load_training_checkpoint(o.resume, dense, dense_opt, &dense_sched).position;
  int64_t step = pos.step;

  dist::ParallelGPT model(config, grid);
  model.load_dense(dense);
  optim::AdamW opt = make_adamw(model.weight_decay_groups());
  // The schedule first (it takes the base lr from the optimizer), then the state, whose
  // current lr and counters continue the dense run's.
  optim::LinearWarmupCosine sched(opt, warmup, o.max_iters, o.min_lr, warmup_start);
  model.load_optimizer_state_from_dense(dense_opt.state_dict(), opt);
  sched.load_state_dict(dense_sched.state_dict());
  const text::TokenDataset train_set(std::make_shared<text::TokenFile>(data->train_path), config.block_size);
  const text::TokenDataset val_set(std::make_shared<text::TokenFile>(data->val_path), config.block_size);

  if (leader) {
    std::printf("GPT under dp=%d x pp=%d x tp=%d (%d ranks): %s, %lld tokens per step%s\n", grid.dp, grid.pp, grid.tp,
                dist::world_size(), model.extra_repr().empty() ? dense.extra_repr().c_str() : model.extra_repr().c_str(),
                static_cast<long long>(o.batch * grid.dp * config.block_size),
                o.resume.empty() ? "" : fmt::format(", resumed from {} at step {}", o.resume, step).c_str());
  }
  util::MetricsLog log({"step", "train_loss", "val_loss", "lr", "tokens_per_s", "seconds"}, leader ? o.log : "",
                       /*append=*/!o.resume.empty());
  std::map<std::string, std::string> meta = model_config_metadata(config);
  meta.merge(data->tokenizer.metadata());
  double val_loss = 0;
  while (step < o.max_iters) {
    const int64_t round_end = std::min(o.max_iters, (step / o.eval_interval + 1) * o.eval_interval), first = step;
    std::optional<util::ProgressBar> bar;
    if (leader) bar.emplace(fmt::format("steps {}-{}", step + 1, round_end), round_end - step, "tokens");
    const auto t0 = Clock::now();
    double loss_sum = 0;
    for (; step < round_end; ++step) {
      opt.zero_grad();
      auto [x, y] = local_batch(train_set, o, grid, o.seed, static_cast<uint64_t>(step));
      const double loss = model.forward_backward(x, y, o.micro_batches);
      if (o.clip > 0) model.clip_grad_norm_(o.clip);
      opt.step();
      sched.step();
      loss_sum += loss;
      if (bar) bar->update(step - first + 1, o.batch * grid.dp * config.block_size, {{"loss", loss}});
    }
    if (bar) bar->finish();
    const double seconds = std::chrono::duration<double>(Clock::now() - t0).count();
    double total = 0;
    for (int64_t i = 0; i < o.eval_iters; ++i) {
      auto [x, y] = local_batch(val_set, o, grid, o.seed ^ 0x5eed'0fa1ULL, static_cast<uint64_t>(i));
      total += model.evaluate(x, y, o.micro_batches);
    }
    val_loss = total / static_cast<double>(o.eval_iters);
    const double tokens_per_s = static_cast<double>((step - first) * o.batch * grid.dp * config.block_size) / seconds;
    const double lr = opt.param_groups()[0].options().get_lr();
    if (leader) {
      std::printf("step %lld/%lld: train loss %.4f | val loss %.4f | %.0f tokens/s | lr %.3g\n",
                  static_cast<long long>(step), static_cast<long long>(o.max_iters),
                  loss_sum / static_cast<double>(step - first), val_loss, tokens_per_s, lr);
      std::fflush(stdout);
      log.log({{"step", static_cast<double>(step)}, {"train_loss", loss_sum / static_cast<double>(step - first)},
               {"val_loss", val_loss}, {"lr", lr}, {"tokens_per_s", tokens_per_s}, {"seconds", seconds}});
    }
    if (!o.save.empty()) {
      model.to_dense(dense);
      dense_opt.load_state_dict(model.optimizer_state_to_dense(opt));
      dense_sched.load_state_dict(sched.state_dict());
      pos.step = step;
      if (leader) train::save_training_checkpoint(o.save, dense, dense_opt, &dense_sched, pos, meta);
    }
  }
  if (leader) std::printf("final validation loss: %.4f\n", val_loss);
  if (o.target_val_loss > 0 && !(val_loss <= o.target_val_loss)) {
    if (leader) std::fprintf(stderr, "gpt: validation loss %.4f is above --target-val-loss %.4f\n", val_loss, o.target_val_loss);
    return 3;
  }
  return 0;
}

}  // namespace ts::examples::gpt
