#pragma once
/// Conv2d (torch.nn.Conv2d) with stride, zero padding, dilation, groups and optional bias.
#include "tessera/nn/module.h"
#include "tessera/nn/options.h"

namespace ts::nn {

/// Conv2dOptions(in, out, 3).stride(2).padding(1).bias(false), as libtorch.
struct Conv2dOptions {
  Conv2dOptions(int64_t in_channels, int64_t out_channels, IntPair kernel_size)
      : in_channels_(in_channels), out_channels_(out_channels), kernel_size_(kernel_size) {}
  TS_NN_ARG(int64_t, in_channels);
  TS_NN_ARG(int64_t, out_channels);
  TS_NN_ARG(IntPair, kernel_size);
  TS_NN_ARG(IntPair, stride) = 1;
  TS_NN_ARG(IntPair, padding) = 0;
  TS_NN_ARG(IntPair, dilation) = 1;
  TS_NN_ARG(int64_t, groups) = 1;
  TS_NN_ARG(bool, bias) = true;
};

/// x (N, C_in, H, W) -> (N, C_out, H', W'). weight (C_out, C_in / groups, kH, kW), bias
/// (C_out); initialized like PyTorch (kaiming_uniform_(a = sqrt(5)), bias U(+-1/sqrt(fan_in))).
class Conv2d : public UnaryModule {
 public:
  explicit Conv2d(const Conv2dOptions& options);
  Conv2d(int64_t in_channels, int64_t out_channels, IntPair kernel_size, IntPair stride = 1, IntPair padding = 0,
         IntPair dilation = 1, int64_t groups = 1, bool bias = true);
  Tensor forward(const Tensor& x) override;
  void reset_parameters();
  std::string extra_repr() const override;
  const Conv2dOptions& options() const { return options_; }

  Tensor weight;
  Tensor bias;  ///< undefined when bias(false)

 private:
  Conv2dOptions options_;
};

}  // namespace ts::nn
