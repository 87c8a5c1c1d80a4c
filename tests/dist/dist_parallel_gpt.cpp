// Composed parallelism: a GPT trained for 5 AdamW steps with gradient clipping under every
// (dp, pp, tp) layout of the world (np 1, 2, 4: e.g. dp=2 x tp=2, dp=2 x pp=2, pp=2 x tp=2)
// follows the single-process trajectory: the same loss and gradient norm at every step and
// the same parameters after the last one.
#include <tessera/dist/parallel_gpt.h>

#include <filesystem>
#include <unistd.h>

#include "dist_test_util.h"

using namespace ts;

namespace {

nn::GPTConfig small_config() {
  nn::GPTConfig c;
  c.vocab_size = 13;  // not divisible by 2 or 4: exercises the padded vocabulary
  c.n_layer = 4;
  c.n_head = 4;
  c.n_embd = 16;
  c.block_size = 8;
  return c;
}

std::unique_ptr<optim::AdamW> adamw_for(std::pair<std::vector<Tensor>, std::vector<Tensor>> groups) {
  const auto opts = optim::AdamWOptions(1e-2).betas({0.9, 0.95}).weight_decay(0.1);
  return std::make_unique<optim::AdamW>(
      std::vector<optim::OptimizerParamGroup>{optim::OptimizerParamGroup(groups.first, opts),
                                              optim::OptimizerParamGroup(groups.second,
                                                                         optim::AdamWOptions(opts).weight_decay(0.0))},
      opts);
}

void check_layout(int dp, int pp, int tp, dist::PipelineSchedule schedule) {
  constexpr int64_t kSteps = 5, kBatch = 8, kMicro = 2;
  constexpr double kClip = 0.5;  // below the gradient norms here, so clipping scales every step
  const nn::GPTConfig config = small_config();
  manual_seed(21);
  nn::GPT reference(config);
  manual_seed(21);
  nn::GPT initial(config);
  manual_seed(22);
  const Tensor ids = randint(0, config.vocab_size, {kSteps, kBatch, config.block_size});
  const Tensor targets = randint(0, config.vocab_size, {kSteps, kBatch, config.block_size});

  auto ref_opt = adamw_for(reference.weight_decay_groups());
  std::vector<double> ref_losses, ref_norms;
  for (int64_t s = 0; s < kSteps; ++s) {
    ref_opt->zero_grad();
    Tensor loss = reference.loss(ids[s], targets[s]);
    ref_losses.push_back(loss.item<double>());
    loss.backward();
    ref_norms.push_back(optim::clip_grad_norm_(reference.parameters(), kClip));
    ref_opt->step();
  }

  const dist::ParallelGrid grid = dist::make_grid(dp, pp, tp);
  dist::ParallelGPT model(config, grid);
  model.load_dense(initial);
  auto opt = adamw_for(model.weight_decay_groups());
  const int64_t local = kBatch / dp;
  INFO("rank " << dist::rank() << " layout dp=" << dp << " pp=" << pp << " tp=" << tp);
  // Forward-only evaluation gives the same loss and leaves no gradients behind.
  CHECK(model.evaluate(ids[0].narrow(0, grid.dp_rank * local, local), targets[0].narrow(0, grid.dp_rank * local, local),
                       kMicro) == Approx(ref_losses[0]).epsilon(1e-5));
  for (const auto& p : model.parameters()) CHECK_FALSE(p.grad().defined());
  for (int64_t s = 0; s < kSteps; ++s) {
    opt->zero_grad();
    const double loss = model.forward_backward(ids[s].narrow(0, grid.dp_rank * local, local),
                                               targets[s].narrow(0, grid.dp_rank * local, local), kMicro, schedule);
    CHECK(loss == Approx(ref_losses[static_cast<size_t>(s)]).epsilon(1e-5));
    CHECK(model.clip_grad_norm_(kClip) == Approx(ref_norms[static_cast<size_t>(s)]).epsilon(1e-5));
    opt->step();
  }
  dist::ParallelGPT expected(config, grid);
  expected.load_dense(reference);
  const auto got = model.named_parameters(), want = expected.named_parameters();
  REQUIRE(got.size() == want.size());
  for (size_t i = 0; i < got.size(); ++i) {
    INFO("parameter " << got[i].first);
    Tensor a = got[i].second, b = want[i].second;
    if (got[i].first.ends_with("c_attn.bias")) {
      // The key bias shifts every score of a row equally, which softmax ignores: its gradient
      // is zero up to rounding noise, and Adam's normalization turns that noise into
      // arbitrary steps. Compare the query and value parts ([q; k; v] on every rank).
      const int64_t n = a.size(0) / 3;
      a = cat({a.narrow(0, 0, n), a.narrow(0, 2 * n, n)});
      b = cat({b.narrow(0, 0, n), b.narrow(0, 2 * n, n)});
    }
    INFO("max abs difference " << max(abs(a - b)).item<double>());
    CHECK(allclose(a, b, 1e-4, 2e-5));  // 2e-5: 0.2% of one step at lr 1e-2
  }
}

}  // namespace

TEST_CASE("GPT under every dp x pp x tp layout follows the single-process trajectory", "[dist][parallel_gpt]") {
  const int n = dist::world_size();
  for (int dp = 1; dp <= n; ++dp)
    for (int pp = 1; pp <= n / dp; ++pp) {
      if (n % (dp * pp) != 0) continue;
      const int tp = n / (dp * pp);
      if (4 % tp != 0 || 4 % pp != 0) continue;  // n_head and n_layer are 4
      check_layout(dp, pp, tp, pp > 1 && dp == 1 ? dist::PipelineSchedule::GPipe : dist::PipelineSchedule::OneFOneB);
    }
}

TEST_CASE("a checkpoint saved under one layout resumes under another and in one process", "[dist][parallel_gpt]") {
  const int n = dist::world_size();
  const nn::GPTConfig config = small_config();
  manual_seed(41);
  nn::GPT initial(config);
  manual_seed(42);
  const Tensor ids = randint(0, config.vocab_size, {3, 8, config.block_size});
  const Tensor targets = randint(0, config.vocab_size, {3, 8, config.block_size});
  // A file name every rank agrees on: rank 0's pid.
  Tensor pid = scalar_tensor(static_cast<int64_t>(::getpid()), kInt64);
  dist::world()->broadcast(pid, 0);
  const std::string path =
      (std::filesystem::temp_directory_path() / ("tessera_reshard_" + std::to_string(pid.item<int64_t>()) + ".safetensors"))
          .string();
  // Layout A: as much pipeline as possible, then tensor parallel; B: all tensor parallel.
  const int pp_a = n >= 2 ? 2 : 1, tp_a = n / pp_a;
  const dist::ParallelGrid a = dist::make_grid(1, pp_a, tp_a);
  dist::ParallelGPT model_a(config, a);
  model_a.load_dense(initial);
  auto opt = adamw_for(model_a.weight_decay_groups());
  for (int64_t s = 0; s < 2; ++s) {
    opt->zero_grad();
    model_a.forward_backward(ids[s], targets[s], 2);
    opt->step();
  }
  nn::GPT gathered(config);
  model_a.to_dense(gathered);
  if (dist::rank() == 0) save(gathered.state_dict(), path);
  dist::world()->barrier();
  nn::GPT loaded(config);
  loaded.load_state_dict(load(path).tensors);
  dist::world()->barrier();
  if (dist::rank() == 0) std::filesystem::remove(path);

  // The one-process model, layout A and layout B all give the same loss on a new batch.
  const double dense_loss = loaded.loss(ids[2], targets[2]).item<double>();
  opt->zero_grad();
  CHECK(model_a.forward_backward(ids[2], targets[2], 2) == Approx(dense_loss).epsilon(1e-5));
  const dist::ParallelGrid b = dist::make_grid(1, 1, n);
  dist::ParallelGPT model_b(config, b);
  model_b.load_dense(loaded);
  CHECK(model_b.forward_backward(ids[2], targets[2], 1) == Approx(dense_loss).epsilon(1e-5));
  // And back: B gathered again equals what was saved.
  nn::GPT again(config);
  model_b.to_dense(again);
  const auto x = again.named_parameters(), y = loaded.named_parameters();
  for (size_t i = 0; i < x.size(); ++i) {
    INFO("parameter " << x[i].first);
    CHECK(equal(x[i].second, y[i].second));
  }
}

TEST_CASE("optimizer state reshards too: 2 steps under one layout + 3 under another = 5 in one process",
          "[dist][parallel_gpt]") {
  const int n = dist::world_size();
  constexpr double kClip = 0.5;
  const nn::GPTConfig config = small_config();
  manual_seed(51);
  nn::GPT reference(config);
  manual_seed(51);
  nn::GPT initial(config);
  manual_seed(52);
  const Tensor ids = randint(0, config.vocab_size, {5, 8, config.block_size});
  const Tensor targets = randint(0, config.vocab_size, {5, 8, config.block_size});
  auto ref_opt = adamw_for(reference.weight_decay_groups());
  std::vector<double> ref_losses;
  for (int64_t s = 0; s < 5; ++s) {
    ref_opt->zero_grad();
    Tensor loss = reference.loss(ids[s], targets[s]);
    ref_losses.push_back(loss.item<double>());
    loss.backward();
    optim::clip_grad_norm_(reference.parameters(), kClip);
    ref_opt->step();
  }
  auto run_steps = [&](dist::ParallelGPT& m, optim::AdamW& opt, const dist::ParallelGrid& g, int64_t from, int64_t to) {
    const int64_t local = 8 / g.dp;
    for (int64_t s = from; s < to; ++s) {
      opt.zero_grad();
      const double loss = m.forward_backward(ids[s].narrow(0, g.dp_rank * local, local),
                                             targets[s].narrow(0, g.dp_rank * local, local), 2);
      CHECK(loss == Approx(ref_losses[static_cast<size_t>(s)]).epsilon(1e-5));
      m.clip_grad_norm_(kClip);
      opt.step();
    }
  };
  // Layout A: pipeline x tensor parallel.
  const int pp_a = n >= 2 ? 2 : 1;
  const dist::ParallelGrid a = dist::make_grid(1, pp_a, n / pp_a);
  dist::ParallelGPT model_a(config, a);
  model_a.load_dense(initial);
  auto opt_a = adamw_for(model_a.weight_decay_groups());
  run_steps(model_a, *opt_a, a, 0, 2);
  // The one-process trainer's layout: a dense model and an AdamW on its decay groups.
  nn::GPT dense(config);
  model_a.to_dense(dense);
  auto dense_opt = adamw_for(dense.weight_decay_groups());
  dense_opt->load_state_dict(model_a.optimizer_state_to_dense(*opt_a));
  // Layout B: all data parallel.
  const dist::ParallelGrid b = dist::make_grid(n, 1, 1);
  dist::ParallelGPT model_b(config, b);
  model_b.load_dense(dense);
  auto opt_b = adamw_for(model_b.weight_decay_groups());
  model_b.load_optimizer_state_from_dense(dense_opt->state_dict(), *opt_b);
  run_steps(model_b, *opt_b, b, 2, 5);
  dist::ParallelGPT expected(config, b);
  expected.load_dense(reference);
  const auto got = model_b.named_parameters(), want = expected.named_parameters();
  for (size_t i = 0; i < got.size(); ++i) {
    if (got[i].first.ends_with("c_attn.bias")) continue;  // the key bias: see the layout test
    INFO("rank " << dist::rank() << " parameter " << got[i].first);
    CHECK(allclose(got[i].second, want[i].second, 1e-4, 2e-5));
  }
}
