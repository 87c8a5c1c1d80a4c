// CPU softmax / log_softmax and their backward. The contiguous input is viewed as
// (outer, dim, inner): with inner == 1 each row is reduced with plain loops over contiguous
// memory; otherwise a block of `inner` columns is processed together so the innermost loops
// still run over contiguous memory instead of striding by `inner`.
#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdint>
#include <limits>
#include <vector>

#include "backend/cpu/cpu_backend.h"
#include "backend/cpu/cpu_loops.h"

namespace ts {
namespace {

using cpu::exp_of;

// `omp simd` lets the compiler reorder the max and the sums into vector lanes (it may not
// without -ffast-math) and if-convert vec_exp's selects. A NaN anywhere still makes the row
// NaN through exp.
template <typename T> T row_max(const T* x, int64_t n) {
  T m = -std::numeric_limits<T>::infinity();
#pragma omp simd reduction(max : m)
  for (int64_t i = 0; i < n; ++i) m = x[i] > m ? x[i] : m;
  return m;
}

template <typename T> void softmax_rows(const T* x, T* y, int64_t rows, int64_t n, bool log) {
  parallel_for(0, rows, std::max<int64_t>(1, cpu::kGrain / std::max<int64_t>(n, 1)), [&](int64_t lo, int64_t hi) {
    for (int64_t r = lo; r < hi; ++r) {
      const T* xr = x + r * n;
      T* yr = y + r * n;
      const T m = row_max(xr, n);
      T s = 0;
#pragma omp simd reduction(+ : s)
      for (int64_t i = 0; i < n; ++i) {
        const T e = exp_of(xr[i] - m);
        yr[i] = e;
        s += e;
      }
      if (log) {
        const T shift = m + std::log(s);
        for (int64_t i = 0; i < n; ++i) yr[i] = xr[i] - shift;
      } else {
        const T inv = T(1) / s;
        for (int64_t i = 0; i < n; ++i) yr[i] *= inv;
      }
    }
  });
}

// Columns [j0, j1) of one (n, inner) block; `acc` holds 2 * (j1 - j0) scratch values.
template <typename T>
void softmax_cols(const T* x, T* y, int64_t n, int64_t inner, int64_t j0, int64_t j1, bool log, T* acc) {
  const int64_t w = j1 - j0;
  T* m = acc;
  T* s = acc + w;
  for (int64_t j = 0; j < w; ++j) {
    m[j] = -std::numeric_limits<T>::infinity();
    s[j] = 0;
  }
  for (int64_t d = 0; d < n; ++d) {
    const T* xr = x + d * inner + j0;
    for (int64_t j = 0; j < w; ++j) m[j] = xr[j] > m[j] ? xr[j] : m[j];
  }
  for (int64_t d = 0; d < n; ++d) {
    const T* xr = x + d * inner + j0;
    T* yr = y + d * inner + j0;
#pragma omp simd
    for (int64_t j = 0; j < w; ++j) {
      const T e = exp_of(xr[j] - m[j]);
      yr[j] = e;
      s[j] += e;
    }
  }
  if (log) {
    for (int64_t j = 0; j < w; ++j) m[j] += std::log(s[j]);
    for (int64_t d = 0; d < n; ++d) {
      const T* xr = x + d * inner + j0;
      T* yr = y + d * inner + j0;
      for (int64_t j = 0; j < w; ++j) yr[j] = xr[j] - m[j];
    }
  } else {
    for (int64_t j = 0; j < w; ++j) s[j] = T(1) / s[j];
    for (int64_t d = 0; d < n; ++d) {
      T* yr = y + d * inner + j0;
      for (int64_t j = 0; j < w; ++j) yr[j] *= s[j];
    }
  }
}

// grad_in = y * (g - sum(g * y))   (softmax)
// grad_in = g - exp(y) * sum(g)    (log_softmax, y = log-probabilities)
template <typename T> void backward_rows(const T* g, const T* y, T* gi, int64_t rows, int64_t n, bool log) {
  parallel_for(0, rows, std::max<int64_t>(1, cpu::kGrain / std::max<int64_t>(n, 1)), [&](int64_t lo, int64_t hi) {
    for (int64_t r = lo; r < hi; ++r) {
      const T* gr = g + r * n;
      const T* yr = y + r * n;
      T* out = gi + r * n;
      T s = 0;
      if (log) {
#pragma omp simd reduction(+ : s)
        for (int64_t i = 0; i < n; ++i) s += gr[i];
#pragma omp simd
        for (int64_t i = 0; i < n; ++i) out[i] = gr[i] - exp_of(yr[i]) * s;
      } else {
#pragma omp simd reduction(+ : s)
        for (int64_t i = 0; i < n; ++i) s += gr[i] * yr[i];
        for (int64_t i = 0; i < n; ++i) out[i] = yr[i] * (gr[i] - s);
      }
    }
  });
}

template <typename T>
void backward_cols(const T* g, const T* y, T* gi, int64_t n, int64_t inner, int64_t j0, int64_t j1, bool log,
                   T* s) {
  const int64_t w = j1 - j0;
  for (int64_t j = 0; j < w; ++j) s[j] = 0;
  for (int64_t d = 0; d < n; ++d) {
    const T* gr = g + d * inner + j0;
    const T* yr = y + d * inner + j0;
    if (log) {
      for (int64_t j = 0; j < w; ++j) s[j] += gr[j];
    } else {
      for (int64_t j = 0; j < w; ++j) s[j] += gr[j] * yr[j];
    }
  }
  for (int64_t d = 0; d < n; ++d) {
    const T* gr = g + d * inner + j0;
    const T* yr = y + d * inner + j0;
    T* out = gi + d * inner + j0;
    if (log) {
#pragma omp simd
      for (int64_t j = 0; j < w; ++j) out[j] = gr[j] - exp_of(yr[j]) * s[j];
    } else {
      for (int64_t j = 0; j < w; ++j) out[j] = yr[j] * (gr[j] - s[j]);
    }
  }
}

struct Geometry {
  int64_t outer = 1, n = 1, inner = 1;
};

Geometry geometry_of(const Tensor& t, int64_t dim) {
  Geometry g;
  if (t.dim() == 0) return g;
  for (int64_t d = 0; d < dim; ++d) g.outer *= t.shape()[static_cast<size_t>(d)];
  g.n = t.shape()[static_cast<size_t>(dim)];
  for (int64_t d = dim + 1; d < t.dim(); ++d) g.inner *= t.shape()[static_cast<size_t>(d)];
  return g;
}

// Column blocks of at most kColBlock keep the scratch small and the block in cache; work is
// split across (outer, column block) pairs.
constexpr int64_t kColBlock = 256;

template <typename F> void for_each_col_block(const Geometry& geo, F&& f) {
  const int64_t blocks = (geo.inner + kColBlock - 1) / kColBlock;
  const int64_t grain = std::max<int64_t>(1, cpu::kGrain / std::max<int64_t>(geo.n * std::min(geo.inner, kColBlock), 1));
  parallel_for(0, geo.outer * blocks, grain, [&](int64_t lo, int64_t hi) {
    for (int64_t t = lo; t < hi; ++t) {
      const int64_t o = t / blocks, b = t % blocks;
      const int64_t j0 = b * kColBlock, j1 = std::min(geo.inner, j0 + kColBlock);
      f(o, j0, j1);
    }
  });
}

}  // namespace

void CpuBackend::softmax(const Tensor& x_in, int64_t dim, bool log, const Tensor& out) {
  const Tensor x = cpu::dense(cpu::widen_half(x_in));
  const Tensor y = cpu::float_scratch_for(out);
  const Geometry geo = geometry_of(x, dim);
  if (x.numel() == 0) return;
  TS_DISPATCH_FLOATING(x.dtype(), "softmax", [&] {
    using T = scalar_t;
    const T* xp = static_cast<const T*>(x.raw_data());
    T* yp = static_cast<T*>(y.raw_data());
    if (geo.inner == 1) {
      softmax_rows(xp, yp, geo.outer, geo.n, log);
      return;
    }
    for_each_col_block(geo, [&](int64_t o, int64_t j0, int64_t j1) {
      T acc[2 * kColBlock];
      const int64_t off = o * geo.n * geo.inner;
      softmax_cols(xp + off, yp + off, geo.n, geo.inner, j0, j1, log, acc);
    });
  });
  cpu::narrow_into(y, out);
}

void CpuBackend::softmax_backward(const Tensor& grad_out, const Tensor& y_in, int64_t dim, bool log,
                                  const Tensor& grad_in) {
  const Tensor g = cpu::dense(cpu::widen_half(grad_out));
  const Tensor y = cpu::dense(cpu::widen_half(y_in));
  const Tensor gi = cpu::float_scratch_for(grad_in);
  const Geometry geo = geometry_of(y, dim);
  if (y.numel() == 0) return;
  TS_DISPATCH_FLOATING(y.dtype(), "softmax_backward", [&] {
    using T = scalar_t;
    const T* gp = static_cast<const T*>(g.raw_data());
    const T* yp = static_cast<const T*>(y.raw_data());
    T* op = static_cast<T*>(gi.raw_data());
    if (geo.inner == 1) {
      backward_rows(gp, yp, op, geo.outer, geo.n, log);
      return;
    }
    for_each_col_block(geo, [&](int64_t o, int64_t j0, int64_t j1) {
      T acc[kColBlock];
      const int64_t off = o * geo.n * geo.inner;
      backward_cols(gp + off, yp + off, op + off, geo.n, geo.inner, j0, j1, log, acc);
    });
  });
  cpu::narrow_into(gi, grad_in);
}

}  // namespace ts
