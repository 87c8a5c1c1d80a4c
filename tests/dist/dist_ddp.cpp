// DistributedDataParallel against one process on the same global batch, gradient
// accumulation with no_sync, and the autograd end-of-backward callback it relies on.
#include "dist_test_util.h"

using namespace ts;

namespace {

constexpr int64_t kGlobalBatch = 16;  // divisible by 1, 2 and 4 ranks

std::shared_ptr<nn::Sequential> make_mlp() {
  return std::make_shared<nn::Sequential>(std::initializer_list<std::shared_ptr<nn::UnaryModule>>{
      std::make_shared<nn::Linear>(8, 16), std::make_shared<nn::Tanh>(), std::make_shared<nn::Linear>(16, 16),
      std::make_shared<nn::Tanh>(), std::make_shared<nn::Linear>(16, 4)});
}

struct Data {
  Tensor x, y;
};

// The same global batch on every rank (the global RNG is seeded identically).
Data make_data(uint64_t seed) {
  manual_seed(seed);
  return {randn({kGlobalBatch, 8}), randint(0, 4, {kGlobalBatch})};
}

// This rank's equal slice of the global batch.
Tensor my_slice(const Tensor& t) {
  const int64_t per = kGlobalBatch / dist::world_size();
  return t.narrow(0, per * dist::rank(), per);
}

// max |a - b| / max(|b|, 1e-3) over the elements.
double max_rel_diff(const Tensor& a, const Tensor& b) {
  const auto va = a.to_vector<double>(), vb = b.to_vector<double>();
  double worst = 0;
  for (size_t i = 0; i < va.size(); ++i) worst = std::max(worst, std::abs(va[i] - vb[i]) / std::max(std::abs(vb[i]), 1e-3));
  return worst;
}

void check_params_close(const std::vector<Tensor>& actual, const std::vector<Tensor>& expected, double rtol) {
  REQUIRE(actual.size() == expected.size());
  for (size_t i = 0; i < actual.size(); ++i) {
    const double d = max_rel_diff(actual[i], expected[i]);
    INFO("rank " << dist::rank() << " parameter " << i << " max relative difference " << d);
    CHECK(d <= rtol);
  }
}

// Runs 5 AdamW steps of DDP (each rank on its slice) and of one local model on the full batch
// from the same initial weights; returns the max relative difference of the parameters.
void ddp_matches_single_process(dist::DDPOptions options) {
  // Different initial weights on each rank: DDP must broadcast rank 0's.
  manual_seed(100 + static_cast<uint64_t>(dist::rank()));
  auto model = make_mlp();
  auto ddp = std::make_shared<dist::DistributedDataParallel>(model, options);
  auto reference = make_mlp();
  reference->load_state_dict(model->state_dict());

  optim::AdamW opt(ddp->parameters(), optim::AdamWOptions(1e-2).weight_decay(0.01));
  optim::AdamW ref_opt(reference->parameters(), optim::AdamWOptions(1e-2).weight_decay(0.01));
  for (int step = 0; step < 5; ++step) {
    Data d = make_data(1000 + static_cast<uint64_t>(step));
    opt.zero_grad();
    cross_entropy(ddp->forward(my_slice(d.x)), my_slice(d.y)).backward();
    opt.step();
    ref_opt.zero_grad();
    cross_entropy(reference->forward(d.x), d.y).backward();
    ref_opt.step();
  }
  check_params_close(model->parameters(), reference->parameters(), 1e-5);
  const auto stats = ddp->last_sync_stats();
  CHECK(stats.buckets == static_cast<int>(ddp->bucket_assignment().size()));
  // With overlap every bucket is launched from a gradient hook, i.e. while backward still runs.
  CHECK(stats.launched_during_backward == (options.overlap ? stats.buckets : 0));
}

}  // namespace

TEST_CASE("dist: DDP broadcasts rank 0's parameters at construction", "[dist][ddp]") {
  manual_seed(7 + static_cast<uint64_t>(dist::rank()));
  auto model = make_mlp();
  auto ddp = std::make_shared<dist::DistributedDataParallel>(model);
  for (Tensor p : model->parameters()) {
    Tensor hi = p.detach().clone(), lo = p.detach().clone();
    test::world()->all_reduce(hi, dist::ReduceOp::Max);
    test::world()->all_reduce(lo, dist::ReduceOp::Min);
    CHECK(ts::equal(hi, lo));
  }
  // The wrapped module is child "module".
  CHECK(ddp->state_dict().contains("module.0.weight"));
}

TEST_CASE("dist: DDP with overlapped buckets matches one process over 5 AdamW steps", "[dist][ddp]") {
  ddp_matches_single_process({});
}

TEST_CASE("dist: DDP with many small buckets matches one process", "[dist][ddp]") {
  dist::DDPOptions options;
  options.bucket_cap_mb = 0.0005;  // ~512 bytes: several buckets, the 16x16 weight alone in one
  manual_seed(0);
  auto probe = std::make_shared<dist::DistributedDataParallel>(make_mlp(), options);
  CHECK(probe->bucket_assignment().size() > 2);
  // Reverse registration order: the last layer's parameters come first.
  CHECK(probe->bucket_assignment().front().front() == probe->module()->parameters().size() - 1);
  ddp_matches_single_process(options);
}

TEST_CASE("dist: DDP without overlap matches one process", "[dist][ddp]") {
  dist::DDPOptions options;
  options.overlap = false;
  options.bucket_cap_mb = 0.001;
  ddp_matches_single_process(options);
}

TEST_CASE("dist: DDP with gradients as bucket views matches one process", "[dist][ddp]") {
  dist::DDPOptions options;
  options.bucket_cap_mb = 0.001;
  options.gradient_as_bucket_view = true;
  ddp_matches_single_process(options);
}

TEST_CASE("dist: DDP no_sync accumulation equals one big batch", "[dist][ddp]") {
  dist::DDPOptions options;
  options.bucket_cap_mb = 0.001;
  options.gradient_as_bucket_view = GENERATE(false, true);
  manual_seed(3);
  auto model = make_mlp();
  auto ddp = std::make_shared<dist::DistributedDataParallel>(model, options);
  auto reference = make_mlp();
  reference->load_state_dict(model->state_dict());
  Data d = make_data(77);
  // Reference: mean loss over the whole global batch on one process.
  cross_entropy(reference->forward(d.x), d.y).backward();
  // DDP: this rank's slice in two micro-batches; the first without synchronizing.
  Tensor x = my_slice(d.x), y = my_slice(d.y);
  const int64_t half = x.size(0) / 2;
  {
    auto guard = ddp->no_sync();
    (cross_entropy(ddp->forward(x.narrow(0, 0, half)), y.narrow(0, 0, half)) * 0.5).backward();
  }
  (cross_entropy(ddp->forward(x.narrow(0, half, half)), y.narrow(0, half, half)) * 0.5).backward();
  std::vector<Tensor> grads, ref_grads;
  for (auto& p : model->parameters()) grads.push_back(p.grad());
  for (auto& p : reference->parameters()) ref_grads.push_back(p.grad());
  check_params_close(grads, ref_grads, 1e-5);
}

TEST_CASE("dist: autograd runs queued callbacks at the end of backward", "[dist][ddp]") {
  Tensor w = ones({3}).requires_grad_(true);
  int calls = 0;
  bool grad_was_set = false;
  w.register_hook([&](const Tensor&) {
    autograd::queue_callback([&] {
      ++calls;
      grad_was_set = w.grad().defined();
    });
    return Tensor();
  });
  (w * 2.0).sum().backward();
  CHECK(calls == 1);
  CHECK(grad_was_set);  // after AccumulateGrad ran
  CHECK_THROWS_AS(autograd::queue_callback([] {}), ts::Error);
}

TEST_CASE("dist: DDP recovers from a backward that threw midway", "[dist][ddp]") {
  dist::DDPOptions options;
  options.bucket_cap_mb = 0.0005;  // several buckets: some launched before the throw
  manual_seed(5);
  auto model = make_mlp();
  auto ddp = std::make_shared<dist::DistributedDataParallel>(model, options);
  auto reference = make_mlp();
  reference->load_state_dict(model->state_dict());
  Data d = make_data(11);
  {
    // The input's gradient is computed last, after the later layers' buckets were launched.
    Tensor x = my_slice(d.x).clone().requires_grad_(true);
    x.register_hook([](const Tensor& g) -> Tensor { throw ts::Error("interrupted backward"); });
    Tensor loss = cross_entropy(ddp->forward(x), my_slice(d.y));
    CHECK_THROWS_WITH(loss.backward(), Catch::Contains("interrupted backward"));
  }
  ddp->zero_grad();
  cross_entropy(ddp->forward(my_slice(d.x)), my_slice(d.y)).backward();
  cross_entropy(reference->forward(d.x), d.y).backward();
  std::vector<Tensor> grads, ref_grads;
  for (auto& p : model->parameters()) grads.push_back(p.grad());
  for (auto& p : reference->parameters()) ref_grads.push_back(p.grad());
  check_params_close(grads, ref_grads, 1e-5);
}
