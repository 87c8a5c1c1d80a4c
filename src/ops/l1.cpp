// l1_loss: |input - target| reduced; a composition of recorded ops, so autograd comes from
// sub and abs (whose subgradient at 0 is 0, as in PyTorch).
#include "ops/op_utils.h"
#include "tessera/nn_functional.h"

namespace ts {

Tensor l1_loss(const Tensor& input, const Tensor& target, Reduction reduction) {
  constexpr const char* op = "l1_loss";
  TS_CHECK(reduction == Reduction::None || reduction == Reduction::Mean || reduction == Reduction::Sum,
           "{}: invalid reduction {}", op, static_cast<int>(reduction));
  TS_CHECK(input.defined() && target.defined(), "{}: input or target is undefined", op);
  TS_CHECK(input.is_floating_point() && target.is_floating_point(),
           "{}: expected floating-point input and target but got {} and {}", op, dtype_name(input.dtype()),
           dtype_name(target.dtype()));
  ops::check_same_device(op, {&input, &target});
  broadcast_shapes(input.shape(), target.shape(), op);  // throws naming l1_loss and both shapes
  const Tensor d = abs(input - target);
  switch (reduction) {
    case Reduction::None: return d;
    case Reduction::Sum: return sum(d);
    case Reduction::Mean: break;
  }
  return mean(d);
}

}  // namespace ts
