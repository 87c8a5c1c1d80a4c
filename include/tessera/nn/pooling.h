#pragma once
/// MaxPool2d, AvgPool2d, AdaptiveAvgPool2d (torch.nn.*Pool2d). No parameters.
#include <optional>

#include "tessera/nn/module.h"
#include "tessera/nn/options.h"

namespace ts::nn {

/// stride defaults to kernel_size, as in PyTorch.
class MaxPool2d : public UnaryModule {
 public:
  explicit MaxPool2d(IntPair kernel_size, std::optional<IntPair> stride = std::nullopt, IntPair padding = 0,
                     IntPair dilation = 1, bool ceil_mode = false);
  Tensor forward(const Tensor& x) override;
  std::string extra_repr() const override;

 private:
  IntPair kernel_size_;
  IntPair stride_;
  IntPair padding_;
  IntPair dilation_;
  bool ceil_mode_;
};

class AvgPool2d : public UnaryModule {
 public:
  explicit AvgPool2d(IntPair kernel_size, std::optional<IntPair> stride = std::nullopt, IntPair padding = 0,
                     bool ceil_mode = false, bool count_include_pad = true);
  Tensor forward(const Tensor& x) override;
  std::string extra_repr() const override;

 private:
  IntPair kernel_size_;
  IntPair stride_;
  IntPair padding_;
  bool ceil_mode_;
  bool count_include_pad_;
};

/// Averages into a fixed (out_h, out_w) grid whatever the input size.
class AdaptiveAvgPool2d : public UnaryModule {
 public:
  explicit AdaptiveAvgPool2d(IntPair output_size) : output_size_(output_size) {}
  Tensor forward(const Tensor& x) override;
  std::string extra_repr() const override;

 private:
  IntPair output_size_;
};

}  // namespace ts::nn
