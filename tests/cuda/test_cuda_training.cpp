// Whole training steps on CUDA against the same steps on the CPU: the trainers' models (MNIST
// CNN, ResNet-20, the GPT) start from identical weights, take a few optimizer steps on the
// same batches, and must follow the CPU run's losses and end with the same parameters.
#include <cmath>
#include <functional>

#include <catch2/catch.hpp>

#include <tessera/tessera.h>

#include "cuda/cuda_test_util.h"

#if defined(TESSERA_TEST_HAVE_EXAMPLE_MODELS)
#include "common/models.h"
using ts::examples::make_mnist_cnn;
using ts::examples::ResNet;
#endif

using namespace ts;
using ts::cuda_test::kCuda;

namespace {

/// Runs `steps` optimizer steps of `model` on `device`; returns the loss of every step.
template <typename Model>
std::vector<double> train_steps(Model& model, Device device, int steps, double lr, bool adamw,
                                const std::function<Tensor(Model&, int, Device)>& loss_at) {
  model.to(device);
  std::unique_ptr<optim::Optimizer> opt;
  if (adamw) {
    opt = std::make_unique<optim::AdamW>(model.parameters(), optim::AdamWOptions(lr));
  } else {
    opt = std::make_unique<optim::SGD>(model.parameters(), optim::SGDOptions(lr).momentum(0.9));
  }
  std::vector<double> losses;
  for (int s = 0; s < steps; ++s) {
    opt->zero_grad();
    Tensor loss = loss_at(model, s, device);
    loss.backward();
    optim::clip_grad_norm_(model.parameters(), 1.0);
    opt->step();
    losses.push_back(loss.item<double>());
  }
  return losses;
}

template <typename Model>
void require_same_run(Model& cpu_model, Model& gpu_model, int steps, double lr, bool adamw, double rtol,
                      const std::function<Tensor(Model&, int, Device)>& loss_at) {
  const auto cpu = train_steps(cpu_model, Device(), steps, lr, adamw, loss_at);
  const auto gpu = train_steps(gpu_model, kCuda, steps, lr, adamw, loss_at);
  for (int s = 0; s < steps; ++s) {
    INFO("step " << s << ": cpu loss " << cpu[s] << ", cuda loss " << gpu[s]);
    CHECK(std::abs(cpu[s] - gpu[s]) <= rtol * std::abs(cpu[s]));
  }
  // Adam normalizes each update, so a gradient entry that is pure rounding noise can take the
  // opposite sign on the two devices and move its weight by up to 2 lr per step; SGD moves it
  // by lr times the (tiny) noise. The per-step losses above are the tight check.
  const double atol = adamw ? 2 * lr * steps : 10 * rtol;
  const auto cp = cpu_model.named_parameters();
  const auto gp = gpu_model.named_parameters();
  REQUIRE(cp.size() == gp.size());
  for (size_t i = 0; i < cp.size(); ++i) {
    INFO("parameter " << cp[i].first);
    CHECK(gp[i].second.device() == kCuda);
    CHECK(allclose(gp[i].second.to(Device()), cp[i].second, 10 * rtol, atol));
  }
}

Tensor batch_images(int step, int64_t n, int64_t c, int64_t hw) {
  manual_seed(1000 + static_cast<uint64_t>(step));
  return randn({n, c, hw, hw});
}
Tensor batch_labels(int step, int64_t n, int64_t classes) {
  manual_seed(2000 + static_cast<uint64_t>(step));
  return randint(0, classes, {n});
}

}  // namespace

#if defined(TESSERA_TEST_HAVE_EXAMPLE_MODELS)
TEST_CASE("cuda training: MNIST CNN steps with SGD follow the CPU run", "[cuda][train]") {
  manual_seed(0);
  auto cpu_model = make_mnist_cnn();
  manual_seed(0);
  auto gpu_model = make_mnist_cnn();
  using M = nn::Sequential;
  require_same_run<M>(*cpu_model, *gpu_model, 5, 0.05, false, 1e-4, [](M& m, int s, Device d) {
    return cross_entropy(m.forward(batch_images(s, 32, 1, 28).to(d)), batch_labels(s, 32, 10).to(d));
  });
}

TEST_CASE("cuda training: ResNet-20 steps (batch norm, train mode) follow the CPU run", "[cuda][train]") {
  manual_seed(0);
  ResNet cpu_model(20);
  manual_seed(0);
  ResNet gpu_model(20);
  require_same_run<ResNet>(cpu_model, gpu_model, 3, 0.05, false, 2e-4, [](ResNet& m, int s, Device d) {
    return cross_entropy(m.forward(batch_images(s, 16, 3, 32).to(d)), batch_labels(s, 16, 10).to(d));
  });
}
#endif

TEST_CASE("cuda training: GPT steps with AdamW and clipping follow the CPU run", "[cuda][train]") {
  for (bool llama : {false, true}) {
    INFO((llama ? "LLaMA-style blocks" : "GPT-2 blocks"));
    nn::GPTConfig c;
    c.vocab_size = 65;
    c.n_layer = 2;
    c.n_head = 4;
    c.n_embd = 64;
    c.block_size = 32;
    if (llama) {
      c.norm = nn::NormKind::RMSNorm;
      c.mlp = nn::MlpKind::SwiGLU;
      c.mlp_hidden = 96;
      c.rotary = true;
      c.bias = false;
    }
    manual_seed(0);
    nn::GPT cpu_model(c);
    manual_seed(0);
    nn::GPT gpu_model(c);
    require_same_run<nn::GPT>(cpu_model, gpu_model, 5, 1e-3, true, 1e-4, [](nn::GPT& m, int s, Device d) {
      manual_seed(3000 + static_cast<uint64_t>(s));
      const Tensor tokens = randint(0, 65, {8, 33});
      return m.loss(tokens.slice(1, 0, 32).to(d), tokens.slice(1, 1, 33).to(d));
    });
  }
}

TEST_CASE("cuda training: dropout draws the CPU's mask for the same seed", "[cuda][train]") {
  const Tensor x = ones({4096});
  manual_seed(11);
  const Tensor cpu = dropout(x, 0.3);
  manual_seed(11);
  const Tensor gpu = dropout(x.to(kCuda), 0.3);
  CHECK(equal(gpu.to(Device()), cpu));
}

TEST_CASE("cuda training: checkpoints saved from the GPU load on the CPU and back", "[cuda][train]") {
  manual_seed(0);
  nn::GPTConfig c;
  c.n_layer = 1;
  c.n_embd = 32;
  c.n_head = 2;
  c.block_size = 16;
  nn::GPT model(c);
  model.to(kCuda);
  const auto sd = model.state_dict();
  manual_seed(1);
  nn::GPT other(c);
  other.load_state_dict(sd);  // CPU model from CUDA tensors
  for (const auto& [name, p] : other.named_parameters()) {
    INFO(name);
    CHECK(p.device() == Device());
    CHECK(equal(p, sd.at(name).to(Device())));
  }
}
