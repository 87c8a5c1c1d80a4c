// Pipeline parallelism over the whole world as one pipeline (np 1, 2 and 4): an 8-layer MLP
// split into equal stages trained on 6 micro-batches with GPipe and 1F1B gives every stage the
// same gradients (and loss) as the unsplit model on the whole batch.
#include <tessera/dist/pipeline.h>

#include "dist_test_util.h"

using namespace ts;

namespace {

constexpr int64_t kLayers = 8;

std::vector<std::shared_ptr<nn::Linear>> make_layers(int64_t width) {
  manual_seed(11);  // identical weights on every rank
  std::vector<std::shared_ptr<nn::Linear>> layers;
  for (int64_t i = 0; i < kLayers; ++i) layers.push_back(std::make_shared<nn::Linear>(width, width));
  return layers;
}

Tensor run_layers(const std::vector<std::shared_ptr<nn::Linear>>& layers, int64_t begin, int64_t end, Tensor x) {
  for (int64_t i = begin; i < end; ++i) x = tanh(layers[static_cast<size_t>(i)]->forward(x));
  return x;
}

void check_pipeline_matches_unsplit(int64_t width, int64_t batch, int64_t micro) {
  const auto group = test::world();
  const int64_t stages = group->size(), per_stage = kLayers / stages;
  REQUIRE(kLayers % stages == 0);
  manual_seed(12);
  const Tensor x = randn({batch, width}), y = randn({batch, width});

  // Reference: the whole model on the whole batch.
  auto ref = make_layers(width);
  const Tensor ref_loss = mse_loss(run_layers(ref, 0, kLayers, x), y);
  ref_loss.backward();

  for (auto schedule : {dist::PipelineSchedule::GPipe, dist::PipelineSchedule::OneFOneB}) {
    auto layers = make_layers(width);
    const int64_t begin = group->rank() * per_stage, end = begin + per_stage;
    const auto xs = chunk(x, micro, 0), ys = chunk(y, micro, 0);
    dist::PipelineStage stage(
        group, [&](const Tensor& in) { return run_layers(layers, begin, end, in); },
        [&](const Tensor& out, int64_t m) { return mse_loss(out, ys[static_cast<size_t>(m)]); });
    CHECK(stage.evaluate(xs) == Approx(ref_loss.item<double>()).epsilon(1e-6));  // forward only
    const double loss = stage.run(xs, schedule);
    INFO("rank " << dist::rank() << ", schedule " << (schedule == dist::PipelineSchedule::GPipe ? "GPipe" : "1F1B"));
    CHECK(loss == Approx(ref_loss.item<double>()).epsilon(1e-6));
    for (int64_t i = begin; i < end; ++i) {
      const auto& mine = layers[static_cast<size_t>(i)];
      const auto& theirs = ref[static_cast<size_t>(i)];
      CHECK(allclose(mine->weight.grad(), theirs->weight.grad(), 1e-4, 1e-7));
      CHECK(allclose(mine->bias.grad(), theirs->bias.grad(), 1e-5, 1e-7));
    }
    // Layers of other stages were never run here.
    for (int64_t i = 0; i < kLayers; ++i)
      if (i < begin || i >= end) CHECK_FALSE(layers[static_cast<size_t>(i)]->weight.grad().defined());
    CHECK(stage.stats().wall_seconds > 0);
    CHECK(stage.stats().bubble_fraction() >= 0);
  }
}

}  // namespace

TEST_CASE("pipeline stages (GPipe and 1F1B) match the unsplit model's gradients", "[dist][pp]") {
  check_pipeline_matches_unsplit(6, 12, 6);
}

TEST_CASE("pipeline schedules do not deadlock on activations too large to send eagerly", "[dist][pp]") {
  // 256 x 256 float activations (256 KB) go through MPI's rendezvous protocol, where a
  // blocking send waits for the matching receive: the schedules' send/recv order must pair up.
  check_pipeline_matches_unsplit(256, 2048, 8);
}
