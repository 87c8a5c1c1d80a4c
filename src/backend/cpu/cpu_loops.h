#pragma once
// Shared machinery of the CPU kernels: dtype conversion, the strided N-operand loop with a
// contiguous fast path, and the float16/bfloat16 "compute in float32" wrapper.
#include <algorithm>
#include <array>
#include <bit>
#include <cmath>
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

/// exp for float written so loops calling it vectorize (std::exp is an opaque libm call that
/// blocks vectorization): Cephes-style range reduction and polynomial, within 2 ulp of
/// std::exp; overflows to inf above 88.72, flushes to 0 below -87.34, propagates NaN.
inline float vec_exp(float x) {
  constexpr float kLo = -87.3365f, kOverflow = 88.7228391f;
  constexpr float kLog2e = 1.44269504088896341f, kLn2Hi = 0.693359375f, kLn2Lo = -2.12194440e-4f;
  const float xc = x >= kLo ? (x < kOverflow ? x : kOverflow) : kLo;  // NaN -> kLo, fixed below
  // Round to the nearest integer with the 1.5 * 2^23 trick: no float->int conversion, which
  // GCC treats as trapping and then refuses to if-convert (the loop would not vectorize).
  constexpr float kMagic = 12582912.0f;
  const float t = xc * kLog2e + kMagic;
  const float n = t - kMagic;
  const int32_t ni = std::bit_cast<int32_t>(t) - std::bit_cast<int32_t>(kMagic);
  const float r = (xc - n * kLn2Hi) - n * kLn2Lo;
  float p = 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  const float e = p * r * r + r + 1.0f;
  // 2^n for n up to 128: 2^128 is not a float, so apply one factor of 2 separately.
  const int32_t top = ni > 127 ? 1 : 0;
  const float scale = std::bit_cast<float>((ni - top + 127) << 23);
  const float y = e * scale * (top ? 2.0f : 1.0f);
  return x != x ? x : (x < kLo ? 0.0f : (x > kOverflow ? INFINITY : y));
}

/// exp that vectorizes for float (vec_exp) and is std::exp otherwise.
template <typename T> inline T exp_of(T x) {
  if constexpr (std::is_same_v<T, float>) {
    return vec_exp(x);
  } else {
    return std::exp(x);
  }
}

/// The standard normal CDF Phi(x) = (1 + erf(x / sqrt 2)) / 2 that exact GELU needs. For
/// float it vectorizes: erfc from Numerical Recipes' Chebyshev fit (relative error below
/// 1.2e-7 for every argument, so the tiny CDF of large negative x keeps full precision) on
/// vec_exp; std::erfc otherwise. NaN propagates.
template <typename T> inline T normal_cdf_of(T x) {
  if constexpr (std::is_same_v<T, float>) {
    const float z = std::abs(x) * 0.70710678118654752f;
    const float t = 1.0f / (1.0f + 0.5f * z);
    float p = 0.17087277f;
    p = p * t - 0.82215223f;
    p = p * t + 1.48851587f;
    p = p * t - 1.13520398f;
    p = p * t + 0.27886807f;
    p = p * t - 0.18628806f;
    p = p * t + 0.09678418f;
    p = p * t + 0.37409196f;
    p = p * t + 1.00002368f;
    p = p * t - 1.26551223f;
    const float half_erfc = 0.5f * t * vec_exp(p - z * z);
    return x >= 0.0f ? 1.0f - half_erfc : half_erfc;
  } else {
    // erfc(-x / sqrt 2) rather than 1 + erf(x / sqrt 2), which cancels to 0 for x < -8.
    return T(0.5) * std::erfc(-x * T(0.70710678118654752440));
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
