// Rotary position embeddings, composed from differentiable ops: the rotation of each
// (x[i], x[i + D/2]) pair is linear in x, so autograd through slice/mul/cat is exact.
#include <cmath>

#include "ops/op_utils.h"
#include "tessera/nn_functional.h"

namespace ts {

std::pair<Tensor, Tensor> rotary_tables(int64_t offset, int64_t length, int64_t head_dim, double base, DType dtype,
                                        Device device) {
  constexpr const char* op = "rotary_tables";
  TS_CHECK(head_dim > 0 && head_dim % 2 == 0, "{}: head_dim must be positive and even but got {}", op, head_dim);
  TS_CHECK(offset >= 0 && length >= 0, "{}: offset and length must be non-negative but got {} and {}", op, offset,
           length);
  TS_CHECK(base > 0, "{}: base must be positive but got {}", op, base);
  NoGradGuard no_grad;
  // Angles in float64 so positions in the tens of thousands keep their precision.
  const TensorOptions f64 = TensorOptions(DType::Float64);
  const Tensor inv_freq = exp(arange(0, head_dim, 2, f64) * (-std::log(base) / static_cast<double>(head_dim)));
  const Tensor angles = unsqueeze(arange(offset, offset + length, 1, f64), 1) * unsqueeze(inv_freq, 0);
  return {cos(angles).to(device, dtype), sin(angles).to(device, dtype)};
}

Tensor apply_rotary_embedding(const Tensor& x, const Tensor& cos_t, const Tensor& sin_t) {
  constexpr const char* op = "apply_rotary_embedding";
  TS_CHECK(x.defined() && cos_t.defined() && sin_t.defined(), "{}: x, cos and sin must be defined", op);
  TS_CHECK(x.dim() >= 2 && x.size(-1) % 2 == 0, "{}: expected x of shape (.., T, D) with D even but got {}", op,
           shape_str(x.shape()));
  const int64_t t = x.size(-2), half = x.size(-1) / 2;
  TS_CHECK(cos_t.shape() == Shape({t, half}) && sin_t.shape() == Shape({t, half}),
           "{}: cos and sin must be (T, D/2) = ({}, {}) for x of shape {} but got {} and {}", op, t, half,
           shape_str(x.shape()), shape_str(cos_t.shape()), shape_str(sin_t.shape()));
  const Tensor x1 = narrow(x, -1, 0, half), x2 = narrow(x, -1, half, half);
  return cat({x1 * cos_t - x2 * sin_t, x2 * cos_t + x1 * sin_t}, -1);
}

}  // namespace ts
