// clip_grad_norm_ against torch.nn.utils.clip_grad_norm_ (PyTorch 1.13) for several norm
// orders, and its edge cases.
#include <limits>

#include "optim/optim_problem.h"

using namespace ts;
namespace g = golden::optim;
using test::OptimProblem;

namespace {

std::vector<double> grads_of(const std::vector<Tensor>& params) {
  std::vector<double> v;
  for (const auto& p : params) {
    const auto gv = p.grad().to_vector<double>();
    v.insert(v.end(), gv.begin(), gv.end());
  }
  return v;
}

}  // namespace

TEST_CASE("clip_grad_norm_ matches PyTorch for norms 2, 1, inf, 3 and 0.5", "[optim]") {
  for (const auto& c : g::clip_cases) {
    INFO("max_norm " << c.max_norm << ", norm_type " << c.norm_type);
    OptimProblem pr;
    pr.set_grads(1);
    const double total = optim::clip_grad_norm_(pr.params, c.max_norm, c.norm_type);
    REQUIRE(total == Approx(c.total).epsilon(1e-13));
    test::require_traj(grads_of(pr.params), c.grads, 1e-13, 1e-15);
  }
  // float32 gradients are scaled in float32
  OptimProblem pr(kFloat32);
  pr.set_grads(1);
  const double total = optim::clip_grad_norm_(pr.params, 1.0);
  REQUIRE(total == Approx(g::clip_f32_total).epsilon(1e-6));
  REQUIRE(pr.params[0].grad().dtype() == kFloat32);
  test::require_traj(grads_of(pr.params), g::clip_f32_grads, 1e-6, 1e-7);
}

TEST_CASE("clip_grad_norm_ skips parameters without gradients and reports non-finite norms", "[optim]") {
  const Tensor a = ones({3}, kFloat64).requires_grad_(true);
  const Tensor b = ones({2}, kFloat64).requires_grad_(true);
  REQUIRE(optim::clip_grad_norm_({a, b}, 1.0) == 0.0);  // no gradients at all
  a.set_grad(full({3}, 4.0, kFloat64));                 // norm sqrt(48)
  REQUIRE(optim::clip_grad_norm_({a, b}, 1.0) == Approx(std::sqrt(48.0)));
  REQUIRE_FALSE(b.grad().defined());
  REQUIRE(norm(a.grad()).item<double>() == Approx(1.0).epsilon(1e-5));

  a.set_grad(tensor<double>({1.0, std::numeric_limits<double>::quiet_NaN(), 2.0}));
  const Tensor nan_grad = a.grad().clone();
  REQUIRE_THROWS_WITH(optim::clip_grad_norm_({a}, 1.0, 2.0, /*error_if_nonfinite=*/true),
                      Catch::Contains("clip_grad_norm_: the total norm of order 2 for gradients from `parameters` is "
                                      "non-finite"));
  REQUIRE(std::isnan(optim::clip_grad_norm_({a}, 1.0, 2.0)));  // scaled anyway, like PyTorch
  REQUIRE(std::isnan(a.grad().to_vector<double>()[0]));
  a.set_grad(tensor<double>({1.0, std::numeric_limits<double>::infinity(), 2.0}));
  REQUIRE_THROWS_WITH(optim::clip_grad_norm_({a}, 1.0, optim::kInfNorm, true), Catch::Contains("order inf"));
  REQUIRE_THROWS_WITH(optim::clip_grad_norm_({a}, 1.0, 0.0), Catch::Contains("norm_type must be positive"));
}

TEST_CASE("clip_grad_norm_tensor_ returns the total norm as a tensor and clips like clip_grad_norm_", "[optim]") {
  for (const auto& c : g::clip_cases) {
    INFO("max_norm " << c.max_norm << ", norm_type " << c.norm_type);
    OptimProblem pr;
    pr.set_grads(1);
    const Tensor total = optim::clip_grad_norm_tensor_(pr.params, c.max_norm, c.norm_type);
    REQUIRE(total.dim() == 0);
    REQUIRE(total.device() == pr.params[0].device());
    REQUIRE(total.item<double>() == Approx(c.total).epsilon(1e-13));
    test::require_traj(grads_of(pr.params), c.grads, 1e-13, 1e-15);
  }
  const Tensor a = ones({3}, kFloat64).requires_grad_(true);
  REQUIRE_FALSE(optim::clip_grad_norm_tensor_({a}, 1.0).defined());  // no gradients at all
  a.set_grad(tensor<double>({1.0, std::numeric_limits<double>::infinity(), 2.0}));
  REQUIRE_THROWS_WITH(optim::clip_grad_norm_tensor_({a}, 1.0, 2.0, /*error_if_nonfinite=*/true),
                      Catch::Contains("non-finite"));
  REQUIRE(a.grad().to_vector<double>()[0] == 1.0);  // the error leaves the gradients as they were
}
