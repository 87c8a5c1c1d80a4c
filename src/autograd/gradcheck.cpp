// gradcheck: analytic gradients (reverse mode) against central finite differences, in float64.
#include <cmath>

#include "tessera/autograd.h"
#include "tessera/creation.h"
#include "tessera/ops.h"

namespace ts::autograd {
namespace {

// Address of the element with flat (row-major) index k of a possibly strided f64 tensor.
double* element_ptr(const Tensor& t, int64_t k) {
  int64_t off = 0;
  for (int64_t d = t.dim() - 1; d >= 0; --d) {
    const int64_t size = t.shape()[static_cast<size_t>(d)];
    off += (k % size) * t.strides()[static_cast<size_t>(d)];
    k /= size;
  }
  return static_cast<double*>(t.raw_data()) + off;
}

// L = sum_j <out_j, w_j>, the scalar whose gradient equals the vector-Jacobian product with w.
Tensor weighted_sum(const std::vector<Tensor>& outs, const std::vector<Tensor>& weights) {
  Tensor total = zeros({}, kFloat64);
  for (size_t j = 0; j < outs.size(); ++j)
    if (weights[j].defined()) total = total + sum(outs[j] * weights[j]);
  return total;
}

}  // namespace

bool gradcheck(const std::function<std::vector<Tensor>(const std::vector<Tensor>&)>& fn,
               const std::vector<Tensor>& inputs, double eps, double atol, double rtol) {
  std::vector<Tensor> diff_inputs;
  for (size_t i = 0; i < inputs.size(); ++i) {
    const Tensor& x = inputs[i];
    if (!x.defined() || !x.requires_grad()) continue;
    TS_CHECK(x.dtype() == kFloat64, "gradcheck: input {} has dtype {}; finite differences need float64 inputs", i,
             dtype_name(x.dtype()));
    TS_CHECK(x.is_cpu(), "gradcheck: input {} is on {}; gradcheck runs on CPU tensors", i, x.device().str());
    diff_inputs.push_back(x);
  }
  TS_CHECK(!diff_inputs.empty(), "gradcheck: no input requires grad");

  // Random output weights from a fixed stream, without disturbing the user's generator.
  const auto saved_rng = get_rng_state();
  std::vector<Tensor> outs = fn(inputs);
  manual_seed(0x6772616463686b);
  std::vector<Tensor> weights;
  for (const Tensor& o : outs) weights.push_back(o.defined() && o.dtype() == kFloat64 ? randn(o.shape(), kFloat64) : Tensor());
  set_rng_state(saved_rng);

  const Tensor loss = weighted_sum(outs, weights);
  TS_CHECK(loss.requires_grad(), "gradcheck: the function's outputs do not depend on any input that requires grad");
  const std::vector<Tensor> analytic = grad({loss}, diff_inputs, {}, false);

  NoGradGuard no_grad;
  for (size_t i = 0; i < diff_inputs.size(); ++i) {
    const Tensor& x = diff_inputs[i];
    const std::vector<double> a = analytic[i].defined() ? analytic[i].to_vector<double>()
                                                        : std::vector<double>(static_cast<size_t>(x.numel()), 0.0);
    TS_CHECK(static_cast<int64_t>(a.size()) == x.numel(), "gradcheck: analytic gradient {} has {} elements, input has {}",
             i, a.size(), x.numel());
    for (int64_t k = 0; k < x.numel(); ++k) {
      double* p = element_ptr(x, k);
      const double orig = *p;
      *p = orig + eps;
      const double up = weighted_sum(fn(inputs), weights).item<double>();
      *p = orig - eps;
      const double down = weighted_sum(fn(inputs), weights).item<double>();
      *p = orig;
      const double numeric = (up - down) / (2 * eps);
      const double an = a[static_cast<size_t>(k)];
      TS_CHECK(std::abs(an - numeric) <= atol + rtol * std::abs(numeric),
               "gradcheck: gradient mismatch for input {} (shape {}) at flat index {}: analytic {:.10g} vs numeric "
               "{:.10g} (atol {}, rtol {})",
               i, shape_str(x.shape()), k, an, numeric, atol, rtol);
    }
  }
  return true;
}

bool gradcheck(const std::function<Tensor(const std::vector<Tensor>&)>& fn, const std::vector<Tensor>& inputs,
               double eps, double atol, double rtol) {
  return gradcheck([&](const std::vector<Tensor>& in) { return std::vector<Tensor>{fn(in)}; }, inputs, eps, atol, rtol);
}

}  // namespace ts::autograd
