#pragma once
// Shared machinery of the CPU kernels: dtype conversion, the strided N-operand loop with a
// contiguous fast path, and the float16/bfloat16 "compute in float32" wrapper.
#include <algorithm>
#include <array>
#include <cstdint>
#include <type_traits>
#include <vector>

#include "tessera/parallel.h"
#include "tessera/tensor.h"

namespace ts::cpu {

template <typename T>
inline constexpr bool is_half_v = std::is_same_v<T, Half> || std::is_same_v<T, BFloat16>;

template <typename T> inline double to_double(T v) {
  if constexpr (is_half_v<T>) {
    return static_cast<float>(v);
  } else {
    return static_cast<double>(v);
  }
}

/// Value conversion with PyTorch's semantics (bool is "!= 0", floats truncate toward zero).
template <typename D, typename S> inline D convert(S s) {
  if constexpr (std::is_same_v<D, S>) {
    return s;
  } else if constexpr (std::is_same_v<D, bool>) {
    return to_double(s) != 0.0;
  } else if constexpr (std::is_integral_v<D> && std::is_integral_v<S>) {
    return static_cast<D>(s);
  } else if constexpr (is_half_v<D>) {
    return D(static_cast<float>(to_double(s)));
  } else if constexpr (std::is_same_v<S, float> || std::is_integral_v<S>) {
    return static_cast<D>(s);
  } else {
    return static_cast<D>(to_double(s));
  }
}

/// Minimum elements per thread before a loop is split (below it threading costs more).
inline constexpr int64_t kGrain = 32768;

/// Geometry of an N-operand elementwise loop over one shape, with byte strides per operand.
/// Dims of size 1 are dropped and mergeable neighbours coalesced, so a contiguous tensor of
/// any rank becomes a single run.
template <size_t N> struct LoopGeometry {
  std::vector<int64_t> sizes;
  std::array<std::vector<int64_t>, N> strides;  // bytes
  std::array<char*, N> bases;

  LoopGeometry(const Shape& shape, const std::array<const Tensor*, N>& ops) {
    for (size_t k = 0; k < N; ++k) bases[k] = static_cast<char*>(ops[k]->raw_data());
    for (size_t d = 0; d < shape.size(); ++d) {
      if (shape[d] == 1) continue;
      sizes.push_back(shape[d]);
      for (size_t k = 0; k < N; ++k)
        strides[k].push_back(ops[k]->strides()[d] * static_cast<int64_t>(ops[k]->element_size()));
    }
    // coalesce from the innermost dim outwards: d and d+1 merge when stride[d] == stride[d+1]*size[d+1]
    for (size_t d = sizes.size(); d-- > 1;) {
      bool mergeable = true;
      for (size_t k = 0; k < N; ++k) mergeable &= strides[k][d - 1] == strides[k][d] * sizes[d];
      if (!mergeable) continue;
      sizes[d - 1] *= sizes[d];
      sizes.erase(sizes.begin() + static_cast<std::ptrdiff_t>(d));
      for (size_t k = 0; k < N; ++k) {
        strides[k][d - 1] = strides[k][d];
        strides[k].erase(strides[k].begin() + static_cast<std::ptrdiff_t>(d));
      }
    }
    if (sizes.empty()) {  // a scalar: one run of one element
      sizes.push_back(1);
      for (size_t k = 0; k < N; ++k) strides[k].push_back(0);
    }
  }
};

/// Runs body(ptrs, inner_strides_bytes, n) over runs along the innermost dim, splitting the
/// flat index range across threads. `body` must be safe to run concurrently on disjoint runs.
template <size_t N, typename Body>
void strided_loop(const Shape& shape, const std::array<const Tensor*, N>& ops, Body&& body,
                  int64_t grain = kGrain) {
  const int64_t total = numel_of(shape);
  if (total == 0) return;
  const LoopGeometry<N> g(shape, ops);
  const int64_t ndim = static_cast<int64_t>(g.sizes.size());
  const int64_t inner = g.sizes.back();
  std::array<int64_t, N> inner_strides;
  for (size_t k = 0; k < N; ++k) inner_strides[k] = g.strides[k].back();
  parallel_for(0, total, grain, [&](int64_t lo, int64_t hi) {
    std::vector<int64_t> idx(static_cast<size_t>(ndim));
    int64_t rem = lo;
    for (int64_t d = ndim; d-- > 0;) {
      idx[static_cast<size_t>(d)] = rem % g.sizes[static_cast<size_t>(d)];
      rem /= g.sizes[static_cast<size_t>(d)];
    }
    std::array<char*, N> ptrs;
    while (lo < hi) {
      for (size_t k = 0; k < N; ++k) {
        ptrs[k] = g.bases[k];
        for (int64_t d = 0; d < ndim; ++d) ptrs[k] += idx[static_cast<size_t>(d)] * g.strides[k][static_cast<size_t>(d)];
      }
      const int64_t n = std::min(inner - idx.back(), hi - lo);
      body(ptrs, inner_strides, n);
      lo += n;
      idx.back() += n;
      for (int64_t d = ndim - 1; d > 0 && idx[static_cast<size_t>(d)] == g.sizes[static_cast<size_t>(d)]; --d) {
        idx[static_cast<size_t>(d)] = 0;
        ++idx[static_cast<size_t>(d - 1)];
      }
    }
  });
}

/// `t` itself when contiguous, else a contiguous copy (no autograd: kernels run below it).
Tensor dense(const Tensor& t);
/// Float32 copy of a float16/bfloat16 tensor (other dtypes returned unchanged).
Tensor widen_half(const Tensor& t);
/// True when `t` holds float16 or bfloat16.
inline bool is_half_dtype(const Tensor& t) {
  return t.defined() && (t.dtype() == DType::Float16 || t.dtype() == DType::BFloat16);
}
/// A float32 scratch output when `out` is 16-bit, else `out` itself; `narrow_into` copies back.
Tensor float_scratch_for(const Tensor& out);
void narrow_into(const Tensor& scratch, const Tensor& out);

}  // namespace ts::cpu
