// Loss modules and the new functionals (binary_cross_entropy_with_logits, l1_loss) against
// PyTorch 1.13, their gradchecks, and the argument errors.
#include "nn/nn_test_util.h"

using namespace ts;
using namespace golden::modules;
using Catch::Contains;
using test::det;
using test::gold;
using test::rand_input;
using test::rand_input_transposed;
using test::require_close;
using test::require_gradcheck;

namespace {

Tensor class_weights(DType dt = kFloat32) { return tensor<double>({1.0, 2.0, 0.5, 1.0, 3.0}).to(dt); }
Tensor targets() { return tensor<int64_t>({1, 0, 4, 2}); }

/// The BCE inputs of gen_modules.py, extreme logits included.
Tensor bce_logits(DType dt) {
  Tensor x = det({3, 4}, 0.3, 4.0, kFloat64);
  auto* p = x.data_ptr<double>();
  p[0] = 50.0;
  p[1] = -50.0;
  p[4] = 100.0;
  p[5] = -800.0;
  return x.to(dt);
}
Tensor bce_targets(DType dt) { return ((det({3, 4}, 0.7, 1.0, kFloat64) + 1.0) / 2.0).to(dt); }
Tensor bce_weight(DType dt) { return (det({1, 4}, 0.1, 0.5, kFloat64) + 1.0).to(dt); }
Tensor bce_pos_weight(DType dt) { return tensor<double>({0.5, 1.0, 2.0, 3.0}).to(dt); }

}  // namespace

TEST_CASE("CrossEntropyLoss and NLLLoss modules match PyTorch", "[nn-module][loss]") {
  const Tensor logits = det({4, 5}, 0.1, 2.0);
  require_close(nn::CrossEntropyLoss()(logits, targets()), gold(ce_mean), 1e-5, 1e-6);
  require_close(nn::CrossEntropyLoss(nn::CrossEntropyLossOptions().reduction(Reduction::Sum))(logits, targets()),
                gold(ce_sum), 1e-5, 1e-6);
  require_close(nn::CrossEntropyLoss(nn::CrossEntropyLossOptions().reduction(Reduction::None))(logits, targets()),
                gold(ce_none), 1e-5, 1e-6);
  require_close(nn::CrossEntropyLoss(nn::CrossEntropyLossOptions().weight(class_weights()))(logits, targets()),
                gold(ce_weighted), 1e-5, 1e-6);
  require_close(nn::CrossEntropyLoss(nn::CrossEntropyLossOptions().ignore_index(0))(logits, targets()),
                gold(ce_ignore), 1e-5, 1e-6);
  require_close(nn::CrossEntropyLoss(nn::CrossEntropyLossOptions().weight(class_weights()).label_smoothing(0.1))(
                    logits, targets()),
                gold(ce_smooth), 1e-5, 1e-6);
  const Tensor target_4d = tensor<int64_t>({0, 1, 2, 1, 2, 2, 0, 1}, {2, 2, 2});
  require_close(nn::CrossEntropyLoss()(det({2, 3, 2, 2}, 0.4, 2.0), target_4d),
                gold(ce_4d), 1e-5, 1e-6);

  const Tensor lp = log_softmax(logits, 1);
  require_close(nn::NLLLoss(nn::NLLLossOptions().weight(class_weights()))(lp, targets()), gold(nll_weighted), 1e-5,
                1e-6);
  require_close(nn::NLLLoss(nn::NLLLossOptions().reduction(Reduction::None).ignore_index(4))(lp, targets()),
                gold(nll_none), 1e-5, 1e-6);

  REQUIRE_THROWS_WITH(nn::CrossEntropyLoss(nn::CrossEntropyLossOptions().label_smoothing(1.5)),
                      Contains("CrossEntropyLoss: label_smoothing must be in [0, 1]"));
}

TEST_CASE("Loss modules keep class weights as buffers that follow Module::to", "[nn-module][loss]") {
  nn::CrossEntropyLoss ce(nn::CrossEntropyLossOptions().weight(class_weights()));
  CHECK(ce.named_buffers().size() == 1);
  CHECK(ce.parameters().empty());
  ce.to(kFloat64);
  CHECK(ce.weight.dtype() == kFloat64);
  const Tensor loss = ce(det({4, 5}, 0.1, 2.0, kFloat64), targets());
  CHECK(loss.dtype() == kFloat64);
  require_close(loss, gold(ce_weighted), 1e-12, 1e-12);

  nn::BCEWithLogitsLoss bce(
      nn::BCEWithLogitsLossOptions().weight(bce_weight(kFloat32)).pos_weight(bce_pos_weight(kFloat32)));
  CHECK(bce.state_dict().keys() == std::vector<std::string>{"weight", "pos_weight"});
}

TEST_CASE("MSELoss and L1Loss match PyTorch for every reduction", "[nn-module][loss]") {
  const Tensor a = det({3, 4}), b = det({3, 4}, 1.0);
  const Tensor a64 = det({3, 4}, 0.0, 1.0, kFloat64), b64 = det({3, 4}, 1.0, 1.0, kFloat64);
  const std::vector<std::tuple<Reduction, const GoldenArray*, const GoldenArray*>> cases{
      {Reduction::Mean, &mse_mean, &l1_mean},
      {Reduction::Sum, &mse_sum, &l1_sum},
      {Reduction::None, &mse_none, &l1_none}};
  for (const auto& [red, mse_g, l1_g] : cases) {
    require_close(nn::MSELoss(red)(a, b), gold(*mse_g), 1e-5, 1e-6);
    require_close(nn::L1Loss(red)(a, b), gold(*l1_g), 1e-5, 1e-6);
    require_close(l1_loss(a64, b64, red), gold(*l1_g), 1e-12, 1e-12);
    require_close(mse_loss(a64, b64, red), gold(*mse_g), 1e-12, 1e-12);
  }
  REQUIRE_THROWS_WITH(l1_loss(zeros({3, 4}), zeros({3, 5})), Contains("l1_loss"));
  REQUIRE_THROWS_WITH(l1_loss(zeros({3}, kInt64), zeros({3})), Contains("l1_loss: expected floating-point input"));
}

TEST_CASE("BCEWithLogitsLoss matches PyTorch, stays finite for extreme logits", "[nn-module][loss]") {
  for (DType dt : {kFloat32, kFloat64}) {
    INFO("dtype " << dt);
    const double tol = dt == kFloat64 ? 1e-12 : 1e-5;
    const Tensor x = bce_logits(dt), t = bce_targets(dt);
    const std::vector<std::tuple<Reduction, const GoldenArray*, const GoldenArray*>> cases{
        {Reduction::Mean, &bce_mean, &bce_weighted_mean},
        {Reduction::Sum, &bce_sum, &bce_weighted_sum},
        {Reduction::None, &bce_none, &bce_weighted_none}};
    for (const auto& [red, plain, weighted] : cases) {
      const Tensor l = nn::BCEWithLogitsLoss(nn::BCEWithLogitsLossOptions().reduction(red))(x, t);
      CHECK(l.dtype() == dt);
      require_close(l, gold(*plain), tol, tol);
      nn::BCEWithLogitsLoss wl(
          nn::BCEWithLogitsLossOptions().weight(bce_weight(dt)).pos_weight(bce_pos_weight(dt)).reduction(red));
      require_close(wl(x, t), gold(*weighted), tol, tol);
    }
    const Tensor xg = x.detach().requires_grad_();
    binary_cross_entropy_with_logits(xg, t, bce_weight(dt), bce_pos_weight(dt)).backward();
    require_close(xg.grad(), gold(bce_weighted_grad), tol, tol);
  }
}

TEST_CASE("gradcheck: binary_cross_entropy_with_logits w.r.t. input, target, weight and pos_weight",
          "[nn-module][loss][gradcheck]") {
  manual_seed(31);
  const Tensor x = rand_input({3, 4});
  const Tensor xt = rand_input_transposed({3, 4});
  const Tensor t = test::rand_positive({3, 4});  // gradcheck does not need t in [0, 1]
  const Tensor w = test::rand_positive({1, 4});
  const Tensor pw = test::rand_positive({4});
  for (Reduction red : {Reduction::None, Reduction::Mean, Reduction::Sum}) {
    require_gradcheck(
        [red](const std::vector<Tensor>& in) {
          return binary_cross_entropy_with_logits(in[0], in[1], in[2], in[3], red);
        },
        {x, t, w, pw});
    require_gradcheck(
        [red](const std::vector<Tensor>& in) { return binary_cross_entropy_with_logits(in[0], in[1], {}, {}, red); },
        {xt, t});
  }
  // Gradient w.r.t. pos_weight alone (the others constant).
  require_gradcheck(
      [&](const std::vector<Tensor>& in) {
        return binary_cross_entropy_with_logits(x.detach(), t.detach(), Tensor(), in[0]);
      },
      {pw});
}

TEST_CASE("gradcheck: L1Loss, MSELoss and CrossEntropyLoss modules", "[nn-module][loss][gradcheck]") {
  manual_seed(32);
  const Tensor a = rand_input({3, 4}), b = rand_input_transposed({3, 4});
  nn::L1Loss l1;
  nn::MSELoss mse(Reduction::Sum);
  require_gradcheck([&](const std::vector<Tensor>& in) { return l1(in[0], in[1]); }, {a, b});
  require_gradcheck([&](const std::vector<Tensor>& in) { return mse(in[0], in[1]); }, {a, b});
  nn::CrossEntropyLoss ce(nn::CrossEntropyLossOptions().weight(class_weights(kFloat64)).label_smoothing(0.2));
  require_gradcheck([&](const std::vector<Tensor>& in) { return ce(in[0], targets()); }, {rand_input({4, 5})});
}

TEST_CASE("binary_cross_entropy_with_logits: argument errors name the op and the shapes", "[nn-module][loss]") {
  const Tensor x = zeros({3, 4});
  REQUIRE_THROWS_WITH(binary_cross_entropy_with_logits(x, zeros({3, 5})),
                      Contains("binary_cross_entropy_with_logits: target size [3, 5] must be the same as input size "
                               "[3, 4]"));
  REQUIRE_THROWS_WITH(binary_cross_entropy_with_logits(x, x, Tensor(), zeros({3})),
                      Contains("binary_cross_entropy_with_logits"));
  REQUIRE_THROWS_WITH(binary_cross_entropy_with_logits(x, x, zeros({5, 3, 4})),
                      Contains("weight of shape [5, 3, 4] cannot be broadcast to the input shape [3, 4]"));
  REQUIRE_THROWS_WITH(binary_cross_entropy_with_logits(x, zeros({3, 4}, kInt64)),
                      Contains("expected floating-point input and target"));
  REQUIRE_THROWS_WITH(binary_cross_entropy_with_logits(x, x, Tensor(), Tensor(), static_cast<Reduction>(7)),
                      Contains("invalid reduction 7"));
}
