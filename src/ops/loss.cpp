// Losses: nll_loss, cross_entropy (log_softmax + nll, with PyTorch 1.13's label smoothing)
// and mse_loss. They are compositions of differentiable ops (gather, index_select, where,
// sum), so autograd comes from those, except for cross_entropy's common case ((N, C) logits,
// no class weights, no smoothing), which runs the backends' fused kernel.
#include "ops/op_utils.h"
#include "tessera/nn_functional.h"

namespace ts {
namespace {

// Validates the (input, target, weight) layout shared by nll_loss and cross_entropy:
// input (N, C, d1, ...) or (C); target (N, d1, ...) or 0-d, Int64 class indices.
void check_classification_args(const char* op, const Tensor& input, const Tensor& target, const Tensor& weight,
                               int64_t ignore_index) {
  TS_CHECK(input.defined() && target.defined(), "{}: input tensor is undefined", op);
  ops::check_same_device(op, {&input, &target, &weight});
  TS_CHECK(input.is_floating_point(), "{}: expected a floating-point input but got {}", op, dtype_name(input.dtype()));
  TS_CHECK(target.dtype() == DType::Int64, "{}: expected a target of dtype int64 (class indices) but got {}", op,
           dtype_name(target.dtype()));
  TS_CHECK(input.dim() >= 1, "{}: expected an input of shape (C) or (N, C, ...) but got a 0-d tensor", op);
  Shape expected;
  if (input.dim() >= 2) {
    expected = input.shape();
    expected.erase(expected.begin() + 1);
  }
  TS_CHECK(target.shape() == expected, "{}: expected a target of shape {} for an input of shape {} but got {}", op,
           shape_str(expected), shape_str(input.shape()), shape_str(target.shape()));
  const int64_t classes = input.shape()[input.dim() >= 2 ? 1 : 0];
  if (weight.defined()) {
    TS_CHECK(weight.dim() == 1 && weight.numel() == classes,
             "{}: expected a weight of shape [{}] (one per class) but got {}", op, classes, shape_str(weight.shape()));
    TS_CHECK(weight.is_floating_point(), "{}: expected a floating-point weight but got {}", op,
             dtype_name(weight.dtype()));
  }
  if (target.numel() == 0) return;
  // Targets are read on the host: a bad one must be reported before any kernel trusts it.
  const Tensor host = ops::dense(target.to(Device(DeviceType::CPU)));
  const auto* p = static_cast<const int64_t*>(host.raw_data());
  bool bad = false;
  for (int64_t i = 0; i < host.numel(); ++i) bad |= p[i] != ignore_index && (p[i] < 0 || p[i] >= classes);
  if (!bad) return;
  for (int64_t i = 0; i < host.numel(); ++i) {
    TS_CHECK(p[i] == ignore_index || (p[i] >= 0 && p[i] < classes),
             "{}: target {} is out of bounds for {} classes (valid range [0, {}], ignore_index {})", op, p[i],
             classes, classes - 1, ignore_index);
  }
}

void check_reduction(const char* op, Reduction reduction) {
  TS_CHECK(reduction == Reduction::None || reduction == Reduction::Mean || reduction == Reduction::Sum,
           "{}: invalid reduction {}", op, static_cast<int>(reduction));
}

struct NllParts {
  Tensor losses;        // per-target losses, the target's shape (ignored targets are 0)
  Tensor target_weight; // weight of each target's class, 0 where ignored (the mean's divisor)
};

// logp (N, C, d...) with a matching target (N, d...); arguments already validated.
NllParts nll_parts(const Tensor& logp, const Tensor& target, const Tensor& weight, int64_t ignore_index) {
  const Tensor keep = target != Scalar(ignore_index);
  // Ignored targets may hold any value: point them at class 0 and zero their weight.
  const Tensor safe = where(keep, target, Scalar(int64_t{0}));
  const Tensor picked = gather(logp, 1, safe.unsqueeze(1)).squeeze(1);
  Tensor w;
  if (weight.defined()) {
    w = where(keep, index_select(weight, 0, safe.reshape({-1})).view(safe.shape()), Scalar(0.0));
  } else {
    w = ops::cast(keep, logp.dtype());
  }
  return {-(picked * w), w};
}

// The common case, (N, C) logits without class weights or smoothing: one fused backend kernel
// (softmax + pick + log-sum-exp per row) instead of a materialized log_softmax, and a backward
// that writes softmax - onehot directly.
NllParts fused_cross_entropy(const Tensor& x, const Tensor& target, int64_t ignore_index) {
  const Tensor logits = ops::dense(x);
  const int64_t rows = logits.size(0);
  Tensor losses = make_tensor({rows}, logits.dtype(), logits.device());
  const DType lse_dtype = logits.dtype() == DType::Float64 ? DType::Float64 : DType::Float32;
  Tensor lse = make_tensor({rows}, lse_dtype, logits.device());
  const Tensor t = ops::dense(target);
  if (rows > 0) backend_for(logits).cross_entropy(logits, t, ignore_index, losses, lse);
  if (autograd::any_requires_grad({&x})) {
    autograd::record("CrossEntropyBackward", {x}, {losses},
                     [ignore_index, sx = autograd::SavedTensor(logits), st = autograd::SavedTensor(t),
                      sl = autograd::SavedTensor(lse)](
                         const std::vector<Tensor>& g, const autograd::Node& self) {
                       const Tensor xs = sx.unpack(self);
                       Tensor gi = make_tensor(xs.shape(), xs.dtype(), xs.device());
                       if (xs.numel() > 0) {
                         const Tensor gd = ops::dense(ops::cast(g[0], xs.dtype()));
                         backend_for(xs).cross_entropy_backward(gd, xs, st.unpack(self), sl.unpack(self), ignore_index,
                                                                gi);
                       }
                       return std::vector<Tensor>{gi};
                     });
  }
  return {losses, ops::cast(target != Scalar(ignore_index), logits.dtype())};
}

Tensor reduce_nll(const NllParts& parts, Reduction reduction) {
  switch (reduction) {
    case Reduction::None: return parts.losses;
    case Reduction::Sum: return sum(parts.losses);
    case Reduction::Mean: break;
  }
  // Divides by the summed weights of non-ignored targets (NaN when all are ignored, as in PyTorch).
  return sum(parts.losses) / sum(parts.target_weight);
}

// Unbatched (C) input with a 0-d target is treated as a batch of one.
std::pair<Tensor, Tensor> batched(const Tensor& input, const Tensor& target) {
  if (input.dim() >= 2) return {input, target};
  return {input.unsqueeze(0), target.reshape({1})};
}

Tensor unbatched(const Tensor& loss, const Tensor& input, Reduction reduction) {
  return input.dim() == 1 && reduction == Reduction::None ? loss.reshape({}) : loss;
}

}  // namespace

Tensor nll_loss(const Tensor& input, const Tensor& target, const Tensor& weight, Reduction reduction,
                int64_t ignore_index) {
  constexpr const char* op = "nll_loss";
  check_reduction(op, reduction);
  check_classification_args(op, input, target, weight, ignore_index);
  const auto [x, t] = batched(input, target);
  return unbatched(reduce_nll(nll_parts(x, t, weight, ignore_index), reduction), input, reduction);
}

Tensor cross_entropy(const Tensor& input, const Tensor& target, const Tensor& weight, Reduction reduction,
                     int64_t ignore_index, double label_smoothing) {
  constexpr const char* op = "cross_entropy";
  check_reduction(op, reduction);
  check_classification_args(op, input, target, weight, ignore_index);
  TS_CHECK(label_smoothing >= 0.0 && label_smoothing <= 1.0, "{}: label_smoothing must be in [0, 1] but got {}", op,
           label_smoothing);
  const auto [x, t] = batched(input, target);
  if (!weight.defined() && label_smoothing == 0.0 && x.dim() == 2 && x.numel() > 0)
    return unbatched(reduce_nll(fused_cross_entropy(x, t, ignore_index), reduction), input, reduction);
  const Tensor logp = log_softmax(x, 1);
  const NllParts parts = nll_parts(logp, t, weight, ignore_index);
  const Tensor nll = reduce_nll(parts, reduction);
  if (label_smoothing == 0.0) return unbatched(nll, input, reduction);

  // PyTorch 1.13's formula: (1 - ls) * nll + ls / C * smooth, where smooth is the
  // (class-weighted) sum of -log p over classes, zero for ignored targets.
  const int64_t classes = x.shape()[1];
  Tensor smooth;
  if (weight.defined()) {
    Shape wshape(static_cast<size_t>(x.dim()), 1);
    wshape[1] = classes;
    smooth = -sum(logp * weight.view(wshape), {1});
  } else {
    smooth = -sum(logp, {1});
  }
  smooth = masked_fill(smooth, t == Scalar(ignore_index), 0.0);
  Tensor smooth_red;
  switch (reduction) {
    case Reduction::None: smooth_red = smooth; break;
    case Reduction::Sum: smooth_red = sum(smooth); break;
    case Reduction::Mean:
      // The nll term's divisor: summed class weights (or the count) of non-ignored targets.
      smooth_red = sum(smooth) / sum(parts.target_weight);
      break;
  }
  const Tensor loss = nll * (1.0 - label_smoothing) + smooth_red * (label_smoothing / static_cast<double>(classes));
  return unbatched(loss, input, reduction);
}

Tensor mse_loss(const Tensor& input, const Tensor& target, Reduction reduction) {
  constexpr const char* op = "mse_loss";
  check_reduction(op, reduction);
  TS_CHECK(input.defined() && target.defined(), "{}: input tensor is undefined", op);
  TS_CHECK(input.is_floating_point() && target.is_floating_point(),
           "{}: expected floating-point input and target but got {} and {}", op, dtype_name(input.dtype()),
           dtype_name(target.dtype()));
  broadcast_shapes(input.shape(), target.shape(), op);  // throws naming mse_loss and both shapes
  const Tensor d = input - target;
  const Tensor sq = d * d;
  switch (reduction) {
    case Reduction::None: return sq;
    case Reduction::Sum: return sum(sq);
    case Reduction::Mean: break;
  }
  return mean(sq);
}

}  // namespace ts
