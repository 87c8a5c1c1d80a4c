// cat / stack / split / chunk: values and promotion against PyTorch 1.13, legacy empty
// tensors, views, gradcheck and error messages.
#include "golden/index_loss_golden.h"
#include "test_util.h"

using namespace ts;
namespace g = golden::index_loss;
using test::rand_input;
using test::rand_input_transposed;
using test::require_gradcheck;
using test::require_values;

TEST_CASE("cat matches PyTorch, promotes dtypes and skips legacy empty tensors", "[index][join]") {
  const Tensor a = tensor<double>(g::cat_a, {2, 3});
  const Tensor b = tensor<double>(g::cat_b, {2, 1});
  const Tensor c = cat({a, b}, 1);
  REQUIRE(c.shape() == Shape{2, 4});
  require_values(c, g::cat_dim1, 0);
  require_values(cat({a, b}, -1), g::cat_dim1, 0);
  const Tensor p = cat({a, tensor<int64_t>({1, 2, 3}, {1, 3})}, 0);
  REQUIRE(p.dtype() == kFloat64);
  REQUIRE(p.shape() == Shape{3, 3});
  require_values(p, g::cat_dim0_promoted, 0);
  REQUIRE(cat({tensor<int32_t>({1}), tensor<float>({2.5f})}).dtype() == kFloat32);
  // 1-d empty tensors are skipped whatever the other shapes are
  const Tensor e = cat({zeros({0}), a.to(kFloat32), zeros({0})}, 1);
  REQUIRE(e.shape() == Shape{2, 3});
  REQUIRE(cat({zeros({0}), zeros({0})}).shape() == Shape{0});
  // non-contiguous inputs
  const Tensor t = cat({a.t(), a.t()}, 0);
  REQUIRE(t.shape() == Shape{6, 2});
  REQUIRE(equal(t.slice(0, 3, 6), a.t()));
  // a single tensor, and inputs with a zero-size dim
  REQUIRE(equal(cat({a}, 0), a));
  REQUIRE(equal(cat({zeros({2, 0}, kFloat64), a}, 1), a));
}

TEST_CASE("stack matches PyTorch", "[index][join]") {
  const Tensor a = tensor<double>(g::cat_a, {2, 3});
  const Tensor s = stack({a, a * 2.0}, 1);
  REQUIRE(s.shape() == Shape{2, 2, 3});
  require_values(s, g::stack_dim1, 0);
  REQUIRE(stack({a, a}, -1).shape() == Shape{2, 3, 2});
  REQUIRE(stack({a, a, a}).shape() == Shape{3, 2, 3});
  REQUIRE(stack({scalar_tensor(1.0), scalar_tensor(2.0)}).shape() == Shape{2});
}

TEST_CASE("split and chunk return views of the right sizes", "[index][join]") {
  const Tensor x = arange(0, 10, 1, kFloat32).view({2, 5});
  const auto parts = split(x, 2, 1);
  REQUIRE(parts.size() == 3);
  REQUIRE(parts[0].shape() == Shape{2, 2});
  REQUIRE(parts[2].shape() == Shape{2, 1});
  require_values(parts[1], {2, 3, 7, 8}, 0);
  REQUIRE(parts[1].storage() == x.storage());  // a view, no copy
  const auto sized = split(x, std::vector<int64_t>{1, 0, 4}, -1);
  REQUIRE(sized.size() == 3);
  REQUIRE(sized[1].numel() == 0);
  require_values(sized[2], {1, 2, 3, 4, 6, 7, 8, 9}, 0);
  REQUIRE(split(x, 7, 1).size() == 1);
  // torch.chunk: ceil(n / chunks) per piece, so fewer pieces than asked are possible
  auto sizes_of = [](const std::vector<Tensor>& ts_, int64_t dim) {
    std::vector<int64_t> s;
    for (const auto& t : ts_) s.push_back(t.size(dim));
    return s;
  };
  REQUIRE(sizes_of(chunk(arange(0, 5, 1, kInt64), 3), 0) == std::vector<int64_t>{2, 2, 1});
  REQUIRE(sizes_of(chunk(arange(0, 6, 1, kInt64), 4), 0) == std::vector<int64_t>{2, 2, 2});
  REQUIRE(sizes_of(chunk(x, 2, 0), 0) == std::vector<int64_t>{1, 1});
  REQUIRE(chunk(zeros({0}), 3).size() == 3);
  REQUIRE(split(zeros({0}), 2).size() == 1);
  REQUIRE(chunk(x, 2, 1)[1].storage() == x.storage());
}

TEST_CASE("gradcheck: cat, stack, split, chunk", "[index][join][gradcheck]") {
  require_gradcheck([](const std::vector<Tensor>& in) { return cat({in[0], in[1], in[2]}, 0); },
                    {rand_input({2, 3}), rand_input_transposed({1, 3}), rand_input({4, 3})});
  require_gradcheck([](const std::vector<Tensor>& in) { return cat({in[0], in[1]}, 1); },
                    {rand_input_transposed({2, 3}), rand_input({2, 2})});
  // a promoted float32 input gets a float32 gradient; the float64 one is checked numerically
  {
    Tensor f = randn({2, 2}, kFloat32).requires_grad_(true);
    Tensor d = rand_input({2, 2});
    (cat({f, d}, 0) * 2.0).sum().backward();
    REQUIRE(f.grad().dtype() == kFloat32);
    require_values(f.grad(), {2, 2, 2, 2}, 0);
  }
  require_gradcheck([](const std::vector<Tensor>& in) { return stack({in[0], in[1]}, 1); },
                    {rand_input({2, 3}), rand_input_transposed({2, 3})});
  auto pieces = [](std::vector<Tensor> parts) {
    // weight each piece differently so a mixed-up gradient cannot cancel out
    Tensor total = zeros({}, kFloat64);
    for (size_t i = 0; i < parts.size(); ++i) total = total + sum(parts[i] * parts[i]) * static_cast<double>(i + 1);
    return total;
  };
  require_gradcheck([&](const std::vector<Tensor>& in) { return pieces(split(in[0], 2, 1)); },
                    {rand_input_transposed({3, 5})});
  require_gradcheck([&](const std::vector<Tensor>& in) { return pieces(split(in[0], std::vector<int64_t>{1, 2}, 0)); },
                    {rand_input({3, 4})});
  require_gradcheck([&](const std::vector<Tensor>& in) { return pieces(chunk(in[0], 3, -1)); },
                    {rand_input({2, 7})});
}

TEST_CASE("join ops reject bad arguments", "[index][join]") {
  const Tensor a = zeros({2, 3}), b = zeros({3, 3});
  REQUIRE_THROWS_WITH(cat({a, b}, 1), Catch::Contains("cat") && Catch::Contains("[2, 3]") &&
                                          Catch::Contains("[3, 3]") && Catch::Contains("dimension 1"));
  REQUIRE_THROWS_WITH(cat({a, zeros({2})}, 0), Catch::Contains("cat") && Catch::Contains("[2]"));
  REQUIRE_THROWS_WITH(cat({a, scalar_tensor(1.0)}), Catch::Contains("cat") && Catch::Contains("zero-dimensional"));
  REQUIRE_THROWS_WITH(cat({}), Catch::Contains("cat"));
  REQUIRE_THROWS_WITH(cat({a, a}, 2), Catch::Contains("cat"));
  REQUIRE_THROWS_WITH(stack({a, b}), Catch::Contains("stack") && Catch::Contains("[2, 3]") && Catch::Contains("[3, 3]"));
  REQUIRE_THROWS_WITH(split(a, std::vector<int64_t>{1, 1}, 1),
                      Catch::Contains("split") && Catch::Contains("sum to 2") && Catch::Contains("size 3"));
  REQUIRE_THROWS_WITH(split(a, 0, 1), Catch::Contains("split"));
  REQUIRE_THROWS_WITH(chunk(a, 0), Catch::Contains("chunk"));
}
