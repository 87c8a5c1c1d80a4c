// rms_norm, composed from differentiable ops (as PyTorch does): the statistics are computed in
// at least float32 so 16-bit inputs keep accuracy, then the result is cast back.
#include <limits>

#include "ops/op_utils.h"
#include "tessera/nn_functional.h"

namespace ts {

namespace {

double machine_epsilon(DType dt) {
  switch (dt) {
    case DType::Float64: return std::numeric_limits<double>::epsilon();
    case DType::Float16: return 0.0009765625;  // 2^-10
    case DType::BFloat16: return 0.0078125;    // 2^-7
    default: return static_cast<double>(std::numeric_limits<float>::epsilon());
  }
}

}  // namespace

Tensor rms_norm(const Tensor& x, const Shape& normalized_shape, const Tensor& weight, std::optional<double> eps) {
  constexpr const char* op = "rms_norm";
  TS_CHECK(x.defined(), "{}: input tensor is undefined", op);
  TS_CHECK(x.is_floating_point(), "{}: expected a floating-point input but got {}", op, dtype_name(x.dtype()));
  TS_CHECK(!normalized_shape.empty(), "{}: normalized_shape must have at least one dimension", op);
  const int64_t nd = static_cast<int64_t>(normalized_shape.size()), lead = x.dim() - nd;
  TS_CHECK(lead >= 0 && Shape(x.shape().begin() + lead, x.shape().end()) == normalized_shape,
           "{}: given normalized_shape={}, expected an input of shape [*, {}] but got shape {}", op,
           shape_str(normalized_shape), fmt::join(normalized_shape, ", "), shape_str(x.shape()));
  TS_CHECK(!weight.defined() || weight.shape() == normalized_shape,
           "{}: weight of shape {} must have normalized_shape {}", op, shape_str(weight.shape()),
           shape_str(normalized_shape));
  const double e = eps.value_or(machine_epsilon(x.dtype()));
  TS_CHECK(e >= 0, "{}: eps must be non-negative but got {}", op, e);
  std::vector<int64_t> dims;
  for (int64_t d = lead; d < x.dim(); ++d) dims.push_back(d);
  const bool widen = x.dtype() == DType::Float16 || x.dtype() == DType::BFloat16;
  const Tensor xf = widen ? x.to(DType::Float32) : x;
  Tensor y = xf * rsqrt(mean(square(xf), dims, true) + e);
  if (widen) y = y.to(x.dtype());
  return weight.defined() ? y * weight : y;
}

}  // namespace ts
