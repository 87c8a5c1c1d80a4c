// float64 gradchecks of every layer w.r.t. its input and all of its parameters (the module is
// converted with Module::to(kFloat64)), with contiguous and non-contiguous inputs.
#include "nn/nn_test_util.h"

using namespace ts;
using test::rand_input;
using test::rand_input_transposed;
using test::require_module_gradcheck;

namespace {

template <typename M, typename... Args> std::shared_ptr<M> make64(Args&&... args) {
  auto m = std::make_shared<M>(std::forward<Args>(args)...);
  m->to(kFloat64);
  return m;
}

}  // namespace

TEST_CASE("gradcheck: Linear w.r.t. input, weight and bias", "[nn-module][gradcheck]") {
  manual_seed(1);
  auto fc = make64<nn::Linear>(4, 3);
  require_module_gradcheck(*fc, rand_input({2, 4}));
  require_module_gradcheck(*fc, rand_input({2, 3, 4}));
  require_module_gradcheck(*fc, rand_input_transposed({5, 4}));
  auto nobias = make64<nn::Linear>(3, 2, false);
  require_module_gradcheck(*nobias, rand_input_transposed({2, 3}));
}

TEST_CASE("gradcheck: Conv2d with stride, padding, dilation, groups", "[nn-module][gradcheck]") {
  manual_seed(2);
  auto conv = make64<nn::Conv2d>(nn::Conv2dOptions(4, 4, 3).stride(2).padding(1).dilation(1).groups(2));
  require_module_gradcheck(*conv, rand_input({1, 4, 5, 5}));
  auto dilated = make64<nn::Conv2d>(nn::Conv2dOptions(2, 3, {2, 3}).padding({1, 0}).dilation(2).bias(false));
  require_module_gradcheck(*dilated, rand_input_transposed({2, 2, 5, 6}));
}

TEST_CASE("gradcheck: BatchNorm1d and BatchNorm2d in training and eval", "[nn-module][gradcheck]") {
  manual_seed(3);
  auto bn1 = make64<nn::BatchNorm1d>(3);
  test::fill_deterministic(*bn1);
  require_module_gradcheck(*bn1, rand_input({5, 3}));
  require_module_gradcheck(*bn1, rand_input_transposed({4, 3, 2}));
  auto bn2 = make64<nn::BatchNorm2d>(2);
  test::fill_deterministic(*bn2);
  require_module_gradcheck(*bn2, rand_input({3, 2, 2, 3}));
  bn2->eval();  // running statistics are constants in eval mode
  require_module_gradcheck(*bn2, rand_input_transposed({2, 2, 3, 3}));
  auto cma = make64<nn::BatchNorm2d>(2, 1e-5, std::nullopt, false, false);
  require_module_gradcheck(*cma, rand_input({3, 2, 2, 2}));
}

TEST_CASE("gradcheck: LayerNorm, Embedding and Dropout", "[nn-module][gradcheck]") {
  manual_seed(4);
  auto ln = make64<nn::LayerNorm>(Shape{3, 4});
  test::fill_deterministic(*ln);
  require_module_gradcheck(*ln, rand_input({2, 3, 4}));
  require_module_gradcheck(*ln, rand_input_transposed({2, 3, 4}));

  auto emb = make64<nn::Embedding>(6, 3);
  require_module_gradcheck(*emb, tensor<int64_t>({0, 5, 2, 2, 1, 0}, {2, 3}));  // weight only (repeats accumulate)

  // Dropout's mask is random: reseeding inside the function keeps it fixed across gradcheck's calls.
  nn::Dropout drop(0.4);
  const Tensor x = rand_input({4, 5});
  test::require_gradcheck(
      [&](const std::vector<Tensor>& in) {
        manual_seed(99);
        return drop.forward(in[0]);
      },
      {x});
}

TEST_CASE("gradcheck: pooling layers", "[nn-module][gradcheck]") {
  manual_seed(5);
  nn::MaxPool2d mp(3, 2, 1);
  require_module_gradcheck(mp, rand_input({1, 2, 5, 5}));
  nn::MaxPool2d mp_ceil(2, std::nullopt, 0, 1, true);
  require_module_gradcheck(mp_ceil, rand_input_transposed({1, 2, 5, 5}));
  nn::AvgPool2d ap(3, 2, 1, false, false);
  require_module_gradcheck(ap, rand_input({1, 2, 5, 5}));
  nn::AdaptiveAvgPool2d ada({3, 2});
  require_module_gradcheck(ada, rand_input_transposed({2, 1, 7, 5}));
}

TEST_CASE("gradcheck: activations, Softmax and Flatten", "[nn-module][gradcheck]") {
  manual_seed(6);
  std::vector<std::shared_ptr<nn::UnaryModule>> layers{
      std::make_shared<nn::ReLU>(),    std::make_shared<nn::GELU>(),       std::make_shared<nn::GELU>("tanh"),
      std::make_shared<nn::SiLU>(),    std::make_shared<nn::Tanh>(),       std::make_shared<nn::Sigmoid>(),
      std::make_shared<nn::Softmax>(1), std::make_shared<nn::Softmax>(0),  std::make_shared<nn::Flatten>(),
      std::make_shared<nn::Identity>()};
  for (const auto& layer : layers) {
    INFO(layer->name());
    require_module_gradcheck(*layer, rand_input({3, 4}));
    require_module_gradcheck(*layer, rand_input_transposed({3, 4, 2}));
  }
}

TEST_CASE("gradcheck: a Sequential CNN w.r.t. the input and every parameter", "[nn-module][gradcheck]") {
  manual_seed(7);
  nn::Sequential seq({std::make_shared<nn::Conv2d>(nn::Conv2dOptions(2, 3, 3).padding(1)),
                      std::make_shared<nn::BatchNorm2d>(3), std::make_shared<nn::SiLU>(),
                      std::make_shared<nn::AvgPool2d>(2), std::make_shared<nn::Flatten>(),
                      std::make_shared<nn::Linear>(3 * 2 * 2, 2)});
  seq.to(kFloat64);
  require_module_gradcheck(seq, rand_input({2, 2, 4, 4}));
}
