// rms_norm: argument validation, the fused backend call and autograd. The semantics are those of
// PyTorch's composition x * rsqrt(mean(x^2) + eps) * weight: statistics in float32 (float64 for
// float64 x), n = x * rstd rounded to x's dtype, then times weight. A weight of another dtype
// keeps PyTorch's type promotion: the kernel normalizes without it and the ordinary
// (differentiable) multiply applies it.
#include <limits>

#include "ops/op_utils.h"
#include "ops/row_norm_utils.h"
#include "tessera/nn_functional.h"

namespace ts {
using autograd::Node;
using autograd::SavedTensor;

namespace {

double machine_epsilon(DType dt) {
  switch (dt) {
    case DType::Float64: return std::numeric_limits<double>::epsilon();
    case DType::Float16: return 0.0009765625;  // 2^-10
    case DType::BFloat16: return 0.0078125;    // 2^-7
    default: return static_cast<double>(std::numeric_limits<float>::epsilon());
  }
}

using row_norm::as_matrix;
using row_norm::stats_dtype;

}  // namespace

Tensor rms_norm(const Tensor& x, const Shape& normalized_shape, const Tensor& weight, std::optional<double> eps) {
  constexpr const char* op = "rms_norm";
  TS_CHECK(x.defined(), "{}: input tensor is undefined", op);
  TS_CHECK(x.is_floating_point(), "{}: expected a floating-point input but got {}", op, dtype_name(x.dtype()));
  TS_CHECK(!normalized_shape.empty(), "{}: normalized_shape must have at least one dimension", op);
  const int64_t nd = static_cast<int64_t>(normalized_shape.size()), lead = x.dim() - nd;
  TS_CHECK(lead >= 0 && Shape(x.shape().begin() + lead, x.shape().end()) == normalized_shape,
           "{}: given normalized_shape={}, expected an input of shape [*, {}] but got shape {}", op,
           shape_str(normalized_shape), fmt::join(normalized_shape, ", "), shape_str(x.shape()));
  TS_CHECK(!weight.defined() || weight.shape() == normalized_shape,
           "{}: weight of shape {} must have normalized_shape {}", op, shape_str(weight.shape()),
           shape_str(normalized_shape));
  TS_CHECK(!weight.defined() || weight.device() == x.device(), "{}: weight is on {} but the input is on {}", op,
           weight.defined() ? weight.device().str() : "", x.device().str());
  const double e = eps.value_or(machine_epsilon(x.dtype()));
  TS_CHECK(e >= 0, "{}: eps must be non-negative but got {}", op, e);

  const DType dt = x.dtype();
  const int64_t d = numel_of(normalized_shape), rows = d == 0 ? 0 : x.numel() / d;
  // The kernel multiplies by the weight only when no promotion is involved.
  const Tensor fused_weight = weight.defined() && weight.dtype() == dt ? weight : Tensor();
  const Tensor xd = ops::dense(x), wd = fused_weight.defined() ? ops::dense(fused_weight) : Tensor();
  Tensor y = make_tensor(x.shape(), dt, x.device());
  Tensor rstd = make_tensor({rows}, stats_dtype(dt), x.device());
  auto vec = [d](const Tensor& t) { return row_norm::as_vector(t, d); };
  backend_for(x).rms_norm(as_matrix(xd, rows, d), vec(wd), e, as_matrix(y, rows, d), rstd);
  if (autograd::any_requires_grad({&x, &fused_weight})) {
    autograd::record(
        "rms_norm", {x, fused_weight}, {y},
        [rows, d, vec, ns = normalized_shape, sx = SavedTensor(xd), sw = SavedTensor(wd), rstd,
         wdt = fused_weight.defined() ? fused_weight.dtype() : dt](const std::vector<Tensor>& g,
                                                                   const Node& self) -> std::vector<Tensor> {
          const Tensor xv = sx.unpack(self), wv = sw.unpack(self);
          Tensor gx, gw;
          if (self.needs_input_grad(0)) gx = make_tensor(xv.shape(), xv.dtype(), xv.device());
          if (self.needs_input_grad(1)) gw = make_tensor(ns, xv.dtype(), xv.device());
          const Tensor gy = ops::dense(ops::cast(g[0], xv.dtype()));
          backend_for(xv).rms_norm_backward(as_matrix(gy, rows, d), as_matrix(xv, rows, d), rstd, vec(wv),
                                            gx.defined() ? as_matrix(gx, rows, d) : Tensor(), vec(gw));
          return {gx, gw.defined() ? ops::cast(gw, wdt) : gw};
        });
  }
  return weight.defined() && !fused_weight.defined() ? y * weight : y;
}

}  // namespace ts
