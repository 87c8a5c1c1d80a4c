// layer_norm and batch_norm: values, gradients and running-stat updates against PyTorch
// (float64 and float32), float64 gradchecks for x/weight/bias (train and eval, strided inputs),
// accuracy with a large mean, 16-bit inputs, and the argument errors.
#include "golden/nn_golden.h"
#include "test_util.h"

using namespace ts;
using golden::nn::to_tensor;
using test::rand_input;
using test::rand_input_transposed;
using test::require_close;
using test::require_gradcheck;

namespace {

using test::ThreadCount;

}  // namespace

TEST_CASE("layer_norm matches PyTorch: values and gradients", "[nn][norm]") {
  using namespace golden::nn;
  for (int threads : {1, 3}) {  // the weight/bias gradients are summed in per-thread chunks
    ThreadCount tc(threads);
    for (DType dt : {kFloat64, kFloat32}) {
      INFO("dtype " << dt << ", threads " << threads);
      const double tol = dt == kFloat64 ? 1e-10 : 1e-4;
      Tensor x = to_tensor(ln_x, dt).requires_grad_();
      Tensor w = to_tensor(ln_w, dt).requires_grad_();
      Tensor b = to_tensor(ln_b, dt).requires_grad_();
      Tensor y = layer_norm(x, {4, 5}, w, b);
      REQUIRE(y.dtype() == dt);
      require_close(y, to_tensor(ln_y), tol, tol);
      y.backward(to_tensor(ln_gy, dt));
      require_close(x.grad(), to_tensor(ln_gx), tol, tol);
      require_close(w.grad(), to_tensor(ln_gw), tol, tol);
      require_close(b.grad(), to_tensor(ln_gb), tol, tol);
      require_close(layer_norm(x.detach(), {5}, Tensor(), Tensor(), 1e-3), to_tensor(ln_noaffine_y), tol, tol);
    }
  }
}

TEST_CASE("layer_norm stays accurate for a large mean, and computes 16-bit inputs in float32", "[nn][norm]") {
  // A one-pass E[x^2] - E[x]^2 in float32 would lose every digit here.
  const Tensor x = tensor<float>({10000.f, 10001.f, 10002.f, 10003.f}, {1, 4});
  test::require_values(layer_norm(x, {4}, Tensor(), Tensor(), 0.0), {-1.3416407865, -0.4472135955, 0.4472135955, 1.3416407865},
                       1e-4);
  const Tensor xs = randn({3, 8}), w = randn({8}), b = randn({8});
  for (DType dt : {kFloat16, kBFloat16}) {
    const Tensor y = layer_norm(xs.to(dt), {8}, w.to(dt), b.to(dt));
    REQUIRE(y.dtype() == dt);
    require_close(y, layer_norm(xs.to(dt).to(kFloat32), {8}, w.to(dt).to(kFloat32), b.to(dt).to(kFloat32)), 2e-2, 3e-2);
  }
}

TEST_CASE("gradcheck: layer_norm for x, weight and bias", "[nn][norm][gradcheck]") {
  for (int threads : {1, 2}) {
    ThreadCount tc(threads);
    require_gradcheck([](const std::vector<Tensor>& v) { return layer_norm(v[0], {5}, v[1], v[2]); },
                      {rand_input({3, 4, 5}), rand_input({5}), rand_input({5})});
    require_gradcheck([](const std::vector<Tensor>& v) { return layer_norm(v[0], {3, 4}, v[1], v[2], 1e-3); },
                      {rand_input({2, 3, 4}), rand_input({3, 4}), rand_input({3, 4})});
    require_gradcheck([](const std::vector<Tensor>& v) { return layer_norm(v[0], {6}, v[1]); },
                      {rand_input({4, 6}), rand_input({6})});
    require_gradcheck([](const std::vector<Tensor>& v) { return layer_norm(v[0], {6}, Tensor(), v[1]); },
                      {rand_input({4, 6}), rand_input({6})});
    require_gradcheck([](const std::vector<Tensor>& v) { return layer_norm(v[0], {7}); }, {rand_input({7})});
    // non-contiguous x (normalized over a transposed dim)
    Tensor xt = rand_input_transposed({2, 4, 5});
    REQUIRE(!xt.is_contiguous());
    require_gradcheck([](const std::vector<Tensor>& v) { return layer_norm(v[0], {5}, v[1], v[2]); },
                      {xt, rand_input({5}), rand_input({5})});
  }
}

TEST_CASE("batch_norm matches PyTorch in training: values, running stats, gradients", "[nn][norm]") {
  using namespace golden::nn;
  for (DType dt : {kFloat64, kFloat32}) {
    INFO("dtype " << dt);
    const double tol = dt == kFloat64 ? 1e-10 : 1e-4;
    Tensor x = to_tensor(bn_x, dt).requires_grad_();
    Tensor w = to_tensor(bn_w, dt).requires_grad_();
    Tensor b = to_tensor(bn_b, dt).requires_grad_();
    Tensor rm = to_tensor(bn_rm, dt), rv = to_tensor(bn_rv, dt);
    const uint64_t version = rm._version();
    Tensor y = batch_norm(x, rm, rv, w, b, true, 0.2, 1e-4);
    require_close(y, to_tensor(bn_train_y), tol, tol);
    require_close(rm, to_tensor(bn_train_rm), tol, tol);
    require_close(rv, to_tensor(bn_train_rv), tol, tol);  // unbiased variance
    REQUIRE(rm._version() > version);
    y.backward(to_tensor(bn_gy, dt));
    require_close(x.grad(), to_tensor(bn_train_gx), tol, tol);
    require_close(w.grad(), to_tensor(bn_train_gw), tol, tol);
    require_close(b.grad(), to_tensor(bn_train_gb), tol, tol);
  }
  // (N, C) input, no affine parameters
  Tensor rm2 = zeros({3}, kFloat64), rv2 = ones({3}, kFloat64);
  require_close(batch_norm(to_tensor(bn2d_x), rm2, rv2, Tensor(), Tensor(), true), to_tensor(bn2d_y), 1e-10, 1e-10);
  require_close(rm2, to_tensor(bn2d_rm), 1e-10, 1e-10);
  require_close(rv2, to_tensor(bn2d_rv), 1e-10, 1e-10);
  // training without running stats works too
  require_close(batch_norm(to_tensor(bn2d_x), Tensor(), Tensor(), Tensor(), Tensor(), true), to_tensor(bn2d_y), 1e-10,
                1e-10);
}

TEST_CASE("batch_norm matches PyTorch in eval mode", "[nn][norm]") {
  using namespace golden::nn;
  Tensor x = to_tensor(bn_x).requires_grad_();
  Tensor w = to_tensor(bn_w).requires_grad_();
  Tensor rm = to_tensor(bn_rm), rv = to_tensor(bn_rv);
  Tensor y = batch_norm(x, rm, rv, w, to_tensor(bn_b), false, 0.2, 1e-4);
  require_close(y, to_tensor(bn_eval_y), 1e-10, 1e-10);
  require_close(rm, to_tensor(bn_rm), 0, 0);  // untouched
  y.backward(to_tensor(bn_gy));
  require_close(x.grad(), to_tensor(bn_eval_gx), 1e-10, 1e-10);
  require_close(w.grad(), to_tensor(bn_eval_gw), 1e-10, 1e-10);
  // float32 running stats with a float16 input (mixed precision)
  const Tensor yh = batch_norm(to_tensor(bn_x, kFloat16), to_tensor(bn_rm, kFloat32), to_tensor(bn_rv, kFloat32),
                               to_tensor(bn_w, kFloat16), to_tensor(bn_b, kFloat16), false, 0.2, 1e-4);
  REQUIRE(yh.dtype() == kFloat16);
  require_close(yh, to_tensor(bn_eval_y), 1e-2, 2e-2);
}

TEST_CASE("batch_norm stays accurate for a large mean", "[nn][norm]") {
  const Tensor x = tensor<float>({10000.f, 10001.f, 10002.f, 10003.f}, {4, 1});
  test::require_values(batch_norm(x, Tensor(), Tensor(), Tensor(), Tensor(), true, 0.1, 0.0),
                       {-1.3416407865, -0.4472135955, 0.4472135955, 1.3416407865}, 1e-4);
}

TEST_CASE("gradcheck: batch_norm for x, weight and bias in train and eval mode", "[nn][norm][gradcheck]") {
  for (bool training : {true, false}) {
    INFO("training " << training);
    const Tensor rm = randn({3}, kFloat64), rv = rand({3}, kFloat64) + 0.5;
    auto bn = [&](const Tensor& x, const Tensor& w, const Tensor& b) {
      return batch_norm(x, rm.clone(), rv.clone(), w, b, training, 0.1, 1e-3);
    };
    require_gradcheck([&](const std::vector<Tensor>& v) { return bn(v[0], v[1], v[2]); },
                      {rand_input({4, 3, 2, 3}), rand_input({3}), rand_input({3})});
    require_gradcheck([&](const std::vector<Tensor>& v) { return bn(v[0], v[1], v[2]); },
                      {rand_input({5, 3}), rand_input({3}), rand_input({3})});
    require_gradcheck([&](const std::vector<Tensor>& v) { return bn(v[0], Tensor(), Tensor()); },
                      {rand_input({2, 3, 4})});
    require_gradcheck([&](const std::vector<Tensor>& v) { return bn(v[0], v[1], Tensor()); },
                      {rand_input({2, 3, 2, 2}), rand_input({3})});
    // non-contiguous x (its last two dims are transposed in memory)
    Tensor xt = rand_input_transposed({2, 3, 4, 2});
    REQUIRE(!xt.is_contiguous());
    require_gradcheck([&](const std::vector<Tensor>& v) { return bn(v[0], v[1], v[2]); },
                      {xt, rand_input({3}), rand_input({3})});
  }
}

TEST_CASE("norm errors name the op and the shapes", "[nn][norm][errors]") {
  const Tensor x = zeros({3, 4, 5});
  REQUIRE_THROWS_WITH(layer_norm(x, {4}), Catch::Contains("layer_norm") && Catch::Contains("normalized_shape=[4]") &&
                                              Catch::Contains("[3, 4, 5]"));
  REQUIRE_THROWS_WITH(layer_norm(x, {2, 3, 4, 5}), Catch::Contains("layer_norm") && Catch::Contains("[*, 2, 3, 4, 5]"));
  REQUIRE_THROWS_WITH(layer_norm(x, {}), Catch::Contains("layer_norm: normalized_shape must have at least one"));
  REQUIRE_THROWS_WITH(layer_norm(x, {5}, zeros({4})),
                      Catch::Contains("layer_norm") && Catch::Contains("weight of shape [4]"));
  REQUIRE_THROWS_WITH(layer_norm(x, {4, 5}, Tensor(), zeros({5})),
                      Catch::Contains("layer_norm") && Catch::Contains("bias of shape [5]") && Catch::Contains("[4, 5]"));
  REQUIRE_THROWS_WITH(layer_norm(zeros({2, 3}, kInt64), {3}), Catch::Contains("layer_norm") && Catch::Contains("int64"));

  REQUIRE_THROWS_WITH(batch_norm(zeros({4}), Tensor(), Tensor(), Tensor(), Tensor(), true),
                      Catch::Contains("batch_norm") && Catch::Contains("[4]"));
  REQUIRE_THROWS_WITH(batch_norm(x, zeros({3}), ones({3})),
                      Catch::Contains("batch_norm") && Catch::Contains("running_mean of shape [3]") &&
                          Catch::Contains("[3, 4, 5]"));
  REQUIRE_THROWS_WITH(batch_norm(x, zeros({4}), ones({4}), zeros({2})),
                      Catch::Contains("batch_norm") && Catch::Contains("weight of shape [2]"));
  REQUIRE_THROWS_WITH(batch_norm(x, Tensor(), Tensor()), Catch::Contains("batch_norm") && Catch::Contains("training is false"));
  REQUIRE_THROWS_WITH(batch_norm(zeros({1, 4}), Tensor(), Tensor(), Tensor(), Tensor(), true),
                      Catch::Contains("batch_norm") && Catch::Contains("more than 1 value per channel") &&
                          Catch::Contains("[1, 4]"));
  REQUIRE_THROWS_WITH(batch_norm(zeros({2, 4}, kInt32), zeros({4}), ones({4})),
                      Catch::Contains("batch_norm") && Catch::Contains("int32"));
}
