#include "tessera/nn/pooling.h"

#include "tessera/nn_functional.h"

namespace ts::nn {

namespace {
const char* py_bool(bool b) { return b ? "True" : "False"; }
}  // namespace

// Printouts follow PyTorch's reprs exactly, so a model prints the same in both.
MaxPool2d::MaxPool2d(IntPair kernel_size, std::optional<IntPair> stride, IntPair padding, IntPair dilation,
                     bool ceil_mode)
    : kernel_size_(kernel_size),
      stride_(stride.value_or(kernel_size)),
      padding_(padding),
      dilation_(dilation),
      ceil_mode_(ceil_mode) {}

Tensor MaxPool2d::forward(const Tensor& x) {
  return max_pool2d(x, kernel_size_.vec(), stride_.vec(), padding_.vec(), dilation_.vec(), ceil_mode_);
}

std::string MaxPool2d::extra_repr() const {
  return fmt::format("kernel_size={}, stride={}, padding={}, dilation={}, ceil_mode={}", kernel_size_.short_str(),
                     stride_.short_str(), padding_.short_str(), dilation_.short_str(), py_bool(ceil_mode_));
}

AvgPool2d::AvgPool2d(IntPair kernel_size, std::optional<IntPair> stride, IntPair padding, bool ceil_mode,
                     bool count_include_pad)
    : kernel_size_(kernel_size),
      stride_(stride.value_or(kernel_size)),
      padding_(padding),
      ceil_mode_(ceil_mode),
      count_include_pad_(count_include_pad) {}

Tensor AvgPool2d::forward(const Tensor& x) {
  return avg_pool2d(x, kernel_size_.vec(), stride_.vec(), padding_.vec(), ceil_mode_, count_include_pad_);
}

std::string AvgPool2d::extra_repr() const {
  return fmt::format("kernel_size={}, stride={}, padding={}", kernel_size_.short_str(), stride_.short_str(),
                     padding_.short_str());
}

Tensor AdaptiveAvgPool2d::forward(const Tensor& x) { return adaptive_avg_pool2d(x, output_size_.vec()); }

std::string AdaptiveAvgPool2d::extra_repr() const { return "output_size=" + output_size_.short_str(); }

}  // namespace ts::nn
