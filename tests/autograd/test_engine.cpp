// The autograd engine: accumulation, retain_graph, hooks, no_grad, version checks, deep graphs.
#include "test_util.h"

using namespace ts;

TEST_CASE("backward accumulates into leaves across calls", "[autograd]") {
  Tensor x = tensor<double>({1, 2, 3}).requires_grad_();
  (x * x).sum().backward();
  test::require_values(x.grad(), {2, 4, 6});
  (x * 3).sum().backward();
  test::require_values(x.grad(), {5, 7, 9});
  x.set_grad(Tensor());
  REQUIRE(!x.grad().defined());
}

TEST_CASE("a tensor used twice gets the sum of both gradients", "[autograd]") {
  Tensor x = tensor<double>({2.0}).requires_grad_();
  Tensor y = x * x + x * 3;  // dy/dx = 2x + 3 = 7
  y.sum().backward();
  test::require_values(x.grad(), {7});
}

TEST_CASE("backward on a non-scalar needs a gradient of its shape", "[autograd]") {
  Tensor x = ones({2, 2}).requires_grad_();
  Tensor y = x * 2;
  REQUIRE_THROWS_WITH(y.backward(), Catch::Contains("backward") && Catch::Contains("scalar") &&
                                        Catch::Contains("[2, 2]"));
  REQUIRE_THROWS_WITH(y.backward(ones({3})), Catch::Contains("[3]") && Catch::Contains("[2, 2]"));
  y.backward(full({2, 2}, 0.5));
  test::require_values(x.grad(), {1, 1, 1, 1});
}

TEST_CASE("a second backward without retain_graph is an error; with it, it works", "[autograd]") {
  Tensor x = ones({3}).requires_grad_();
  Tensor y = (x.exp() * x).sum();
  y.backward(Tensor(), /*retain_graph=*/true);
  y.backward();
  REQUIRE_THROWS_WITH(y.backward(), Catch::Contains("second time"));
}

TEST_CASE("NoGradGuard stops recording and detach cuts the graph", "[autograd]") {
  Tensor x = ones({2}).requires_grad_();
  {
    NoGradGuard g;
    Tensor y = x * 2;
    REQUIRE(!y.requires_grad());
  }
  Tensor d = (x * 2).detach();
  REQUIRE(!d.requires_grad());
  REQUIRE(d.is_leaf());
  REQUIRE_THROWS_WITH(d.sum().backward(), Catch::Contains("does not require grad"));
}

TEST_CASE("hooks see and can replace gradients", "[autograd]") {
  Tensor x = tensor<double>({1, 2}).requires_grad_();
  Tensor seen;
  x.register_hook([&](const Tensor& g) {
    seen = g.clone();
    return g * 10;
  });
  Tensor h = x * 3;
  h.register_hook([](const Tensor& g) { return g + 1; });  // on a non-leaf
  h.retain_grad();
  h.sum().backward();
  test::require_values(h.grad(), {2, 2});  // hooks ran before retain_grad's (registration order)
  test::require_values(seen, {6, 6});
  test::require_values(x.grad(), {60, 60});
}

TEST_CASE("modifying a saved tensor in place makes backward fail clearly", "[autograd]") {
  Tensor x = tensor<double>({1, 2}).requires_grad_();
  Tensor y = x * 2;
  Tensor z = y * y;  // saves y
  y.add_(1);
  REQUIRE_THROWS_WITH(z.sum().backward(), Catch::Contains("modified by an in-place operation") && Catch::Contains("mul"));
}

TEST_CASE("in-place ops on non-leaves record a correct gradient", "[autograd]") {
  Tensor x = tensor<double>({1, 2}).requires_grad_();
  Tensor y = x * 2;
  y.mul_(x);  // y = 2x^2, dy/dx = 4x
  y.add_(1);
  REQUIRE(y._version() == 2);
  y.sum().backward();
  test::require_values(x.grad(), {4, 8});
}

TEST_CASE("in-place on a leaf that requires grad is rejected", "[autograd]") {
  Tensor w = ones({2}).requires_grad_();
  REQUIRE_THROWS_WITH(w.add_(1), Catch::Contains("add_") && Catch::Contains("leaf"));
  NoGradGuard g;
  w.sub_(ones({2}) * 0.5);  // optimizer-style update
  test::require_values(w, {0.5, 0.5});
}

TEST_CASE("a 10,000-op chain backpropagates without recursion", "[autograd]") {
  Tensor x = tensor<double>({1.0}).requires_grad_();
  Tensor y = x;
  for (int i = 0; i < 10000; ++i) y = y * 1.0001;
  y.sum().backward();
  REQUIRE(x.grad().item<double>() == Approx(std::pow(1.0001, 10000)).epsilon(1e-9));
}

TEST_CASE("autograd::grad returns gradients without touching .grad()", "[autograd]") {
  Tensor x = tensor<double>({3.0}).requires_grad_();
  Tensor y = tensor<double>({4.0}).requires_grad_();
  Tensor z = (x * y + y).sum();
  auto g = autograd::grad({z}, {x, y});
  test::require_values(g[0], {4});
  test::require_values(g[1], {4});
  REQUIRE(!x.grad().defined());
}

TEST_CASE("gradients flow through dtype conversions and are cast back", "[autograd]") {
  Tensor x = tensor<float>({1, 2}).requires_grad_();
  Tensor y = (x.to(kFloat64) * tensor<double>({3, 4})).sum();
  y.backward();
  REQUIRE(x.grad().dtype() == kFloat32);
  test::require_values(x.grad(), {3, 4});
}

TEST_CASE("gradcheck reports a wrong gradient", "[autograd]") {
  // An op whose backward is deliberately wrong (twice the true gradient).
  auto bad = [](const std::vector<Tensor>& in) {
    Tensor out = in[0].detach() * in[0].detach();
    autograd::record("bad_square", {in[0]}, {out},
                     [x = in[0].detach()](const std::vector<Tensor>& g, const autograd::Node&) {
                       return std::vector<Tensor>{g[0] * x * 4};
                     });
    return out;
  };
  Tensor x = test::rand_input({3});
  REQUIRE_THROWS_WITH(autograd::gradcheck(bad, {x}), Catch::Contains("gradient mismatch"));
  REQUIRE_THROWS_WITH(autograd::gradcheck(bad, {ones({2}).requires_grad_()}), Catch::Contains("float64"));
}

TEST_CASE("a graph that is never backpropagated is freed (no node <-> output cycle)", "[autograd]") {
  Tensor x = randn({3}).requires_grad_();
  std::weak_ptr<autograd::Node> node;
  {
    Tensor y = tanh(x);  // tanh saves its own output for backward
    node = y.grad_fn();
    REQUIRE(!node.expired());
  }
  REQUIRE(node.expired());
}
