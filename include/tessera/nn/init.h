#pragma once
/// Parameter initializers (torch::nn::init). All draws go through the global Philox generator,
/// so ts::manual_seed makes a model's initial weights reproducible. Every function fills its
/// tensor in place without recording autograd and returns the same handle.
#include <cstdint>
#include <utility>

#include "tessera/tensor.h"

namespace ts::nn::init {

enum class FanMode { FanIn, FanOut };
enum class Nonlinearity { Linear, Conv1d, Conv2d, Conv3d, Sigmoid, Tanh, ReLU, LeakyReLU, SELU };

/// PyTorch's recommended gain: 1 for linear/conv/sigmoid, 5/3 tanh, sqrt(2) relu,
/// sqrt(2 / (1 + param^2)) leaky_relu (param = negative slope), 3/4 selu.
double calculate_gain(Nonlinearity nonlinearity, double param = 0.01);
/// {fan_in, fan_out} of a weight (out, in, *kernel): in * receptive field, out * receptive field.
std::pair<int64_t, int64_t> calculate_fan_in_and_fan_out(const Tensor& tensor);

Tensor uniform_(Tensor tensor, double a = 0.0, double b = 1.0);
Tensor normal_(Tensor tensor, double mean = 0.0, double std = 1.0);
Tensor constant_(Tensor tensor, double value);
Tensor zeros_(Tensor tensor);
Tensor ones_(Tensor tensor);
/// N(mean, std) restricted to [a, b] (inverse-CDF sampling, as PyTorch).
Tensor trunc_normal_(Tensor tensor, double mean = 0.0, double std = 1.0, double a = -2.0, double b = 2.0);

/// U(-bound, bound) with bound = gain * sqrt(3 / fan); `a` is the leaky_relu slope.
Tensor kaiming_uniform_(Tensor tensor, double a = 0.0, FanMode mode = FanMode::FanIn,
                        Nonlinearity nonlinearity = Nonlinearity::LeakyReLU);
/// N(0, std) with std = gain / sqrt(fan).
Tensor kaiming_normal_(Tensor tensor, double a = 0.0, FanMode mode = FanMode::FanIn,
                       Nonlinearity nonlinearity = Nonlinearity::LeakyReLU);
/// U(-a, a) with a = gain * sqrt(6 / (fan_in + fan_out)).
Tensor xavier_uniform_(Tensor tensor, double gain = 1.0);
/// N(0, std) with std = gain * sqrt(2 / (fan_in + fan_out)).
Tensor xavier_normal_(Tensor tensor, double gain = 1.0);

}  // namespace ts::nn::init
