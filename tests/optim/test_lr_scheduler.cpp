// Learning-rate schedulers against PyTorch 1.13's values (tests/golden/gen_optim.py), their
// state dicts and argument checks.
#include "optim/optim_problem.h"

using namespace ts;
namespace g = golden::optim;

namespace {

// Two groups with lrs 0.1 and 0.05, as in the generator.
struct TwoGroups {
  Tensor p = zeros({1}, kFloat64).requires_grad_(true);
  Tensor q = zeros({1}, kFloat64).requires_grad_(true);
  optim::SGD opt{{optim::OptimizerParamGroup({p}), optim::OptimizerParamGroup({q}, optim::SGDOptions(0.05))},
                 optim::SGDOptions(0.1)};
};

// get_last_lr() after construction and after each of `steps` steps, flattened.
std::vector<double> lrs_of(optim::LRScheduler& s, optim::Optimizer& opt, int steps) {
  std::vector<double> out = s.get_last_lr();
  for (int i = 0; i < steps; ++i) {
    opt.step();
    s.step();
    const auto& lr = s.get_last_lr();
    out.insert(out.end(), lr.begin(), lr.end());
    // the scheduler really wrote the groups' lrs
    REQUIRE(opt.param_groups()[0].options().get_lr() == lr[0]);
    REQUIRE(opt.param_groups()[1].options().get_lr() == lr[1]);
  }
  return out;
}

int steps_in(const std::vector<double>& golden) { return static_cast<int>(golden.size() / 2) - 1; }

}  // namespace

TEST_CASE("StepLR, MultiStepLR and CosineAnnealingLR give PyTorch's values", "[optim]") {
  {
    TwoGroups t;
    optim::StepLR s(t.opt, 3, 0.5);
    REQUIRE(lrs_of(s, t.opt, steps_in(g::step_lr)) == g::step_lr);
    REQUIRE(s.last_epoch() == steps_in(g::step_lr));
    REQUIRE(s.base_lrs() == std::vector<double>{0.1, 0.05});
  }
  {
    TwoGroups t;
    optim::MultiStepLR s(t.opt, {9, 5, 2, 5}, 0.1);  // unsorted, with a repeated milestone
    REQUIRE(lrs_of(s, t.opt, steps_in(g::multistep_lr)) == g::multistep_lr);
  }
  {
    TwoGroups t;
    optim::CosineAnnealingLR s(t.opt, 10, 0.001);  // 30 steps: down, up again, down again
    // Same formula; the compiler may fuse a multiply-add that Python rounds twice.
    test::require_traj(lrs_of(s, t.opt, steps_in(g::cosine_lr)), g::cosine_lr, 1e-14, 0);
  }
}

TEST_CASE("LinearWarmupCosine matches SequentialLR(LinearLR, CosineAnnealingLR), then stays at min_lr", "[optim]") {
  TwoGroups t;
  optim::LinearWarmupCosine s(t.opt, 5, 20, 1e-4, 0.1);
  const auto lrs = lrs_of(s, t.opt, steps_in(g::warmup_cosine_lr));
  // PyTorch's chained LinearLR multiplies step by step; the closed form agrees to rounding.
  test::require_traj(lrs, g::warmup_cosine_lr, 1e-13, 0);
  REQUIRE(lrs[2 * 5] == 0.1);  // the peak, exactly at the end of warmup
  REQUIRE(lrs[2 * 20] == Approx(1e-4).epsilon(1e-12));
  for (int i = 0; i < 5; ++i) {
    t.opt.step();
    s.step();
    REQUIRE(s.get_last_lr() == std::vector<double>{1e-4, 1e-4});
  }
  TwoGroups u;
  optim::LinearWarmupCosine from_zero(u.opt, 4, 10);  // warmup from 0 (the default)
  REQUIRE(from_zero.get_last_lr() == std::vector<double>{0.0, 0.0});
  u.opt.step();
  from_zero.step();
  REQUIRE(from_zero.get_last_lr()[0] == Approx(0.025));
}

TEST_CASE("ReduceLROnPlateau follows PyTorch: patience, threshold modes, cooldown, min_lr", "[optim]") {
  using Opts = optim::ReduceLROnPlateauOptions;
  {
    TwoGroups t;
    optim::ReduceLROnPlateau s(
        t.opt, Opts().mode(Opts::Mode::Min).factor(0.5).patience(2).threshold(0.01).cooldown(1).min_lr(0.02));
    REQUIRE(s.get_last_lr() == std::vector<double>{0.1, 0.05});
    std::vector<double> lrs;
    for (double m : g::plateau_min_metrics) {
      s.step(m);
      lrs.insert(lrs.end(), s.get_last_lr().begin(), s.get_last_lr().end());
    }
    REQUIRE(lrs == g::plateau_min_lr);
    REQUIRE(s.best() == g::plateau_min_best);
    REQUIRE(s.num_bad_epochs() == g::plateau_min_bad);
    REQUIRE(t.opt.param_groups()[1].options().get_lr() == 0.02);  // clamped at min_lr
  }
  {
    TwoGroups t;
    optim::ReduceLROnPlateau s(t.opt, Opts()
                                          .mode(Opts::Mode::Max)
                                          .factor(0.1)
                                          .patience(0)
                                          .threshold(0.1)
                                          .threshold_mode(Opts::ThresholdMode::Abs)
                                          .min_lr(1e-4));
    std::vector<double> lrs;
    for (double m : g::plateau_max_metrics) {
      s.step(m);
      lrs.insert(lrs.end(), s.get_last_lr().begin(), s.get_last_lr().end());
    }
    REQUIRE(lrs == g::plateau_max_lr);
    REQUIRE(s.best() == g::plateau_max_best);
  }
}

TEST_CASE("scheduler state dicts resume the schedule exactly", "[optim]") {
  TwoGroups straight;
  optim::CosineAnnealingLR s(straight.opt, 7, 0.01);
  const auto expected = lrs_of(s, straight.opt, 20);

  TwoGroups first;
  optim::CosineAnnealingLR s1(first.opt, 7, 0.01);
  lrs_of(s1, first.opt, 9);
  const StateDict opt_state = first.opt.state_dict(), sched_state = s1.state_dict();
  REQUIRE(sched_state.keys() == std::vector<std::string>{"last_epoch", "base_lrs", "last_lr"});

  TwoGroups resumed;
  optim::CosineAnnealingLR s2(resumed.opt, 7, 0.01);
  resumed.opt.load_state_dict(opt_state);  // the current lrs live in the optimizer's state
  s2.load_state_dict(sched_state);
  REQUIRE(s2.last_epoch() == 9);
  const auto rest = lrs_of(s2, resumed.opt, 11);
  REQUIRE(std::vector<double>(rest.begin() + 2, rest.end()) ==
          std::vector<double>(expected.begin() + 2 * 10, expected.end()));

  using Opts = optim::ReduceLROnPlateauOptions;
  const Opts po = Opts().patience(1).cooldown(2);
  TwoGroups a, b;
  optim::ReduceLROnPlateau pa(a.opt, po), pb(b.opt, po);
  const std::vector<double> metrics = {3, 2, 2, 2, 2, 2, 1.5, 1.6, 1.7, 1.8, 1.9, 2.0};
  for (size_t i = 0; i < 5; ++i) pa.step(metrics[i]);
  pb.load_state_dict(pa.state_dict());
  b.opt.load_state_dict(a.opt.state_dict());
  REQUIRE(pb.cooldown_counter() == pa.cooldown_counter());
  for (size_t i = 5; i < metrics.size(); ++i) {
    pa.step(metrics[i]);
    pb.step(metrics[i]);
    REQUIRE(pa.get_last_lr() == pb.get_last_lr());
    REQUIRE(pa.num_bad_epochs() == pb.num_bad_epochs());
  }
  REQUIRE(pa.get_last_lr()[0] < 0.1);  // the schedule did reduce

  StateDict bad = s1.state_dict();
  bad.insert("base_lrs", tensor<double>({0.1}));
  REQUIRE_THROWS_WITH(s2.load_state_dict(bad), Catch::Contains("CosineAnnealingLR.load_state_dict: 'base_lrs' has "
                                                               "shape [1] but the optimizer has 2 parameter group(s)"));
  StateDict extra = s1.state_dict();
  extra.insert("gamma", tensor<double>({0.1}));
  REQUIRE_THROWS_WITH(s2.load_state_dict(extra), Catch::Contains("unexpected key(s) gamma"));
  REQUIRE_THROWS_WITH(pb.load_state_dict(StateDict()),
                      Catch::Contains("ReduceLROnPlateau.load_state_dict: missing key 'last_epoch'"));
}

TEST_CASE("scheduler arguments are checked", "[optim]") {
  TwoGroups t;
  using Opts = optim::ReduceLROnPlateauOptions;
  REQUIRE_THROWS_WITH(optim::StepLR(t.opt, 0), Catch::Contains("StepLR: step_size must be positive but is 0"));
  REQUIRE_THROWS_WITH(optim::CosineAnnealingLR(t.opt, -3),
                      Catch::Contains("CosineAnnealingLR: T_max must be positive"));
  REQUIRE_THROWS_WITH(optim::LinearWarmupCosine(t.opt, 10, 10),
                      Catch::Contains("LinearWarmupCosine: need 0 <= warmup_steps < total_steps but got warmup_steps "
                                      "10, total_steps 10"));
  REQUIRE_THROWS_WITH(optim::LinearWarmupCosine(t.opt, 1, 10, 0.0, 1.5),
                      Catch::Contains("warmup_start_factor must be in [0, 1]"));
  REQUIRE_THROWS_WITH(optim::ReduceLROnPlateau(t.opt, Opts().factor(1.0)),
                      Catch::Contains("ReduceLROnPlateau: factor must be in [0, 1) but is 1"));
  REQUIRE_THROWS_WITH(optim::ReduceLROnPlateau(t.opt, Opts().patience(-1)), Catch::Contains("patience must be >= 0"));
  // failed constructions left the lrs alone
  REQUIRE(t.opt.param_groups()[0].options().get_lr() == 0.1);

  optim::StepLR s(t.opt, 2);
  t.opt.add_param_group(optim::OptimizerParamGroup({zeros({1}, kFloat64).requires_grad_(true)}));
  REQUIRE_THROWS_WITH(s.step(), Catch::Contains("StepLR.step: the optimizer has 3 parameter group(s) but the "
                                                "scheduler was created for 2"));
}
