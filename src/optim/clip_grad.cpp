#include "tessera/optim/clip_grad.h"

#include <cmath>

#include "tessera/autograd.h"
#include "tessera/creation.h"
#include "tessera/ops.h"

namespace ts::optim {

// Same tensor computation as PyTorch 1.13: per-tensor norms, stacked, their norm, then one
// multiply by min(max_norm / (total + 1e-6), 1) in the gradients' dtype. Nothing waits for the
// device unless error_if_nonfinite needs the total on the host.
Tensor clip_grad_norm_tensor_(const std::vector<Tensor>& params, double max_norm, double norm_type,
                              bool error_if_nonfinite) {
  TS_CHECK(norm_type > 0, "clip_grad_norm_: norm_type must be positive or infinite but is {}", norm_type);
  TS_CHECK(!std::isnan(max_norm), "clip_grad_norm_: max_norm is NaN");
  NoGradGuard no_grad;
  std::vector<Tensor> grads;
  for (const auto& p : params) {
    TS_CHECK(p.defined(), "clip_grad_norm_: parameter {} is an undefined tensor", grads.size());
    Tensor g = p.grad();
    if (g.defined()) grads.push_back(g);
  }
  if (grads.empty()) return Tensor();
  const Device device = grads[0].device();
  DType dtype = grads[0].dtype();
  for (const auto& g : grads) {
    TS_CHECK(g.is_floating_point(), "clip_grad_norm_: gradients must be floating point but one has dtype {}",
             dtype_name(g.dtype()));
    dtype = promote_types(dtype, g.dtype());
  }
  std::vector<Tensor> norms;
  norms.reserve(grads.size());
  for (const auto& g : grads) norms.push_back(norm(g.detach(), norm_type).to(device, dtype));
  Tensor total;
  if (std::isinf(norm_type)) {
    total = norms.size() == 1 ? norms[0] : max(stack(norms));
  } else {
    total = norm(stack(norms), norm_type);
  }
  TS_CHECK(!error_if_nonfinite || std::isfinite(total.item<double>()),
           "clip_grad_norm_: the total norm of order {} for gradients from `parameters` is non-finite, so it cannot "
           "be clipped. To disable this error and scale the gradients by the non-finite norm anyway, set "
           "error_if_nonfinite=false",
           norm_type);
  const Tensor coef = clamp(max_norm / (total + 1e-6), std::nullopt, Scalar(1.0));
  for (auto& g : grads) g.mul_(coef.to(g.device(), g.dtype()));
  return total;
}

double clip_grad_norm_(const std::vector<Tensor>& params, double max_norm, double norm_type, bool error_if_nonfinite) {
  const Tensor total = clip_grad_norm_tensor_(params, max_norm, norm_type, error_if_nonfinite);
  return total.defined() ? total.item<double>() : 0.0;
}

}  // namespace ts::optim
