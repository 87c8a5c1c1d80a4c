// Training-step time (forward + cross-entropy + backward + SGD-momentum update) of the
// trainers' models: MNIST MLP b128, MNIST CNN b128, CIFAR ResNet-20 b64. Prints one line per
// model, "name batch median_ms", which bench/train_step_vs_torch.sh pairs with PyTorch's.
// --device cuda runs the same models on a GPU (initialized on the CPU, then moved), timing each
// step between two synchronize() calls.
#include <cstdio>

#include <tessera/tessera.h>
#include <tessera/util/cli.h>

#include "bench_common.h"
#include "common/models.h"

using namespace ts;

namespace {

double median_step_ms(nn::UnaryModule& model, const Shape& input, int64_t batch, int iters, Device device) {
  manual_seed(0);
  Shape shape = input;
  shape.insert(shape.begin(), batch);
  const Tensor x = randn(shape).to(device);
  const Tensor y = randint(0, 10, {batch}).to(device);
  model.to(device);
  optim::SGD opt(model.parameters(), optim::SGDOptions(0.01).momentum(0.9));
  model.train();
  auto step = [&] {
    Tensor loss = cross_entropy(model.forward(x), y);
    opt.zero_grad();
    loss.backward();
    opt.step();
  };
  // Warm-up: allocations, lazy optimizer state, the GPU's kernel loading and cached blocks.
  return bench::median_step_ms(step, /*warmup=*/3, iters, device);
}

}  // namespace

int main(int argc, char** argv) {
  try {
    util::ArgParser args("bench_train_step", "Median training-step time of the MLP, CNN and ResNet-20 trainers' models.");
    args.add("threads", "CPU threads", "2").add("iters", "timed steps per model", "20").add("only", "run one model: mlp, cnn or resnet20");
    args.add("device", "cpu, cuda or cuda:N (the models are initialized on the CPU, then moved)", "cpu")
        .add_switch("tf32", "let float32 matmuls and convolutions use TF32 tensor cores (CUDA only)");
    if (!args.parse(argc, argv)) return 0;
    const Device device = bench::select_device(args.get("device"), args.get_switch("tf32"));
    set_num_threads(static_cast<int>(args.get_int("threads", 1)));
    const int iters = static_cast<int>(args.get_int("iters", 1));
    const std::string only = args.has("only") ? args.get("only") : "";
    std::printf("# tessera, %d threads, median of %d steps, device %s%s\n", get_num_threads(), iters,
                device.str().c_str(), device.is_cuda() ? (cuda::allow_tf32() ? " (TF32 on)" : " (TF32 off)") : "");
    if (only.empty() || only == "mlp") {
      auto m = examples::make_mnist_mlp();
      std::printf("mlp 128 %.3f\n", median_step_ms(*m, {1, 28, 28}, 128, iters, device));
      std::fflush(stdout);
    }
    if (only.empty() || only == "cnn") {
      auto m = examples::make_mnist_cnn();
      std::printf("cnn 128 %.3f\n", median_step_ms(*m, {1, 28, 28}, 128, iters, device));
      std::fflush(stdout);
    }
    if (only.empty() || only == "resnet20") {
      auto m = std::make_shared<examples::ResNet>(20);
      std::printf("resnet20 64 %.3f\n", median_step_ms(*m, {3, 32, 32}, 64, iters, device));
    }
    if (device.is_cuda()) std::printf("%s\n", bench::device_comment(device).c_str());
    std::fflush(stdout);
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_train_step: error: %s\n", e.what());
    return 1;
  }
}
