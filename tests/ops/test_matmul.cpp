// matmul in all of torch::matmul's cases, against a naive reference, plus gradchecks.
#include "test_util.h"

using namespace ts;
using test::rand_input;
using test::rand_input_transposed;
using test::require_gradcheck;

namespace {
// Naive (B, M, K) x (B, K, N) in double, the reference for the Eigen path.
Tensor reference_bmm(const Tensor& a, const Tensor& b) {
  const auto av = a.contiguous().to_vector<double>(), bv = b.contiguous().to_vector<double>();
  const int64_t B = a.size(0), M = a.size(1), K = a.size(2), N = b.size(2);
  std::vector<double> out(static_cast<size_t>(B * M * N), 0.0);
  for (int64_t i = 0; i < B; ++i)
    for (int64_t m = 0; m < M; ++m)
      for (int64_t n = 0; n < N; ++n) {
        double s = 0;
        for (int64_t k = 0; k < K; ++k) s += av[static_cast<size_t>((i * M + m) * K + k)] * bv[static_cast<size_t>((i * K + k) * N + n)];
        out[static_cast<size_t>((i * M + m) * N + n)] = s;
      }
  return tensor(out, {B, M, N}, kFloat64);
}
}  // namespace

TEST_CASE("matmul matches a naive reference for every layout", "[matmul]") {
  manual_seed(1);
  Tensor a = randn({3, 17, 33}, kFloat64), b = randn({3, 33, 9}, kFloat64);
  test::require_close(bmm(a, b), reference_bmm(a, b), 1e-10, 1e-10);
  // transposed operands (column-major maps) and float32
  Tensor at = randn({3, 33, 17}, kFloat64).transpose(1, 2), bt = randn({3, 9, 33}, kFloat64).transpose(1, 2);
  test::require_close(bmm(at, bt), reference_bmm(at, bt), 1e-10, 1e-10);
  test::require_close(bmm(at.to(kFloat32), b.to(kFloat32)), reference_bmm(at, b), 1e-4, 1e-4);
  // a sliced operand with a non-unit inner stride is copied first
  Tensor as = randn({3, 17, 66}, kFloat64).slice(2, 0, std::nullopt, 2);
  test::require_close(bmm(as, b), reference_bmm(as, b), 1e-10, 1e-10);
  // large enough for Eigen's threaded path
  Tensor big_a = randn({1, 200, 150}, kFloat64), big_b = randn({1, 150, 100}, kFloat64);
  test::require_close(bmm(big_a, big_b), reference_bmm(big_a, big_b), 1e-10, 1e-9);
  // float16 computes in float32
  Tensor h = matmul(ones({2, 3}, kFloat16), ones({3, 2}, kFloat16));
  REQUIRE(h.dtype() == kFloat16);
  test::require_values(h, {3, 3, 3, 3});
}

TEST_CASE("matmul shapes follow torch::matmul", "[matmul]") {
  REQUIRE(matmul(ones({3}), ones({3})).shape() == Shape{});
  REQUIRE(matmul(ones({3}), ones({3})).item<float>() == 3.0f);
  REQUIRE(matmul(ones({2, 3}), ones({3})).shape() == Shape{2});
  REQUIRE(matmul(ones({3}), ones({3, 4})).shape() == Shape{4});
  REQUIRE(matmul(ones({5, 2, 3}), ones({3, 4})).shape() == Shape{5, 2, 4});
  REQUIRE(matmul(ones({5, 2, 3}), ones({3})).shape() == Shape{5, 2});
  REQUIRE(matmul(ones({3}), ones({5, 3, 4})).shape() == Shape{5, 4});
  REQUIRE(matmul(ones({2, 1, 4, 3}), ones({5, 3, 2})).shape() == Shape{2, 5, 4, 2});
  REQUIRE(linear(ones({7, 3}), ones({4, 3}), zeros({4})).shape() == Shape{7, 4});
  test::require_values(linear(ones({1, 2}), tensor<float>({1, 2, 3, 4}, {2, 2}), tensor<float>({10, 20})), {13, 27});
}

TEST_CASE("gradcheck: matmul in all its cases, mm, bmm, linear", "[matmul][gradcheck]") {
  auto f = [](const std::vector<Tensor>& in) { return matmul(in[0], in[1]); };
  require_gradcheck(f, {rand_input({3}), rand_input({3})});
  require_gradcheck(f, {rand_input({2, 3}), rand_input({3})});
  require_gradcheck(f, {rand_input({3}), rand_input({3, 4})});
  require_gradcheck(f, {rand_input({2, 3}), rand_input({3, 4})});
  require_gradcheck(f, {rand_input({2, 2, 3}), rand_input({3, 4})});
  require_gradcheck(f, {rand_input({2, 1, 2, 3}), rand_input({3, 3, 2})});  // broadcast batch
  require_gradcheck(f, {rand_input_transposed({2, 3}), rand_input_transposed({3, 4})});
  require_gradcheck([](const auto& in) { return bmm(in[0], in[1]); }, {rand_input({2, 3, 4}), rand_input({2, 4, 2})});
  require_gradcheck([](const auto& in) { return linear(in[0], in[1], in[2]); },
                    {rand_input({2, 3, 4}), rand_input({5, 4}), rand_input({5})});
}

TEST_CASE("matmul errors name the op and both shapes", "[matmul][errors]") {
  REQUIRE_THROWS_WITH(matmul(ones({2, 3}), ones({4, 5})),
                      Catch::Contains("matmul") && Catch::Contains("[2, 3]") && Catch::Contains("[4, 5]"));
  REQUIRE_THROWS_WITH(mm(ones({2, 3}), ones({2, 3})), Catch::Contains("mm") && Catch::Contains("cannot be multiplied"));
  REQUIRE_THROWS_WITH(bmm(ones({2, 3}), ones({3, 2})), Catch::Contains("bmm") && Catch::Contains("3-D"));
  REQUIRE_THROWS_WITH(matmul(ones({2, 3}), ones({3}, kFloat64)), Catch::Contains("float32") && Catch::Contains("float64"));
  REQUIRE_THROWS_WITH(matmul(ones({2, 3}, kInt64), ones({3}, kInt64)), Catch::Contains("floating-point"));
  REQUIRE_THROWS_WITH(matmul(ones({2, 2, 3}), ones({3, 3, 2})), Catch::Contains("matmul") && Catch::Contains("broadcast"));
  REQUIRE_THROWS_WITH(linear(ones({2, 3}), ones({4, 5})), Catch::Contains("linear") && Catch::Contains("[4, 5]"));
}
