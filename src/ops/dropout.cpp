// Inverted dropout: out = x * mask / (1 - p), the mask drawn from the counter-based global RNG
// (ts::rand), so a run is reproducible from the seed whatever the thread count. The product
// goes through mul, whose backward multiplies the gradient by the same scaled mask.
#include "ops/op_utils.h"
#include "tessera/nn_functional.h"

namespace ts {

Tensor dropout(const Tensor& x, double p, bool training) {
  constexpr const char* op = "dropout";
  TS_CHECK(x.defined(), "{}: input tensor is undefined", op);
  TS_CHECK(p >= 0.0 && p <= 1.0, "{}: probability has to be between 0 and 1, but got {}", op, p);
  if (!training || p == 0.0) return x;
  TS_CHECK(x.is_floating_point(), "{}: expected a floating-point input but got {}", op, dtype_name(x.dtype()));
  const TensorOptions opts = TensorOptions(x.dtype()).with_device(x.device());
  // p == 1 keeps the graph (and NaN propagation) of a multiply by zero, like PyTorch.
  if (p == 1.0) return x * zeros({}, opts);
  Tensor mask;
  {
    NoGradGuard no_grad;
    const Tensor keep = rand(x.shape(), TensorOptions(DType::Float32).with_device(x.device())) < (1.0 - p);
    mask = where(keep, full({}, 1.0 / (1.0 - p), opts), zeros({}, opts));
  }
  return x * mask;
}

}  // namespace ts
