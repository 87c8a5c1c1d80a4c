#pragma once
// The problem of tests/golden/gen_optim.py: parameters of shapes [3, 4] and [5], and at step t
// the gradient c * p + d * cos(0.7 t), computed with the same ops as the generator.
#include <cmath>
#include <vector>

#include "golden/optim_golden.h"
#include "tessera/optim.h"
#include "test_util.h"

namespace ts::test {

struct OptimProblem {
  std::vector<Tensor> params, c, d;

  explicit OptimProblem(DType dtype = kFloat64) {
    namespace g = golden::optim;
    const std::vector<const std::vector<double>*> init = {&g::init0, &g::init1}, cs = {&g::c0, &g::c1},
                                                  ds = {&g::d0, &g::d1};
    const std::vector<Shape> shapes = {g::shape0, g::shape1};
    for (size_t i = 0; i < shapes.size(); ++i) {
      params.push_back(tensor<double>(*init[i], shapes[i]).to(dtype).requires_grad_(true));
      c.push_back(tensor<double>(*cs[i], shapes[i]).to(dtype));
      d.push_back(tensor<double>(*ds[i], shapes[i]).to(dtype));
    }
  }

  void set_grads(int t) const {
    NoGradGuard no_grad;
    const double s = std::cos(0.7 * t);
    for (size_t i = 0; i < params.size(); ++i) params[i].set_grad(c[i] * params[i].detach() + d[i] * s);
  }

  /// All parameter values, flattened and concatenated (the generator's layout).
  std::vector<double> values() const {
    std::vector<double> v;
    for (const auto& p : params) {
      const auto pv = p.to_vector<double>();
      v.insert(v.end(), pv.begin(), pv.end());
    }
    return v;
  }

  /// Runs steps first..last (1-based) and returns the flattened parameters after each.
  std::vector<double> run(optim::Optimizer& opt, int first, int last) const {
    std::vector<double> traj;
    for (int t = first; t <= last; ++t) {
      set_grads(t);
      opt.step();
      const auto v = values();
      traj.insert(traj.end(), v.begin(), v.end());
    }
    return traj;
  }
};

/// REQUIREs |actual - expected| <= atol + rtol * |expected| elementwise, reporting the worst.
inline void require_traj(const std::vector<double>& actual, const std::vector<double>& expected, double rtol,
                         double atol) {
  REQUIRE(actual.size() == expected.size());
  size_t worst = 0;
  double worst_excess = -1;
  for (size_t i = 0; i < actual.size(); ++i) {
    const double excess = std::abs(actual[i] - expected[i]) - (atol + rtol * std::abs(expected[i]));
    if (excess > worst_excess || i == 0) {
      worst_excess = excess;
      worst = i;
    }
  }
  INFO("worst element " << worst << ": actual " << actual[worst] << ", expected " << expected[worst]);
  REQUIRE(worst_excess <= 0);
}

}  // namespace ts::test
