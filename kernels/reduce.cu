// Reductions: Sum/Mean/Max/Min/Prod over a (kept, reduced) index space, and arg max/min.
// Three kernels serve both, templated on a Reducer (accumulator type, identity, load,
// combine, write):
//  * inner: reductions along x's unit-stride dim (rows): `group` lanes per output, reading
//    consecutive elements, combined with warp shuffles (and shared memory across warps when
//    a long row gets a whole block);
//  * outer: reductions across rows (a bias gradient summed over the batch): each x-thread owns
//    an output, adjacent in memory to its neighbours', so loads coalesce; y-threads split the
//    reduction and combine in shared memory;
//  * finalize: when plan_reduce splits long reductions over several blocks (grid y), each
//    writes a partial accumulator and this kernel combines them in split order.
// Every combination order is fixed by the plan, so results are deterministic run to run.
#include "kernels/reduce.h"

#include <limits>
#include <type_traits>

#include "kernels/common.cuh"

namespace ts::kernels {
namespace {

// ============================================================================================
// kernels
// ============================================================================================

template <typename T> inline constexpr bool is_float_v = std::is_floating_point_v<T> || is_half_v<T>;

/// The CPU backend's accumulators: double for floats, int64 for integers and bool.
template <typename T> using value_acc_t = std::conditional_t<is_float_v<T>, double, int64_t>;

constexpr unsigned kFullMask = 0xffffffffu;

/// __shfl_xor_sync for any arithmetic type (bool and uint8_t travel as int).
template <typename A> __device__ __forceinline__ A shfl_xor(A v, int offset) {
  if constexpr (sizeof(A) < sizeof(int)) {
    return static_cast<A>(__shfl_xor_sync(kFullMask, static_cast<int>(v), offset));
  } else {
    return __shfl_xor_sync(kFullMask, v, offset);
  }
}

struct KeptOffsets {
  int64_t x = 0, out = 0, idx = 0;
};

__device__ __forceinline__ KeptOffsets kept_offsets(const ReduceGeometry& g, int64_t o) {
  KeptOffsets k;
  for (int d = g.kept_ndim - 1; d >= 0; --d) {
    const int64_t size = g.kept_sizes[d];
    const int64_t i = o % size;
    o /= size;
    k.x += i * g.kept_strides[0][d];
    k.out += i * g.kept_strides[1][d];
    k.idx += i * g.kept_strides[2][d];
  }
  return k;
}

__device__ __forceinline__ int64_t reduced_offset(const ReduceGeometry& g, int64_t r) {
  if (g.red_ndim == 1) return r * g.red_strides[0];
  int64_t off = 0;
  for (int d = g.red_ndim - 1; d >= 0; --d) {
    const int64_t size = g.red_sizes[d];
    off += (r % size) * g.red_strides[d];
    r /= size;
  }
  return off;
}

/// Sum (Mean when `mean`), Max, Min or Prod with the CPU backend's accumulator and NaN rules.
template <typename T, ReduceKind Op> struct ValueReducer {
  using Acc = value_acc_t<T>;
  const T* x;
  T* out;
  int64_t count;
  bool mean;

  __device__ Acc identity() const {
    if constexpr (Op == ReduceKind::Prod) {
      return Acc(1);
    } else if constexpr (Op == ReduceKind::Max && is_float_v<T>) {
      return -std::numeric_limits<double>::infinity();
    } else if constexpr (Op == ReduceKind::Max) {
      return static_cast<Acc>(std::numeric_limits<T>::lowest());
    } else if constexpr (Op == ReduceKind::Min && is_float_v<T>) {
      return std::numeric_limits<double>::infinity();
    } else if constexpr (Op == ReduceKind::Min) {
      return static_cast<Acc>(std::numeric_limits<T>::max());
    } else {
      return Acc(0);
    }
  }
  __device__ Acc load(int64_t off, int64_t) const { return convert<Acc>(x[off]); }
  __device__ Acc combine(Acc a, Acc b) const {
    if constexpr (Op == ReduceKind::Prod) {
      return a * b;
    } else if constexpr (Op == ReduceKind::Max || Op == ReduceKind::Min) {
      if constexpr (is_float_v<T>) {
        if (a != a || b != b) return std::numeric_limits<double>::quiet_NaN();
      }
      return Op == ReduceKind::Max ? (a > b ? a : b) : (a < b ? a : b);
    } else {
      return a + b;
    }
  }
  __device__ Acc shfl(Acc a, int offset) const { return shfl_xor(a, offset); }
  __device__ void write(const KeptOffsets& k, Acc a) const {
    out[k.out] = mean ? convert<T>(static_cast<double>(a) / static_cast<double>(count)) : convert<T>(a);
  }
};

template <typename A> struct ArgAcc {
  A v;
  int64_t i;  ///< -1: no element yet (the identity)
};

/// Value and index of the max (IsMax) or min: NaN wins, then the larger (smaller) value, then
/// the smaller index, which makes the combination order irrelevant and matches the CPU's scan.
template <typename T, bool IsMax> struct ArgReducer {
  using A = acc_t<T>;
  using Acc = ArgAcc<A>;
  const T* x;
  T* values;
  int64_t* indices;

  __device__ Acc identity() const { return {A(0), -1}; }
  __device__ Acc load(int64_t off, int64_t r) const { return {convert<A>(x[off]), r}; }
  __device__ Acc combine(const Acc& a, const Acc& b) const {
    if (a.i < 0) return b;
    if (b.i < 0) return a;
    if constexpr (is_float_v<T>) {
      const bool a_nan = a.v != a.v, b_nan = b.v != b.v;
      if (a_nan && b_nan) return a.i < b.i ? a : b;
      if (a_nan) return a;
      if (b_nan) return b;
    }
    if (a.v == b.v) return a.i < b.i ? a : b;
    return (IsMax ? a.v > b.v : a.v < b.v) ? a : b;
  }
  __device__ Acc shfl(const Acc& a, int offset) const { return {shfl_xor(a.v, offset), shfl_xor(a.i, offset)}; }
  __device__ void write(const KeptOffsets& k, const Acc& a) const {
    values[k.out] = convert<T>(a.v);
    indices[k.idx] = a.i;
  }
};

/// Combines elements begin, begin + step, ... (< end) of the output whose x offset is `base`,
/// four loads in flight per iteration.
template <typename R>
__device__ __forceinline__ typename R::Acc accumulate(const R& r, const ReduceGeometry& g, int64_t base, int64_t begin,
                                                      int64_t end, int64_t step) {
  using Acc = typename R::Acc;
  Acc a = r.identity();
  int64_t i = begin;
  for (; i + 3 * step < end; i += 4 * step) {
    const Acc v0 = r.load(base + reduced_offset(g, i), i);
    const Acc v1 = r.load(base + reduced_offset(g, i + step), i + step);
    const Acc v2 = r.load(base + reduced_offset(g, i + 2 * step), i + 2 * step);
    const Acc v3 = r.load(base + reduced_offset(g, i + 3 * step), i + 3 * step);
    a = r.combine(a, r.combine(r.combine(v0, v1), r.combine(v2, v3)));
  }
  for (; i < end; i += step) a = r.combine(a, r.load(base + reduced_offset(g, i), i));
  return a;
}

/// Combines across aligned groups of `width` lanes (a power of two <= 32); the whole warp
/// must call it.
template <typename R>
__device__ __forceinline__ typename R::Acc lanes_combine(const R& r, typename R::Acc a, int width) {
  for (int o = width / 2; o > 0; o >>= 1) a = r.combine(a, r.shfl(a, o));
  return a;
}

__device__ __forceinline__ int64_t split_end(const ReduceGeometry& g, int64_t begin, int64_t chunk) {
  return begin + chunk < g.len ? begin + chunk : g.len;
}

/// Stores an output's result, or its split's partial (laid out [split][output] so that both
/// the writes here and the reads of the finalize kernel coalesce).
template <typename R>
__device__ __forceinline__ void emit(const R& r, const ReduceGeometry& g, int64_t o, const KeptOffsets& k,
                                     const typename R::Acc& a, typename R::Acc* partials) {
  if (gridDim.y == 1) {
    r.write(k, a);
  } else {
    partials[static_cast<int64_t>(blockIdx.y) * g.kept + o] = a;
  }
}

constexpr int kMaxGroup = 512;

/// `group` consecutive threads per output (group <= 32: 256-thread blocks hold 256 / group
/// outputs; group > 32: blockDim.x == group, one output per block).
template <typename R>
__global__ void __launch_bounds__(kMaxGroup) reduce_inner_kernel(const R r, const ReduceGeometry g, const int group,
                                                                  const int64_t chunk, typename R::Acc* partials) {
  using Acc = typename R::Acc;
  __shared__ Acc warp_results[kMaxGroup / 32];
  const int outputs_per_block = static_cast<int>(blockDim.x) / group;
  const int lane = static_cast<int>(threadIdx.x) % group;
  const int64_t begin = static_cast<int64_t>(blockIdx.y) * chunk;
  const int64_t end = split_end(g, begin, chunk);
  // `first` is uniform across the block, so every thread runs the same iterations (the
  // shuffles and barriers below need all of them).
  for (int64_t first = static_cast<int64_t>(blockIdx.x) * outputs_per_block; first < g.kept;
       first += static_cast<int64_t>(gridDim.x) * outputs_per_block) {
    const int64_t o = first + static_cast<int>(threadIdx.x) / group;
    const bool valid = o < g.kept;
    KeptOffsets k;
    Acc a = r.identity();
    if (valid) {
      k = kept_offsets(g, o);
      a = accumulate(r, g, k.x, begin + lane, end, group);
    }
    a = lanes_combine(r, a, group < 32 ? group : 32);
    if (group > 32) {
      const int warp = static_cast<int>(threadIdx.x) / 32;
      if (threadIdx.x % 32 == 0) warp_results[warp] = a;
      __syncthreads();
      if (warp == 0) {
        a = static_cast<int>(threadIdx.x) < group / 32 ? warp_results[threadIdx.x] : r.identity();
        a = lanes_combine(r, a, 32);
      }
      __syncthreads();  // the next iteration rewrites warp_results
    }
    if (valid && lane == 0) emit(r, g, o, k, a, partials);
  }
}

/// blockDim (bx, by): x-threads own consecutive outputs, y-threads share each reduction.
template <typename R>
__global__ void __launch_bounds__(kBlockSize) reduce_outer_kernel(const R r, const ReduceGeometry g,
                                                                   const int64_t chunk, typename R::Acc* partials) {
  using Acc = typename R::Acc;
  __shared__ Acc slots[kBlockSize];
  const int tx = static_cast<int>(threadIdx.x), ty = static_cast<int>(threadIdx.y);
  const int bx = static_cast<int>(blockDim.x), by = static_cast<int>(blockDim.y);
  const int64_t begin = static_cast<int64_t>(blockIdx.y) * chunk;
  const int64_t end = split_end(g, begin, chunk);
  for (int64_t first = static_cast<int64_t>(blockIdx.x) * bx; first < g.kept;
       first += static_cast<int64_t>(gridDim.x) * bx) {
    const int64_t o = first + tx;
    const bool valid = o < g.kept;
    KeptOffsets k;
    Acc a = r.identity();
    if (valid) {
      k = kept_offsets(g, o);
      a = accumulate(r, g, k.x, begin + ty, end, by);
    }
    slots[ty * bx + tx] = a;
    __syncthreads();
    for (int s = by / 2; s > 0; s >>= 1) {
      if (ty < s) slots[ty * bx + tx] = r.combine(slots[ty * bx + tx], slots[(ty + s) * bx + tx]);
      __syncthreads();
    }
    if (valid && ty == 0) emit(r, g, o, k, slots[tx], partials);
    __syncthreads();  // the next iteration rewrites slots
  }
}

template <typename R>
__global__ void __launch_bounds__(kBlockSize) reduce_finalize_kernel(const R r, const ReduceGeometry g,
                                                                      const int splits,
                                                                      const typename R::Acc* partials) {
  using Acc = typename R::Acc;
  for (int64_t o = global_thread_index(); o < g.kept; o += grid_stride()) {
    Acc a = r.identity();
    for (int s = 0; s < splits; ++s) a = r.combine(a, partials[static_cast<int64_t>(s) * g.kept + o]);
    r.write(kept_offsets(g, o), a);
  }
}

// ============================================================================================
// launchers
// ============================================================================================

/// Bytes of the largest accumulator (ArgAcc<double>), which sizes the workspace for all.
constexpr size_t kMaxAccBytes = 16;
static_assert(sizeof(ArgAcc<double>) == kMaxAccBytes && sizeof(ArgAcc<float>) <= kMaxAccBytes);

template <typename R>
cudaError_t run(const R& r, const ReduceGeometry& g, const ReducePlan& p, void* workspace, cudaStream_t stream) {
  if (g.kept == 0) return cudaSuccess;
  using Acc = typename R::Acc;
  if (p.splits > 1 && workspace == nullptr) return cudaErrorInvalidValue;
  auto* partials = static_cast<Acc*>(workspace);
  const dim3 grid(p.grid_x, static_cast<unsigned>(p.splits));
  if (p.inner) {
    reduce_inner_kernel<<<grid, p.block_x, 0, stream>>>(r, g, p.group, p.chunk, partials);
  } else {
    reduce_outer_kernel<<<grid, dim3(p.block_x, p.block_y), 0, stream>>>(r, g, p.chunk, partials);
  }
  if (p.splits == 1) return cudaGetLastError();
  if (const cudaError_t err = cudaGetLastError(); err != cudaSuccess) return err;
  reduce_finalize_kernel<<<grid_for(g.kept), kBlockSize, 0, stream>>>(r, g, p.splits, partials);
  return cudaGetLastError();
}

}  // namespace

ReducePlan plan_reduce(const ReduceGeometry& g) {
  // Enough threads to fill an H100 (132 SMs x 2048 threads) about twice.
  constexpr int64_t kTargetThreads = int64_t(1) << 19;
  // Fewest elements per thread worth another split of the work.
  constexpr int64_t kMinPerThread = 16;
  ReducePlan p;
  p.chunk = g.len;
  if (g.kept == 0) return p;
  const bool red_unit = g.red_ndim > 0 && g.red_strides[g.red_ndim - 1] == 1;
  const bool kept_unit = g.kept_ndim > 0 && g.kept_strides[0][g.kept_ndim - 1] == 1;
  p.inner = red_unit || (!kept_unit && g.len >= 32);
  int64_t per_output = 1, blocks = 1;  // threads sharing one output; blocks across the outputs
  if (p.inner) {
    int group = 1;
    while (group < 32 && group < g.len) group *= 2;
    while (group < kMaxGroup && g.kept * group < kTargetThreads && g.len >= int64_t(group) * 2 * kMinPerThread)
      group *= 2;
    p.group = group;
    p.block_x = group > 32 ? group : kBlockSize;
    p.block_y = 1;
    per_output = group;
    const int64_t outputs_per_block = p.block_x / group;
    blocks = (g.kept + outputs_per_block - 1) / outputs_per_block;
  } else {
    int bx = 1, by = 1;
    while (bx < 32 && bx < g.kept) bx *= 2;
    while (bx * by < kBlockSize && g.len >= int64_t(by) * 2 * kMinPerThread) by *= 2;
    while (bx * by < kBlockSize && bx < g.kept) bx *= 2;  // short reductions: more outputs per block
    p.block_x = bx;
    p.block_y = by;
    per_output = by;
    blocks = (g.kept + bx - 1) / bx;
  }
  const int64_t block_threads = int64_t(p.block_x) * p.block_y;
  // Few outputs with long reductions: share each among `splits` blocks to fill the GPU.
  while (p.splits < 1024 && blocks * block_threads * p.splits * 2 <= kTargetThreads &&
         g.len >= per_output * p.splits * 2 * kMinPerThread)
    p.splits *= 2;
  p.chunk = (g.len + p.splits - 1) / p.splits;
  constexpr int64_t kMaxGridX = int64_t(1) << 20;  // the kernels grid-stride over the rest
  p.grid_x = static_cast<unsigned>(blocks < kMaxGridX ? blocks : kMaxGridX);
  p.workspace_bytes = p.splits > 1 ? static_cast<size_t>(g.kept) * static_cast<size_t>(p.splits) * kMaxAccBytes : 0;
  return p;
}

cudaError_t reduce(ReduceKind op, ScalarType type, const void* x, void* out, const ReduceGeometry& g,
                   const ReducePlan& plan, void* workspace, cudaStream_t stream) {
  cudaError_t err = cudaSuccess;
  TS_KERNEL_DISPATCH_ALL(type, [&] {
    using T = scalar_t;
    const auto* xp = static_cast<const T*>(x);
    auto* o = static_cast<T*>(out);
    switch (op) {
      case ReduceKind::Sum:
      case ReduceKind::Mean:
        err = run(ValueReducer<T, ReduceKind::Sum>{xp, o, g.len, op == ReduceKind::Mean}, g, plan, workspace, stream);
        break;
      case ReduceKind::Max:
        err = run(ValueReducer<T, ReduceKind::Max>{xp, o, g.len, false}, g, plan, workspace, stream);
        break;
      case ReduceKind::Min:
        err = run(ValueReducer<T, ReduceKind::Min>{xp, o, g.len, false}, g, plan, workspace, stream);
        break;
      case ReduceKind::Prod:
        err = run(ValueReducer<T, ReduceKind::Prod>{xp, o, g.len, false}, g, plan, workspace, stream);
        break;
      default: err = cudaErrorInvalidValue;
    }
  });
  return err;
}

cudaError_t arg_reduce(bool is_max, ScalarType type, const void* x, void* values, int64_t* indices,
                       const ReduceGeometry& g, const ReducePlan& plan, void* workspace, cudaStream_t stream) {
  if (g.len <= 0) return cudaErrorInvalidValue;
  cudaError_t err = cudaSuccess;
  TS_KERNEL_DISPATCH_ALL(type, [&] {
    using T = scalar_t;
    const auto* xp = static_cast<const T*>(x);
    auto* v = static_cast<T*>(values);
    err = is_max ? run(ArgReducer<T, true>{xp, v, indices}, g, plan, workspace, stream)
                 : run(ArgReducer<T, false>{xp, v, indices}, g, plan, workspace, stream);
  });
  return err;
}

}  // namespace ts::kernels
