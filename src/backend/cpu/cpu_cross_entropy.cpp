// CPU fused softmax cross-entropy: per row, one pass for the max, one for the log-sum-exp,
// and the loss from the target's logit; the backward writes softmax - onehot scaled by the
// row's gradient, recomputing the probabilities from the saved log-sum-exp. 16-bit logits are
// widened to float32 first (as every CPU kernel does).
#include <algorithm>
#include <cmath>
#include <limits>

#include "backend/cpu/cpu_backend.h"
#include "backend/cpu/cpu_loops.h"

namespace ts {
namespace {

using cpu::exp_of;

template <typename T>
void ce_forward(const T* x, const int64_t* target, int64_t ignore_index, T* loss, T* lse, int64_t rows, int64_t n) {
  parallel_for(0, rows, std::max<int64_t>(1, cpu::kGrain / std::max<int64_t>(n, 1)), [&](int64_t lo, int64_t hi) {
    for (int64_t r = lo; r < hi; ++r) {
      const T* xr = x + r * n;
      T m = -std::numeric_limits<T>::infinity();
#pragma omp simd reduction(max : m)
      for (int64_t i = 0; i < n; ++i) m = xr[i] > m ? xr[i] : m;
      T s = 0;
#pragma omp simd reduction(+ : s)
      for (int64_t i = 0; i < n; ++i) s += exp_of(xr[i] - m);
      const T l = m + std::log(s);
      lse[r] = l;
      loss[r] = target[r] == ignore_index ? T(0) : l - xr[target[r]];
    }
  });
}

template <typename T>
void ce_backward(const T* g, const T* x, const int64_t* target, const T* lse, int64_t ignore_index, T* gx,
                 int64_t rows, int64_t n) {
  parallel_for(0, rows, std::max<int64_t>(1, cpu::kGrain / std::max<int64_t>(n, 1)), [&](int64_t lo, int64_t hi) {
    for (int64_t r = lo; r < hi; ++r) {
      T* gr = gx + r * n;
      if (target[r] == ignore_index) {
        std::fill(gr, gr + n, T(0));
        continue;
      }
      const T* xr = x + r * n;
      const T gv = g[r], l = lse[r];
#pragma omp simd
      for (int64_t i = 0; i < n; ++i) gr[i] = gv * exp_of(xr[i] - l);
      gr[target[r]] -= gv;
    }
  });
}

// The compute tensors: float32 for 16-bit inputs, the tensor itself otherwise.
Tensor compute_copy(const Tensor& t, DType compute) {
  if (t.dtype() == compute) return t;
  Tensor c = make_tensor(t.shape(), compute, t.device());
  cpu_backend().copy(t, c);
  return c;
}

}  // namespace

void CpuBackend::cross_entropy(const Tensor& logits, const Tensor& target, int64_t ignore_index, const Tensor& loss,
                               const Tensor& lse) {
  TS_CHECK(logits.dim() == 2 && logits.is_contiguous(), "cross_entropy: expected contiguous (N, C) logits, got {}",
           shape_str(logits.shape()));
  const DType compute = logits.dtype() == DType::Float64 ? DType::Float64 : DType::Float32;
  const Tensor x = compute_copy(logits, compute);
  const Tensor t = cpu::dense(target);
  Tensor loss_c = loss.dtype() == compute ? loss : make_tensor(loss.shape(), compute, loss.device());
  TS_DISPATCH_FLOATING(compute, "cross_entropy", [&] {
    ce_forward(static_cast<const scalar_t*>(x.raw_data()), static_cast<const int64_t*>(t.raw_data()), ignore_index,
               static_cast<scalar_t*>(loss_c.raw_data()), static_cast<scalar_t*>(lse.raw_data()), x.size(0),
               x.size(1));
  });
  if (!loss_c.is_same(loss)) cpu_backend().copy(loss_c, loss);
}

void CpuBackend::cross_entropy_backward(const Tensor& grad_loss, const Tensor& logits, const Tensor& target,
                                        const Tensor& lse, int64_t ignore_index, const Tensor& grad_logits) {
  const DType compute = logits.dtype() == DType::Float64 ? DType::Float64 : DType::Float32;
  const Tensor x = compute_copy(logits, compute);
  const Tensor g = cpu::dense(compute_copy(grad_loss, compute));
  const Tensor t = cpu::dense(target);
  Tensor gx = grad_logits.dtype() == compute ? grad_logits : make_tensor(grad_logits.shape(), compute, logits.device());
  TS_DISPATCH_FLOATING(compute, "cross_entropy_backward", [&] {
    ce_backward(static_cast<const scalar_t*>(g.raw_data()), static_cast<const scalar_t*>(x.raw_data()),
                static_cast<const int64_t*>(t.raw_data()), static_cast<const scalar_t*>(lse.raw_data()), ignore_index,
                static_cast<scalar_t*>(gx.raw_data()), x.size(0), x.size(1));
  });
  if (!gx.is_same(grad_logits)) cpu_backend().copy(gx, grad_logits);
}

}  // namespace ts
