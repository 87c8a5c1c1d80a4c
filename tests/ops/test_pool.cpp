// max/avg/adaptive-avg pooling: values and argmax indices against PyTorch (float64 and float32),
// ceil_mode and count_include_pad rules, float64 gradchecks (including strided and unbatched
// inputs), NaN propagation, and the argument errors.
#include <cmath>

#include "golden/nn_golden.h"
#include "test_util.h"

using namespace ts;
using golden::nn::to_tensor;
using test::rand_input;
using test::rand_input_transposed;
using test::require_close;
using test::require_gradcheck;

TEST_CASE("max_pool2d values and indices match PyTorch", "[nn][pool]") {
  using namespace golden::nn;
  for (DType dt : {kFloat64, kFloat32}) {
    INFO("dtype " << dt);
    const Tensor x = to_tensor(pool_x, dt);
    auto [y, idx] = max_pool2d_with_indices(x, {3, 2}, {2, 2}, {1, 1}, {1, 2}, false);
    REQUIRE(y.dtype() == dt);
    REQUIRE(idx.dtype() == kInt64);
    require_close(y, to_tensor(maxpool_floor_y), 1e-6, 1e-6);
    require_close(idx, to_tensor(maxpool_floor_idx), 0, 0);
    auto [yc, idxc] = max_pool2d_with_indices(x, {3}, {2}, {1}, {1}, true);
    require_close(yc, to_tensor(maxpool_ceil_y), 1e-6, 1e-6);
    require_close(idxc, to_tensor(maxpool_ceil_idx), 0, 0);
    require_close(max_pool2d(x, {3}, {2}, {1}, {1}, true), to_tensor(maxpool_ceil_y), 1e-6, 1e-6);
  }
}

TEST_CASE("avg_pool2d matches PyTorch with ceil_mode and count_include_pad", "[nn][pool]") {
  using namespace golden::nn;
  for (DType dt : {kFloat64, kFloat32}) {
    INFO("dtype " << dt);
    const Tensor x = to_tensor(pool_x, dt);
    require_close(avg_pool2d(x, {3, 3}, {2, 2}, {1, 1}, true, true), to_tensor(avgpool_ceil_incl_y), 1e-6, 1e-6);
    require_close(avg_pool2d(x, {3}, {2}, {1}, true, false), to_tensor(avgpool_ceil_excl_y), 1e-6, 1e-6);
    require_close(avg_pool2d(x, {2, 3}, {1, 2}, {1, 0}, false, true), to_tensor(avgpool_floor_y), 1e-6, 1e-6);
  }
}

TEST_CASE("adaptive_avg_pool2d matches PyTorch when shrinking and growing", "[nn][pool]") {
  using namespace golden::nn;
  for (DType dt : {kFloat64, kFloat32}) {
    const Tensor x = to_tensor(pool_x, dt);
    require_close(adaptive_avg_pool2d(x, {3, 2}), to_tensor(adaptive_3x2_y), 1e-6, 1e-6);
    require_close(adaptive_avg_pool2d(x, {4, 9}), to_tensor(adaptive_4x9_y), 1e-6, 1e-6);
  }
  // output (1, 1) is the global average
  const Tensor x = to_tensor(pool_x);
  require_close(adaptive_avg_pool2d(x, {1}), mean(x, {2, 3}, true), 1e-12, 1e-12);
  REQUIRE(adaptive_avg_pool2d(x, {0, 2}).shape() == Shape{2, 2, 0, 2});
}

TEST_CASE("pooling output sizes follow PyTorch's ceil_mode rule", "[nn][pool]") {
  using namespace golden::nn;
  // H = 6, kernel 2, stride 4, padding 1, ceil: a third window would start in the right padding,
  // so it is dropped (2 x 2, not 3 x 3).
  const Tensor x = to_tensor(pool_drop_x);
  const Tensor ym = max_pool2d(x, {2}, {4}, {1}, {1}, true);
  REQUIRE(ym.shape() == Shape{1, 1, 2, 2});
  require_close(ym, to_tensor(maxpool_drop_y), 1e-12, 1e-12);
  require_close(avg_pool2d(x, {2}, {4}, {1}, true, false), to_tensor(avgpool_drop_y), 1e-12, 1e-12);
  // floor vs ceil
  REQUIRE(max_pool2d(zeros({1, 1, 5, 5}), {2}).shape() == Shape{1, 1, 2, 2});
  REQUIRE(max_pool2d(zeros({1, 1, 5, 5}), {2}, {}, {0}, {1}, true).shape() == Shape{1, 1, 3, 3});
  // stride defaults to the kernel size
  REQUIRE(avg_pool2d(zeros({2, 3, 8, 6}), {2, 3}).shape() == Shape{2, 3, 4, 2});
  // dilation widens the window: (7 + 2 - 2*(3-1) - 1) / 1 + 1 = 5
  REQUIRE(max_pool2d(zeros({1, 1, 7, 7}), {3}, {1}, {1}, {2}).shape() == Shape{1, 1, 5, 5});
  // unbatched (C, H, W)
  const Tensor y3 = max_pool2d(to_tensor(pool_x).select(0, 1), {3, 2}, {2, 2}, {1, 1}, {1, 2});
  REQUIRE(y3.shape() == Shape{2, 3, 4});
  require_close(y3, to_tensor(maxpool_floor_y).select(0, 1), 1e-12, 1e-12);
}

TEST_CASE("max_pool2d propagates NaN and handles 16-bit floats", "[nn][pool]") {
  Tensor x = tensor<float>({1, 2, NAN, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16}, {1, 1, 4, 4});
  auto [y, idx] = max_pool2d_with_indices(x, {2});
  const auto v = y.to_vector<float>();
  REQUIRE(std::isnan(v[1]));
  REQUIRE(v[0] == 6.0f);
  REQUIRE(idx.to_vector<int64_t>() == std::vector<int64_t>{5, 2, 13, 15});
  for (DType dt : {kFloat16, kBFloat16}) {
    const Tensor xs = randn({2, 3, 6, 5});
    const Tensor yh = max_pool2d(xs.to(dt), {2}, {2}, {1});
    REQUIRE(yh.dtype() == dt);
    require_close(yh, max_pool2d(xs.to(dt).to(kFloat32), {2}, {2}, {1}), 0, 0);  // max is exact
    require_close(avg_pool2d(xs.to(dt), {3}, {2}), avg_pool2d(xs.to(dt).to(kFloat32), {3}, {2}), 1e-2, 1e-2);
  }
}

TEST_CASE("pooling gradients match PyTorch's max routing and average spreading", "[nn][pool]") {
  // Each max receives the gradient of every output whose window it wins (overlapping windows).
  Tensor x = tensor<double>({1, 5, 2, 3, 0, 4, 7, 6, 8}, {1, 1, 3, 3}).requires_grad_();
  sum(max_pool2d(x, {2}, {1})).backward();
  test::require_values(x.grad(), {0, 2, 0, 0, 0, 0, 1, 0, 1});
  Tensor a = ones({1, 1, 3, 3}, kFloat64).requires_grad_();
  sum(avg_pool2d(a, {2}, {1}, {1}, false, false)).backward();
  // corner pixels sit in 4 windows of sizes 1, 2, 2, 4
  REQUIRE(a.grad().to_vector<double>()[0] == Approx(1.0 + 0.5 + 0.5 + 0.25));
}

TEST_CASE("max_pool2d: a window with no input element gives -inf and no gradient", "[nn][pool]") {
  // Columns: kernel 2, dilation 2, padding 1 over a width of 1: the taps at -1 and 1 both miss
  // the input. PyTorch's rules give -inf and an index past the window (here the next row's
  // element, past the plane for the last row), which must not route any gradient.
  Tensor x = tensor<float>({1, 2, 3, 4}, {1, 1, 4, 1}).requires_grad_();
  auto [y, idx] = max_pool2d_with_indices(x, {1, 2}, {1, 3}, {0, 1}, {2, 2});
  REQUIRE(y.shape() == Shape{1, 1, 4, 1});
  for (float v : y.to_vector<float>()) REQUIRE(v == -INFINITY);
  sum(y).backward();
  test::require_values(x.grad(), {0, 0, 0, 0});
  // Dilated windows that do hold input elements route as usual.
  Tensor z = tensor<double>({1, 5, 2, 3, 0, 4, 7, 6, 8}, {1, 1, 3, 3}).requires_grad_();
  sum(max_pool2d(z, {2}, {1}, {1}, {2})).backward();
  test::require_values(z.grad(), {0, 0, 0, 0, 4, 2, 0, 2, 1});
}

TEST_CASE("gradcheck: max_pool2d", "[nn][pool][gradcheck]") {
  struct Cfg {
    Shape x;
    std::vector<int64_t> k, s, p, d;
    bool ceil;
  };
  const std::vector<Cfg> cfgs = {
      {{2, 2, 6, 6}, {2}, {}, {0}, {1}, false},
      {{1, 3, 7, 5}, {3, 2}, {2, 1}, {1, 1}, {1, 1}, false},
      {{2, 1, 7, 7}, {3}, {2}, {1}, {2}, true},
      {{1, 2, 5, 6}, {2, 3}, {2, 2}, {1, 1}, {1, 2}, true},
  };
  for (size_t i = 0; i < cfgs.size(); ++i) {
    const Cfg& c = cfgs[i];
    INFO("config " << i);
    require_gradcheck([&](const std::vector<Tensor>& v) { return max_pool2d(v[0], c.k, c.s, c.p, c.d, c.ceil); },
                      {rand_input(c.x)});
  }
  Tensor xt = rand_input_transposed({2, 2, 5, 6});
  REQUIRE(!xt.is_contiguous());
  require_gradcheck([](const std::vector<Tensor>& v) { return max_pool2d(v[0], {2}, {2}, {1}, {1}, true); }, {xt});
  require_gradcheck([](const std::vector<Tensor>& v) { return max_pool2d(v[0], {3}, {2}, {1}); }, {rand_input({2, 5, 5})});
}

TEST_CASE("gradcheck: avg_pool2d", "[nn][pool][gradcheck]") {
  struct Cfg {
    Shape x;
    std::vector<int64_t> k, s, p;
    bool ceil, incl;
  };
  const std::vector<Cfg> cfgs = {
      {{2, 2, 6, 6}, {2}, {}, {0}, false, true},
      {{1, 3, 7, 5}, {3, 2}, {2, 1}, {1, 1}, false, true},
      {{1, 3, 7, 5}, {3, 2}, {2, 1}, {1, 1}, false, false},
      {{2, 1, 6, 7}, {3}, {2}, {1}, true, true},
      {{2, 1, 6, 7}, {3}, {2}, {1}, true, false},
      {{1, 1, 6, 6}, {2}, {4}, {1}, true, false},
  };
  for (size_t i = 0; i < cfgs.size(); ++i) {
    const Cfg& c = cfgs[i];
    INFO("config " << i);
    require_gradcheck([&](const std::vector<Tensor>& v) { return avg_pool2d(v[0], c.k, c.s, c.p, c.ceil, c.incl); },
                      {rand_input(c.x)});
  }
  require_gradcheck([](const std::vector<Tensor>& v) { return avg_pool2d(v[0], {3}, {2}, {1}, true, false); },
                    {rand_input_transposed({2, 2, 5, 6})});
  require_gradcheck([](const std::vector<Tensor>& v) { return avg_pool2d(v[0], {2}); }, {rand_input({3, 4, 4})});
}

TEST_CASE("gradcheck: adaptive_avg_pool2d", "[nn][pool][gradcheck]") {
  for (const auto& out : std::vector<std::vector<int64_t>>{{1}, {3, 2}, {4, 4}, {7, 3}, {2, 9}}) {
    INFO("output " << out[0]);
    require_gradcheck([&](const std::vector<Tensor>& v) { return adaptive_avg_pool2d(v[0], out); },
                      {rand_input({2, 2, 5, 6})});
  }
  require_gradcheck([](const std::vector<Tensor>& v) { return adaptive_avg_pool2d(v[0], {3}); },
                    {rand_input_transposed({1, 3, 7, 5})});
  require_gradcheck([](const std::vector<Tensor>& v) { return adaptive_avg_pool2d(v[0], {2, 3}); },
                    {rand_input({3, 5, 7})});
}

TEST_CASE("pooling errors name the op and the offending arguments", "[nn][pool][errors]") {
  const Tensor x = zeros({2, 3, 6, 6});
  REQUIRE_THROWS_WITH(max_pool2d(zeros({6, 6}), {2}), Catch::Contains("max_pool2d") && Catch::Contains("[6, 6]"));
  REQUIRE_THROWS_WITH(avg_pool2d(zeros({1, 2, 3, 4, 5}), {2}),
                      Catch::Contains("avg_pool2d") && Catch::Contains("[1, 2, 3, 4, 5]"));
  REQUIRE_THROWS_WITH(max_pool2d(x, {3}, {1}, {2}),
                      Catch::Contains("max_pool2d") && Catch::Contains("at most half the kernel size") &&
                          Catch::Contains("padding=(2, 2)"));
  REQUIRE_THROWS_WITH(avg_pool2d(x, {2, 4}, {1}, {0, 3}), Catch::Contains("avg_pool2d") && Catch::Contains("padding=(0, 3)"));
  REQUIRE_THROWS_WITH(max_pool2d(x, {7}), Catch::Contains("max_pool2d") && Catch::Contains("too small") &&
                                              Catch::Contains("[2, 3, 6, 6]"));
  REQUIRE_THROWS_WITH(max_pool2d(x, {3}, {1}, {0}, {3}), Catch::Contains("max_pool2d") && Catch::Contains("too small"));
  REQUIRE_THROWS_WITH(max_pool2d(x, {0}), Catch::Contains("max_pool2d: kernel_size must be positive"));
  REQUIRE_THROWS_WITH(avg_pool2d(x, {2}, {0}), Catch::Contains("avg_pool2d: stride must be positive"));
  REQUIRE_THROWS_WITH(max_pool2d(x, {2, 2, 2}), Catch::Contains("max_pool2d: kernel_size must have 1 or 2 elements"));
  REQUIRE_THROWS_WITH(max_pool2d(x, {2}, {}, {0}, {0}), Catch::Contains("max_pool2d: dilation must be positive"));
  REQUIRE_THROWS_WITH(max_pool2d(zeros({2, 3, 6, 6}, kInt64), {2}),
                      Catch::Contains("max_pool2d") && Catch::Contains("int64"));
  REQUIRE_THROWS_WITH(avg_pool2d(zeros({2, 0, 6, 6}), {2}), Catch::Contains("avg_pool2d") && Catch::Contains("non-empty"));
  REQUIRE_THROWS_WITH(adaptive_avg_pool2d(x, {-1, 2}), Catch::Contains("adaptive_avg_pool2d") && Catch::Contains("(-1, 2)"));
  REQUIRE_THROWS_WITH(adaptive_avg_pool2d(zeros({6}), {2}), Catch::Contains("adaptive_avg_pool2d") && Catch::Contains("[6]"));
  REQUIRE_THROWS_WITH(adaptive_avg_pool2d(x, {}), Catch::Contains("adaptive_avg_pool2d: output_size must have 1 or 2"));
}
