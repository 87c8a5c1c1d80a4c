// CPU reductions. The input is viewed as a (kept, reduced) matrix: reduced dims innermost
// reduce along rows; a leading reduced block (e.g. a bias gradient summed over the batch)
// reduces down columns without a transposing copy; anything else is made contiguous first.
#include <cmath>
#include <limits>
#include <vector>

#include "backend/cpu/cpu_backend.h"
#include "backend/cpu/cpu_loops.h"

namespace ts {
namespace {

// Floats accumulate in double (accuracy for long sums); integers in int64.
template <typename T> using acc_t = std::conditional_t<std::is_floating_point_v<T>, double, int64_t>;

template <typename T> struct Reducer {
  ReduceOp op;
  acc_t<T> init() const {
    using A = acc_t<T>;
    switch (op) {
      case ReduceOp::Prod: return A(1);
      case ReduceOp::Max:
        return std::is_floating_point_v<T> ? -std::numeric_limits<A>::infinity()
                                           : static_cast<A>(std::numeric_limits<T>::lowest());
      case ReduceOp::Min:
        return std::is_floating_point_v<T> ? std::numeric_limits<A>::infinity()
                                           : static_cast<A>(std::numeric_limits<T>::max());
      default: return A(0);
    }
  }
  acc_t<T> combine(acc_t<T> a, acc_t<T> b) const {
    switch (op) {
      case ReduceOp::Prod: return a * b;
      case ReduceOp::Max:
        if constexpr (std::is_floating_point_v<T>) {
          if (std::isnan(a) || std::isnan(b)) return std::numeric_limits<double>::quiet_NaN();
        }
        return a > b ? a : b;
      case ReduceOp::Min:
        if constexpr (std::is_floating_point_v<T>) {
          if (std::isnan(a) || std::isnan(b)) return std::numeric_limits<double>::quiet_NaN();
        }
        return a < b ? a : b;
      default: return a + b;
    }
  }
  T finish(acc_t<T> a, int64_t count) const {
    if (op == ReduceOp::Mean) return static_cast<T>(static_cast<double>(a) / static_cast<double>(count));
    return static_cast<T>(a);
  }
};

template <typename T> acc_t<T> reduce_span(const Reducer<T>& r, const T* p, int64_t n) {
  if (r.op == ReduceOp::Sum || r.op == ReduceOp::Mean) {
    acc_t<T> s = 0;  // a plain sum loop: vectorizes
    for (int64_t i = 0; i < n; ++i) s += static_cast<acc_t<T>>(p[i]);
    return s;
  }
  acc_t<T> a = r.init();
  for (int64_t i = 0; i < n; ++i) a = r.combine(a, static_cast<acc_t<T>>(p[i]));
  return a;
}

// x: (rows, len) contiguous; out: rows values.
template <typename T> void reduce_rows(const Reducer<T>& r, const T* x, int64_t rows, int64_t len, T* out) {
  if (rows >= get_num_threads() || len < cpu::kGrain) {
    parallel_for(0, rows, std::max<int64_t>(1, cpu::kGrain / std::max<int64_t>(len, 1)), [&](int64_t lo, int64_t hi) {
      for (int64_t i = lo; i < hi; ++i) out[i] = r.finish(reduce_span(r, x + i * len, len), len);
    });
    return;
  }
  // Few long rows: split each row across threads, then combine the partial results in order.
  for (int64_t i = 0; i < rows; ++i) {
    const int threads = get_num_threads();
    std::vector<acc_t<T>> partial(static_cast<size_t>(threads), r.init());
    parallel_for(0, threads, 1, [&](int64_t lo, int64_t hi) {
      for (int64_t t = lo; t < hi; ++t) {
        const int64_t b = len * t / threads, e = len * (t + 1) / threads;
        partial[static_cast<size_t>(t)] = reduce_span(r, x + i * len + b, e - b);
      }
    });
    acc_t<T> a = r.init();
    for (auto v : partial) a = r.combine(a, v);
    out[i] = r.finish(a, len);
  }
}

// x: (len, cols) contiguous, reduced over len; out: cols values.
template <typename T> void reduce_cols(const Reducer<T>& r, const T* x, int64_t len, int64_t cols, T* out) {
  parallel_for(0, cols, std::max<int64_t>(16, cpu::kGrain / std::max<int64_t>(len, 1)), [&](int64_t lo, int64_t hi) {
    std::vector<acc_t<T>> acc(static_cast<size_t>(hi - lo), r.init());
    if (r.op == ReduceOp::Sum || r.op == ReduceOp::Mean) {
      // The common case (bias gradients): the op switch hoisted out, so the row loop vectorizes.
      acc_t<T>* a = acc.data();
      const int64_t width = hi - lo;
      for (int64_t i = 0; i < len; ++i) {
        const T* row = x + i * cols + lo;
#pragma omp simd
        for (int64_t j = 0; j < width; ++j) a[j] += static_cast<acc_t<T>>(row[j]);
      }
    } else {
      for (int64_t i = 0; i < len; ++i) {
        const T* row = x + i * cols;
        for (int64_t j = lo; j < hi; ++j)
          acc[static_cast<size_t>(j - lo)] = r.combine(acc[static_cast<size_t>(j - lo)], static_cast<acc_t<T>>(row[j]));
      }
    }
    for (int64_t j = lo; j < hi; ++j) out[j] = r.finish(acc[static_cast<size_t>(j - lo)], len);
  });
}

}  // namespace

void CpuBackend::reduce(ReduceOp op, const Tensor& x_in, const std::vector<int64_t>& dims, const Tensor& out) {
  const Tensor x = cpu::widen_half(x_in);
  const Tensor o = cpu::dense(cpu::float_scratch_for(out));
  const int64_t nd = x.dim();
  std::vector<bool> reduced(static_cast<size_t>(nd), false);
  for (auto d : dims) reduced[static_cast<size_t>(d)] = true;
  // Is the reduced set a leading block of a contiguous x? Then reduce down columns.
  bool leading = x.is_contiguous() && !dims.empty();
  for (size_t i = 0; i < dims.size(); ++i) leading &= dims[i] == static_cast<int64_t>(i);
  int64_t len = 1;
  for (auto d : dims) len *= x.shape()[static_cast<size_t>(d)];
  const int64_t kept = len == 0 ? o.numel() : x.numel() / std::max<int64_t>(len, 1);

  TS_DISPATCH_COMPUTE(x.dtype(), "reduce", [&] {
    using T = scalar_t;
    const Reducer<T> r{op};
    T* dst = static_cast<T*>(o.raw_data());
    if (len == 0) {  // empty reduction: identity (NaN for mean, like PyTorch)
      for (int64_t i = 0; i < o.numel(); ++i)
        dst[i] = op == ReduceOp::Mean ? static_cast<T>(std::numeric_limits<double>::quiet_NaN()) : static_cast<T>(r.init());
      return;
    }
    if (leading && kept > 1) {
      reduce_cols(r, static_cast<const T*>(x.raw_data()), len, kept, dst);
      return;
    }
    // Permute to (kept dims..., reduced dims...) and make it contiguous if it is not already.
    Shape shape;
    Strides strides;
    for (int64_t d = 0; d < nd; ++d)
      if (!reduced[static_cast<size_t>(d)]) {
        shape.push_back(x.shape()[static_cast<size_t>(d)]);
        strides.push_back(x.strides()[static_cast<size_t>(d)]);
      }
    for (auto d : dims) {
      shape.push_back(x.shape()[static_cast<size_t>(d)]);
      strides.push_back(x.strides()[static_cast<size_t>(d)]);
    }
    const Tensor xp = cpu::dense(make_view(x, shape, strides, x.storage_offset()));
    reduce_rows(r, static_cast<const T*>(xp.raw_data()), kept, len, dst);
  });
  cpu::narrow_into(o, out);
}

void CpuBackend::arg_reduce(ReduceOp op, const Tensor& x_in, int64_t dim, const Tensor& values,
                            const Tensor& indices) {
  const Tensor x = cpu::widen_half(x_in);
  const Tensor v = cpu::float_scratch_for(values);
  // Move `dim` innermost and make rows contiguous.
  Shape shape;
  Strides strides;
  for (int64_t d = 0; d < x.dim(); ++d)
    if (d != dim) {
      shape.push_back(x.shape()[static_cast<size_t>(d)]);
      strides.push_back(x.strides()[static_cast<size_t>(d)]);
    }
  shape.push_back(x.shape()[static_cast<size_t>(dim)]);
  strides.push_back(x.strides()[static_cast<size_t>(dim)]);
  const Tensor xp = cpu::dense(make_view(x, shape, strides, x.storage_offset()));
  const int64_t len = shape.back(), rows = len == 0 ? 0 : xp.numel() / len;
  TS_DISPATCH_COMPUTE(x.dtype(), "arg_reduce", [&] {
    using T = scalar_t;
    const T* src = static_cast<const T*>(xp.raw_data());
    T* vals = static_cast<T*>(v.raw_data());
    auto* idx = static_cast<int64_t*>(indices.raw_data());
    const bool is_max = op == ReduceOp::Max;
    parallel_for(0, rows, std::max<int64_t>(1, cpu::kGrain / std::max<int64_t>(len, 1)), [&](int64_t lo, int64_t hi) {
      for (int64_t i = lo; i < hi; ++i) {
        const T* row = src + i * len;
        int64_t best = 0;
        for (int64_t j = 1; j < len; ++j) {
          const T a = row[j], b = row[best];
          if constexpr (std::is_floating_point_v<T>) {
            if (std::isnan(b)) break;  // NaN wins, first occurrence (PyTorch)
            if (std::isnan(a)) {
              best = j;
              break;
            }
          }
          if (is_max ? a > b : a < b) best = j;
        }
        vals[i] = row[best];
        idx[i] = best;
      }
    });
  });
  cpu::narrow_into(v, values);
}

}  // namespace ts
