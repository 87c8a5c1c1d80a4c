// Reductions over any set of dims, with keepdim, and their backward formulas.
#include <cmath>
#include <limits>

#include "ops/op_utils.h"

namespace ts {
using autograd::Node;
using autograd::SavedTensor;

namespace {

// Shape of the reduction with the reduced dims kept as size 1.
Shape keepdim_shape(const Shape& s, const std::vector<int64_t>& dims) {
  Shape out = s;
  for (auto d : dims) out[static_cast<size_t>(d)] = 1;
  return out;
}

Shape squeezed_shape(const Shape& s, const std::vector<int64_t>& dims) {
  Shape out;
  size_t j = 0;
  for (int64_t d = 0; d < static_cast<int64_t>(s.size()); ++d) {
    if (j < dims.size() && dims[j] == d) {
      ++j;
      continue;
    }
    out.push_back(s[static_cast<size_t>(d)]);
  }
  return out;
}

int64_t count_of(const Shape& s, const std::vector<int64_t>& dims) {
  int64_t n = 1;
  for (auto d : dims) n *= s[static_cast<size_t>(d)];
  return n;
}

// Runs the reduce kernel; returns the keepdim-shaped result (no autograd).
Tensor reduce_raw(ReduceOp op, const Tensor& x, const std::vector<int64_t>& dims, DType dtype) {
  Tensor out = make_tensor(keepdim_shape(x.shape(), dims), dtype, x.device());
  backend_for(x).reduce(op, ops::cast(x, dtype), dims, out);
  return out;
}

// Re-expands a keepdim-less gradient of a reduction back to the input's shape.
Tensor expand_back(const Tensor& g, const Shape& input_shape, const std::vector<int64_t>& dims) {
  return ops::broadcast_view(g.reshape(keepdim_shape(input_shape, dims)), input_shape);
}

Tensor finish(const Tensor& keep, const Shape& in_shape, const std::vector<int64_t>& dims, bool keepdim) {
  return keepdim ? keep : keep.view(squeezed_shape(in_shape, dims));
}

}  // namespace

Tensor autograd::sum_to(const Tensor& grad, const Shape& shape) {
  if (grad.shape() == shape) return grad;
  const int64_t lead = grad.dim() - static_cast<int64_t>(shape.size());
  TS_CHECK(lead >= 0, "sum_to: cannot reduce shape {} to {}", shape_str(grad.shape()), shape_str(shape));
  std::vector<int64_t> dims;
  for (int64_t d = 0; d < grad.dim(); ++d) {
    if (d < lead) {
      dims.push_back(d);
    } else if (shape[static_cast<size_t>(d - lead)] == 1 && grad.shape()[static_cast<size_t>(d)] != 1) {
      dims.push_back(d);
    }
  }
  Tensor r = dims.empty() ? grad : sum(grad, dims, true);
  return r.reshape(shape);
}

Tensor sum(const Tensor& x, const std::vector<int64_t>& dims_in, bool keepdim) {
  const auto dims = wrap_dims(dims_in, x.dim(), "sum");
  // Integer and bool sums accumulate in int64, like PyTorch.
  const DType dt = is_floating_point(x.dtype()) ? x.dtype() : DType::Int64;
  Tensor out = finish(reduce_raw(ReduceOp::Sum, x, dims, dt), x.shape(), dims, keepdim);
  if (autograd::any_requires_grad({&x})) {
    autograd::record("sum", {x}, {out},
                     [shape = x.shape(), dims](const std::vector<Tensor>& g, const Node&) -> std::vector<Tensor> {
                       return {ops::dense(expand_back(g[0], shape, dims))};
                     });
  }
  return out;
}

Tensor mean(const Tensor& x, const std::vector<int64_t>& dims_in, bool keepdim) {
  const auto dims = wrap_dims(dims_in, x.dim(), "mean");
  TS_CHECK(is_floating_point(x.dtype()), "mean: expected a floating-point tensor but got {} (convert with .to())",
           dtype_name(x.dtype()));
  Tensor out = finish(reduce_raw(ReduceOp::Mean, x, dims, x.dtype()), x.shape(), dims, keepdim);
  if (autograd::any_requires_grad({&x})) {
    const double n = static_cast<double>(count_of(x.shape(), dims));
    autograd::record("mean", {x}, {out},
                     [shape = x.shape(), dims, n](const std::vector<Tensor>& g, const Node&) -> std::vector<Tensor> {
                       return {expand_back(g[0], shape, dims) / n};
                     });
  }
  return out;
}

Tensor prod(const Tensor& x, const std::vector<int64_t>& dims_in, bool keepdim) {
  const auto dims = wrap_dims(dims_in, x.dim(), "prod");
  const DType dt = is_floating_point(x.dtype()) ? x.dtype() : DType::Int64;
  Tensor keep = reduce_raw(ReduceOp::Prod, x, dims, dt);
  Tensor out = finish(keep, x.shape(), dims, keepdim);
  if (autograd::any_requires_grad({&x})) {
    // d prod / d x_i = prod / x_i; exact zeros get the product of the others instead.
    autograd::record("prod", {x}, {out},
                     [sx = SavedTensor(x), dims](const std::vector<Tensor>& g, const Node& self) -> std::vector<Tensor> {
                       const Tensor xv = sx.unpack(self);
                       const Tensor gk = expand_back(g[0], xv.shape(), dims);
                       const Tensor is_zero = eq(xv, zeros({}, xv.dtype()));
                       const Tensor safe = where(is_zero, ones({}, xv.dtype()), xv);
                       const Tensor prod_nonzero = ops::broadcast_view(prod(safe, dims, true), xv.shape());
                       const Tensor zero_count = ops::broadcast_view(sum(is_zero, dims, true), xv.shape());
                       // with one zero, only that element gets a gradient; with more, none do
                       const Tensor grad_nz = where(gt(zero_count, zeros({}, kInt64)), zeros({}, xv.dtype()),
                                                    prod_nonzero / safe);
                       const Tensor grad_z = where(eq(zero_count, ones({}, kInt64)), prod_nonzero, zeros({}, xv.dtype()));
                       return {gk * where(is_zero, grad_z, grad_nz)};
                     });
  }
  return out;
}

Tensor var(const Tensor& x, const std::vector<int64_t>& dims_in, bool unbiased, bool keepdim) {
  const auto dims = wrap_dims(dims_in, x.dim(), "var");
  TS_CHECK(is_floating_point(x.dtype()), "var: expected a floating-point tensor but got {}", dtype_name(x.dtype()));
  const int64_t n = count_of(x.shape(), dims);
  const double denom = static_cast<double>(n) - (unbiased ? 1.0 : 0.0);
  // Two passes (mean, then squared deviations) for accuracy; built from differentiable ops.
  const Tensor centered = x - mean(x, dims, true);
  Tensor v = sum(centered * centered, dims, keepdim);
  return denom > 0 ? v / denom : v * std::numeric_limits<double>::quiet_NaN();
}

Tensor std(const Tensor& x, const std::vector<int64_t>& dims, bool unbiased, bool keepdim) {
  return sqrt(var(x, dims, unbiased, keepdim));
}

namespace {

// max/min over all elements (or a dim set); gradient split evenly among ties, like PyTorch.
Tensor extremum_all(ReduceOp op, const Tensor& x, const char* name) {
  TS_CHECK(x.numel() > 0, "{}: cannot reduce an empty tensor of shape {} (no identity)", name, shape_str(x.shape()));
  const auto dims = wrap_dims({}, x.dim(), name);
  Tensor out = reduce_raw(op, x, dims, x.dtype()).reshape({});
  if (autograd::any_requires_grad({&x})) {
    autograd::record(name, {x}, {out},
                     [sx = SavedTensor(x), so = SavedTensor(out)](const std::vector<Tensor>& g,
                                                               const Node& self) -> std::vector<Tensor> {
                       const Tensor xv = sx.unpack(self);
                       const Tensor mask = ops::cast(eq(xv, so.unpack(self)), xv.dtype());
                       return {mask * (g[0] / sum(mask))};
                     });
  }
  return out;
}

std::pair<Tensor, Tensor> extremum_dim(ReduceOp op, const Tensor& x, int64_t dim_in, bool keepdim, const char* name) {
  const int64_t dim = wrap_dim(dim_in, x.dim(), name);
  const int64_t d = x.dim() == 0 ? 0 : dim;
  const Tensor xs = x.dim() == 0 ? x.reshape({1}) : x;
  TS_CHECK(xs.shape()[static_cast<size_t>(d)] > 0, "{}: cannot reduce over dimension {} of size 0 (shape {})", name, dim,
           shape_str(x.shape()));
  const Shape keep = keepdim_shape(xs.shape(), {d});
  Tensor values = make_tensor(keep, x.dtype(), x.device());
  Tensor indices = make_tensor(keep, DType::Int64, x.device());
  backend_for(x).arg_reduce(op, xs, d, values, indices);
  if (x.dim() == 0 || !keepdim) {
    const Shape s = x.dim() == 0 ? Shape{} : squeezed_shape(xs.shape(), {d});
    values = values.view(s);
    indices = indices.view(s);
  }
  if (autograd::any_requires_grad({&x})) {
    autograd::record(name, {x}, {values, indices},
                     [shape = x.shape(), d, idx = indices](const std::vector<Tensor>& g,
                                                                    const Node&) -> std::vector<Tensor> {
                       const Shape xs_shape = shape.empty() ? Shape{1} : shape;
                       const Shape keep_shape = keepdim_shape(xs_shape, {d});
                       // one-hot of the winning index along d, built from elementwise ops
                       Shape ar_shape(xs_shape.size(), 1);
                       ar_shape[static_cast<size_t>(d)] = xs_shape[static_cast<size_t>(d)];
                       const Tensor ar = arange(xs_shape[static_cast<size_t>(d)],
                                                TensorOptions(kInt64).with_device(g[0].device())).reshape(ar_shape);
                       const Tensor hit = eq(ar, idx.reshape(keep_shape));
                       const Tensor gi = where(hit, g[0].reshape(keep_shape), zeros({}, g[0].dtype()));
                       return {gi.reshape(shape)};
                     });
  }
  return {values, indices};
}

}  // namespace

Tensor max(const Tensor& x) { return extremum_all(ReduceOp::Max, x, "max"); }
Tensor min(const Tensor& x) { return extremum_all(ReduceOp::Min, x, "min"); }
std::pair<Tensor, Tensor> max(const Tensor& x, int64_t dim, bool keepdim) {
  return extremum_dim(ReduceOp::Max, x, dim, keepdim, "max");
}
std::pair<Tensor, Tensor> min(const Tensor& x, int64_t dim, bool keepdim) {
  return extremum_dim(ReduceOp::Min, x, dim, keepdim, "min");
}

Tensor argmax(const Tensor& x, std::optional<int64_t> dim, bool keepdim) {
  NoGradGuard g;
  if (!dim) {
    Tensor r = max(x.reshape({-1}), 0, false).second;
    return keepdim ? r.reshape(Shape(static_cast<size_t>(x.dim()), 1)) : r;
  }
  return max(x, *dim, keepdim).second;
}

Tensor argmin(const Tensor& x, std::optional<int64_t> dim, bool keepdim) {
  NoGradGuard g;
  if (!dim) {
    Tensor r = min(x.reshape({-1}), 0, false).second;
    return keepdim ? r.reshape(Shape(static_cast<size_t>(x.dim()), 1)) : r;
  }
  return min(x, *dim, keepdim).second;
}

Tensor logsumexp(const Tensor& x, const std::vector<int64_t>& dims_in, bool keepdim) {
  const auto dims = wrap_dims(dims_in, x.dim(), "logsumexp");
  TS_CHECK(is_floating_point(x.dtype()), "logsumexp: expected a floating-point tensor but got {}", dtype_name(x.dtype()));
  // Shift by the (detached) max so exp never overflows; infinite maxima shift by 0.
  Tensor m;
  {
    NoGradGuard g;
    m = reduce_raw(ReduceOp::Max, x, dims, x.dtype());
    m = where(eq(abs(m), full({}, std::numeric_limits<double>::infinity(), m.dtype())), zeros({}, m.dtype()), m);
  }
  Tensor r = log(sum(exp(x - m), dims, true)) + m;
  return keepdim ? r : r.view(squeezed_shape(x.shape(), dims));
}

Tensor norm(const Tensor& x, double p, const std::vector<int64_t>& dims, bool keepdim) {
  TS_CHECK(is_floating_point(x.dtype()), "norm: expected a floating-point tensor but got {}", dtype_name(x.dtype()));
  if (std::isinf(p)) {
    const auto wd = wrap_dims(dims, x.dim(), "norm");
    Tensor a = abs(x);
    // max over several dims: flatten them by reducing one at a time
    Tensor r = a;
    for (size_t i = wd.size(); i-- > 0;) r = (p > 0 ? max(r, wd[i], true) : min(r, wd[i], true)).first;
    return keepdim ? r : r.view(squeezed_shape(x.shape(), wd));
  }
  TS_CHECK(p > 0, "norm: p must be positive or infinite, got {}", p);
  if (p == 1.0) return sum(abs(x), dims, keepdim);
  if (p == 2.0) return sqrt(sum(x * x, dims, keepdim));
  return pow(sum(pow(abs(x), p), dims, keepdim), 1.0 / p);
}

}  // namespace ts
