// The optimizer base: state dict round trips (bitwise resume), its layout and validation,
// parameter checks, zero_grad, closures, and the fused kernels on strided, large and
// multi-threaded inputs.
#include <memory>

#include "optim/optim_problem.h"

using namespace ts;
namespace g = golden::optim;
using test::OptimProblem;

namespace {

using MakeOptimizer = std::function<std::unique_ptr<optim::Optimizer>(const std::vector<Tensor>&)>;

std::vector<std::pair<const char*, MakeOptimizer>> optimizer_factories() {
  return {
      {"sgd_nesterov",
       [](const std::vector<Tensor>& p) {
         return std::make_unique<optim::SGD>(p, optim::SGDOptions(0.1).momentum(0.9).nesterov(true).weight_decay(0.01));
       }},
      {"sgd_dampening",
       [](const std::vector<Tensor>& p) {
         return std::make_unique<optim::SGD>(p, optim::SGDOptions(0.1).momentum(0.8).dampening(0.3));
       }},
      {"adam_amsgrad",
       [](const std::vector<Tensor>& p) {
         return std::make_unique<optim::Adam>(
             p, optim::AdamOptions(0.05).betas({0.9, 0.9}).amsgrad(true).weight_decay(0.1));
       }},
      {"adamw",
       [](const std::vector<Tensor>& p) { return std::make_unique<optim::AdamW>(p, optim::AdamWOptions(0.05)); }},
  };
}

std::vector<Tensor> fresh_copies(const std::vector<Tensor>& params) {
  std::vector<Tensor> out;
  for (const auto& p : params) out.push_back(p.detach().clone().requires_grad_(true));
  return out;
}

}  // namespace

TEST_CASE("state_dict round trip: 3 steps + save + load into a fresh optimizer + 3 steps == 6 steps, bitwise",
          "[optim]") {
  for (const auto& [name, make] : optimizer_factories()) {
    INFO("optimizer " << name);
    OptimProblem straight;
    auto opt = make(straight.params);
    const auto expected = straight.run(*opt, 1, 6);

    OptimProblem first;
    auto opt1 = make(first.params);
    first.run(*opt1, 1, 3);
    const StateDict saved = opt1->state_dict();
    opt1.reset();  // the snapshot must not depend on the optimizer staying alive

    // Resume on new parameter tensors holding the values after step 3.
    OptimProblem resumed;
    resumed.params = fresh_copies(first.params);
    auto opt2 = make(resumed.params);
    opt2->load_state_dict(saved);
    const auto rest = resumed.run(*opt2, 4, 6);
    const std::vector<double> expected_rest(expected.begin() + static_cast<std::ptrdiff_t>(expected.size() / 2),
                                            expected.end());
    REQUIRE(rest == expected_rest);  // exact equality of every double
  }
}

TEST_CASE("state_dict holds PyTorch-style keys and is a snapshot", "[optim]") {
  OptimProblem pr;
  optim::Adam opt({optim::OptimizerParamGroup({pr.params[0]}),
                   optim::OptimizerParamGroup({pr.params[1]}, optim::AdamOptions(0.5).amsgrad(true))},
                  optim::AdamOptions(0.01));
  SECTION("before any step there is no per-parameter state") {
    const auto keys = opt.state_dict().keys();
    REQUIRE(keys == std::vector<std::string>{
                        "param_groups.0.params", "param_groups.0.lr", "param_groups.0.beta1", "param_groups.0.beta2",
                        "param_groups.0.eps", "param_groups.0.weight_decay", "param_groups.0.amsgrad",
                        "param_groups.0.maximize", "param_groups.1.params", "param_groups.1.lr", "param_groups.1.beta1",
                        "param_groups.1.beta2", "param_groups.1.eps", "param_groups.1.weight_decay",
                        "param_groups.1.amsgrad", "param_groups.1.maximize"});
  }
  SECTION("after two steps") {
    pr.run(opt, 1, 2);
    const StateDict d = opt.state_dict();
    const auto keys = d.keys();
    REQUIRE(std::vector<std::string>(keys.begin(), keys.begin() + 7) ==
            std::vector<std::string>{"state.0.step", "state.0.exp_avg", "state.0.exp_avg_sq", "state.1.step",
                                     "state.1.exp_avg", "state.1.exp_avg_sq", "state.1.max_exp_avg_sq"});
    REQUIRE(d.at("state.0.step").dim() == 0);
    REQUIRE(d.at("state.0.step").item<double>() == 2.0);
    REQUIRE(d.at("state.1.exp_avg").shape() == g::shape1);
    REQUIRE(d.at("param_groups.1.params").to_vector<int64_t>() == std::vector<int64_t>{1});
    REQUIRE(d.at("param_groups.0.lr").dtype() == kFloat64);
    REQUIRE(d.at("param_groups.0.lr").dim() == 0);
    REQUIRE(d.at("param_groups.1.lr").item<double>() == 0.5);
    REQUIRE(d.at("param_groups.1.amsgrad").item<double>() == 1.0);
    // A snapshot: further steps leave it unchanged.
    const Tensor before = d.at("state.0.exp_avg").clone();
    pr.run(opt, 3, 3);
    REQUIRE(equal(d.at("state.0.exp_avg"), before));
    REQUIRE(d.at("state.0.step").item<double>() == 2.0);
  }
}

TEST_CASE("load_state_dict restores the hyperparameters, converts dtypes and copies the state", "[optim]") {
  OptimProblem pr;
  optim::SGD opt(pr.params, optim::SGDOptions(0.1).momentum(0.9));
  pr.run(opt, 1, 2);
  // A checkpoint whose state was stored in float32 loads into float64 parameters.
  StateDict d;
  for (const auto& [k, v] : opt.state_dict()) d.insert(k, k.rfind("state.", 0) == 0 ? v.to(kFloat32) : v);

  OptimProblem other;
  optim::SGD opt2(other.params, optim::SGDOptions(0.5));
  opt2.load_state_dict(d);
  const auto& o = static_cast<const optim::SGDOptions&>(opt2.param_groups()[0].options());
  REQUIRE(o.lr() == 0.1);
  REQUIRE(o.momentum() == 0.9);
  const auto* s = static_cast<const optim::SGDParamState*>(opt2.state(other.params[0]));
  REQUIRE(s != nullptr);
  REQUIRE(s->momentum_buffer.dtype() == kFloat64);
  REQUIRE(equal(s->momentum_buffer, d.at("state.0.momentum_buffer").to(kFloat64)));
  REQUIRE(s->momentum_buffer.storage() != d.at("state.0.momentum_buffer").storage());  // copied, not aliased
}

TEST_CASE("load_state_dict rejects mismatches with messages naming the key, and changes nothing", "[optim]") {
  OptimProblem pr;
  optim::Adam opt(pr.params, optim::AdamOptions(0.01).amsgrad(true));
  pr.run(opt, 1, 2);
  const StateDict good = opt.state_dict();
  auto with = [&](const std::string& key, const Tensor& value) {
    StateDict d;
    for (const auto& [k, v] : good) d.insert(k, k == key ? value : v);
    return d;
  };
  auto without = [&](const std::string& key) {
    StateDict d;
    for (const auto& [k, v] : good)
      if (k != key) d.insert(k, v);
    return d;
  };

  OptimProblem other;
  optim::Adam target(other.params, optim::AdamOptions(0.2).amsgrad(true));
  other.run(target, 1, 1);
  const StateDict before = target.state_dict();
  auto unchanged = [&] {
    const StateDict now = target.state_dict();
    REQUIRE(now.keys() == before.keys());
    for (const auto& [k, v] : before) REQUIRE(equal(now.at(k), v));
  };

  REQUIRE_THROWS_WITH(target.load_state_dict(with("state.1.exp_avg", zeros({4}, kFloat64))),
                      Catch::Contains("Adam.load_state_dict: 'state.1.exp_avg' has shape [4] but the parameter has "
                                      "shape [5]"));
  unchanged();
  REQUIRE_THROWS_WITH(target.load_state_dict(without("state.0.max_exp_avg_sq")),
                      Catch::Contains("missing key 'state.0.max_exp_avg_sq'"));
  REQUIRE_THROWS_WITH(target.load_state_dict(without("state.1.step")), Catch::Contains("missing key 'state.1.step'"));
  REQUIRE_THROWS_WITH(target.load_state_dict(with("state.0.step", scalar_tensor(2.5, TensorOptions(kFloat64)))),
                      Catch::Contains("'state.0.step' must be a non-negative whole step count but is 2.5"));
  REQUIRE_THROWS_WITH(target.load_state_dict(without("param_groups.0.eps")),
                      Catch::Contains("missing key(s) param_groups.0.eps"));
  REQUIRE_THROWS_WITH(target.load_state_dict(with("param_groups.0.lr", scalar_tensor(-1.0, TensorOptions(kFloat64)))),
                      Catch::Contains("Adam.load_state_dict: invalid learning rate -1"));
  REQUIRE_THROWS_WITH(target.load_state_dict(with("param_groups.0.params", tensor<int64_t>({0}))),
                      Catch::Contains("parameter group 0 of the state dict has 1 parameter(s) but the optimizer's "
                                      "group has 2"));
  {
    StateDict d = good;
    d.insert("state.0.velocity", zeros(g::shape0, kFloat64));
    REQUIRE_THROWS_WITH(target.load_state_dict(d), Catch::Contains("unexpected key(s) state.0.velocity"));
    StateDict e = good;
    e.insert("epoch", zeros({}, kFloat64));
    REQUIRE_THROWS_WITH(target.load_state_dict(e), Catch::Contains("unexpected key(s) epoch"));
    StateDict f = good;
    f.insert("state.7.exp_avg", zeros(g::shape0, kFloat64));
    REQUIRE_THROWS_WITH(target.load_state_dict(f), Catch::Contains("no parameter group lists parameter 7"));
  }
  unchanged();

  // Groups must line up, and one optimizer's state does not load into another kind.
  optim::Adam two_groups({optim::OptimizerParamGroup({other.params[0]}), optim::OptimizerParamGroup({other.params[1]})},
                         optim::AdamOptions());
  REQUIRE_THROWS_WITH(two_groups.load_state_dict(good),
                      Catch::Contains("the state dict has 1 parameter group(s) but the optimizer has 2"));
  optim::SGD sgd(other.params, optim::SGDOptions(0.1).momentum(0.9));
  REQUIRE_THROWS_WITH(sgd.load_state_dict(good), Catch::Contains("SGD.load_state_dict: missing key(s) "
                                                                 "param_groups.0.momentum, param_groups.0.dampening"));
}

TEST_CASE("optimizer options are validated like PyTorch's constructors", "[optim]") {
  OptimProblem pr;
  REQUIRE_THROWS_WITH(optim::SGD(pr.params, optim::SGDOptions(-0.1)),
                      Catch::Contains("SGD: invalid learning rate -0.1"));
  REQUIRE_THROWS_WITH(optim::SGD(pr.params, optim::SGDOptions(0.1).momentum(-1)),
                      Catch::Contains("SGD: invalid momentum value -1"));
  REQUIRE_THROWS_WITH(optim::SGD(pr.params, optim::SGDOptions(0.1).weight_decay(-1e-4)),
                      Catch::Contains("SGD: invalid weight_decay value -0.0001"));
  REQUIRE_THROWS_WITH(optim::SGD(pr.params, optim::SGDOptions(0.1).nesterov(true)),
                      Catch::Contains("SGD: Nesterov momentum requires a momentum and zero dampening"));
  REQUIRE_THROWS_WITH(optim::SGD(pr.params, optim::SGDOptions(0.1).momentum(0.9).dampening(0.1).nesterov(true)),
                      Catch::Contains("Nesterov momentum requires"));
  REQUIRE_THROWS_WITH(optim::Adam(pr.params, optim::AdamOptions(-1e-3)),
                      Catch::Contains("Adam: invalid learning rate"));
  REQUIRE_THROWS_WITH(optim::Adam(pr.params, optim::AdamOptions().betas({1.0, 0.999})),
                      Catch::Contains("Adam: invalid beta parameter at index 0: 1"));
  REQUIRE_THROWS_WITH(optim::AdamW(pr.params, optim::AdamWOptions().betas({0.9, -0.1})),
                      Catch::Contains("AdamW: invalid beta parameter at index 1: -0.1"));
  REQUIRE_THROWS_WITH(optim::Adam(pr.params, optim::AdamOptions().eps(-1e-8)),
                      Catch::Contains("Adam: invalid epsilon value"));
  REQUIRE_THROWS_WITH(optim::AdamW(pr.params, optim::AdamWOptions().weight_decay(-0.01)),
                      Catch::Contains("AdamW: invalid weight_decay value -0.01"));
  // per-group options are validated too, and must be the optimizer's own options type
  REQUIRE_THROWS_WITH(optim::SGD({optim::OptimizerParamGroup({pr.params[0]}),
                                  optim::OptimizerParamGroup({pr.params[1]}, optim::SGDOptions(-2.0))},
                                 optim::SGDOptions(0.1)),
                      Catch::Contains("SGD (parameter group 1): invalid learning rate -2"));
  REQUIRE_THROWS_WITH(optim::SGD({optim::OptimizerParamGroup({pr.params[0]}),
                                  optim::OptimizerParamGroup({pr.params[1]}, optim::AdamOptions())},
                                 optim::SGDOptions(0.1)),
                      Catch::Contains("SGD: parameter group 1 has AdamOptions; expected SGDOptions"));
  // the defaults: AdamW decays by 1e-2, Adam does not
  REQUIRE(optim::AdamWOptions().weight_decay() == 0.01);
  REQUIRE(optim::AdamOptions().weight_decay() == 0.0);
  REQUIRE(optim::AdamOptions().lr() == 1e-3);
}

TEST_CASE("parameters must be distinct floating-point leaves that require grad", "[optim]") {
  const Tensor w = randn({3, 2}, kFloat64).requires_grad_(true);
  const Tensor frozen = randn({2}, kFloat64);
  REQUIRE_THROWS_WITH(optim::SGD({w, frozen}, optim::SGDOptions(0.1)),
                      Catch::Contains("SGD: parameter 1 of group 0 (shape [2]) does not require grad"));
  const Tensor non_leaf = w * 2.0;
  REQUIRE_THROWS_WITH(optim::Adam({non_leaf}, optim::AdamOptions()),
                      Catch::Contains("Adam: parameter 0 of group 0 (shape [3, 2]) is not a leaf tensor"));
  REQUIRE_THROWS_WITH(optim::SGD({w, w}, optim::SGDOptions(0.1)), Catch::Contains("appears more than once"));
  REQUIRE_THROWS_WITH(
      optim::SGD({optim::OptimizerParamGroup({w}), optim::OptimizerParamGroup({w})}, optim::SGDOptions(0.1)),
      Catch::Contains("SGD: parameter 0 of group 1 (shape [3, 2]) appears more than once"));
  REQUIRE_THROWS_WITH(optim::SGD({tensor<int64_t>({1, 2})}, optim::SGDOptions(0.1)),
                      Catch::Contains("has dtype int64; only floating-point tensors can be optimized"));
  REQUIRE_THROWS_WITH(optim::SGD(std::vector<Tensor>{}, optim::SGDOptions(0.1)),
                      Catch::Contains("SGD: got an empty parameter list"));
  REQUIRE_THROWS_WITH(optim::SGD({Tensor()}, optim::SGDOptions(0.1)), Catch::Contains("is an undefined tensor"));
  optim::SGD opt({w}, optim::SGDOptions(0.1));
  REQUIRE_THROWS_WITH(opt.add_param_group(optim::OptimizerParamGroup({w})), Catch::Contains("appears more than once"));
  REQUIRE(opt.param_groups().size() == 1);
}

TEST_CASE("step checks gradients, skips parameters without one and bumps versions", "[optim]") {
  const Tensor a = randn({4}, kFloat64).requires_grad_(true);
  const Tensor b = randn({2, 2}, kFloat64).requires_grad_(true);
  optim::Adam opt({a, b}, optim::AdamOptions(0.1));
  a.set_grad(ones({4}, kFloat64));
  const Tensor a_before = a.detach().clone();
  const Tensor b_before = b.detach().clone();
  const uint64_t va = a._version(), vb = b._version();
  opt.step();
  REQUIRE(a._version() > va);
  REQUIRE(b._version() == vb);
  REQUIRE(equal(b, b_before));
  REQUIRE(opt.state(a) != nullptr);
  REQUIRE(opt.state(b) == nullptr);
  REQUIRE(opt.state_dict().keys()[0] == "state.0.step");
  REQUIRE_FALSE(opt.state_dict().contains("state.1.step"));
  // Adam's first step moves every coordinate by lr against the gradient's sign.
  test::require_close(a, a_before - 0.1, 0, 1e-7);

  // A bad gradient anywhere stops the whole step before any parameter changes.
  const Tensor a_mid = a.detach().clone();
  b.set_grad(ones({2, 2}, kFloat32));
  REQUIRE_THROWS_WITH(opt.step(), Catch::Contains("Adam.step: the gradient of parameter 1 has dtype float32 but the "
                                                  "parameter has float64"));
  REQUIRE(equal(a, a_mid));
}

TEST_CASE("zero_grad drops or zeroes gradients; step runs the closure with grad mode on", "[optim]") {
  const Tensor w = randn({3}, kFloat64).requires_grad_(true);
  optim::SGD opt({w}, optim::SGDOptions(0.5));
  (w * w).sum().backward();
  const Tensor grad = w.grad();
  opt.zero_grad(/*set_to_none=*/false);
  REQUIRE(w.grad().is_same(grad));
  REQUIRE(equal(w.grad(), zeros({3}, kFloat64)));
  opt.zero_grad();
  REQUIRE_FALSE(w.grad().defined());

  const Tensor w0 = w.detach().clone();
  Tensor loss;
  {
    NoGradGuard off;  // the closure still records its graph
    loss = opt.step([&] {
      opt.zero_grad();
      Tensor l = (w * w).sum();
      l.backward();
      return l;
    });
  }
  REQUIRE(loss.item<double>() == Approx((w0 * w0).sum().item<double>()));
  test::require_close(w, w0 - 0.5 * 2.0 * w0, 1e-12, 1e-14);  // w - lr * 2w
  REQUIRE_FALSE(opt.step().defined());                        // no closure, no loss
}

TEST_CASE("schedulers see the lr through param groups; momentum and amsgrad can be switched on later", "[optim]") {
  OptimProblem a, b;
  optim::SGD opt_a(a.params, optim::SGDOptions(0.1));
  optim::SGD opt_b(b.params, optim::SGDOptions(0.1).momentum(0.9));
  a.run(opt_a, 1, 1);  // plain SGD: no state at all
  REQUIRE(opt_a.state(a.params[0]) == nullptr);
  auto& o = static_cast<optim::SGDOptions&>(opt_a.param_groups()[0].options());
  o.momentum(0.9);
  // b takes its first step with momentum on the values a reached, so both continue alike.
  for (size_t i = 0; i < a.params.size(); ++i) {
    NoGradGuard no_grad;
    b.params[i].copy_(a.params[i]);
  }
  REQUIRE(a.run(opt_a, 2, 4) == b.run(opt_b, 2, 4));

  optim::Adam adam(a.params, optim::AdamOptions(0.01));
  a.run(adam, 1, 2);
  static_cast<optim::AdamOptions&>(adam.param_groups()[0].options()).amsgrad(true);
  adam.param_groups()[0].options().set_lr(0.02);
  a.run(adam, 3, 3);
  const auto* s = static_cast<const optim::AdamParamState*>(adam.state(a.params[0]));
  REQUIRE(s->step == 3);
  REQUIRE(s->max_exp_avg_sq.defined());
  REQUIRE(equal(s->max_exp_avg_sq, s->exp_avg_sq));  // max(0, v) on the first amsgrad step
}

TEST_CASE("fused updates: strided parameters and gradients, many threads, large tensors", "[optim]") {
  // A transposed (non-contiguous) leaf and a strided gradient must give the values of the
  // contiguous computation, bitwise.
  const Tensor base = randn({6, 5}, kFloat64);
  const Tensor gbase = randn({5, 6}, kFloat64);
  for (int which = 0; which < 3; ++which) {
    INFO("optimizer " << which);
    Tensor strided = base.detach().clone().t();  // (5, 6) view of a (6, 5) buffer
    strided.requires_grad_(true);
    Tensor dense = strided.detach().contiguous().requires_grad_(true);
    REQUIRE_FALSE(strided.is_contiguous());
    auto make = [&](const Tensor& p) -> std::unique_ptr<optim::Optimizer> {
      if (which == 0) return std::make_unique<optim::SGD>(std::vector<Tensor>{p}, optim::SGDOptions(0.1).momentum(0.9));
      if (which == 1)
        return std::make_unique<optim::Adam>(std::vector<Tensor>{p}, optim::AdamOptions(0.1).amsgrad(true));
      return std::make_unique<optim::AdamW>(std::vector<Tensor>{p}, optim::AdamWOptions(0.1));
    };
    auto opt_s = make(strided);
    auto opt_d = make(dense);
    for (int t = 0; t < 3; ++t) {
      strided.set_grad(gbase.t().t() * (t + 1.0));               // contiguous
      dense.set_grad((gbase * (t + 1.0)).t().contiguous().t());  // strided gradient
      opt_s->step();
      opt_d->step();
    }
    REQUIRE(equal(strided, dense));
    REQUIRE(strided.strides() == Strides{1, 5});  // updated in place, layout kept
  }

  // A tensor large enough to be split across threads gives the single-threaded result.
  const int threads = get_num_threads();
  auto run = [](int nthreads, DType dtype) {
    set_num_threads(nthreads);
    manual_seed(7);
    Tensor p = randn({300001}, dtype).requires_grad_(true);
    Tensor q = randn({300001}, dtype).requires_grad_(true);
    const Tensor g = randn({300001}, dtype);
    optim::Adam adam({p}, optim::AdamOptions(0.01).weight_decay(0.1).amsgrad(true));
    optim::SGD sgd({q}, optim::SGDOptions(0.01).momentum(0.9).nesterov(true).weight_decay(1e-4));
    for (int t = 0; t < 3; ++t) {
      p.set_grad(g * (1.0 + t));
      q.set_grad(g * (1.0 - t));
      adam.step();
      sgd.step();
    }
    return std::make_pair(p.detach(), q.detach());
  };
  for (DType dtype : {kFloat32, kFloat64}) {
    const auto one = run(1, dtype);
    const auto many = run(4, dtype);
    REQUIRE(equal(one.first, many.first));
    REQUIRE(equal(one.second, many.second));
  }
  set_num_threads(threads);
}

TEST_CASE("the fused Adam kernel equals the unfused op sequence of torch.optim.Adam", "[optim]") {
  // float32 on a tensor spanning several kernel blocks: m, v, denom and the update computed
  // with separate tensor ops in PyTorch's order.
  manual_seed(11);
  const Tensor p0 = randn({1000}, kFloat32), g = randn({1000}, kFloat32);
  Tensor p = p0.clone().requires_grad_(true);
  optim::Adam opt({p}, optim::AdamOptions(0.01).betas({0.8, 0.95}).weight_decay(0.05));
  p.set_grad(g);
  opt.step();
  p.set_grad(g * 0.5);
  opt.step();

  NoGradGuard no_grad;
  Tensor ref = p0.clone(), m = zeros({1000}, kFloat32), v = zeros({1000}, kFloat32);
  for (int step = 1; step <= 2; ++step) {
    const Tensor grad = (step == 1 ? g : g * 0.5) + ref * 0.05;
    m = m * 0.8 + grad * (1 - 0.8);
    v = v * 0.95 + grad * (1 - 0.95) * grad;
    const double bc1 = 1 - std::pow(0.8, step), bc2 = 1 - std::pow(0.95, step);
    const Tensor denom = v.sqrt() / std::sqrt(bc2) + 1e-8;
    ref = ref + (m / denom) * (-0.01 / bc1);
  }
  test::require_close(p, ref, 1e-6, 1e-7);
}

TEST_CASE("optimizers reject parameter dtypes their backend cannot update", "[optim]") {
  const Tensor h = zeros({4}, kFloat16).requires_grad_(true);
  optim::SGD opt({h}, optim::SGDOptions(0.1));
  h.set_grad(ones({4}, kFloat16));
  REQUIRE_THROWS_WITH(opt.step(), Catch::Contains("sgd_update: expected a float32 or float64 tensor but got float16"));
  optim::Adam adam({h}, optim::AdamOptions(0.1));
  REQUIRE_THROWS_WITH(adam.step(),
                      Catch::Contains("adam_update: expected a float32 or float64 tensor but got float16"));
}
