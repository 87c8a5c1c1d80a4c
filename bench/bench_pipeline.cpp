// Pipeline bubble of GPipe vs 1F1B: an MLP of 8 equal layers split over the ranks (one stage
// per rank), trained on M micro-batches; reports each schedule's step time and the fraction
// of the step the stages spent waiting, next to the ideal (pp - 1) / (M + pp - 1).
//   mpirun --oversubscribe -np 2 build/bench/bench_pipeline [--micro 8] [--width 512]
#include <algorithm>
#include <cstdio>

#include <tessera/dist.h>
#include <tessera/tessera.h>
#include <tessera/util/cli.h>

using namespace ts;

namespace {

int run(int argc, char** argv) {
  util::ArgParser args("bench_pipeline", "GPipe vs 1F1B bubble fraction (run under mpirun, one stage per rank).");
  args.add("micro", "micro-batches per step", "8").add("width", "layer width", "512").add("rows", "rows per micro-batch", "64");
  args.add("steps", "timed steps per schedule", "5");
  if (!args.parse(argc, argv)) return 0;
  set_num_threads(1);
  const auto world = dist::world();
  const int64_t layers = 8, width = args.get_int("width", 1), micro = args.get_int("micro", 1);
  const int64_t rows = args.get_int("rows", 1), steps = args.get_int("steps", 1);
  TS_CHECK(layers % world->size() == 0, "bench_pipeline: {} layers do not split over {} ranks", layers, world->size());
  manual_seed(0);
  std::vector<std::shared_ptr<nn::Linear>> net;
  for (int64_t i = 0; i < layers; ++i) net.push_back(std::make_shared<nn::Linear>(width, width));
  const int64_t per = layers / world->size(), begin = world->rank() * per;
  std::vector<Tensor> inputs, targets;
  for (int64_t m = 0; m < micro; ++m) {
    inputs.push_back(randn({rows, width}));
    targets.push_back(randn({rows, width}));
  }
  dist::PipelineStage stage(
      world,
      [&](const Tensor& x) {
        Tensor h = x;
        for (int64_t i = begin; i < begin + per; ++i) h = relu(net[static_cast<size_t>(i)]->forward(h));
        return h;
      },
      [&](const Tensor& out, int64_t m) { return mse_loss(out, targets[static_cast<size_t>(m)]); });
  const double ideal = static_cast<double>(world->size() - 1) / static_cast<double>(micro + world->size() - 1);
  if (world->rank() == 0)
    std::printf("# %d stages, %lld micro-batches of %lld x %lld; ideal bubble (pp-1)/(M+pp-1) = %.3f\n", world->size(),
                static_cast<long long>(micro), static_cast<long long>(rows), static_cast<long long>(width), ideal);
  for (auto schedule : {dist::PipelineSchedule::GPipe, dist::PipelineSchedule::OneFOneB}) {
    stage.run(inputs, schedule);  // warm-up
    double wall = 0, bubble = 0;
    for (int64_t s = 0; s < steps; ++s) {
      stage.run(inputs, schedule);
      wall += stage.stats().wall_seconds;
      // The job's bubble: the mean over stages of their idle fraction.
      Tensor b = scalar_tensor(stage.stats().bubble_fraction(), kFloat64);
      world->all_reduce(b, dist::ReduceOp::Avg);
      bubble += b.item<double>();
    }
    if (world->rank() == 0)
      std::printf("%-6s step %.1f ms, measured bubble %.3f\n", schedule == dist::PipelineSchedule::GPipe ? "GPipe" : "1F1B",
                  1e3 * wall / static_cast<double>(steps), bubble / static_cast<double>(steps));
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) { return dist::run(run, argc, argv); }
