// layer_norm and batch_norm: argument validation, the backend calls and autograd. Weight and
// bias are cast to the input's dtype for the kernels; their gradients are cast back. Saved
// statistics (mean and 1/std) are float64 for float64 inputs and float32 otherwise.
#include "ops/op_utils.h"
#include "ops/row_norm_utils.h"
#include "tessera/nn_functional.h"

namespace ts {
using autograd::Node;
using autograd::SavedTensor;

namespace {

using row_norm::as_matrix;
using row_norm::stats_dtype;

// `t` (defined) as a contiguous tensor of dtype `dt`, no autograd.
Tensor kernel_operand(const Tensor& t, DType dt) { return t.defined() ? ops::dense(ops::cast(t, dt)) : Tensor(); }

void check_param(const char* op, const char* what, const Tensor& p, const Tensor& x) {
  if (!p.defined()) return;
  TS_CHECK(is_floating_point(p.dtype()), "{}: {} must be floating-point but got {}", op, what, dtype_name(p.dtype()));
  TS_CHECK(p.device() == x.device(), "{}: {} is on {} but the input is on {}", op, what, p.device().str(),
           x.device().str());
}

}  // namespace

Tensor layer_norm(const Tensor& x, const Shape& normalized_shape, const Tensor& weight, const Tensor& bias, double eps) {
  TS_CHECK(x.defined(), "layer_norm: input tensor is undefined");
  TS_CHECK(!normalized_shape.empty(), "layer_norm: normalized_shape must have at least one dimension");
  TS_CHECK(is_floating_point(x.dtype()), "layer_norm: expected a floating-point input but got {}", dtype_name(x.dtype()));
  const int64_t nd = static_cast<int64_t>(normalized_shape.size()), lead = x.dim() - nd;
  const bool matches = lead >= 0 && Shape(x.shape().begin() + lead, x.shape().end()) == normalized_shape;
  TS_CHECK(matches, "layer_norm: given normalized_shape={}, expected an input of shape [*, {}] but got shape {}",
           shape_str(normalized_shape), fmt::join(normalized_shape, ", "), shape_str(x.shape()));
  check_param("layer_norm", "weight", weight, x);
  check_param("layer_norm", "bias", bias, x);
  TS_CHECK(!weight.defined() || weight.shape() == normalized_shape,
           "layer_norm: weight of shape {} must have normalized_shape {}", shape_str(weight.shape()),
           shape_str(normalized_shape));
  TS_CHECK(!bias.defined() || bias.shape() == normalized_shape, "layer_norm: bias of shape {} must have normalized_shape {}",
           shape_str(bias.shape()), shape_str(normalized_shape));

  const int64_t d = numel_of(normalized_shape), rows = d == 0 ? 0 : x.numel() / d;
  const DType dt = x.dtype();
  const Tensor xd = ops::dense(x), wd = kernel_operand(weight, dt), bd = kernel_operand(bias, dt);
  Tensor y = make_tensor(x.shape(), dt, x.device());
  Tensor mean = make_tensor({rows}, stats_dtype(dt), x.device());
  Tensor rstd = make_tensor({rows}, stats_dtype(dt), x.device());
  auto vec = [d](const Tensor& t) { return row_norm::as_vector(t, d); };
  backend_for(x).layer_norm(as_matrix(xd, rows, d), vec(wd), vec(bd), eps, as_matrix(y, rows, d), mean, rstd);
  if (autograd::any_requires_grad({&x, &weight, &bias})) {
    autograd::record(
        "layer_norm", {x, weight, bias}, {y},
        [rows, d, vec, ns = normalized_shape, sx = SavedTensor(xd), sw = SavedTensor(wd), mean, rstd, wdt = weight.defined() ? weight.dtype() : dt,
         bdt = bias.defined() ? bias.dtype() : dt](const std::vector<Tensor>& g, const Node& self) -> std::vector<Tensor> {
          const Tensor xv = sx.unpack(self), wv = sw.unpack(self);
          Tensor gx, gw, gb;
          if (self.needs_input_grad(0)) gx = make_tensor(xv.shape(), xv.dtype(), xv.device());
          if (self.needs_input_grad(1)) gw = make_tensor(ns, xv.dtype(), xv.device());
          if (self.needs_input_grad(2)) gb = make_tensor(ns, xv.dtype(), xv.device());
          const Tensor gy = ops::dense(ops::cast(g[0], xv.dtype()));
          backend_for(xv).layer_norm_backward(as_matrix(gy, rows, d), as_matrix(xv, rows, d), mean, rstd, vec(wv),
                                              gx.defined() ? as_matrix(gx, rows, d) : Tensor(), vec(gw), vec(gb));
          return {gx, gw.defined() ? ops::cast(gw, wdt) : gw, gb.defined() ? ops::cast(gb, bdt) : gb};
        });
  }
  return y;
}

Tensor batch_norm(const Tensor& x, const Tensor& running_mean, const Tensor& running_var, const Tensor& weight,
                  const Tensor& bias, bool training, double momentum, double eps) {
  TS_CHECK(x.defined(), "batch_norm: input tensor is undefined");
  TS_CHECK(x.dim() >= 2, "batch_norm: expected an input of shape (N, C) or (N, C, *) but got shape {}",
           shape_str(x.shape()));
  TS_CHECK(is_floating_point(x.dtype()), "batch_norm: expected a floating-point input but got {}", dtype_name(x.dtype()));
  const int64_t c = x.shape()[1];
  const std::pair<const char*, const Tensor*> params[] = {
      {"running_mean", &running_mean}, {"running_var", &running_var}, {"weight", &weight}, {"bias", &bias}};
  for (const auto& [what, t] : params) {
    check_param("batch_norm", what, *t, x);
    TS_CHECK(!t->defined() || (t->dim() == 1 && t->shape()[0] == c),
             "batch_norm: {} of shape {} must be 1-d with one element per channel ({}) of input shape {}", what,
             t->defined() ? shape_str(t->shape()) : "", c, shape_str(x.shape()));
  }
  TS_CHECK(training || (running_mean.defined() && running_var.defined()),
           "batch_norm: running_mean and running_var must be defined when training is false");
  TS_CHECK(running_mean.defined() == running_var.defined(),
           "batch_norm: running_mean and running_var must be both defined or both undefined");
  TS_CHECK(!training || x.numel() / std::max<int64_t>(c, 1) > 1,
           "batch_norm: expected more than 1 value per channel when training, got input of shape {}", shape_str(x.shape()));
  if (training && running_mean.defined()) {
    TS_CHECK(!running_mean.requires_grad() && !running_var.requires_grad(),
             "batch_norm: running_mean and running_var are updated in place and must not require grad");
  }

  const DType dt = x.dtype();
  const Tensor xd = ops::dense(x), wd = kernel_operand(weight, dt), bd = kernel_operand(bias, dt);
  Tensor y = make_tensor(x.shape(), dt, x.device());
  Tensor save_mean = make_tensor({c}, stats_dtype(dt), x.device());
  Tensor save_invstd = make_tensor({c}, stats_dtype(dt), x.device());
  backend_for(x).batch_norm(xd, wd, bd, running_mean, running_var, training, momentum, eps, y, save_mean, save_invstd);
  if (training && running_mean.defined()) {  // written in place: saved copies elsewhere must notice
    running_mean.storage()->bump_version();
    running_var.storage()->bump_version();
  }
  if (autograd::any_requires_grad({&x, &weight, &bias})) {
    autograd::record(
        "batch_norm", {x, weight, bias}, {y},
        [training, sx = SavedTensor(xd), sw = SavedTensor(wd), save_mean, save_invstd,
         wdt = weight.defined() ? weight.dtype() : dt,
         bdt = bias.defined() ? bias.dtype() : dt](const std::vector<Tensor>& g, const Node& self) -> std::vector<Tensor> {
          const Tensor xv = sx.unpack(self), wv = sw.unpack(self);
          const int64_t ch = xv.shape()[1];
          Tensor gx, gw, gb;
          if (self.needs_input_grad(0)) gx = make_tensor(xv.shape(), xv.dtype(), xv.device());
          if (self.needs_input_grad(1)) gw = make_tensor({ch}, xv.dtype(), xv.device());
          if (self.needs_input_grad(2)) gb = make_tensor({ch}, xv.dtype(), xv.device());
          const Tensor gy = ops::dense(ops::cast(g[0], xv.dtype()));
          backend_for(xv).batch_norm_backward(gy, xv, wv, save_mean, save_invstd, training, gx, gw, gb);
          return {gx, gw.defined() ? ops::cast(gw, wdt) : gw, gb.defined() ? ops::cast(gb, bdt) : gb};
        });
  }
  return y;
}

}  // namespace ts
