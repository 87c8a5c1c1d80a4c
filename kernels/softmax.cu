// Softmax / log-softmax, forward and backward, over one dim of a contiguous (outer, n, inner)
// tensor, in acc_t (float32 for 16-bit types, as the CPU backend computes them).
//  * Rows (inner == 1): one warp per row up to kMaxWarpRow elements, one block per row above.
//    The forward makes one online pass for the row's max and sum of exp(x - max), then one
//    pass writing the output; the backward one pass for its row sum, one for the output.
//  * Columns (inner > 1): a 32 x kColRows block owns 32 adjacent columns of one outer index;
//    threadIdx.x walks the contiguous inner extent (coalesced) and the kColRows thread rows
//    split n, their partial results merged through shared memory in a fixed order.
// Semantics follow src/backend/cpu/cpu_softmax.cpp: NaN never becomes the max but poisons
// the row's sum (the whole row becomes NaN), and an all -inf row gives NaN.
#include <cmath>
#include <type_traits>

#include "kernels/common.cuh"
#include "kernels/softmax.h"

namespace ts::kernels {
namespace {

constexpr int kWarp = 32;
constexpr int64_t kMaxWarpRow = 1024;
constexpr int kRowBlock = 512;  // threads per row when a row is longer than kMaxWarpRow
constexpr int kColRows = 8;

// ---- kernels ----------------------------------------------------------------------------------

template <typename A> __device__ __forceinline__ A exp_a(A v) {
  if constexpr (std::is_same_v<A, float>) {
    return expf(v);
  } else {
    return exp(v);
  }
}
template <typename A> __device__ __forceinline__ A log_a(A v) {
  if constexpr (std::is_same_v<A, float>) {
    return logf(v);
  } else {
    return log(v);
  }
}
template <typename A> __device__ __forceinline__ A neg_inf() { return static_cast<A>(-INFINITY); }

// A running softmax denominator: the max so far and the sum of exp(x - max).
template <typename A> struct MaxSum {
  A m, s;
};

template <typename A> __device__ __forceinline__ MaxSum<A> empty_state() { return {neg_inf<A>(), A(0)}; }

// NaN is never > m, so it never becomes the max (as in the CPU's row_max), but exp(NaN - m)
// reaches the sum. -inf adds exactly 0: exp(-inf - -inf) would be NaN while m is still -inf.
template <typename A> __device__ __forceinline__ void push(MaxSum<A>& st, A x) {
  if (x > st.m) {
    st.s *= exp_a(st.m - x);
    st.m = x;
  }
  if (x != neg_inf<A>()) st.s += exp_a(x - st.m);
}

// Symmetric in a and b (max and a commutative sum), so butterfly shuffles leave every lane
// with bit-identical results.
template <typename A> __device__ __forceinline__ MaxSum<A> merge(MaxSum<A> a, MaxSum<A> b) {
  const A m = b.m > a.m ? b.m : a.m;
  const A sa = a.m == m ? a.s : a.s * exp_a(a.m - m);
  const A sb = b.m == m ? b.s : b.s * exp_a(b.m - m);
  return {m, sa + sb};
}

template <typename A> __device__ __forceinline__ MaxSum<A> warp_merge(MaxSum<A> st) {
  for (int o = kWarp / 2; o > 0; o >>= 1) {
    const MaxSum<A> other{__shfl_xor_sync(0xffffffffu, st.m, o), __shfl_xor_sync(0xffffffffu, st.s, o)};
    st = merge(st, other);
  }
  return st;
}

// Every thread receives the block's state; `shared` holds kWarp states.
template <typename A> __device__ MaxSum<A> block_merge(MaxSum<A> st, MaxSum<A>* shared) {
  const int lane = threadIdx.x % kWarp, warp = threadIdx.x / kWarp, warps = blockDim.x / kWarp;
  st = warp_merge(st);
  __syncthreads();  // the previous row's readers are done with `shared`
  if (lane == 0) shared[warp] = st;
  __syncthreads();
  MaxSum<A> r = shared[0];
  for (int w = 1; w < warps; ++w) r = merge(r, shared[w]);
  return r;
}

template <typename T, bool kWarpRows>
__global__ void softmax_rows_kernel(const T* __restrict__ x, T* __restrict__ y, int64_t rows, int64_t n, bool log) {
  using A = acc_t<T>;
  __shared__ MaxSum<A> shared[kWarp];
  const RowGroups<kWarpRows> g;
  for (int64_t row = g.first; row < rows; row += g.stride) {
    const T* xr = x + row * n;
    T* yr = y + row * n;
    MaxSum<A> st = empty_state<A>();
    for (int64_t j = g.lane; j < n; j += g.size) push(st, load_acc(xr + j));
    if constexpr (kWarpRows) {
      st = warp_merge(st);
    } else {
      st = block_merge(st, shared);
    }
    if (log) {
      const A shift = st.m + log_a(st.s);
      for (int64_t j = g.lane; j < n; j += g.size) store_acc(yr + j, load_acc(xr + j) - shift);
    } else {
      const A inv = A(1) / st.s;
      for (int64_t j = g.lane; j < n; j += g.size) store_acc(yr + j, exp_a(load_acc(xr + j) - st.m) * inv);
    }
  }
}

template <typename T>
__global__ void softmax_cols_kernel(const T* __restrict__ x, T* __restrict__ y, int64_t outer, int64_t n,
                                    int64_t inner, bool log) {
  using A = acc_t<T>;
  __shared__ MaxSum<A> shared[kColRows][kWarp];
  const int64_t tiles = (inner + kWarp - 1) / kWarp;
  for (int64_t b = blockIdx.x; b < outer * tiles; b += gridDim.x) {
    const int64_t j = (b % tiles) * kWarp + threadIdx.x;
    const bool active = j < inner;
    const int64_t base = (b / tiles) * n * inner + j;
    MaxSum<A> st = empty_state<A>();
    if (active)
      for (int64_t d = threadIdx.y; d < n; d += kColRows) push(st, load_acc(x + base + d * inner));
    shared[threadIdx.y][threadIdx.x] = st;
    __syncthreads();
    st = shared[0][threadIdx.x];
    for (int r = 1; r < kColRows; ++r) st = merge(st, shared[r][threadIdx.x]);
    __syncthreads();  // everyone has read `shared` before the next tile writes it
    if (!active) continue;
    if (log) {
      const A shift = st.m + log_a(st.s);
      for (int64_t d = threadIdx.y; d < n; d += kColRows) {
        const int64_t i = base + d * inner;
        store_acc(y + i, load_acc(x + i) - shift);
      }
    } else {
      const A inv = A(1) / st.s;
      for (int64_t d = threadIdx.y; d < n; d += kColRows) {
        const int64_t i = base + d * inner;
        store_acc(y + i, exp_a(load_acc(x + i) - st.m) * inv);
      }
    }
  }
}

// The backward's per-element term of the row sum and its output.
template <typename A> __device__ __forceinline__ A backward_term(A g, A y, bool log) { return log ? g : g * y; }
template <typename A> __device__ __forceinline__ A backward_out(A g, A y, A s, bool log) {
  return log ? g - exp_a(y) * s : y * (g - s);
}

template <typename T, bool kWarpRows>
__global__ void softmax_backward_rows_kernel(const T* __restrict__ grad_out, const T* __restrict__ y,
                                             T* __restrict__ grad_in, int64_t rows, int64_t n, bool log) {
  using A = acc_t<T>;
  __shared__ A shared[kWarp];
  const RowGroups<kWarpRows> g;
  for (int64_t row = g.first; row < rows; row += g.stride) {
    const T* gr = grad_out + row * n;
    const T* yr = y + row * n;
    T* out = grad_in + row * n;
    A s = 0;
    for (int64_t j = g.lane; j < n; j += g.size) s += backward_term(load_acc(gr + j), load_acc(yr + j), log);
    s = group_sum<kWarpRows>(s, shared);
    for (int64_t j = g.lane; j < n; j += g.size)
      store_acc(out + j, backward_out(load_acc(gr + j), load_acc(yr + j), s, log));
  }
}

template <typename T>
__global__ void softmax_backward_cols_kernel(const T* __restrict__ grad_out, const T* __restrict__ y,
                                             T* __restrict__ grad_in, int64_t outer, int64_t n, int64_t inner,
                                             bool log) {
  using A = acc_t<T>;
  __shared__ A shared[kColRows][kWarp];
  const int64_t tiles = (inner + kWarp - 1) / kWarp;
  for (int64_t b = blockIdx.x; b < outer * tiles; b += gridDim.x) {
    const int64_t j = (b % tiles) * kWarp + threadIdx.x;
    const bool active = j < inner;
    const int64_t base = (b / tiles) * n * inner + j;
    A s = 0;
    if (active)
      for (int64_t d = threadIdx.y; d < n; d += kColRows) {
        const int64_t i = base + d * inner;
        s += backward_term(load_acc(grad_out + i), load_acc(y + i), log);
      }
    shared[threadIdx.y][threadIdx.x] = s;
    __syncthreads();
    s = shared[0][threadIdx.x];
    for (int r = 1; r < kColRows; ++r) s += shared[r][threadIdx.x];
    __syncthreads();  // everyone has read `shared` before the next tile writes it
    if (!active) continue;
    for (int64_t d = threadIdx.y; d < n; d += kColRows) {
      const int64_t i = base + d * inner;
      store_acc(grad_in + i, backward_out(load_acc(grad_out + i), load_acc(y + i), s, log));
    }
  }
}

// ---- launchers --------------------------------------------------------------------------------

int64_t column_tiles(const SoftmaxShape& s) { return (s.inner + kWarp - 1) / kWarp; }

template <typename T> void launch_forward(const T* x, T* y, const SoftmaxShape& s, bool log, cudaStream_t stream) {
  if (s.inner > 1) {
    softmax_cols_kernel<T><<<grid_for(s.outer * column_tiles(s), 1), dim3(kWarp, kColRows), 0, stream>>>(
        x, y, s.outer, s.n, s.inner, log);
  } else if (s.n <= kMaxWarpRow) {
    softmax_rows_kernel<T, true><<<grid_for(s.outer, kBlockSize / kWarp), kBlockSize, 0, stream>>>(x, y, s.outer,
                                                                                                   s.n, log);
  } else {
    softmax_rows_kernel<T, false><<<grid_for(s.outer, 1), kRowBlock, 0, stream>>>(x, y, s.outer, s.n, log);
  }
}

template <typename T>
void launch_backward(const T* g, const T* y, T* gi, const SoftmaxShape& s, bool log, cudaStream_t stream) {
  if (s.inner > 1) {
    softmax_backward_cols_kernel<T><<<grid_for(s.outer * column_tiles(s), 1), dim3(kWarp, kColRows), 0, stream>>>(
        g, y, gi, s.outer, s.n, s.inner, log);
  } else if (s.n <= kMaxWarpRow) {
    softmax_backward_rows_kernel<T, true><<<grid_for(s.outer, kBlockSize / kWarp), kBlockSize, 0, stream>>>(
        g, y, gi, s.outer, s.n, log);
  } else {
    softmax_backward_rows_kernel<T, false><<<grid_for(s.outer, 1), kRowBlock, 0, stream>>>(g, y, gi, s.outer, s.n,
                                                                                           log);
  }
}

bool empty(const SoftmaxShape& s) { return s.outer == 0 || s.n == 0 || s.inner == 0; }

}  // namespace

cudaError_t softmax_forward(const void* x, void* y, SoftmaxShape shape, bool log, ScalarType type,
                            cudaStream_t stream) {
  if (empty(shape)) return cudaSuccess;
  TS_KERNEL_DISPATCH_FLOAT(type, [&] {
    launch_forward(static_cast<const scalar_t*>(x), static_cast<scalar_t*>(y), shape, log, stream);
  });
  return cudaGetLastError();
}

cudaError_t softmax_backward(const void* grad_out, const void* y, void* grad_in, SoftmaxShape shape, bool log,
                             ScalarType type, cudaStream_t stream) {
  if (empty(shape)) return cudaSuccess;
  TS_KERNEL_DISPATCH_FLOAT(type, [&] {
    launch_backward(static_cast<const scalar_t*>(grad_out), static_cast<const scalar_t*>(y),
                    static_cast<scalar_t*>(grad_in), shape, log, stream);
  });
  return cudaGetLastError();
}

}  // namespace ts::kernels
