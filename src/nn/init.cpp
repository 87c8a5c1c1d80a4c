#include "tessera/nn/init.h"

#include <cmath>
#include <limits>

#include "tessera/autograd.h"
#include "tessera/creation.h"
#include "tessera/error.h"
#include "tessera/parallel.h"

namespace ts::nn::init {

namespace {

int64_t fan_for(const Tensor& t, FanMode mode, const char* op) {
  TS_CHECK(t.defined(), "{}: tensor is undefined", op);
  auto [fan_in, fan_out] = calculate_fan_in_and_fan_out(t);
  return mode == FanMode::FanIn ? fan_in : fan_out;
}

/// erf^{-1}(y) for y in (-1, 1): Giles' approximation refined by Newton steps on erf, which
/// converge to full double precision from its ~1e-7 starting error.
double erfinv(double y) {
  if (y <= -1.0) return -std::numeric_limits<double>::infinity();
  if (y >= 1.0) return std::numeric_limits<double>::infinity();
  double w = -std::log((1.0 - y) * (1.0 + y));
  double x;
  if (w < 5.0) {
    w -= 2.5;
    double p = 2.81022636e-08;
    p = 3.43273939e-07 + p * w;
    p = -3.5233877e-06 + p * w;
    p = -4.39150654e-06 + p * w;
    p = 0.00021858087 + p * w;
    p = -0.00125372503 + p * w;
    p = -0.00417768164 + p * w;
    p = 0.246640727 + p * w;
    p = 1.50140941 + p * w;
    x = p * y;
  } else {
    w = std::sqrt(w) - 3.0;
    double p = -0.000200214257;
    p = 0.000100950558 + p * w;
    p = 0.00134934322 + p * w;
    p = -0.00367342844 + p * w;
    p = 0.00573950773 + p * w;
    p = -0.0076224613 + p * w;
    p = 0.00943887047 + p * w;
    p = 1.00167406 + p * w;
    p = 2.83297682 + p * w;
    x = p * y;
  }
  const double two_over_sqrt_pi = 1.1283791670955126;
  for (int i = 0; i < 2; ++i) x -= (std::erf(x) - y) / (two_over_sqrt_pi * std::exp(-x * x));
  return x;
}

double norm_cdf(double x) { return 0.5 * (1.0 + std::erf(x / std::sqrt(2.0))); }

}  // namespace

double calculate_gain(Nonlinearity nonlinearity, double param) {
  switch (nonlinearity) {
    case Nonlinearity::Linear:
    case Nonlinearity::Conv1d:
    case Nonlinearity::Conv2d:
    case Nonlinearity::Conv3d:
    case Nonlinearity::Sigmoid: return 1.0;
    case Nonlinearity::Tanh: return 5.0 / 3.0;
    case Nonlinearity::ReLU: return std::sqrt(2.0);
    case Nonlinearity::LeakyReLU: return std::sqrt(2.0 / (1.0 + param * param));
    case Nonlinearity::SELU: return 3.0 / 4.0;
  }
  TS_ERROR("calculate_gain: unknown nonlinearity {}", static_cast<int>(nonlinearity));
}

std::pair<int64_t, int64_t> calculate_fan_in_and_fan_out(const Tensor& tensor) {
  TS_CHECK(tensor.defined(), "calculate_fan_in_and_fan_out: tensor is undefined");
  TS_CHECK(tensor.dim() >= 2,
           "calculate_fan_in_and_fan_out: fan in and fan out cannot be computed for a tensor with fewer than 2 "
           "dimensions (got shape {})",
           shape_str(tensor.shape()));
  int64_t receptive = 1;
  for (int64_t d = 2; d < tensor.dim(); ++d) receptive *= tensor.size(d);
  return {tensor.size(1) * receptive, tensor.size(0) * receptive};
}

Tensor uniform_(Tensor tensor, double a, double b) {
  TS_CHECK(tensor.defined(), "init::uniform_: tensor is undefined");
  NoGradGuard no_grad;
  ts::uniform_(tensor, a, b);
  return tensor;
}

Tensor normal_(Tensor tensor, double mean, double std) {
  TS_CHECK(tensor.defined(), "init::normal_: tensor is undefined");
  NoGradGuard no_grad;
  ts::normal_(tensor, mean, std);
  return tensor;
}

Tensor constant_(Tensor tensor, double value) {
  TS_CHECK(tensor.defined(), "init::constant_: tensor is undefined");
  NoGradGuard no_grad;
  tensor.fill_(value);
  return tensor;
}

Tensor zeros_(Tensor tensor) { return constant_(std::move(tensor), 0.0); }
Tensor ones_(Tensor tensor) { return constant_(std::move(tensor), 1.0); }

Tensor trunc_normal_(Tensor tensor, double mean, double std, double a, double b) {
  TS_CHECK(tensor.defined(), "init::trunc_normal_: tensor is undefined");
  TS_CHECK(std > 0.0, "init::trunc_normal_: std must be positive, got {}", std);
  TS_CHECK(a < b, "init::trunc_normal_: expected a < b but got a = {}, b = {}", a, b);
  TS_CHECK(tensor.is_floating_point(), "init::trunc_normal_: expected a floating-point tensor but got {}",
           dtype_name(tensor.dtype()));
  NoGradGuard no_grad;
  // Inverse-CDF sampling: u ~ U(cdf(a), cdf(b)) mapped back through the normal quantile, done
  // in float64 on the host so the tails keep their precision whatever the tensor's dtype.
  const double lo = norm_cdf((a - mean) / std);
  const double hi = norm_cdf((b - mean) / std);
  Tensor u = empty(tensor.shape(), kFloat64);
  ts::uniform_(u, 2.0 * lo - 1.0, 2.0 * hi - 1.0);
  double* p = u.data_ptr<double>();
  const double scale = std * std::sqrt(2.0);
  parallel_for(0, u.numel(), 4096, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) {
      const double v = mean + scale * erfinv(p[i]);
      p[i] = v < a ? a : (v > b ? b : v);
    }
  });
  tensor.copy_(u);
  return tensor;
}

Tensor kaiming_uniform_(Tensor tensor, double a, FanMode mode, Nonlinearity nonlinearity) {
  const int64_t fan = fan_for(tensor, mode, "init::kaiming_uniform_");
  if (tensor.numel() == 0) return tensor;
  TS_CHECK(fan > 0, "init::kaiming_uniform_: fan is 0 for a tensor of shape {}", shape_str(tensor.shape()));
  const double std = calculate_gain(nonlinearity, a) / std::sqrt(static_cast<double>(fan));
  const double bound = std::sqrt(3.0) * std;
  return uniform_(std::move(tensor), -bound, bound);
}

Tensor kaiming_normal_(Tensor tensor, double a, FanMode mode, Nonlinearity nonlinearity) {
  const int64_t fan = fan_for(tensor, mode, "init::kaiming_normal_");
  if (tensor.numel() == 0) return tensor;
  TS_CHECK(fan > 0, "init::kaiming_normal_: fan is 0 for a tensor of shape {}", shape_str(tensor.shape()));
  const double std = calculate_gain(nonlinearity, a) / std::sqrt(static_cast<double>(fan));
  return normal_(std::move(tensor), 0.0, std);
}

Tensor xavier_uniform_(Tensor tensor, double gain) {
  TS_CHECK(tensor.defined(), "init::xavier_uniform_: tensor is undefined");
  auto [fan_in, fan_out] = calculate_fan_in_and_fan_out(tensor);
  if (tensor.numel() == 0) return tensor;
  const double std = gain * std::sqrt(2.0 / static_cast<double>(fan_in + fan_out));
  const double bound = std::sqrt(3.0) * std;
  return uniform_(std::move(tensor), -bound, bound);
}

Tensor xavier_normal_(Tensor tensor, double gain) {
  TS_CHECK(tensor.defined(), "init::xavier_normal_: tensor is undefined");
  auto [fan_in, fan_out] = calculate_fan_in_and_fan_out(tensor);
  if (tensor.numel() == 0) return tensor;
  const double std = gain * std::sqrt(2.0 / static_cast<double>(fan_in + fan_out));
  return normal_(std::move(tensor), 0.0, std);
}

}  // namespace ts::nn::init
