// Every layer's forward against PyTorch 1.13 (tests/golden/gen_modules.py), in float32 and
// again after Module::to(kFloat64); BatchNorm's and Dropout's train/eval behaviour; the one-line
// printouts against PyTorch's reprs; constructor and input errors.
#include "nn/nn_test_util.h"

using namespace ts;
using namespace golden::modules;
using Catch::Contains;
using test::det;
using test::fill_deterministic;
using test::gold;
using test::require_close;

namespace {

/// Checks `m(x)` against `expected` in float32, then converts the module (in place) to
/// float64 and checks again with a tight tolerance. `x` is float64 (or integer indices); the
/// weights are re-filled after the conversion so that they carry all float64 digits.
void check_forward(nn::UnaryModule& m, const Tensor& x, const GoldenArray& expected) {
  fill_deterministic(m);
  const Tensor y32 = m.forward(x.is_floating_point() ? x.to(kFloat32) : x);
  CHECK(y32.dtype() == kFloat32);
  require_close(y32, gold(expected), 1e-4, 1e-5);
  m.to(kFloat64);
  fill_deterministic(m);
  const Tensor y64 = m.forward(x);
  CHECK(y64.dtype() == kFloat64);
  require_close(y64, gold(expected), 1e-10, 1e-12);
}

std::string line_of(const nn::Module& m) {
  std::ostringstream os;
  m.pretty_print(os);
  return os.str();
}

}  // namespace

TEST_CASE("Linear matches PyTorch", "[nn-module][layers]") {
  nn::Linear fc(5, 3);
  CHECK(fc.weight.shape() == Shape{3, 5});
  CHECK(fc.bias.shape() == Shape{3});
  check_forward(fc, det({4, 5}, 0.0, 1.0, kFloat64), linear_y);
  nn::Linear nobias(5, 3, false);
  CHECK_FALSE(nobias.bias.defined());
  CHECK(nobias.parameters().size() == 1);
  check_forward(nobias, det({2, 3, 5}, 0.5, 1.0, kFloat64), linear_nobias_y);
  REQUIRE_THROWS_WITH(fc.forward(zeros({4, 4}, kFloat64)), Contains("Linear: expected an input of shape (*, 5)"));
}

TEST_CASE("Conv2d matches PyTorch with stride, padding, dilation and groups", "[nn-module][layers]") {
  nn::Conv2d grouped(nn::Conv2dOptions(4, 6, 3).stride(2).padding(1).groups(2));
  CHECK(grouped.weight.shape() == Shape{6, 2, 3, 3});
  check_forward(grouped, det({2, 4, 7, 7}, 0.0, 1.0, kFloat64), conv_groups_y);
  // An unbatched (C, H, W) input gives the batch-of-one result without the batch dim.
  const Tensor x = det({2, 4, 7, 7}, 0.0, 1.0, kFloat64);
  require_close(grouped.forward(x[1]), grouped.forward(x)[1], 1e-12, 1e-12);

  nn::Conv2d dilated(3, 4, {3, 2}, 1, {1, 0}, 2, 1, false);
  CHECK(dilated.weight.shape() == Shape{4, 3, 3, 2});
  CHECK_FALSE(dilated.bias.defined());
  check_forward(dilated, det({1, 3, 8, 6}, 0.3, 1.0, kFloat64), conv_dilated_y);

  REQUIRE_THROWS_WITH(nn::Conv2d(4, 6, 3, 1, 0, 1, 3), Contains("in_channels (4) must be divisible by groups (3)"));
  REQUIRE_THROWS_WITH(nn::Conv2d(4, 6, 3, 1, 0, 1, 4), Contains("out_channels (6) must be divisible by groups (4)"));
  REQUIRE_THROWS_WITH(nn::Conv2d(4, 6, 0), Contains("kernel_size must be positive"));
  REQUIRE_THROWS_WITH(nn::Conv2d(4, 6, 3, 0), Contains("stride must be positive"));
  REQUIRE_THROWS_WITH(grouped.forward(zeros({2, 3, 7, 7}, kFloat64)),
                      Contains("Conv2d: expected an input of shape (N, 4, H, W)"));
}

TEST_CASE("BatchNorm1d matches PyTorch in training, including running statistics", "[nn-module][layers]") {
  nn::BatchNorm1d bn(3);
  fill_deterministic(bn);
  require_close(bn.forward(det({4, 3}, 0.0, 2.0) + 1.0), gold(bn1d_y), 1e-4, 1e-5);
  require_close(bn.running_mean, gold(bn1d_running_mean), 1e-5, 1e-6);
  require_close(bn.running_var, gold(bn1d_running_var), 1e-5, 1e-6);
  CHECK(bn.num_batches_tracked.item<int64_t>() == 1);

  nn::BatchNorm1d bn3(3);
  bn3.to(kFloat64);
  fill_deterministic(bn3);
  require_close(bn3.forward(det({4, 3, 5}, 0.4, 1.0, kFloat64)), gold(bn1d_3d_y), 1e-10, 1e-12);
  require_close(bn3.running_var, gold(bn1d_3d_running_var), 1e-10, 1e-12);

  REQUIRE_THROWS_WITH(bn.forward(zeros({2, 3, 4, 5})), Contains("BatchNorm1d: expected a 2-D (N, C) or 3-D"));
  REQUIRE_THROWS_WITH(bn.forward(zeros({2, 4})), Contains("BatchNorm1d: expected 3 channels (dim 1)"));
}

TEST_CASE("BatchNorm2d: training updates running stats with momentum; eval uses them", "[nn-module][layers]") {
  for (DType dt : {kFloat32, kFloat64}) {
    INFO("dtype " << dt);
    const double tol = dt == kFloat64 ? 1e-10 : 1e-4;
    nn::BatchNorm2d bn(3, 1e-5, 0.3);
    bn.to(dt);
    fill_deterministic(bn);
    bn.forward(det({2, 3, 4, 5}, 0.0, 1.0, dt));
    require_close(bn.forward(det({2, 3, 4, 5}, 1.0, 3.0, dt)), gold(bn2d_train_y), tol, tol);
    require_close(bn.running_mean, gold(bn2d_running_mean), tol, tol);
    require_close(bn.running_var, gold(bn2d_running_var), tol, tol);
    CHECK(bn.num_batches_tracked.item<int64_t>() == 2);

    bn.eval();
    const Tensor mean_before = bn.running_mean.clone();
    require_close(bn.forward(det({1, 3, 4, 5}, 2.0, 1.0, dt)), gold(bn2d_eval_y), tol, tol);
    // Eval mode leaves the statistics alone.
    require_close(bn.running_mean, mean_before, 0.0, 0.0);
    CHECK(bn.num_batches_tracked.item<int64_t>() == 2);
  }
}

TEST_CASE("BatchNorm2d: momentum = None keeps a cumulative average; no tracking uses batch stats in eval",
          "[nn-module][layers]") {
  nn::BatchNorm2d cma(3, 1e-5, std::nullopt);
  cma.to(kFloat64);
  cma.forward(det({2, 3, 4, 5}, 0.0, 1.0, kFloat64));
  cma.forward(det({2, 3, 4, 5}, 1.0, 3.0, kFloat64));
  cma.forward(det({2, 3, 4, 5}, 2.0, 0.5, kFloat64));
  require_close(cma.running_mean, gold(bn2d_cma_running_mean), 1e-10, 1e-12);
  require_close(cma.running_var, gold(bn2d_cma_running_var), 1e-10, 1e-12);

  nn::BatchNorm2d notrack(3, 1e-5, 0.1, /*affine=*/false, /*track_running_stats=*/false);
  CHECK(notrack.parameters().empty());
  CHECK(notrack.buffers().empty());
  notrack.eval();
  require_close(notrack.forward(det({2, 3, 4, 5}, 0.7)), gold(bn2d_notrack_y), 1e-4, 1e-5);

  nn::BatchNorm2d bn(2);
  REQUIRE_THROWS_WITH(bn.forward(zeros({2, 2, 3})), Contains("BatchNorm2d: expected a 4-D (N, C, H, W) input"));
  REQUIRE_THROWS_WITH(nn::BatchNorm2d(0), Contains("num_features must be positive"));
  REQUIRE_THROWS_WITH(nn::BatchNorm2d(2, 1e-5, 1.5), Contains("momentum must be in [0, 1]"));
}

TEST_CASE("BatchNorm: reset_parameters restores weight, bias and running statistics", "[nn-module][layers]") {
  nn::BatchNorm2d bn(2);
  fill_deterministic(bn);
  bn.forward(det({2, 2, 3, 3}));
  bn.reset_parameters();
  test::require_values(bn.weight, {1, 1}, 0.0);
  test::require_values(bn.bias, {0, 0}, 0.0);
  test::require_values(bn.running_mean, {0, 0}, 0.0);
  test::require_values(bn.running_var, {1, 1}, 0.0);
  CHECK(bn.num_batches_tracked.item<int64_t>() == 0);
}

TEST_CASE("LayerNorm matches PyTorch", "[nn-module][layers]") {
  nn::LayerNorm ln({4, 5});
  CHECK(ln.weight.shape() == Shape{4, 5});
  test::require_values(ln.weight, std::vector<double>(20, 1.0), 0.0);
  test::require_values(ln.bias, std::vector<double>(20, 0.0), 0.0);
  check_forward(ln, det({2, 3, 4, 5}, 0.0, 1.0, kFloat64), ln_y);
  nn::LayerNorm plain({5}, 1e-3, false);
  CHECK(plain.parameters().empty());
  check_forward(plain, det({3, 5}, 0.2, 4.0, kFloat64), ln_noaffine_y);
  REQUIRE_THROWS_WITH(nn::LayerNorm(Shape{}), Contains("LayerNorm: normalized_shape must have at least one dim"));
}

TEST_CASE("Embedding matches PyTorch", "[nn-module][layers]") {
  nn::Embedding emb(10, 4);
  CHECK(emb.weight.shape() == Shape{10, 4});
  check_forward(emb, tensor<int64_t>({1, 3, 9, 0, 3, 3}, {3, 2}), embedding_y);
  REQUIRE_THROWS_WITH(nn::Embedding(0, 4), Contains("Embedding: num_embeddings and embedding_dim must be positive"));
}

TEST_CASE("Pooling layers match PyTorch", "[nn-module][layers]") {
  nn::MaxPool2d mp(3, 2, 1);
  check_forward(mp, det({2, 3, 7, 7}, 0.0, 1.0, kFloat64), maxpool_y);
  nn::MaxPool2d mp_ceil(2, std::nullopt, 0, 1, /*ceil_mode=*/true);
  check_forward(mp_ceil, det({1, 2, 5, 5}, 0.3, 1.0, kFloat64), maxpool_ceil_y);
  nn::AvgPool2d ap(3, 2, 1, false, /*count_include_pad=*/false);
  check_forward(ap, det({2, 3, 7, 7}, 0.0, 1.0, kFloat64), avgpool_y);
  nn::AvgPool2d ap2(2);
  check_forward(ap2, det({1, 2, 5, 5}, 0.3, 1.0, kFloat64), avgpool_plain_y);
  nn::AdaptiveAvgPool2d ada({3, 2});
  check_forward(ada, det({2, 3, 7, 5}, 0.0, 1.0, kFloat64), adaptive_y);
  nn::AdaptiveAvgPool2d global(1);
  check_forward(global, det({2, 3, 7, 5}, 0.0, 1.0, kFloat64), adaptive_global_y);
  CHECK(mp.parameters().empty());
}

TEST_CASE("Activation layers match PyTorch", "[nn-module][layers]") {
  const Tensor x = det({3, 4}, 0.2, 3.0, kFloat64);
  nn::ReLU relu_m;
  nn::GELU gelu_m;
  nn::GELU gelu_tanh_m("tanh");
  nn::SiLU silu_m;
  nn::Tanh tanh_m;
  nn::Sigmoid sigmoid_m;
  nn::Softmax softmax1(1);
  nn::Softmax softmax0(0);
  check_forward(relu_m, x, relu_y);
  check_forward(gelu_m, x, gelu_y);
  check_forward(gelu_tanh_m, x, gelu_tanh_y);
  check_forward(silu_m, x, silu_y);
  check_forward(tanh_m, x, tanh_y);
  check_forward(sigmoid_m, x, sigmoid_y);
  check_forward(softmax1, x, softmax1_y);
  check_forward(softmax0, x, softmax0_y);
  REQUIRE_THROWS_WITH(nn::GELU("fast"), Contains("GELU: approximate must be 'none' or 'tanh'"));

  nn::Identity id;
  CHECK(id.forward(x).is_same(x));
  nn::Flatten flat;
  CHECK(flat.forward(zeros({2, 3, 4, 5})).shape() == Shape{2, 60});
  nn::Flatten flat_mid(1, 2);
  CHECK(flat_mid.forward(zeros({2, 3, 4, 5})).shape() == Shape{2, 12, 5});
  nn::Functional twice([](const Tensor& t) { return t * 2.0; }, "Twice");
  require_close(twice(x), x * 2.0);
  CHECK(line_of(twice) == "Twice()");
}

TEST_CASE("Sequential CNN matches PyTorch: forward, loss gradients, then eval", "[nn-module][layers]") {
  for (DType dt : {kFloat32, kFloat64}) {
    INFO("dtype " << dt);
    const double tol = dt == kFloat64 ? 1e-9 : 2e-4;
    nn::Sequential seq({std::make_shared<nn::Conv2d>(nn::Conv2dOptions(3, 8, 3).padding(1)),
                        std::make_shared<nn::BatchNorm2d>(8), std::make_shared<nn::ReLU>(),
                        std::make_shared<nn::MaxPool2d>(2), std::make_shared<nn::Flatten>(),
                        std::make_shared<nn::Linear>(8 * 4 * 4, 10)});
    seq.to(dt);
    fill_deterministic(seq);
    const Tensor y = seq.forward(det({2, 3, 8, 8}, 0.0, 1.0, dt));
    require_close(y, gold(seq_train_y), tol, tol);
    nn::CrossEntropyLoss ce;
    const Tensor loss = ce(y, tensor<int64_t>({3, 7}));
    require_close(loss, gold(seq_loss), tol, tol);
    loss.backward();
    require_close(seq.at<nn::Conv2d>(0)->weight.grad(), gold(seq_grad_conv_w), tol, tol);
    require_close(seq.at<nn::BatchNorm2d>(1)->weight.grad(), gold(seq_grad_bn_w), tol, tol);
    require_close(seq.at<nn::Linear>(5)->weight.grad(), gold(seq_grad_fc_w), tol, tol);
    require_close(seq.at<nn::Linear>(5)->bias.grad(), gold(seq_grad_fc_b), tol, tol);
    seq.eval();
    require_close(seq.forward(det({2, 3, 8, 8}, 0.9, 1.0, dt)), gold(seq_eval_y), tol, tol);
  }
}

TEST_CASE("Dropout: scaled random zeros in training, identity in eval", "[nn-module][layers]") {
  nn::Dropout drop(0.25);
  const Tensor x = ones({200, 500});
  manual_seed(11);
  const Tensor y = drop.forward(x);
  const auto v = y.to_vector<float>();
  int64_t zeros_count = 0, badly_scaled = 0;
  for (float e : v) {
    if (e == 0.0f) {
      ++zeros_count;
    } else {
      badly_scaled += std::abs(e - 1.0f / 0.75f) > 1e-6f;  // survivors are scaled by 1 / (1 - p)
    }
  }
  CHECK(badly_scaled == 0);
  CHECK(static_cast<double>(zeros_count) / static_cast<double>(v.size()) == Approx(0.25).margin(0.005));
  // Reproducible under the global seed.
  manual_seed(11);
  require_close(drop.forward(x), y, 0.0, 0.0);
  drop.eval();
  require_close(drop.forward(x), x, 0.0, 0.0);
  nn::Dropout never(0.0);
  require_close(never.forward(x), x, 0.0, 0.0);
  REQUIRE_THROWS_WITH(nn::Dropout(1.5), Contains("Dropout: probability p must be in [0, 1], got 1.5"));
}

TEST_CASE("Layers print exactly like PyTorch's reprs", "[nn-module][layers]") {
  CHECK(line_of(nn::Linear(5, 3)) == repr_linear);
  CHECK(line_of(nn::Linear(5, 3, false)) == repr_linear_nobias);
  CHECK(line_of(nn::Conv2d(nn::Conv2dOptions(4, 6, 3).stride(2).padding(1).groups(2))) == repr_conv_groups);
  CHECK(line_of(nn::Conv2d(3, 4, {3, 2}, 1, {1, 0}, 2, 1, false)) == repr_conv_dilated);
  CHECK(line_of(nn::BatchNorm1d(3)) == repr_bn1d);
  CHECK(line_of(nn::BatchNorm2d(3, 1e-5, std::nullopt, false, false)) == repr_bn2d_cma);
  CHECK(line_of(nn::LayerNorm({4, 5})) == repr_ln);
  CHECK(line_of(nn::LayerNorm({5}, 1e-3, false)) == repr_ln_noaffine);
  CHECK(line_of(nn::Embedding(10, 4)) == repr_embedding);
  CHECK(line_of(nn::MaxPool2d(3, 2, 1)) == repr_maxpool);
  CHECK(line_of(nn::MaxPool2d(2, std::nullopt, 0, 1, true)) == repr_maxpool_ceil);
  CHECK(line_of(nn::AvgPool2d(3, 2, 1, false, false)) == repr_avgpool);
  CHECK(line_of(nn::AdaptiveAvgPool2d({3, 2})) == repr_adaptive);
  CHECK(line_of(nn::AdaptiveAvgPool2d(1)) == repr_adaptive_global);
  CHECK(line_of(nn::Dropout(0.25)) == repr_dropout);
  CHECK(line_of(nn::ReLU()) == repr_relu);
  CHECK(line_of(nn::GELU("tanh")) == repr_gelu_tanh);
  CHECK(line_of(nn::SiLU()) == repr_silu);
  CHECK(line_of(nn::Softmax(1)) == repr_softmax);
  CHECK(line_of(nn::Flatten()) == repr_flatten);
  CHECK(line_of(nn::Identity()) == repr_identity);
  CHECK(line_of(nn::CrossEntropyLoss()) == repr_cross_entropy);
}
