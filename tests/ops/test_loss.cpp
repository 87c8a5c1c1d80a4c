// Losses: cross_entropy (class weights, ignore_index, label smoothing, K-dim inputs), nll_loss
// and mse_loss against PyTorch 1.13, gradients (golden and gradcheck) and error messages.
#include <cmath>

#include "golden/index_loss_golden.h"
#include "test_util.h"

using namespace ts;
namespace g = golden::index_loss;
using test::rand_input;
using test::rand_input_transposed;
using test::require_gradcheck;
using test::require_values;

namespace {

Tensor f64(const std::vector<double>& v, const Shape& s) { return tensor<double>(v, s); }
Tensor i64(const std::vector<int64_t>& v, const Shape& s) { return tensor<int64_t>(v, s); }

struct CeCase {
  const char* name;
  const std::vector<int64_t>* target;
  bool weighted;
  int64_t ignore_index;
  double smoothing;
  const std::vector<double>* none;
  const std::vector<double>* mean;
  const std::vector<double>* sum;
  const std::vector<double>* grad;
};

std::vector<CeCase> ce_cases() {
  return {
      {"plain", &g::ce_target, false, -100, 0.0, &g::ce_plain_none, &g::ce_plain_mean, &g::ce_plain_sum,
       &g::ce_plain_grad},
      {"w", &g::ce_target, true, -100, 0.0, &g::ce_w_none, &g::ce_w_mean, &g::ce_w_sum, &g::ce_w_grad},
      {"ign", &g::ce_target_ign, false, -100, 0.0, &g::ce_ign_none, &g::ce_ign_mean, &g::ce_ign_sum, &g::ce_ign_grad},
      {"w_ign7", &g::ce_target_ign7, true, 7, 0.0, &g::ce_w_ign7_none, &g::ce_w_ign7_mean, &g::ce_w_ign7_sum,
       &g::ce_w_ign7_grad},
      {"ls", &g::ce_target, false, -100, 0.2, &g::ce_ls_none, &g::ce_ls_mean, &g::ce_ls_sum, &g::ce_ls_grad},
      {"w_ls", &g::ce_target, true, -100, 0.1, &g::ce_w_ls_none, &g::ce_w_ls_mean, &g::ce_w_ls_sum, &g::ce_w_ls_grad},
      {"ign_ls", &g::ce_target_ign, false, -100, 0.3, &g::ce_ign_ls_none, &g::ce_ign_ls_mean, &g::ce_ign_ls_sum,
       &g::ce_ign_ls_grad},
      {"w_ign_ls", &g::ce_target_ign, true, -100, 0.25, &g::ce_w_ign_ls_none, &g::ce_w_ign_ls_mean,
       &g::ce_w_ign_ls_sum, &g::ce_w_ign_ls_grad},
      {"w_ign7_ls", &g::ce_target_ign7, true, 7, 0.15, &g::ce_w_ign7_ls_none, &g::ce_w_ign7_ls_mean,
       &g::ce_w_ign7_ls_sum, &g::ce_w_ign7_ls_grad},
  };
}

}  // namespace

TEST_CASE("cross_entropy matches PyTorch with weights, ignore_index and label smoothing", "[loss]") {
  const Tensor weight = f64(g::ce_weight, {5});
  for (const CeCase& c : ce_cases()) {
    INFO("case " << c.name);
    const Tensor t = i64(*c.target, {6});
    const Tensor w = c.weighted ? weight : Tensor();
    for (DType dt : {kFloat64, kFloat32}) {
      INFO("dtype " << dtype_name(dt));
      const double tol = dt == kFloat64 ? 1e-12 : 1e-5;
      const Tensor x = f64(g::ce_logits, {6, 5}).to(dt);
      const Tensor wd = w.defined() ? w.to(dt) : w;
      const Tensor none = cross_entropy(x, t, wd, Reduction::None, c.ignore_index, c.smoothing);
      REQUIRE(none.shape() == Shape{6});
      REQUIRE(none.dtype() == dt);
      require_values(none, *c.none, tol);
      require_values(cross_entropy(x, t, wd, Reduction::Mean, c.ignore_index, c.smoothing), *c.mean, tol);
      require_values(cross_entropy(x, t, wd, Reduction::Sum, c.ignore_index, c.smoothing), *c.sum, tol);
    }
    Tensor x = f64(g::ce_logits, {6, 5}).requires_grad_(true);
    cross_entropy(x, t, w, Reduction::Mean, c.ignore_index, c.smoothing).backward();
    require_values(x.grad(), *c.grad, 1e-12);
  }
}

TEST_CASE("cross_entropy on (N, C, d1, d2) and unbatched inputs", "[loss]") {
  const Tensor x = f64(g::cek_x, g::cek_x_shape);
  const Tensor t = i64(g::cek_t, g::cek_t_shape);
  const Tensor w = f64(g::cek_w, {3});
  const Tensor none = cross_entropy(x, t, w, Reduction::None, -100, 0.2);
  REQUIRE(none.shape() == g::cek_t_shape);
  require_values(none, g::cek_none, 1e-12);
  require_values(cross_entropy(x, t, w, Reduction::Mean, -100, 0.2), g::cek_mean, 1e-12);
  require_values(cross_entropy(x, t, w, Reduction::Sum, -100, 0.2), g::cek_sum, 1e-12);
  Tensor xr = x.detach().requires_grad_(true);
  cross_entropy(xr, t, w, Reduction::Mean, -100, 0.2).backward();
  require_values(xr.grad(), g::cek_grad, 1e-12);

  const Tensor x1 = f64(g::ce1_x, {4});
  const Tensor l1 = cross_entropy(x1, scalar_tensor(int64_t{2}), Tensor(), Reduction::Mean, -100, 0.1);
  REQUIRE(l1.dim() == 0);
  require_values(l1, g::ce1_val, 1e-12);
  REQUIRE(cross_entropy(x1, scalar_tensor(int64_t{2}), Tensor(), Reduction::None).dim() == 0);
}

TEST_CASE("nll_loss matches PyTorch", "[loss]") {
  const Tensor lp = f64(g::nll_input, {6, 5});
  const Tensor t = i64(g::ce_target_ign, {6});
  const Tensor w = f64(g::ce_weight, {5});
  require_values(nll_loss(lp, t, w, Reduction::None), g::nll_w_ign_none, 1e-12);
  require_values(nll_loss(lp, t, w, Reduction::Mean), g::nll_w_ign_mean, 1e-12);
  require_values(nll_loss(lp, t, w, Reduction::Sum), g::nll_w_ign_sum, 1e-12);
  const Tensor lpk = f64(g::nllk_input, g::cek_x_shape);
  const Tensor tk = i64(g::cek_t, g::cek_t_shape);
  const Tensor wk = f64(g::cek_w, {3});
  require_values(nll_loss(lpk, tk, wk, Reduction::None), g::nllk_w_none, 1e-12);
  require_values(nll_loss(lpk, tk, wk, Reduction::Mean), g::nllk_w_mean, 1e-12);
  require_values(nll_loss(lpk, tk, wk, Reduction::Sum), g::nllk_w_sum, 1e-12);
  // every target ignored: the mean divides 0 by 0, like PyTorch
  REQUIRE(std::isnan(nll_loss(lp, full({6}, -100, kInt64)).item<double>()));
  REQUIRE(nll_loss(lp, full({6}, -100, kInt64), Tensor(), Reduction::Sum).item<double>() == 0.0);
}

TEST_CASE("mse_loss matches PyTorch and broadcasts", "[loss]") {
  const Tensor a = f64(g::mse_a, {3, 4}), b = f64(g::mse_b, {3, 4});
  require_values(mse_loss(a, b, Reduction::None), g::mse_none, 1e-12);
  require_values(mse_loss(a, b), g::mse_mean, 1e-12);
  require_values(mse_loss(a, b, Reduction::Sum), g::mse_sum, 1e-12);
  require_values(mse_loss(tensor<float>({1, 2, 3}, {3, 1}), tensor<float>({1, 3})),
                 {(0 + 4 + 1 + 1 + 4 + 0) / 6.0}, 1e-6);
}

TEST_CASE("gradcheck: cross_entropy, nll_loss, mse_loss", "[loss][gradcheck]") {
  const Tensor t = i64({4, 0, -100, 1, 4}, {5});
  const Tensor t7 = i64({4, 7, 2, 1, 7}, {5});
  for (Reduction red : {Reduction::None, Reduction::Mean, Reduction::Sum}) {
    INFO("reduction " << static_cast<int>(red));
    for (double ls : {0.0, 0.3}) {
      INFO("label_smoothing " << ls);
      // logits and class weights both get gradients
      require_gradcheck([&](const std::vector<Tensor>& in) { return cross_entropy(in[0], t, in[1], red, -100, ls); },
                        {rand_input({5, 6}), (rand(Shape{6}, kFloat64) + 0.5).requires_grad_(true)});
      require_gradcheck([&](const std::vector<Tensor>& in) { return cross_entropy(in[0], t7, Tensor(), red, 7, ls); },
                        {rand_input({5, 6})});
      // non-contiguous logits
      const Tensor xt = rand_input_transposed({5, 6});
      REQUIRE(!xt.is_contiguous());
      require_gradcheck([&](const std::vector<Tensor>& in) { return cross_entropy(in[0], t, Tensor(), red, -100, ls); },
                        {xt});
      // (N, C, d1, d2)
      const Tensor tk = i64({0, 2, 1, -100, 2, 2, 0, 1}, {2, 2, 2});
      require_gradcheck(
          [&](const std::vector<Tensor>& in) { return cross_entropy(in[0], tk, in[1], red, -100, ls); },
          {rand_input({2, 3, 2, 2}), (rand(Shape{3}, kFloat64) + 0.5).requires_grad_(true)});
    }
    require_gradcheck([&](const std::vector<Tensor>& in) { return nll_loss(in[0], t, in[1], red); },
                      {rand_input({5, 6}), (rand(Shape{6}, kFloat64) + 0.5).requires_grad_(true)});
    // mse with broadcasting and a transposed operand, both sides differentiable
    require_gradcheck([&](const std::vector<Tensor>& in) { return mse_loss(in[0], in[1], red); },
                      {rand_input_transposed({3, 4}), rand_input({4})});
  }
}

TEST_CASE("losses reject bad targets and arguments", "[loss]") {
  const Tensor x = randn({3, 4});
  const Tensor w4 = ones({4});
  REQUIRE_THROWS_WITH(cross_entropy(x, i64({0, 4, 1}, {3})),
                      Catch::Contains("cross_entropy") && Catch::Contains("target 4") &&
                          Catch::Contains("4 classes"));
  REQUIRE_THROWS_WITH(nll_loss(x, i64({0, -3, 1}, {3})),
                      Catch::Contains("nll_loss") && Catch::Contains("target -3") && Catch::Contains("[0, 3]"));
  // ignore_index itself is allowed anywhere, but only that value
  REQUIRE_NOTHROW(nll_loss(x, i64({0, -100, 1}, {3})));
  REQUIRE_THROWS_WITH(nll_loss(x, i64({0, -100, 1}, {3}), Tensor(), Reduction::Mean, 5),
                      Catch::Contains("target -100"));
  REQUIRE_THROWS_WITH(cross_entropy(x, tensor<float>({0, 1, 2})),
                      Catch::Contains("cross_entropy") && Catch::Contains("float32"));
  REQUIRE_THROWS_WITH(nll_loss(x, tensor<int32_t>({0, 1, 2})), Catch::Contains("nll_loss") && Catch::Contains("int32"));
  REQUIRE_THROWS_WITH(cross_entropy(x, i64({0, 1}, {2})),
                      Catch::Contains("cross_entropy") && Catch::Contains("[3]") && Catch::Contains("[2]"));
  REQUIRE_THROWS_WITH(cross_entropy(x, i64({0, 1, 2}, {3}), ones({3})),
                      Catch::Contains("cross_entropy") && Catch::Contains("weight"));
  REQUIRE_THROWS_WITH(cross_entropy(x, i64({0, 1, 2}, {3}), w4, Reduction::Mean, -100, 1.5),
                      Catch::Contains("label_smoothing"));
  REQUIRE_THROWS_WITH(cross_entropy(zeros({3, 4}, kInt64), i64({0, 1, 2}, {3})), Catch::Contains("int64"));
  REQUIRE_THROWS_WITH(mse_loss(randn({3}), randn({4})),
                      Catch::Contains("mse_loss") && Catch::Contains("[3]") && Catch::Contains("[4]"));
}
