// Reductions over dim sets with keepdim; values and float64 gradchecks.
#include "test_util.h"

using namespace ts;
using test::rand_input;
using test::rand_input_transposed;
using test::require_gradcheck;
using test::require_values;

TEST_CASE("reductions compute the right values over any dims", "[reduction]") {
  Tensor x = arange(24, TensorOptions(kFloat64)).reshape({2, 3, 4});
  require_values(sum(x), {276});
  REQUIRE(sum(x, {0, 2}).shape() == Shape{3});
  require_values(sum(x, {0, 2}), {60, 92, 124});
  REQUIRE(sum(x, {1}, true).shape() == Shape{2, 1, 4});
  require_values(mean(x, {-1}), {1.5, 5.5, 9.5, 13.5, 17.5, 21.5});
  require_values(sum(x.transpose(0, 2), {0}), {6, 54, 22, 70, 38, 86});  // strided input
  require_values(sum(x, {0}), {12, 14, 16, 18, 20, 22, 24, 26, 28, 30, 32, 34});  // leading dims (column path)
  require_values(prod(tensor<double>({1, 2, 3, 4})), {24});
  require_values(var(tensor<double>({1, 2, 3, 4})), {1.6666666666666667});
  require_values(var(tensor<double>({1, 2, 3, 4}), {}, false), {1.25});
  require_values(ts::std(tensor<double>({2, 4, 4, 4, 5, 5, 7, 9}), {}, false), {2});
  require_values(max(x), {23});
  require_values(min(x), {0});
  auto [vals, idx] = max(tensor<float>({1, 5, 3, 7, 2, 0}, {2, 3}), 1);
  require_values(vals, {5, 7});
  require_values(idx, {1, 0});
  require_values(argmax(tensor<float>({1, 5, 3, 7, 2, 0}, {2, 3})), {3});
  require_values(argmin(tensor<float>({1, 5, 3, 7, 2, 0}, {2, 3}), 0), {0, 1, 1});
  require_values(logsumexp(tensor<double>({1000, 1000}), {0}), {1000.6931471805599});  // stable
  require_values(norm(tensor<double>({3, 4})), {5});
  require_values(norm(tensor<double>({3, -4}), 1.0), {7});
  require_values(norm(tensor<double>({3, -4}), INFINITY), {4});
  require_values(sum(tensor<int32_t>({1, 2})), {3});
  REQUIRE(sum(tensor<int32_t>({1, 2})).dtype() == kInt64);
  REQUIRE(sum(ones({3}, kBool)).item<int64_t>() == 3);
  REQUIRE(std::isnan(max(tensor<float>({1, NAN, 2})).item<float>()));
  REQUIRE(sum(zeros({0, 3}), {0}).shape() == Shape{3});
  // a large sum stays accurate (double accumulation)
  REQUIRE(sum(full({1 << 20}, 0.1f)).item<float>() == Approx(104857.6).epsilon(1e-6));
}

TEST_CASE("gradcheck: sum, mean, prod, var, std", "[reduction][gradcheck]") {
  for (const auto& dims : std::vector<std::vector<int64_t>>{{}, {0}, {1}, {0, 2}, {-1}}) {
    for (bool keepdim : {false, true}) {
      auto x = rand_input({2, 3, 4});
      require_gradcheck([&](const std::vector<Tensor>& in) { return sum(in[0], dims, keepdim); }, {x});
      require_gradcheck([&](const std::vector<Tensor>& in) { return mean(in[0], dims, keepdim); }, {x});
      require_gradcheck([&](const std::vector<Tensor>& in) { return var(in[0], dims, true, keepdim); }, {x});
      require_gradcheck([&](const std::vector<Tensor>& in) { return ts::std(in[0], dims, false, keepdim); }, {x});
      require_gradcheck([&](const std::vector<Tensor>& in) { return prod(in[0], dims, keepdim); }, {x});
    }
  }
  require_gradcheck([](const std::vector<Tensor>& in) { return sum(in[0], {0}); }, {rand_input_transposed({3, 4})});
  // prod through exact zeros
  Tensor z = tensor<double>({2, 0, 3, 0, 4, 5}, {2, 3}).requires_grad_();
  require_gradcheck([](const std::vector<Tensor>& in) { return prod(in[0], {1}); }, {z});
}

TEST_CASE("gradcheck: max, min, logsumexp, norm", "[reduction][gradcheck]") {
  auto x = rand_input({3, 5});
  require_gradcheck([](const std::vector<Tensor>& in) { return max(in[0]); }, {x});
  require_gradcheck([](const std::vector<Tensor>& in) { return min(in[0]); }, {x});
  require_gradcheck([](const std::vector<Tensor>& in) { return max(in[0], 1).first; }, {x});
  require_gradcheck([](const std::vector<Tensor>& in) { return min(in[0], 0, true).first; }, {x});
  require_gradcheck([](const std::vector<Tensor>& in) { return max(in[0], 0).first; }, {rand_input_transposed({3, 5})});
  require_gradcheck([](const std::vector<Tensor>& in) { return logsumexp(in[0], {1}); }, {x});
  require_gradcheck([](const std::vector<Tensor>& in) { return logsumexp(in[0], {0, 1}, true); }, {x});
  require_gradcheck([](const std::vector<Tensor>& in) { return norm(in[0]); }, {x});
  require_gradcheck([](const std::vector<Tensor>& in) { return norm(in[0], 1.0, {1}); }, {x});
  require_gradcheck([](const std::vector<Tensor>& in) { return norm(in[0], 3.0, {0}); }, {x});
  // ties split the gradient evenly, like PyTorch
  Tensor t = tensor<double>({1, 3, 3}).requires_grad_();
  max(t).backward();
  require_values(t.grad(), {0, 0.5, 0.5});
}

TEST_CASE("reduction errors name the op and the dims", "[reduction][errors]") {
  REQUIRE_THROWS_WITH(sum(ones({2, 3}), {2}), Catch::Contains("sum") && Catch::Contains("dimension 2 is out of range"));
  REQUIRE_THROWS_WITH(sum(ones({2, 3}), {1, -1}), Catch::Contains("repeats"));
  REQUIRE_THROWS_WITH(mean(ones({2}, kInt64)), Catch::Contains("mean") && Catch::Contains("int64"));
  REQUIRE_THROWS_WITH(max(zeros({0})), Catch::Contains("max") && Catch::Contains("empty"));
  REQUIRE_THROWS_WITH(max(zeros({2, 0}), 1), Catch::Contains("max") && Catch::Contains("size 0"));
}
