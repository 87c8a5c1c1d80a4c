// CPU fused scaled-dot-product attention, forward and backward, flash-attention style: each
// task handles one block of query rows of one (batch, head), so the scores it holds are
// (block x visible keys), never the whole (T x S) for all heads at once, and no mask tensor is
// read -- causal rows simply stop at their last visible key. The backward recomputes the
// probabilities from the saved log-sum-exp instead of keeping them from the forward.
// The block GEMMs go through Eigen on strided maps of q/k/v (unit stride only in the last
// dim), so the (B, T, H, D) -> (B, H, T, D) permute of a fused qkv projection costs no copy.
#include <Eigen/Core>
#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "backend/cpu/cpu_backend.h"
#include "backend/cpu/cpu_loops.h"

namespace ts {
namespace {

template <typename T> using RowMat = Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
template <typename T> using ConstMat = Eigen::Map<const RowMat<T>, Eigen::Unaligned, Eigen::OuterStride<>>;
template <typename T> using MutMat = Eigen::Map<RowMat<T>, Eigen::Unaligned, Eigen::OuterStride<>>;

// Query rows per task: small enough that a block's scores stay in L2 for long sequences,
// large enough that the block GEMMs are efficient.
constexpr int64_t kQueryBlock = 64;

struct Dims {
  int64_t batch, heads, t, s, d, dv;
  int64_t shift;  // causal: query i sees keys j <= i + shift
};

Dims dims_of(const Tensor& q, const Tensor& k, const Tensor& v) {
  return {q.shape()[0], q.shape()[1], q.shape()[2], k.shape()[2], q.shape()[3], v.shape()[3],
          k.shape()[2] - q.shape()[2]};
}

// Row stride of the (rows, cols) matrices of a 4-D view (any value works for a single row).
int64_t row_stride(const Tensor& t) { return t.shape()[2] <= 1 ? t.shape()[3] : t.strides()[2]; }

// The (rows, cols) matrix of head (b, h) of a 4-D view whose last-dim stride is 1.
template <typename T> ConstMat<T> head_of(const Tensor& t, int64_t b, int64_t h) {
  const T* base = static_cast<const T*>(t.raw_data()) + b * t.strides()[0] + h * t.strides()[1];
  return ConstMat<T>(base, t.shape()[2], t.shape()[3], Eigen::OuterStride<>(row_stride(t)));
}
template <typename T> MutMat<T> mutable_head_of(const Tensor& t, int64_t b, int64_t h) {
  T* base = static_cast<T*>(t.raw_data()) + b * t.strides()[0] + h * t.strides()[1];
  return MutMat<T>(base, t.shape()[2], t.shape()[3], Eigen::OuterStride<>(row_stride(t)));
}

// The grain for parallel_for over tasks of `rows` query rows each: enough tasks per thread
// that a thread gets at least ~64k multiply-adds, so a one-token decode step (a few tiny
// tasks) runs inline instead of paying for a parallel region.
int64_t tasks_per_thread(int64_t rows, const Dims& g) {
  const int64_t work = std::max<int64_t>(1, rows * g.s * (g.d + g.dv));
  return std::max<int64_t>(1, (int64_t{1} << 16) / work);
}

// Keys visible to query row i (a count from key 0).
inline int64_t visible_keys(const Dims& g, bool causal, int64_t i) {
  return causal ? std::clamp<int64_t>(i + g.shift + 1, 0, g.s) : g.s;
}

// Turns row r of raw scores (first `lim` entries valid) into probabilities in place, zeroing
// the masked tail up to `width`; returns the row's log-sum-exp of the scaled scores.
template <typename T> T softmax_row(T* row, int64_t lim, int64_t width, T scale) {
  T m = -std::numeric_limits<T>::infinity();
  for (int64_t j = 0; j < lim; ++j) m = row[j] > m ? row[j] : m;
  T sum = 0;
#pragma omp simd reduction(+ : sum)
  for (int64_t j = 0; j < lim; ++j) {
    const T e = cpu::exp_of(scale * (row[j] - m));
    row[j] = e;
    sum += e;
  }
  const T inv = T(1) / sum;
  for (int64_t j = 0; j < lim; ++j) row[j] *= inv;
  for (int64_t j = lim; j < width; ++j) row[j] = 0;
  return scale * m + std::log(sum);
}

template <typename T>
void forward_typed(const Tensor& q, const Tensor& k, const Tensor& v, const AttentionParams& p, const Tensor& out,
                   const Tensor& lse) {
  const Dims g = dims_of(q, k, v);
  const T scale = static_cast<T>(p.scale);
  const int64_t blocks = (g.t + kQueryBlock - 1) / kQueryBlock;
  parallel_for(0, g.batch * g.heads * blocks, tasks_per_thread(std::min(kQueryBlock, g.t), g), [&](int64_t lo, int64_t hi) {
    std::vector<T> scratch;
    for (int64_t task = lo; task < hi; ++task) {
      const int64_t bh = task / blocks, i0 = (task % blocks) * kQueryBlock, b = bh / g.heads, h = bh % g.heads;
      const int64_t n = std::min(kQueryBlock, g.t - i0);
      const int64_t keys = visible_keys(g, p.causal, i0 + n - 1);  // the block's last row sees the most
      T* lse_row = static_cast<T*>(lse.raw_data()) + bh * g.t + i0;
      auto o = mutable_head_of<T>(out, b, h).middleRows(i0, n);
      if (keys == 0) {
        o.setZero();
        std::fill(lse_row, lse_row + n, -std::numeric_limits<T>::infinity());
        continue;
      }
      scratch.resize(static_cast<size_t>(n * keys));
      MutMat<T> scores(scratch.data(), n, keys, Eigen::OuterStride<>(keys));
      scores.noalias() = head_of<T>(q, b, h).middleRows(i0, n) * head_of<T>(k, b, h).topRows(keys).transpose();
      for (int64_t r = 0; r < n; ++r)
        lse_row[r] = softmax_row(scratch.data() + r * keys, visible_keys(g, p.causal, i0 + r), keys, scale);
      o.noalias() = scores * head_of<T>(v, b, h).topRows(keys);
    }
  });
}

template <typename T>
void backward_typed(const Tensor& grad_out, const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& out,
                    const Tensor& lse, const AttentionParams& p, const Tensor& grad_q, const Tensor& grad_k,
                    const Tensor& grad_v) {
  const Dims g = dims_of(q, k, v);
  const T scale = static_cast<T>(p.scale);
  // Parallel over (batch, head) only: the key/value gradients accumulate over all query blocks.
  parallel_for(0, g.batch * g.heads, tasks_per_thread(g.t, g), [&](int64_t lo, int64_t hi) {
    std::vector<T> probs, dprobs, row_dot;
    for (int64_t bh = lo; bh < hi; ++bh) {
      const int64_t b = bh / g.heads, h = bh % g.heads;
      const auto qm = head_of<T>(q, b, h), km = head_of<T>(k, b, h), vm = head_of<T>(v, b, h);
      const auto om = head_of<T>(out, b, h), gom = head_of<T>(grad_out, b, h);
      auto gq = mutable_head_of<T>(grad_q, b, h), gk = mutable_head_of<T>(grad_k, b, h);
      auto gv = mutable_head_of<T>(grad_v, b, h);
      gk.setZero();
      gv.setZero();
      const T* lse_bh = static_cast<const T*>(lse.raw_data()) + bh * g.t;
      // D_i = dO_i . O_i, the softmax backward's row term (sum_j P_ij dP_ij).
      row_dot.resize(static_cast<size_t>(g.t));
      for (int64_t i = 0; i < g.t; ++i) row_dot[static_cast<size_t>(i)] = gom.row(i).dot(om.row(i));
      for (int64_t i0 = 0; i0 < g.t; i0 += kQueryBlock) {
        const int64_t n = std::min(kQueryBlock, g.t - i0);
        const int64_t keys = visible_keys(g, p.causal, i0 + n - 1);
        if (keys == 0) {
          gq.middleRows(i0, n).setZero();
          continue;
        }
        probs.resize(static_cast<size_t>(n * keys));
        dprobs.resize(static_cast<size_t>(n * keys));
        MutMat<T> pm(probs.data(), n, keys, Eigen::OuterStride<>(keys));
        MutMat<T> dpm(dprobs.data(), n, keys, Eigen::OuterStride<>(keys));
        const auto qb = qm.middleRows(i0, n), gob = gom.middleRows(i0, n);
        pm.noalias() = qb * km.topRows(keys).transpose();
        for (int64_t r = 0; r < n; ++r) {
          T* row = probs.data() + r * keys;
          const int64_t lim = visible_keys(g, p.causal, i0 + r);
          const T l = lse_bh[i0 + r];
#pragma omp simd
          for (int64_t j = 0; j < lim; ++j) row[j] = cpu::exp_of(scale * row[j] - l);
          for (int64_t j = lim; j < keys; ++j) row[j] = 0;
        }
        gv.topRows(keys).noalias() += pm.transpose() * gob;
        dpm.noalias() = gob * vm.topRows(keys).transpose();
        // dS = P * (dP - D) * scale, computed in place in dP.
        for (int64_t r = 0; r < n; ++r) {
          const T* pr = probs.data() + r * keys;
          T* dr = dprobs.data() + r * keys;
          const T d = row_dot[static_cast<size_t>(i0 + r)];
#pragma omp simd
          for (int64_t j = 0; j < keys; ++j) dr[j] = pr[j] * (dr[j] - d) * scale;
        }
        gq.middleRows(i0, n).noalias() = dpm * km.topRows(keys);
        gk.topRows(keys).noalias() += dpm.transpose() * qb;
      }
    }
  });
}

// float32 copies of 16-bit operands; rows the Eigen maps can address (unit last-dim stride,
// and no stride-0 rows from a broadcast gradient: a zero outer stride means "default" to Eigen).
Tensor kernel_input(const Tensor& t) {
  Tensor w = cpu::widen_half(t);
  const bool unit_cols = w.strides()[3] == 1 || w.shape()[3] <= 1;
  const bool distinct_rows = w.strides()[2] != 0 || w.shape()[2] <= 1;
  return unit_cols && distinct_rows ? w : cpu::dense(w);
}

}  // namespace

void CpuBackend::attention(const Tensor& q_in, const Tensor& k_in, const Tensor& v_in, const AttentionParams& p,
                           const Tensor& out, const Tensor& lse) {
  const Tensor q = kernel_input(q_in), k = kernel_input(k_in), v = kernel_input(v_in);
  const Tensor o = cpu::float_scratch_for(out);
  TS_DISPATCH_FLOATING(q.dtype(), "attention", [&] { forward_typed<scalar_t>(q, k, v, p, o, lse); });
  cpu::narrow_into(o, out);
}

void CpuBackend::attention_backward(const Tensor& grad_out, const Tensor& q_in, const Tensor& k_in,
                                    const Tensor& v_in, const Tensor& out, const Tensor& lse,
                                    const AttentionParams& p, const Tensor& grad_q, const Tensor& grad_k,
                                    const Tensor& grad_v) {
  const Tensor q = kernel_input(q_in), k = kernel_input(k_in), v = kernel_input(v_in);
  const Tensor o = kernel_input(out), go = kernel_input(grad_out);
  const Tensor gq = cpu::float_scratch_for(grad_q), gk = cpu::float_scratch_for(grad_k);
  const Tensor gv = cpu::float_scratch_for(grad_v);
  TS_DISPATCH_FLOATING(q.dtype(), "attention_backward",
                       [&] { backward_typed<scalar_t>(go, q, k, v, o, lse, p, gq, gk, gv); });
  cpu::narrow_into(gq, grad_q);
  cpu::narrow_into(gk, grad_k);
  cpu::narrow_into(gv, grad_v);
}

}  // namespace ts
