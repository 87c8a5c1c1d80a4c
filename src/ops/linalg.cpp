// matmul / mm / bmm / linear. One batched kernel (Backend::matmul) with autograd; the
// torch::matmul cases (vectors, broadcasting batch dims) are built on it with view ops, so
// their gradients come from the views' backward (sum_to over broadcast batch dims).
#include "ops/op_utils.h"

namespace ts {
using autograd::Node;
using autograd::SavedTensor;

namespace {

void check_matmul_dtypes(const char* op, const Tensor& a, const Tensor& b) {
  TS_CHECK(a.dtype() == b.dtype(), "{}: expected both operands to have the same dtype, but got {} and {}", op,
           dtype_name(a.dtype()), dtype_name(b.dtype()));
  TS_CHECK(is_floating_point(a.dtype()), "{}: expected floating-point operands, but got {}", op, dtype_name(a.dtype()));
  ops::check_same_device(op, {&a, &b});
}

// (B, M, K) @ (B, K, N) -> (B, M, N), any strides in, contiguous out.
Tensor batched_matmul(const Tensor& a, const Tensor& b) {
  Tensor out = make_tensor({a.shape()[0], a.shape()[1], b.shape()[2]}, a.dtype(), a.device());
  backend_for(a).matmul(a, b, out);
  if (autograd::any_requires_grad({&a, &b})) {
    autograd::record("bmm", {a, b}, {out},
                     [sa = SavedTensor(a), sb = SavedTensor(b)](const std::vector<Tensor>& g,
                                                               const Node& self) -> std::vector<Tensor> {
                       Tensor ga, gb;
                       // transposes are free views: the kernel maps column-major operands directly
                       if (self.needs_input_grad(0)) ga = batched_matmul(g[0], sb.unpack(self).transpose(1, 2));
                       if (self.needs_input_grad(1)) gb = batched_matmul(sa.unpack(self).transpose(1, 2), g[0]);
                       return {ga, gb};
                     });
  }
  return out;
}

}  // namespace

Tensor bmm(const Tensor& a, const Tensor& b) {
  check_matmul_dtypes("bmm", a, b);
  TS_CHECK(a.dim() == 3 && b.dim() == 3, "bmm: expected 3-D tensors, but got shapes {} and {}", shape_str(a.shape()),
           shape_str(b.shape()));
  TS_CHECK(a.shape()[0] == b.shape()[0] && a.shape()[2] == b.shape()[1],
           "bmm: shapes {} and {} cannot be multiplied (need equal batch and a.size(2) == b.size(1))",
           shape_str(a.shape()), shape_str(b.shape()));
  return batched_matmul(a, b);
}

Tensor mm(const Tensor& a, const Tensor& b) {
  check_matmul_dtypes("mm", a, b);
  TS_CHECK(a.dim() == 2 && b.dim() == 2, "mm: expected 2-D tensors, but got shapes {} and {}", shape_str(a.shape()),
           shape_str(b.shape()));
  TS_CHECK(a.shape()[1] == b.shape()[0], "mm: shapes {} and {} cannot be multiplied ({}x{} and {}x{})",
           shape_str(a.shape()), shape_str(b.shape()), a.shape()[0], a.shape()[1], b.shape()[0], b.shape()[1]);
  return batched_matmul(a.unsqueeze(0), b.unsqueeze(0)).squeeze(0);
}

Tensor matmul(const Tensor& a, const Tensor& b) {
  TS_CHECK(a.dim() >= 1 && b.dim() >= 1, "matmul: both arguments need at least 1 dimension, but got shapes {} and {}",
           shape_str(a.shape()), shape_str(b.shape()));
  check_matmul_dtypes("matmul", a, b);
  const int64_t ka = a.shape().back(), kb = b.dim() == 1 ? b.shape()[0] : b.shape()[static_cast<size_t>(b.dim() - 2)];
  TS_CHECK(ka == kb, "matmul: shapes {} and {} cannot be multiplied (inner dimensions {} and {} differ)",
           shape_str(a.shape()), shape_str(b.shape()), ka, kb);
  if (a.dim() == 1 && b.dim() == 1) return mm(a.unsqueeze(0), b.unsqueeze(1)).reshape({});
  if (a.dim() == 2 && b.dim() == 1) return mm(a, b.unsqueeze(1)).squeeze(1);
  if (a.dim() == 1 && b.dim() == 2) return mm(a.unsqueeze(0), b).squeeze(0);
  if (a.dim() == 2 && b.dim() == 2) return mm(a, b);
  if (b.dim() <= 2 && a.dim() > 2) {
    // (..., M, K) @ (K, N): fold the batch into M for one large GEMM.
    Shape out_shape(a.shape().begin(), a.shape().end() - 1);
    const Tensor b2 = b.dim() == 1 ? b.unsqueeze(1) : b;
    if (b.dim() == 2) out_shape.push_back(b.shape()[1]);
    Tensor r = mm(a.reshape({-1, ka}), b2);
    return r.reshape(out_shape);
  }
  // General case: broadcast batch dims.
  const Tensor a2 = a.dim() == 1 ? a.unsqueeze(0) : a;
  const Tensor b2 = b.dim() == 1 ? b.unsqueeze(1) : b;
  const Shape a_batch(a2.shape().begin(), a2.shape().end() - 2), b_batch(b2.shape().begin(), b2.shape().end() - 2);
  const Shape batch = broadcast_shapes(a_batch, b_batch, "matmul");
  const int64_t m = a2.shape()[static_cast<size_t>(a2.dim() - 2)], n = b2.shape().back(), nb = numel_of(batch);
  Shape a_full = batch, b_full = batch;
  a_full.insert(a_full.end(), {m, ka});
  b_full.insert(b_full.end(), {ka, n});
  Tensor r = batched_matmul(a2.expand(a_full).reshape({nb, m, ka}), b2.expand(b_full).reshape({nb, ka, n}));
  Shape out_shape = batch;
  if (a.dim() > 1) out_shape.push_back(m);
  if (b.dim() > 1) out_shape.push_back(n);
  return r.reshape(out_shape);
}

Tensor linear(const Tensor& x, const Tensor& weight, const Tensor& bias) {
  TS_CHECK(weight.dim() == 2, "linear: weight must be 2-D (out_features, in_features), got shape {}",
           shape_str(weight.shape()));
  TS_CHECK(x.dim() >= 1 && x.shape().back() == weight.shape()[1],
           "linear: input of shape {} does not match weight of shape {} (expected last input dim {})",
           shape_str(x.shape()), shape_str(weight.shape()), weight.shape()[1]);
  TS_CHECK(!bias.defined() || (bias.dim() == 1 && bias.shape()[0] == weight.shape()[0]),
           "linear: bias of shape {} does not match weight of shape {} (expected [{}])",
           bias.defined() ? shape_str(bias.shape()) : "", shape_str(weight.shape()), weight.shape()[0]);
  check_matmul_dtypes("linear", x, weight);
  // One node for the whole layer (not matmul + transpose + add), so that the weight gradient
  // is computed directly in the weight's (out, in) layout: g^T @ x, no transposed copy.
  const int64_t in = weight.shape()[1], out_features = weight.shape()[0];
  Shape out_shape = x.shape();
  out_shape.back() = out_features;
  Tensor y;
  {
    NoGradGuard no_grad;
    const Tensor x2 = x.reshape({-1, in});
    y = batched_matmul(x2.unsqueeze(0), weight.t().unsqueeze(0)).view({x2.size(0), out_features});
    if (bias.defined()) y.add_(bias);
    y = y.view(out_shape);
  }
  if (autograd::any_requires_grad({&x, &weight, &bias})) {
    autograd::record("linear", {x, weight, bias}, {y},
                     [sx = SavedTensor(x), sw = SavedTensor(weight), in](const std::vector<Tensor>& g,
                                                                         const Node& self) -> std::vector<Tensor> {
                       const Tensor g2 = g[0].reshape({-1, g[0].shape().back()});
                       Tensor gx, gw, gb;
                       if (self.needs_input_grad(0)) {
                         const Tensor xv = sx.unpack(self);
                         gx = mm(g2, sw.unpack(self)).view(xv.shape());
                       }
                       if (self.needs_input_grad(1)) gw = mm(g2.t(), sx.unpack(self).reshape({-1, in}));
                       if (self.needs_input_grad(2)) gb = sum(g2, {0});
                       return {gx, gw, gb};
                     });
  }
  return y;
}

}  // namespace ts
