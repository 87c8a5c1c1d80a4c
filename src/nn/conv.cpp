#include "tessera/nn/conv.h"

#include <cmath>

#include "tessera/creation.h"
#include "tessera/nn/init.h"
#include "tessera/nn_functional.h"

namespace ts::nn {

Conv2d::Conv2d(int64_t in_channels, int64_t out_channels, IntPair kernel_size, IntPair stride, IntPair padding,
               IntPair dilation, int64_t groups, bool with_bias)
    : Conv2d(Conv2dOptions(in_channels, out_channels, kernel_size)
                 .stride(stride)
                 .padding(padding)
                 .dilation(dilation)
                 .groups(groups)
                 .bias(with_bias)) {}

Conv2d::Conv2d(const Conv2dOptions& options) : options_(options) {
  const auto& o = options_;
  TS_CHECK(o.in_channels() > 0 && o.out_channels() > 0,
           "Conv2d: in_channels and out_channels must be positive, got {} and {}", o.in_channels(), o.out_channels());
  TS_CHECK(o.groups() > 0, "Conv2d: groups must be positive, got {}", o.groups());
  TS_CHECK(o.in_channels() % o.groups() == 0, "Conv2d: in_channels ({}) must be divisible by groups ({})",
           o.in_channels(), o.groups());
  TS_CHECK(o.out_channels() % o.groups() == 0, "Conv2d: out_channels ({}) must be divisible by groups ({})",
           o.out_channels(), o.groups());
  TS_CHECK(o.kernel_size().h > 0 && o.kernel_size().w > 0, "Conv2d: kernel_size must be positive, got {}",
           o.kernel_size().str());
  TS_CHECK(o.stride().h > 0 && o.stride().w > 0, "Conv2d: stride must be positive, got {}", o.stride().str());
  TS_CHECK(o.padding().h >= 0 && o.padding().w >= 0, "Conv2d: padding must be non-negative, got {}",
           o.padding().str());
  TS_CHECK(o.dilation().h > 0 && o.dilation().w > 0, "Conv2d: dilation must be positive, got {}",
           o.dilation().str());
  weight = register_parameter(
      "weight", empty({o.out_channels(), o.in_channels() / o.groups(), o.kernel_size().h, o.kernel_size().w}));
  if (o.bias()) bias = register_parameter("bias", empty({o.out_channels()}));
  reset_parameters();
}

void Conv2d::reset_parameters() {
  init::kaiming_uniform_(weight, std::sqrt(5.0));
  if (bias.defined()) {
    const int64_t fan_in = init::calculate_fan_in_and_fan_out(weight).first;
    init::uniform_(bias, -1.0 / std::sqrt(static_cast<double>(fan_in)), 1.0 / std::sqrt(static_cast<double>(fan_in)));
  }
}

Tensor Conv2d::forward(const Tensor& x) {
  const auto& o = options_;
  TS_CHECK(x.defined() && (x.dim() == 4 || x.dim() == 3) && x.size(-3) == o.in_channels(),
           "Conv2d: expected an input of shape (N, {}, H, W) or ({}, H, W) but got {}", o.in_channels(),
           o.in_channels(), x.defined() ? shape_str(x.shape()) : "an undefined tensor");
  // An unbatched (C, H, W) input is accepted like PyTorch's: run it as a batch of one.
  const Tensor xb = x.dim() == 3 ? x.unsqueeze(0) : x;
  Tensor y = conv2d(xb, weight, bias, o.stride().vec(), o.padding().vec(), o.dilation().vec(), o.groups());
  return x.dim() == 3 ? y.squeeze(0) : y;
}

std::string Conv2d::extra_repr() const {
  const auto& o = options_;
  std::string s = fmt::format("{}, {}, kernel_size={}, stride={}", o.in_channels(), o.out_channels(),
                              o.kernel_size().str(), o.stride().str());
  if (o.padding() != IntPair(0)) s += ", padding=" + o.padding().str();
  if (o.dilation() != IntPair(1)) s += ", dilation=" + o.dilation().str();
  if (o.groups() != 1) s += fmt::format(", groups={}", o.groups());
  if (!bias.defined()) s += ", bias=False";
  return s;
}

}  // namespace ts::nn
