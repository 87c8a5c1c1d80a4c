// softmax / log_softmax: values against PyTorch 1.13 over every dim, numerical stability,
// the inner == 1 and blocked (inner > 1) kernel paths, 16-bit dtypes, gradcheck and errors.
#include <cmath>
#include <limits>

#include "golden/index_loss_golden.h"
#include "test_util.h"

using namespace ts;
namespace g = golden::index_loss;
using test::rand_input;
using test::rand_input_transposed;
using test::require_close;
using test::require_gradcheck;
using test::require_values;

namespace {

// exp(x - logsumexp(x)) from ops that share no code with the softmax kernel.
Tensor reference_softmax(const Tensor& x, int64_t dim) {
  NoGradGuard no_grad;
  const Tensor xd = x.to(kFloat64);
  const Tensor m = std::get<0>(max(xd, dim, true));
  const Tensor e = exp(xd - m);
  return e / sum(e, {dim}, true);
}

}  // namespace

TEST_CASE("softmax and log_softmax match PyTorch on every dim", "[loss][softmax]") {
  const Tensor x = tensor<double>(g::softmax_x, g::softmax_shape);
  const std::vector<const std::vector<double>*> sm = {&g::softmax_dim0, &g::softmax_dim1, &g::softmax_dim2};
  const std::vector<const std::vector<double>*> lsm = {&g::log_softmax_dim0, &g::log_softmax_dim1,
                                                       &g::log_softmax_dim2};
  for (int64_t d = 0; d < 3; ++d) {
    INFO("dim " << d);
    require_values(softmax(x, d), *sm[static_cast<size_t>(d)], 1e-12);
    require_values(log_softmax(x, d), *lsm[static_cast<size_t>(d)], 1e-12);
    require_values(softmax(x, d - 3), *sm[static_cast<size_t>(d)], 1e-12);  // negative dims wrap
    // float32 goes through the vectorized exp
    require_values(softmax(x.to(kFloat32), d), *sm[static_cast<size_t>(d)], 1e-6);
    require_values(log_softmax(x.to(kFloat32), d), *lsm[static_cast<size_t>(d)], 1e-6);
  }
  REQUIRE(softmax(x.to(kFloat32), 1).dtype() == kFloat32);
}

TEST_CASE("softmax is stable for large magnitudes and infinities", "[loss][softmax]") {
  for (DType dt : {kFloat64, kFloat32}) {
    const Tensor big = tensor<double>(g::softmax_big_x, {2, 3}).to(dt);
    require_values(softmax(big, 1), g::softmax_big, 1e-6);
    require_values(log_softmax(big, 1), g::log_softmax_big, 1e-4);
    const double inf = std::numeric_limits<double>::infinity();
    const Tensor with_inf = tensor<double>({0.0, -inf, 1.0}).to(dt);
    require_values(softmax(with_inf, 0), {0.2689414213699951, 0.0, 0.7310585786300049}, 1e-6);
    const auto ls = log_softmax(with_inf, 0).to_vector<double>();
    REQUIRE(ls[1] == -inf);
    REQUIRE(ls[2] == Approx(-0.31326168751822286).margin(1e-6));
    // a NaN poisons its row only
    const Tensor with_nan = tensor<double>({1.0, std::nan(""), 0.0, 1.0, 2.0, 3.0}, {2, 3}).to(dt);
    const auto v = softmax(with_nan, 1).to_vector<double>();
    REQUIRE(std::isnan(v[0]));
    REQUIRE(std::isnan(v[2]));
    REQUIRE(v[3] == Approx(0.09003057317038046).margin(1e-6));
  }
}

TEST_CASE("softmax kernel paths agree with a reference on larger shapes", "[loss][softmax]") {
  // rows (inner == 1), column blocks smaller and larger than the kernel's block, odd sizes
  for (const Shape& shape : std::vector<Shape>{{37, 129}, {3, 17, 300}, {2, 5, 7, 9}, {1, 1000}}) {
    for (int64_t d = 0; d < static_cast<int64_t>(shape.size()); ++d) {
      INFO("shape " << shape_str(shape) << " dim " << d);
      const Tensor x = randn(shape, kFloat64) * 4.0;
      const Tensor ref = reference_softmax(x, d);
      require_close(softmax(x, d), ref, 1e-12, 1e-14);
      require_close(log_softmax(x, d), log(ref), 1e-10, 1e-12);
      // float32: the polynomial exp stays within a few ulp
      require_close(softmax(x.to(kFloat32), d), ref, 1e-5, 1e-7);
      require_close(log_softmax(x.to(kFloat32), d), log(ref), 1e-5, 1e-5);
    }
  }
}

TEST_CASE("softmax on 16-bit floats computes in float32", "[loss][softmax]") {
  const Tensor x = randn({4, 33}, kFloat32);
  for (DType dt : {kFloat16, kBFloat16}) {
    const Tensor y = softmax(x.to(dt), 1);
    REQUIRE(y.dtype() == dt);
    require_close(y, reference_softmax(x.to(dt), 1), 1e-2, 1e-3);
    const Tensor xr = x.to(dt).requires_grad_(true);
    log_softmax(xr, 1).sum().backward();
    REQUIRE(xr.grad().dtype() == dt);
    // d/dx sum(log_softmax) = 1 - C * softmax
    require_close(xr.grad(), 1.0 - 33.0 * reference_softmax(x.to(dt), 1), 2e-2, 2e-2);
  }
}

TEST_CASE("softmax edge shapes", "[loss][softmax]") {
  require_values(softmax(scalar_tensor(3.0, kFloat64), 0), {1.0});
  REQUIRE(softmax(scalar_tensor(3.0, kFloat64), -1).dim() == 0);
  require_values(log_softmax(scalar_tensor(3.0, kFloat64), 0), {0.0});
  const Tensor empty = zeros({0, 4}, kFloat32);
  REQUIRE(softmax(empty, 1).shape() == Shape{0, 4});
  REQUIRE(log_softmax(empty, 0).numel() == 0);
  require_values(softmax(full({2, 3}, 7.0, kFloat32), 1), {1 / 3.0, 1 / 3.0, 1 / 3.0, 1 / 3.0, 1 / 3.0, 1 / 3.0});
}

TEST_CASE("softmax backward matches PyTorch", "[loss][softmax]") {
  const Tensor w = tensor<double>(g::softmax_gout, g::softmax_shape);
  Tensor x = tensor<double>(g::softmax_x, g::softmax_shape).requires_grad_(true);
  sum(softmax(x, 1) * w).backward();
  require_values(x.grad(), g::softmax_grad_dim1, 1e-12);
  x.set_grad(Tensor());
  sum(log_softmax(x, 1) * w).backward();
  require_values(x.grad(), g::log_softmax_grad_dim1, 1e-12);
}

TEST_CASE("gradcheck: softmax and log_softmax", "[loss][softmax][gradcheck]") {
  for (bool log : {false, true}) {
    auto f = [log](int64_t d) {
      return [log, d](const std::vector<Tensor>& in) { return log ? log_softmax(in[0], d) : softmax(in[0], d); };
    };
    for (int64_t d = 0; d < 3; ++d) require_gradcheck(f(d), {rand_input({2, 3, 4})});
    require_gradcheck(f(-1), {rand_input({5})});
    // non-contiguous inputs: a transpose and a strided slice
    const Tensor xt = rand_input_transposed({4, 3});
    REQUIRE(!xt.is_contiguous());
    require_gradcheck(f(1), {xt});
    require_gradcheck(f(0), {xt});
    const Tensor xs = randn({3, 8}, kFloat64).slice(1, 0, 8, 3).requires_grad_(true);
    REQUIRE(!xs.is_contiguous());
    require_gradcheck(f(1), {xs});
    require_gradcheck(f(0), {xs});
    // the blocked kernel with more columns than one block
    require_gradcheck(f(0), {rand_input({3, 260})});
  }
}

TEST_CASE("softmax rejects bad arguments", "[loss][softmax]") {
  REQUIRE_THROWS_WITH(softmax(zeros({2, 3}, kInt64), 1), Catch::Contains("softmax") && Catch::Contains("int64"));
  REQUIRE_THROWS_WITH(log_softmax(zeros({2, 3}), 2), Catch::Contains("log_softmax"));
  REQUIRE_THROWS_WITH(softmax(Tensor(), 0), Catch::Contains("softmax"));
}
