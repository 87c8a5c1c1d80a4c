// 2-d pooling ops: max (with indices), average and adaptive average. Argument checks and output
// sizes follow PyTorch exactly (pooling_output_shape and pool2d_shape_check), including
// ceil_mode's rule that the last window must start inside the input or its left padding.
// A 3-d (C, H, W) input is treated as a batch of one.
#include <tuple>
#include <utility>

#include "ops/op_utils.h"
#include "tessera/nn_functional.h"

namespace ts {
using autograd::Node;
using autograd::SavedTensor;

namespace {

// An int-or-pair argument such as kernel_size={2} or kernel_size={3, 2}.
std::pair<int64_t, int64_t> pair_arg(const char* op, const char* what, const std::vector<int64_t>& v) {
  TS_CHECK(v.size() == 1 || v.size() == 2, "{}: {} must have 1 or 2 elements, got [{}]", op, what, fmt::join(v, ", "));
  return {v[0], v.size() == 2 ? v[1] : v[0]};
}

int64_t floor_div(int64_t a, int64_t b) { return a / b - ((a % b != 0) && ((a < 0) != (b < 0)) ? 1 : 0); }

int64_t pool_out_size(int64_t in, int64_t k, int64_t pad, int64_t stride, int64_t dilation, bool ceil_mode) {
  int64_t out = floor_div(in + 2 * pad - dilation * (k - 1) - 1 + (ceil_mode ? stride - 1 : 0), stride) + 1;
  if (ceil_mode && (out - 1) * stride >= in + pad) --out;
  return out;
}

void check_input(const char* op, const Tensor& x) {
  TS_CHECK(x.defined(), "{}: input tensor is undefined", op);
  TS_CHECK(x.dim() == 4, "{}: expected a 3-d (C, H, W) or 4-d (N, C, H, W) input but got shape {}", op,
           shape_str(x.shape()));
  TS_CHECK(x.shape()[1] > 0 && x.shape()[2] > 0 && x.shape()[3] > 0,
           "{}: expected an input with non-empty channel and spatial dims but got shape {}", op, shape_str(x.shape()));
  TS_CHECK(is_floating_point(x.dtype()), "{}: expected a floating-point input but got {}", op, dtype_name(x.dtype()));
}

struct PoolGeom {
  Pool2dParams p;
  int64_t ho, wo;
};

PoolGeom pool_geom(const char* op, const Tensor& x, const std::vector<int64_t>& kernel_size,
                   const std::vector<int64_t>& stride, const std::vector<int64_t>& padding,
                   const std::vector<int64_t>& dilation, bool ceil_mode) {
  PoolGeom g;
  Pool2dParams& p = g.p;
  std::tie(p.kernel_h, p.kernel_w) = pair_arg(op, "kernel_size", kernel_size);
  std::tie(p.stride_h, p.stride_w) = stride.empty() ? std::pair(p.kernel_h, p.kernel_w) : pair_arg(op, "stride", stride);
  std::tie(p.pad_h, p.pad_w) = pair_arg(op, "padding", padding);
  std::tie(p.dilation_h, p.dilation_w) = pair_arg(op, "dilation", dilation);
  TS_CHECK(p.kernel_h > 0 && p.kernel_w > 0, "{}: kernel_size must be positive, got ({}, {})", op, p.kernel_h,
           p.kernel_w);
  TS_CHECK(p.stride_h > 0 && p.stride_w > 0, "{}: stride must be positive, got ({}, {})", op, p.stride_h, p.stride_w);
  TS_CHECK(p.dilation_h > 0 && p.dilation_w > 0, "{}: dilation must be positive, got ({}, {})", op, p.dilation_h,
           p.dilation_w);
  TS_CHECK(p.pad_h >= 0 && p.pad_w >= 0 && p.pad_h <= p.kernel_h / 2 && p.pad_w <= p.kernel_w / 2,
           "{}: padding must be non-negative and at most half the kernel size, but got padding=({}, {}) and "
           "kernel_size=({}, {})",
           op, p.pad_h, p.pad_w, p.kernel_h, p.kernel_w);
  const int64_t h = x.shape()[2], w = x.shape()[3];
  g.ho = pool_out_size(h, p.kernel_h, p.pad_h, p.stride_h, p.dilation_h, ceil_mode);
  g.wo = pool_out_size(w, p.kernel_w, p.pad_w, p.stride_w, p.dilation_w, ceil_mode);
  TS_CHECK(g.ho >= 1 && g.wo >= 1,
           "{}: the output size ({} x {}) is too small for input shape {} (kernel_size=({}, {}), stride=({}, {}), "
           "padding=({}, {}), dilation=({}, {}))",
           op, g.ho, g.wo, shape_str(x.shape()), p.kernel_h, p.kernel_w, p.stride_h, p.stride_w, p.pad_h, p.pad_w,
           p.dilation_h, p.dilation_w);
  return g;
}

Tensor batch_of_one(const Tensor& x) { return x.defined() && x.dim() == 3 ? unsqueeze(x, 0) : x; }

}  // namespace

std::pair<Tensor, Tensor> max_pool2d_with_indices(const Tensor& x_in, std::vector<int64_t> kernel_size,
                                                  std::vector<int64_t> stride, std::vector<int64_t> padding,
                                                  std::vector<int64_t> dilation, bool ceil_mode) {
  const Tensor x = batch_of_one(x_in);
  check_input("max_pool2d", x);
  const PoolGeom g = pool_geom("max_pool2d", x, kernel_size, stride, padding, dilation, ceil_mode);
  const Shape out_shape{x.shape()[0], x.shape()[1], g.ho, g.wo};
  Tensor out = make_tensor(out_shape, x.dtype(), x.device());
  Tensor indices = make_tensor(out_shape, DType::Int64, x.device());
  backend_for(x).max_pool2d(ops::dense(x), g.p, out, indices);
  if (autograd::any_requires_grad({&x})) {
    autograd::record("max_pool2d", {x}, {out},
                     [xshape = x.shape(), p = g.p, si = SavedTensor(indices)](const std::vector<Tensor>& grads,
                                                                     const Node& self) -> std::vector<Tensor> {
                       const Tensor idx = si.unpack(self);
                       Tensor gx = make_tensor(xshape, grads[0].dtype(), grads[0].device());
                       backend_for(gx).max_pool2d_backward(ops::dense(grads[0]), idx, p, gx);
                       return {gx};
                     });
  }
  if (x_in.dim() == 3) return {squeeze(out, 0), indices.squeeze(0)};
  return {out, indices};
}

Tensor max_pool2d(const Tensor& x, std::vector<int64_t> kernel_size, std::vector<int64_t> stride,
                  std::vector<int64_t> padding, std::vector<int64_t> dilation, bool ceil_mode) {
  return max_pool2d_with_indices(x, std::move(kernel_size), std::move(stride), std::move(padding), std::move(dilation),
                                 ceil_mode)
      .first;
}

Tensor avg_pool2d(const Tensor& x_in, std::vector<int64_t> kernel_size, std::vector<int64_t> stride,
                  std::vector<int64_t> padding, bool ceil_mode, bool count_include_pad) {
  const Tensor x = batch_of_one(x_in);
  check_input("avg_pool2d", x);
  PoolGeom g = pool_geom("avg_pool2d", x, kernel_size, stride, padding, {1, 1}, ceil_mode);
  g.p.count_include_pad = count_include_pad;
  Tensor out = make_tensor({x.shape()[0], x.shape()[1], g.ho, g.wo}, x.dtype(), x.device());
  backend_for(x).avg_pool2d(ops::dense(x), g.p, out);
  if (autograd::any_requires_grad({&x})) {
    autograd::record("avg_pool2d", {x}, {out},
                     [xshape = x.shape(), p = g.p](const std::vector<Tensor>& grads,
                                                   const Node&) -> std::vector<Tensor> {
                       Tensor gx = make_tensor(xshape, grads[0].dtype(), grads[0].device());
                       backend_for(gx).avg_pool2d_backward(ops::dense(grads[0]), p, gx);
                       return {gx};
                     });
  }
  return x_in.dim() == 3 ? squeeze(out, 0) : out;
}

Tensor adaptive_avg_pool2d(const Tensor& x_in, std::vector<int64_t> output_size) {
  const Tensor x = batch_of_one(x_in);
  check_input("adaptive_avg_pool2d", x);
  const auto [ho, wo] = pair_arg("adaptive_avg_pool2d", "output_size", output_size);
  TS_CHECK(ho >= 0 && wo >= 0, "adaptive_avg_pool2d: output_size must be non-negative, got ({}, {})", ho, wo);
  Tensor out = make_tensor({x.shape()[0], x.shape()[1], ho, wo}, x.dtype(), x.device());
  backend_for(x).adaptive_avg_pool2d(ops::dense(x), out);
  if (autograd::any_requires_grad({&x})) {
    autograd::record("adaptive_avg_pool2d", {x}, {out},
                     [xshape = x.shape()](const std::vector<Tensor>& grads, const Node&) -> std::vector<Tensor> {
                       Tensor gx = make_tensor(xshape, grads[0].dtype(), grads[0].device());
                       backend_for(gx).adaptive_avg_pool2d_backward(ops::dense(grads[0]), gx);
                       return {gx};
                     });
  }
  return x_in.dim() == 3 ? squeeze(out, 0) : out;
}

}  // namespace ts
