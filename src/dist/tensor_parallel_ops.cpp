// The autograd-aware communication ops of tensor parallelism and the vocabulary-parallel
// cross-entropy. Each op records one autograd node whose backward is the adjoint
// communication (all-reduce <-> identity, all-gather <-> slice).
#include <limits>

#include "ops/op_utils.h"
#include "tessera/dist/tensor_parallel.h"
#include "tessera/nn_functional.h"

namespace ts::dist {
using autograd::Node;

namespace {

// A contiguous copy of `t` that collectives may overwrite.
Tensor buffer_of(const Tensor& t) {
  NoGradGuard no_grad;
  return t.detach().clone();
}

Tensor summed(const Tensor& t, const GroupPtr& group) {
  Tensor buf = buffer_of(t);
  group->all_reduce(buf, ReduceOp::Sum);
  return buf;
}

// Every rank's x concatenated along the last dim (all_gather concatenates along dim 0).
Tensor gathered_last_dim(const Tensor& x, const GroupPtr& group) {
  NoGradGuard no_grad;
  const int64_t last = x.dim() - 1;
  std::vector<int64_t> to_front{last}, back(static_cast<size_t>(x.dim()));
  for (int64_t d = 0; d < last; ++d) to_front.push_back(d);
  for (int64_t d = 0; d < x.dim(); ++d) back[static_cast<size_t>(to_front[static_cast<size_t>(d)])] = d;
  const Tensor front = x.permute(to_front).contiguous();
  Shape out_shape = front.shape();
  out_shape[0] *= group->size();
  Tensor out = empty(out_shape, TensorOptions(x.dtype()).with_device(x.device()));
  group->all_gather(front, out);
  return out.permute(back).contiguous();
}

Tensor own_slice_last_dim(const Tensor& x, const GroupPtr& group, const char* op) {
  const int64_t n = x.size(-1);
  TS_CHECK(n % group->size() == 0, "{}: the last dim {} of {} does not split over {} ranks", op, n,
           shape_str(x.shape()), group->size());
  const int64_t part = n / group->size();
  return x.narrow(-1, group->rank() * part, part).contiguous();
}

void check_group(const GroupPtr& group, const char* op) {
  TS_CHECK(group != nullptr, "{}: the tensor-parallel group is null (this rank is in no group)", op);
}

}  // namespace

Tensor copy_to_parallel_region(const Tensor& x, const GroupPtr& group) {
  check_group(group, "copy_to_parallel_region");
  Tensor out = x.detach();
  if (autograd::any_requires_grad({&x}))
    autograd::record("copy_to_parallel_region", {x}, {out}, [group](const std::vector<Tensor>& g, const Node&) {
      return std::vector<Tensor>{summed(g[0], group)};
    });
  return out;
}

Tensor reduce_from_parallel_region(const Tensor& x, const GroupPtr& group) {
  check_group(group, "reduce_from_parallel_region");
  Tensor out = summed(x, group);
  if (autograd::any_requires_grad({&x}))
    autograd::record("reduce_from_parallel_region", {x}, {out},
                     [](const std::vector<Tensor>& g, const Node&) { return std::vector<Tensor>{g[0]}; });
  return out;
}

Tensor gather_from_parallel_region(const Tensor& x, const GroupPtr& group) {
  check_group(group, "gather_from_parallel_region");
  Tensor out = gathered_last_dim(x, group);
  if (autograd::any_requires_grad({&x}))
    autograd::record("gather_from_parallel_region", {x}, {out}, [group](const std::vector<Tensor>& g, const Node&) {
      return std::vector<Tensor>{own_slice_last_dim(g[0], group, "gather_from_parallel_region")};
    });
  return out;
}

Tensor scatter_to_parallel_region(const Tensor& x, const GroupPtr& group) {
  check_group(group, "scatter_to_parallel_region");
  Tensor out;
  {
    NoGradGuard no_grad;
    out = own_slice_last_dim(x.detach(), group, "scatter_to_parallel_region");
  }
  if (autograd::any_requires_grad({&x}))
    autograd::record("scatter_to_parallel_region", {x}, {out}, [group](const std::vector<Tensor>& g, const Node&) {
      return std::vector<Tensor>{gathered_last_dim(g[0], group)};
    });
  return out;
}

Tensor vocab_parallel_cross_entropy(const Tensor& logits, const Tensor& target, const GroupPtr& group,
                                    int64_t vocab_size) {
  constexpr const char* op = "vocab_parallel_cross_entropy";
  check_group(group, op);
  TS_CHECK(logits.defined() && logits.dim() == 2 && logits.is_floating_point(),
           "{}: expected float logits (N, V/tp) but got {}", op, logits.defined() ? shape_str(logits.shape()) : "none");
  TS_CHECK(target.defined() && target.dim() == 1 && target.size(0) == logits.size(0),
           "{}: target must be (N) = ({}) but got {}", op, logits.size(0),
           target.defined() ? shape_str(target.shape()) : "none");
  ops::check_index_dtype(op, target);
  const int64_t n = logits.size(0), local_vocab = logits.size(1), start = group->rank() * local_vocab;
  Tensor probs, loss, onehot;
  {
    NoGradGuard no_grad;
    Tensor x = logits.detach().to(DType::Float32);
    if (vocab_size >= 0 && start + local_vocab > vocab_size) {
      // Padding columns: -inf logits, so they get zero probability and no gradient.
      const Tensor col = arange(start, start + local_vocab, 1, TensorOptions(kInt64));
      x = where(unsqueeze(ge(col, full({}, vocab_size, kInt64)), 0), full({}, -1e30, DType::Float32), x);
    }
    Tensor row_max = std::get<0>(max(x, 1, true)).contiguous();
    group->all_reduce(row_max, ReduceOp::Max);
    const Tensor shifted = x - row_max;
    const Tensor e = exp(shifted);
    Tensor denom = sum(e, {1}, true).contiguous();
    group->all_reduce(denom, ReduceOp::Sum);
    // The target's shifted logit lives on exactly one rank; the others contribute 0.
    const Tensor local = target - start;
    const Tensor mine = logical_and(ge(local, zeros({}, kInt64)), lt(local, full({}, local_vocab, kInt64)));
    const Tensor safe = where(mine, local, zeros({}, kInt64));
    onehot = one_hot(safe, local_vocab).to(DType::Float32) * unsqueeze(mine.to(DType::Float32), 1);
    Tensor picked = sum(shifted * onehot, {1}, true).contiguous();
    group->all_reduce(picked, ReduceOp::Sum);
    probs = e / denom;
    loss = mean(log(denom) - picked).to(logits.dtype());
  }
  if (autograd::any_requires_grad({&logits}))
    autograd::record(op, {logits}, {loss},
                     [probs, onehot, n, dt = logits.dtype()](const std::vector<Tensor>& g, const Node&) {
                       NoGradGuard no_grad;
                       const Tensor scale = g[0].to(DType::Float32) / static_cast<double>(n);
                       return std::vector<Tensor>{((probs - onehot) * scale).to(dt)};
                     });
  return loss;
}

}  // namespace ts::dist
