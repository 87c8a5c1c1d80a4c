// ZeRO-1: AdamW with optimizer state sharded over the data-parallel group (the world) takes the
// same steps as plain AdamW on the whole batch in one process.
#include <tessera/dist/zero.h>

#include <algorithm>

#include "dist_test_util.h"

using namespace ts;

namespace {

std::shared_ptr<nn::Sequential> make_mlp() {
  manual_seed(31);  // identical replicas on every rank
  return std::make_shared<nn::Sequential>(std::initializer_list<std::shared_ptr<nn::UnaryModule>>{
      std::make_shared<nn::Linear>(5, 7), std::make_shared<nn::Tanh>(), std::make_shared<nn::Linear>(7, 3)});
}

std::pair<std::vector<Tensor>, std::vector<Tensor>> decay_groups(const nn::Module& m) {
  std::vector<Tensor> decay, other;
  for (const auto& p : m.parameters()) (p.dim() >= 2 ? decay : other).push_back(p);
  return {decay, other};
}

}  // namespace

TEST_CASE("ZeRO-1 AdamW matches plain AdamW on the whole batch", "[dist][zero]") {
  const auto group = test::world();
  const int64_t ranks = group->size(), batch = 8;
  manual_seed(32);
  const Tensor x = randn({5, batch, 5}), y = randn({5, batch, 3});
  const auto opts = optim::AdamWOptions(1e-2).weight_decay(0.1);

  auto ref = make_mlp();
  auto [rd, ro] = decay_groups(*ref);
  optim::AdamW ref_opt({optim::OptimizerParamGroup(rd, opts), optim::OptimizerParamGroup(ro, optim::AdamWOptions(opts).weight_decay(0.0))}, opts);
  auto model = make_mlp();
  auto [md, mo] = decay_groups(*model);
  dist::ZeroAdamW zero({{md, opts}, {mo, optim::AdamWOptions(opts).weight_decay(0.0)}}, group);
  const int64_t total = model->num_parameters();
  CHECK(zero.shard_numel() <= (total + ranks - 1) / ranks + 2);  // two groups, each padded by < 1 element per rank

  const int64_t local = batch / ranks;
  for (int64_t s = 0; s < 5; ++s) {
    ref_opt.zero_grad();
    mse_loss(ref->forward(x[s]), y[s]).backward();
    ref_opt.step();
    zero.zero_grad();
    mse_loss(model->forward(x[s].narrow(0, group->rank() * local, local)),
             y[s].narrow(0, group->rank() * local, local)).backward();
    zero.step();
  }
  const auto a = model->parameters(), b = ref->parameters();
  for (size_t i = 0; i < a.size(); ++i) {
    INFO("rank " << dist::rank() << " parameter " << i << " max diff " << max(abs(a[i] - b[i])).item<double>());
    CHECK(allclose(a[i], b[i], 1e-5, 1e-6));
  }
}

TEST_CASE("ZeRO-1 state gathers into AdamW's layout and reloads into plain AdamW or ZeRO", "[dist][zero]") {
  const auto group = test::world();
  const int64_t ranks = group->size(), batch = 8, local = batch / ranks;
  manual_seed(33);
  const Tensor x = randn({6, batch, 5}), y = randn({6, batch, 3});
  const auto opts = optim::AdamWOptions(1e-2).weight_decay(0.1);
  const auto no_wd = optim::AdamWOptions(opts).weight_decay(0.0);
  auto ref = make_mlp();
  auto [rd, ro] = decay_groups(*ref);
  optim::AdamW ref_opt({optim::OptimizerParamGroup(rd, opts), optim::OptimizerParamGroup(ro, no_wd)}, opts);
  auto model = make_mlp();
  auto [md, mo] = decay_groups(*model);
  dist::ZeroAdamW zero({{md, opts}, {mo, no_wd}}, group);
  auto ref_step = [&](int64_t s) {
    ref_opt.zero_grad();
    mse_loss(ref->forward(x[s]), y[s]).backward();
    ref_opt.step();
  };
  auto zero_step = [&](nn::Module& m, dist::ZeroAdamW& z, int64_t s) {
    z.zero_grad();
    auto* seq = dynamic_cast<nn::Sequential*>(&m);
    mse_loss(seq->forward(x[s].narrow(0, group->rank() * local, local)), y[s].narrow(0, group->rank() * local, local))
        .backward();
    z.step();
  };
  for (int64_t s = 0; s < 3; ++s) {
    ref_step(s);
    zero_step(*model, zero, s);
  }
  // The gathered state is plain AdamW's.
  const StateDict gathered = zero.state_dict(), expected = ref_opt.state_dict();
  auto sorted_keys = [](const StateDict& d) {
    auto k = d.keys();
    std::sort(k.begin(), k.end());
    return k;
  };
  CHECK(sorted_keys(gathered) == sorted_keys(expected));
  for (const auto& key : expected.keys()) {
    INFO("rank " << dist::rank() << " key " << key);
    if (gathered.contains(key)) CHECK(allclose(gathered.at(key), expected.at(key), 1e-5, 1e-7));
  }
  // A fresh model + ZeRO optimizer loaded from it continues exactly like the reference.
  auto resumed = make_mlp();
  resumed->load_state_dict(model->state_dict());
  auto [sd, so] = decay_groups(*resumed);
  dist::ZeroAdamW zero2({{sd, opts}, {so, no_wd}}, group);
  zero2.load_state_dict(gathered);
  for (int64_t s = 3; s < 6; ++s) {
    ref_step(s);
    zero_step(*resumed, zero2, s);
  }
  const auto a = resumed->parameters(), b = ref->parameters();
  for (size_t i = 0; i < a.size(); ++i) CHECK(allclose(a[i], b[i], 1e-5, 1e-6));
}
