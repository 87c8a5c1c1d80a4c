// View ops: aliasing semantics and float64 gradchecks, including views of views.
#include "test_util.h"

using namespace ts;
using test::rand_input;
using test::rand_input_transposed;
using test::require_gradcheck;

TEST_CASE("gradcheck: every view op", "[views][gradcheck]") {
  auto x = rand_input({2, 3, 4});
  auto xt = rand_input_transposed({3, 4});
  using F = std::function<Tensor(const std::vector<Tensor>&)>;
  const std::vector<std::pair<std::string, F>> cases = {
      {"view", [](const auto& in) { return in[0].view({6, 4}) * 2; }},
      {"reshape", [](const auto& in) { return in[0].reshape({4, -1}); }},
      {"permute", [](const auto& in) { return in[0].permute({2, 0, 1}); }},
      {"transpose", [](const auto& in) { return in[0].transpose(0, 2); }},
      {"slice", [](const auto& in) { return in[0].slice(2, 1, std::nullopt, 2); }},
      {"narrow", [](const auto& in) { return in[0].narrow(1, 1, 2); }},
      {"select", [](const auto& in) { return in[0].select(1, -1); }},
      {"expand", [](const auto& in) { return in[0].unsqueeze(0).expand({3, 2, 3, 4}); }},
      {"squeeze", [](const auto& in) { return in[0].narrow(0, 0, 1).squeeze(0); }},
      {"unsqueeze", [](const auto& in) { return in[0].unsqueeze(1); }},
      {"flatten", [](const auto& in) { return in[0].flatten(1); }},
      {"contiguous", [](const auto& in) { return in[0].transpose(0, 1).contiguous(); }},
      {"clone", [](const auto& in) { return in[0].clone() * in[0]; }},
      {"chain", [](const auto& in) { return in[0].transpose(1, 2).slice(0, 1).reshape({-1}).narrow(0, 2, 5); }},
  };
  for (const auto& [name, f] : cases) {
    SECTION(name) { require_gradcheck(f, {x}); }
  }
  SECTION("non-contiguous input") {
    require_gradcheck([](const auto& in) { return in[0].reshape({-1}); }, {xt});
    require_gradcheck([](const auto& in) { return in[0].t().view({2, 6}); }, {xt});
  }
  SECTION("copy_ into a fresh tensor") {
    require_gradcheck(
        [](const auto& in) {
          Tensor dst = zeros({3, 4}, kFloat64);
          dst.copy_(in[0]);
          return dst * 2;
        },
        {rand_input({4})});
  }
}

TEST_CASE("view errors name the op and the shapes", "[views][errors]") {
  Tensor x = ones({2, 3});
  REQUIRE_THROWS_WITH(x.view({4}), Catch::Contains("view") && Catch::Contains("[4]") && Catch::Contains("[2, 3]"));
  REQUIRE_THROWS_WITH(x.t().view({6}), Catch::Contains("view") && Catch::Contains("reshape"));
  REQUIRE_THROWS_WITH(x.view({-1, -1}), Catch::Contains("only one dimension"));
  REQUIRE_THROWS_WITH(x.permute({0}), Catch::Contains("permute"));
  REQUIRE_THROWS_WITH(x.permute({0, 0}), Catch::Contains("repeats"));
  REQUIRE_THROWS_WITH(x.select(0, 2), Catch::Contains("select") && Catch::Contains("index 2 is out of range"));
  REQUIRE_THROWS_WITH(x.select(2, 0), Catch::Contains("select") && Catch::Contains("dimension 2 is out of range"));
  REQUIRE_THROWS_WITH(x.narrow(1, 2, 2), Catch::Contains("narrow") && Catch::Contains("out of range"));
  REQUIRE_THROWS_WITH(x.expand({3, 3}), Catch::Contains("expand"));
  REQUIRE_THROWS_WITH(x.slice(0, 0, 1, 0), Catch::Contains("step"));
  REQUIRE_THROWS_WITH(x.transpose(0, 5), Catch::Contains("transpose"));
}

TEST_CASE("unbind returns views whose gradients assemble into one tensor", "[views]") {
  manual_seed(61);
  const Tensor x = ts::test::rand_input({2, 3, 4});
  const auto parts = unbind(x, 1);
  REQUIRE(parts.size() == 3);
  for (int64_t i = 0; i < 3; ++i) {
    ts::test::require_close(parts[static_cast<size_t>(i)], x.select(1, i).detach(), 0, 0);
    REQUIRE(parts[static_cast<size_t>(i)].storage() == x.storage());  // a view
  }
  ts::test::require_gradcheck([](const std::vector<Tensor>& in) {
    const auto p = unbind(in[0], -1);
    return p[0] * p[3] + p[1] - p[2];
  }, {ts::test::rand_input({3, 4})});
  // A slice that does not reach the loss gets a zero gradient.
  const Tensor y = ts::test::rand_input({3, 2});
  sum(unbind(y, 1)[0] * 2.0).backward();
  ts::test::require_values(y.grad(), {2, 0, 2, 0, 2, 0});
  REQUIRE_THROWS_WITH(unbind(scalar_tensor(1.0), 0), Catch::Contains("unbind"));
}
