// Training-step time (forward + cross-entropy + backward + SGD-momentum update) of the
// trainers' models: MNIST MLP b128, MNIST CNN b128, CIFAR ResNet-20 b64. Prints one line per
// model, "name batch median_ms", which bench/train_step_vs_torch.sh pairs with PyTorch's.
#include <algorithm>
#include <chrono>
#include <cstdio>

#include <tessera/tessera.h>
#include <tessera/util/cli.h>

#include "common/models.h"

using namespace ts;

namespace {

double median_step_ms(nn::UnaryModule& model, const Shape& input, int64_t batch, int iters) {
  manual_seed(0);
  Shape shape = input;
  shape.insert(shape.begin(), batch);
  const Tensor x = randn(shape);
  const Tensor y = randint(0, 10, {batch});
  optim::SGD opt(model.parameters(), optim::SGDOptions(0.01).momentum(0.9));
  model.train();
  auto step = [&] {
    Tensor loss = cross_entropy(model.forward(x), y);
    opt.zero_grad();
    loss.backward();
    opt.step();
  };
  for (int i = 0; i < 3; ++i) step();  // warm-up: allocations, lazy state
  std::vector<double> ms;
  for (int i = 0; i < iters; ++i) {
    const auto t0 = std::chrono::steady_clock::now();
    step();
    ms.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
  }
  std::sort(ms.begin(), ms.end());
  return ms[ms.size() / 2];
}

}  // namespace

int main(int argc, char** argv) {
  try {
    util::ArgParser args("bench_train_step", "Median training-step time of the MLP, CNN and ResNet-20 trainers' models.");
    args.add("threads", "CPU threads", "2").add("iters", "timed steps per model", "20").add("only", "run one model: mlp, cnn or resnet20");
    if (!args.parse(argc, argv)) return 0;
    set_num_threads(static_cast<int>(args.get_int("threads", 1)));
    const int iters = static_cast<int>(args.get_int("iters", 1));
    const std::string only = args.has("only") ? args.get("only") : "";
    std::printf("# tessera, %d threads, median of %d steps\n", get_num_threads(), iters);
    if (only.empty() || only == "mlp") {
      auto m = examples::make_mnist_mlp();
      std::printf("mlp 128 %.3f\n", median_step_ms(*m, {1, 28, 28}, 128, iters));
    }
    if (only.empty() || only == "cnn") {
      auto m = examples::make_mnist_cnn();
      std::printf("cnn 128 %.3f\n", median_step_ms(*m, {1, 28, 28}, 128, iters));
    }
    if (only.empty() || only == "resnet20") {
      auto m = std::make_shared<examples::ResNet>(20);
      std::printf("resnet20 64 %.3f\n", median_step_ms(*m, {3, 32, 32}, 64, iters));
    }
    std::fflush(stdout);
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_train_step: error: %s\n", e.what());
    return 1;
  }
}
