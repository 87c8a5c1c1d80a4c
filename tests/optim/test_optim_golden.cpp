// SGD, Adam and AdamW trajectories against PyTorch 1.13 (tests/golden/gen_optim.py): every
// option combination over 10 steps, float64 and float32, and parameter groups.
#include "optim/optim_problem.h"

using namespace ts;
namespace g = golden::optim;
using test::OptimProblem;
using test::require_traj;

namespace {

// float64: the updates differ from PyTorch's only in rounding (PyTorch's vectorized add with
// alpha uses fused multiply-adds), a few ulps over 10 steps.
constexpr double kRtol64 = 1e-12, kAtol64 = 1e-14;
constexpr double kRtol32 = 2e-5, kAtol32 = 2e-6;

optim::SGDOptions sgd_options(const g::SgdCase& c) {
  return optim::SGDOptions(c.lr)
      .momentum(c.momentum)
      .dampening(c.dampening)
      .weight_decay(c.weight_decay)
      .nesterov(c.nesterov)
      .maximize(c.maximize);
}

template <typename Options>
Options adam_options(const g::AdamCase& c) {
  return Options(c.lr)
      .betas({c.beta1, c.beta2})
      .eps(c.eps)
      .weight_decay(c.weight_decay)
      .amsgrad(c.amsgrad)
      .maximize(c.maximize);
}

std::vector<double> run_adam_case(const g::AdamCase& c, const OptimProblem& pr) {
  if (c.adamw) {
    optim::AdamW opt(pr.params, adam_options<optim::AdamWOptions>(c));
    return pr.run(opt, 1, g::kSteps);
  }
  optim::Adam opt(pr.params, adam_options<optim::AdamOptions>(c));
  return pr.run(opt, 1, g::kSteps);
}

}  // namespace

TEST_CASE("SGD trajectories match PyTorch for every option combination", "[optim]") {
  REQUIRE(g::sgd_cases.size() == 16);
  for (const auto& c : g::sgd_cases) {
    INFO("case " << c.name);
    OptimProblem pr;
    optim::SGD opt(pr.params, sgd_options(c));
    require_traj(pr.run(opt, 1, g::kSteps), c.traj, kRtol64, kAtol64);
  }
}

TEST_CASE("Adam and AdamW trajectories match PyTorch (weight decay, amsgrad, maximize, betas, eps)", "[optim]") {
  REQUIRE(g::adam_cases.size() == 18);
  for (const auto& c : g::adam_cases) {
    INFO("case " << c.name);
    OptimProblem pr;
    require_traj(run_adam_case(c, pr), c.traj, kRtol64, kAtol64);
  }
}

TEST_CASE("float32 trajectories match PyTorch", "[optim]") {
  {
    OptimProblem pr(kFloat32);
    optim::SGD opt(pr.params, optim::SGDOptions(0.1).momentum(0.9).nesterov(true).weight_decay(0.01));
    require_traj(pr.run(opt, 1, g::kSteps), g::sgd_f32, kRtol32, kAtol32);
    REQUIRE(pr.params[0].dtype() == kFloat32);
    REQUIRE(static_cast<const optim::SGDParamState*>(opt.state(pr.params[0]))->momentum_buffer.dtype() == kFloat32);
  }
  {
    OptimProblem pr(kFloat32);
    optim::Adam opt(pr.params, optim::AdamOptions(0.05).betas({0.9, 0.9}).weight_decay(0.1).amsgrad(true));
    require_traj(pr.run(opt, 1, g::kSteps), g::adam_f32, kRtol32, kAtol32);
  }
  {
    OptimProblem pr(kFloat32);
    optim::AdamW opt(pr.params, optim::AdamWOptions(0.05).weight_decay(0.1));
    require_traj(pr.run(opt, 1, g::kSteps), g::adamw_f32, kRtol32, kAtol32);
  }
}

TEST_CASE("parameter groups override lr, weight decay and amsgrad per group like PyTorch", "[optim]") {
  {
    OptimProblem pr;
    optim::SGD opt({optim::OptimizerParamGroup({pr.params[0]}),
                    optim::OptimizerParamGroup({pr.params[1]}, optim::SGDOptions(0.05).momentum(0.9))},
                   optim::SGDOptions(0.1).momentum(0.9).weight_decay(0.01));
    REQUIRE(opt.param_groups().size() == 2);
    REQUIRE(opt.param_groups()[0].options().get_lr() == 0.1);
    REQUIRE(opt.param_groups()[1].options().get_lr() == 0.05);
    require_traj(pr.run(opt, 1, g::kSteps), g::sgd_groups, kRtol64, kAtol64);
  }
  {
    OptimProblem pr;
    optim::AdamW opt({optim::OptimizerParamGroup({pr.params[0]})}, optim::AdamWOptions(0.05).weight_decay(0.1));
    // added later, the way a caller adds e.g. the norms and biases without weight decay
    opt.add_param_group(
        optim::OptimizerParamGroup({pr.params[1]}, optim::AdamWOptions(0.003).weight_decay(0).amsgrad(true)));
    require_traj(pr.run(opt, 1, g::kSteps), g::adamw_groups, kRtol64, kAtol64);
  }
}

TEST_CASE("gradients from autograd drive the same trajectory as PyTorch", "[optim]") {
  // loss = sum(0.5 c p^2 + d cos(0.7 t) p) has gradient c p + d cos(0.7 t).
  const auto& c = g::sgd_cases[10];
  REQUIRE((c.nesterov && c.weight_decay == 0.01 && !c.maximize));
  OptimProblem pr;
  optim::SGD opt(pr.params, sgd_options(c));
  std::vector<double> traj;
  for (int t = 1; t <= g::kSteps; ++t) {
    opt.zero_grad();
    Tensor loss = zeros({}, kFloat64);
    for (size_t i = 0; i < pr.params.size(); ++i) {
      const Tensor& p = pr.params[i];
      loss = loss + (0.5 * pr.c[i] * p * p + pr.d[i] * std::cos(0.7 * t) * p).sum();
    }
    loss.backward();
    opt.step();
    const auto v = pr.values();
    traj.insert(traj.end(), v.begin(), v.end());
  }
  require_traj(traj, c.traj, 1e-10, 1e-12);
}
