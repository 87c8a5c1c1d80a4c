#pragma once
// Pieces the CPU normalization kernels share (cpu_norm.cpp: layer and batch norm;
// cpu_rms_norm.cpp): double-precision row sums that still vectorize, pointers of optional
// operands, float32 scratch for 16-bit outputs, and the fixed row chunks of the column sums.
#include <algorithm>
#include <cstdint>

#include "backend/cpu/cpu_loops.h"
#include "tessera/tensor.h"
#include "tessera/parallel.h"

namespace ts::cpu_norm {

inline constexpr int kLanes = 8;

/// sum of term(i) for i in [0, n), accumulated in double in kLanes independent lanes (so the
/// loop vectorizes) that are combined in a fixed order: the result depends only on the data.
template <typename Term> double lane_sum(int64_t n, Term&& term) {
  double acc[kLanes] = {};
  int64_t i = 0;
  for (; i + kLanes <= n; i += kLanes)
    for (int k = 0; k < kLanes; ++k) acc[k] += term(i + k);
  double s = 0;
  for (int k = 0; k < kLanes; ++k) s += acc[k];
  for (; i < n; ++i) s += term(i);
  return s;
}

/// sum(p)
template <typename T> double sum_of(const T* p, int64_t n) {
  return lane_sum(n, [p](int64_t i) { return static_cast<double>(p[i]); });
}
/// sum((p - mean)^2)
template <typename T> double sq_dev_sum(const T* p, int64_t n, double mean) {
  return lane_sum(n, [p, mean](int64_t i) {
    const double d = static_cast<double>(p[i]) - mean;
    return d * d;
  });
}
/// sum(a * (b - mean)); mean = 0 gives the dot product.
template <typename T> double dot_dev(const T* a, const T* b, int64_t n, double mean = 0.0) {
  return lane_sum(n, [a, b, mean](int64_t i) { return static_cast<double>(a[i]) * (static_cast<double>(b[i]) - mean); });
}

/// Data pointers of optional operands: nullptr for an undefined tensor.
template <typename T> const T* cptr(const Tensor& t) {
  return t.defined() ? static_cast<const T*>(t.raw_data()) : nullptr;
}
template <typename T> T* mptr(const Tensor& t) { return t.defined() ? static_cast<T*>(t.raw_data()) : nullptr; }

/// Float32 scratch for an optional 16-bit output (the output itself otherwise), and the copy
/// back into it.
inline Tensor scratch_or_undefined(const Tensor& t) { return t.defined() ? cpu::float_scratch_for(t) : Tensor(); }
inline void narrow_if_defined(const Tensor& scratch, const Tensor& out) {
  if (out.defined()) cpu::narrow_into(scratch, out);
}

/// Fixed row chunks for the column sums: one per thread, at most one per row.
inline int64_t row_chunks(int64_t rows) {
  return std::max<int64_t>(1, std::min<int64_t>(rows, get_num_threads()));
}

}  // namespace ts::cpu_norm
