// conv2d: argument validation, output shape (PyTorch's formula), the backend call and autograd.
// A 3-d (C, H, W) input is treated as a batch of one, as in PyTorch.
#include "ops/op_utils.h"
#include "tessera/nn_functional.h"

namespace ts {
using autograd::Node;
using autograd::SavedTensor;

namespace {

// An int-or-pair argument such as stride={2} or stride={2, 1}.
std::pair<int64_t, int64_t> pair_arg(const char* op, const char* what, const std::vector<int64_t>& v) {
  TS_CHECK(v.size() == 1 || v.size() == 2, "{}: {} must have 1 or 2 elements, got {}", op, what, fmt::join(v, ", "));
  return {v[0], v.size() == 2 ? v[1] : v[0]};
}

void check_dtypes(const Tensor& x, const Tensor& weight, const Tensor& bias) {
  TS_CHECK(is_floating_point(x.dtype()), "conv2d: expected a floating-point input but got {}", dtype_name(x.dtype()));
  TS_CHECK(weight.dtype() == x.dtype(), "conv2d: input dtype {} and weight dtype {} must be the same",
           dtype_name(x.dtype()), dtype_name(weight.dtype()));
  TS_CHECK(!bias.defined() || bias.dtype() == x.dtype(), "conv2d: input dtype {} and bias dtype {} must be the same",
           dtype_name(x.dtype()), dtype_name(bias.dtype()));
}

}  // namespace

Tensor conv2d(const Tensor& x, const Tensor& weight, const Tensor& bias, std::vector<int64_t> stride,
              std::vector<int64_t> padding, std::vector<int64_t> dilation, int64_t groups) {
  TS_CHECK(x.defined() && weight.defined(), "conv2d: input and weight must be defined tensors");
  TS_CHECK(x.dim() == 3 || x.dim() == 4,
           "conv2d: expected a 3-d (C, H, W) or 4-d (N, C, H, W) input but got shape {}", shape_str(x.shape()));
  if (x.dim() == 3) return squeeze(conv2d(unsqueeze(x, 0), weight, bias, stride, padding, dilation, groups), 0);
  TS_CHECK(weight.dim() == 4, "conv2d: expected a 4-d weight (out_channels, in_channels/groups, kH, kW) but got shape {}",
           shape_str(weight.shape()));
  ops::check_same_device("conv2d", {&x, &weight, &bias});
  check_dtypes(x, weight, bias);

  Conv2dParams p;
  std::tie(p.stride_h, p.stride_w) = pair_arg("conv2d", "stride", stride);
  std::tie(p.pad_h, p.pad_w) = pair_arg("conv2d", "padding", padding);
  std::tie(p.dilation_h, p.dilation_w) = pair_arg("conv2d", "dilation", dilation);
  p.groups = groups;
  TS_CHECK(p.stride_h > 0 && p.stride_w > 0, "conv2d: stride must be positive, got ({}, {})", p.stride_h, p.stride_w);
  TS_CHECK(p.pad_h >= 0 && p.pad_w >= 0, "conv2d: padding must be non-negative, got ({}, {})", p.pad_h, p.pad_w);
  TS_CHECK(p.dilation_h > 0 && p.dilation_w > 0, "conv2d: dilation must be positive, got ({}, {})", p.dilation_h,
           p.dilation_w);
  TS_CHECK(groups > 0, "conv2d: groups must be positive, got {}", groups);

  const Shape& xs = x.shape();
  const Shape& ws = weight.shape();
  const int64_t n = xs[0], c = xs[1], h = xs[2], w = xs[3], o = ws[0], kh = ws[2], kw = ws[3];
  TS_CHECK(weight.numel() > 0, "conv2d: weight of shape {} must not be empty", shape_str(ws));
  TS_CHECK(o % groups == 0, "conv2d: out_channels ({}) of weight shape {} must be divisible by groups ({})", o,
           shape_str(ws), groups);
  TS_CHECK(c == ws[1] * groups,
           "conv2d: input of shape {} has {} channels, but weight of shape {} with groups={} expects {} channels", shape_str(xs),
           c, shape_str(ws), groups, ws[1] * groups);
  TS_CHECK(!bias.defined() || (bias.dim() == 1 && bias.shape()[0] == o),
           "conv2d: bias of shape {} must be 1-d with out_channels ({}) elements", bias.defined() ? shape_str(bias.shape()) : "", o);
  const int64_t ekh = p.dilation_h * (kh - 1) + 1, ekw = p.dilation_w * (kw - 1) + 1;
  const int64_t ph = h + 2 * p.pad_h, pw = w + 2 * p.pad_w;
  TS_CHECK(ph >= ekh && pw >= ekw,
           "conv2d: padded input size per channel ({} x {}) is smaller than the (dilated) kernel size ({} x {}); input "
           "shape {}, weight shape {}",
           ph, pw, ekh, ekw, shape_str(xs), shape_str(ws));
  const int64_t ho = (ph - ekh) / p.stride_h + 1, wo = (pw - ekw) / p.stride_w + 1;

  const Tensor xd = ops::dense(x), wd = ops::dense(weight), bd = bias.defined() ? ops::dense(bias) : Tensor();
  Tensor out = make_tensor({n, o, ho, wo}, x.dtype(), x.device());
  backend_for(x).conv2d(xd, wd, bd, p, out);
  if (autograd::any_requires_grad({&x, &weight, &bias})) {
    autograd::record("conv2d", {x, weight, bias}, {out},
                     [p, sx = SavedTensor(xd), sw = SavedTensor(wd)](const std::vector<Tensor>& g,
                                                                    const Node& self) -> std::vector<Tensor> {
                       const Tensor xv = sx.unpack(self), wv = sw.unpack(self);
                       Tensor gx, gw, gb;
                       if (self.needs_input_grad(0)) gx = make_tensor(xv.shape(), xv.dtype(), xv.device());
                       if (self.needs_input_grad(1)) gw = make_tensor(wv.shape(), wv.dtype(), wv.device());
                       if (self.needs_input_grad(2)) gb = make_tensor({wv.shape()[0]}, wv.dtype(), wv.device());
                       const Tensor gy = ops::dense(ops::cast(g[0], xv.dtype()));
                       backend_for(xv).conv2d_backward(gy, xv, wv, p, gx, gw, gb);
                       return {gx, gw, gb};
                     });
  }
  return out;
}

}  // namespace ts
