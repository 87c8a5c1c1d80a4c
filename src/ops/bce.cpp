// binary_cross_entropy_with_logits: loss = (1 - t) x + lw * softplus(-x), lw = 1 + (pw - 1) t,
// where softplus(-x) = max(-x, 0) + log(1 + exp(-|x|)) never overflows. The elementwise loss
// is one autograd node with closed-form gradients (σ(x) lw - pw t for the logits) instead of
// a dozen recorded intermediates; the reduction is an ordinary recorded sum/mean.
#include "ops/op_utils.h"
#include "tessera/nn_functional.h"

namespace ts {
namespace {

using autograd::SavedTensor;

constexpr const char* kOp = "binary_cross_entropy_with_logits";

/// log(1 + exp(-x)) for any x, without overflow.
Tensor softplus_neg(const Tensor& x) { return relu(-x) + log(exp(-abs(x)) + 1.0); }

void check_broadcasts_to(const Tensor& t, const char* what, const Tensor& input) {
  if (!t.defined()) return;
  TS_CHECK(t.is_floating_point(), "{}: expected a floating-point {} but got {}", kOp, what, dtype_name(t.dtype()));
  const Shape b = broadcast_shapes(t.shape(), input.shape(), kOp);
  TS_CHECK(b == input.shape(), "{}: {} of shape {} cannot be broadcast to the input shape {}", kOp, what,
           shape_str(t.shape()), shape_str(input.shape()));
}

}  // namespace

Tensor binary_cross_entropy_with_logits(const Tensor& input, const Tensor& target, const Tensor& weight,
                                        const Tensor& pos_weight, Reduction reduction) {
  TS_CHECK(reduction == Reduction::None || reduction == Reduction::Mean || reduction == Reduction::Sum,
           "{}: invalid reduction {}", kOp, static_cast<int>(reduction));
  TS_CHECK(input.defined() && target.defined(), "{}: input or target is undefined", kOp);
  ops::check_same_device(kOp, {&input, &target, &weight, &pos_weight});
  TS_CHECK(input.is_floating_point() && target.is_floating_point(),
           "{}: expected floating-point input and target but got {} and {}", kOp, dtype_name(input.dtype()),
           dtype_name(target.dtype()));
  TS_CHECK(target.shape() == input.shape(), "{}: target size {} must be the same as input size {}", kOp,
           shape_str(target.shape()), shape_str(input.shape()));
  check_broadcasts_to(weight, "weight", input);
  check_broadcasts_to(pos_weight, "pos_weight", input);

  Tensor loss;
  {
    NoGradGuard no_grad;
    const Tensor sp = softplus_neg(input);
    Tensor positive = pos_weight.defined() ? sp * ((pos_weight - 1.0) * target + 1.0) : sp;
    loss = (1.0 - target) * input + positive;
    if (weight.defined()) loss = loss * weight;
  }
  autograd::record(
      kOp, {input, target, weight, pos_weight}, {loss},
      [sx = SavedTensor(input), st = SavedTensor(target), sw = SavedTensor(weight), spw = SavedTensor(pos_weight)](
          const std::vector<Tensor>& grads, const autograd::Node& node) -> std::vector<Tensor> {
        const Tensor x = sx.unpack(node);
        const Tensor t = st.unpack(node);
        const Tensor w = sw.unpack(node);
        const Tensor pw = spw.unpack(node);
        const Tensor gw = w.defined() ? grads[0] * w : grads[0];  // upstream gradient times the weight
        std::vector<Tensor> out(4);
        const bool need_sp = node.needs_input_grad(1) || node.needs_input_grad(2) || node.needs_input_grad(3);
        const Tensor sp = need_sp ? softplus_neg(x) : Tensor();
        if (node.needs_input_grad(0)) {
          const Tensor s = sigmoid(x);
          const Tensor dx = pw.defined() ? s * ((pw - 1.0) * t + 1.0) - pw * t : s - t;
          out[0] = ops::grad_for(gw * dx, x);
        }
        if (node.needs_input_grad(1)) {
          const Tensor dt = pw.defined() ? (pw - 1.0) * sp - x : -x;
          out[1] = ops::grad_for(gw * dt, t);
        }
        if (node.needs_input_grad(2)) {
          const Tensor positive = pw.defined() ? sp * ((pw - 1.0) * t + 1.0) : sp;
          out[2] = ops::grad_for(grads[0] * ((1.0 - t) * x + positive), w);
        }
        if (node.needs_input_grad(3)) out[3] = ops::grad_for(gw * t * sp, pw);
        return out;
      });
  switch (reduction) {
    case Reduction::None: return loss;
    case Reduction::Sum: return sum(loss);
    case Reduction::Mean: break;
  }
  return mean(loss);
}

}  // namespace ts
