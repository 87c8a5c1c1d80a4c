// Indexing kernels: index_select / index_add over an (outer, size, inner) view, gather /
// scatter_add over the index tensor's (coalesced, strided) shape. One thread per output
// element (index_select, gather) or per source element (index_add, scatter_add), grid-stride.
//  * index_select moves bytes: rows of `inner` elements go as the widest vector (up to 16
//    bytes) dividing the row and both pointers' alignment, so embedding lookups copy rows
//    with 16-byte accesses.
//  * Accumulation is an atomic per source element (duplicates are the point of index_add:
//    embedding gradients of repeated tokens). Every dtype the CPU accepts is supported:
//    float/double/int32/int64 with native atomics, uint8 through a CAS on the aligned word
//    holding the byte, bool as an atomic OR ("dst || v"), float16/bfloat16 in a float32 copy.
//  * Offsets use 32-bit unsigned index math (cheaper division) when the element count fits.
#include <cstdint>
#include <type_traits>

#include "kernels/common.cuh"
#include "kernels/index.h"

namespace ts::kernels {
namespace {

constexpr int64_t kMax32 = INT32_MAX;  // below it, offsets use 32-bit index math

// ---- kernels ----------------------------------------------------------------------------------

template <typename I> __device__ __forceinline__ I first_index() {
  return static_cast<I>(blockIdx.x) * static_cast<I>(blockDim.x) + static_cast<I>(threadIdx.x);
}
template <typename I> __device__ __forceinline__ I thread_stride() {
  return static_cast<I>(gridDim.x) * static_cast<I>(blockDim.x);
}

__device__ __forceinline__ void atomic_accumulate(float* p, float v) { atomicAdd(p, v); }
__device__ __forceinline__ void atomic_accumulate(double* p, double v) { atomicAdd(p, v); }
__device__ __forceinline__ void atomic_accumulate(int32_t* p, int32_t v) { atomicAdd(p, v); }
// Two's complement: an unsigned 64-bit add wraps exactly like the CPU's int64 add.
__device__ __forceinline__ void atomic_accumulate(int64_t* p, int64_t v) {
  atomicAdd(reinterpret_cast<unsigned long long*>(p), static_cast<unsigned long long>(v));
}

// There are no byte-wide atomics: update the aligned 32-bit word holding the byte (every
// allocation is at least 4-byte aligned and padded, so the word lies inside it).
__device__ __forceinline__ unsigned int* word_of(const void* p, unsigned int* shift) {
  const uintptr_t a = reinterpret_cast<uintptr_t>(p);
  *shift = static_cast<unsigned int>(a & 3u) * 8u;
  return reinterpret_cast<unsigned int*>(a & ~static_cast<uintptr_t>(3));
}
__device__ __forceinline__ void atomic_accumulate(uint8_t* p, uint8_t v) {
  unsigned int shift;
  unsigned int* word = word_of(p, &shift);
  unsigned int old = *word, assumed;
  do {
    assumed = old;
    const unsigned int sum = ((assumed >> shift) + v) & 0xffu;  // wraps modulo 256, as uint8 does
    old = atomicCAS(word, assumed, (assumed & ~(0xffu << shift)) | (sum << shift));
  } while (old != assumed);
}
__device__ __forceinline__ void atomic_accumulate(bool* p, bool v) {
  if (!v) return;
  unsigned int shift;
  unsigned int* word = word_of(p, &shift);
  atomicOr(word, 1u << shift);  // a true byte stays 1, a false one becomes 1
}

template <typename E, typename I>
__global__ void index_select_kernel(const E* __restrict__ x, const int64_t* __restrict__ index, int64_t index_step,
                                    E* __restrict__ out, I total, I inner, I n, int64_t x_size) {
  for (I t = first_index<I>(); t < total; t += thread_stride<I>()) {
    const I row = t / inner, i = t - row * inner;
    const I o = row / n, j = row - o * n;
    const int64_t src = (static_cast<int64_t>(o) * x_size + index[static_cast<int64_t>(j) * index_step]) *
                            static_cast<int64_t>(inner) +
                        static_cast<int64_t>(i);
    out[t] = x[src];
  }
}

template <typename D, typename S, typename I>
__global__ void index_add_kernel(D* __restrict__ out, const int64_t* __restrict__ index, int64_t index_step,
                                 const S* __restrict__ src, I total, I inner, I n, int64_t out_size) {
  for (I t = first_index<I>(); t < total; t += thread_stride<I>()) {
    const I row = t / inner, i = t - row * inner;
    const I o = row / n, j = row - o * n;
    const int64_t dst = (static_cast<int64_t>(o) * out_size + index[static_cast<int64_t>(j) * index_step]) *
                            static_cast<int64_t>(inner) +
                        static_cast<int64_t>(i);
    atomic_accumulate(out + dst, convert<D>(src[t]));
  }
}

// Element offsets of linear index i in the three operands of g.
template <typename I> __device__ __forceinline__ void offsets3(const ElementwiseGeometry& g, I i, int64_t (&off)[3]) {
  if (g.contiguous) {
    off[0] = off[1] = off[2] = static_cast<int64_t>(i);
    return;
  }
  off[0] = off[1] = off[2] = 0;
  for (int d = g.ndim - 1; d >= 0; --d) {
    const I size = static_cast<I>(g.sizes[d]);
    const int64_t c = static_cast<int64_t>(i % size);
    i /= size;
    off[0] += c * g.strides[0][d];
    off[1] += c * g.strides[1][d];
    off[2] += c * g.strides[2][d];
  }
}

template <typename E, typename I>
__global__ void gather_kernel(const E* __restrict__ x, const int64_t* __restrict__ index, E* __restrict__ out,
                              const ElementwiseGeometry g, int64_t x_dim_stride) {
  const I total = static_cast<I>(g.numel);
  for (I t = first_index<I>(); t < total; t += thread_stride<I>()) {
    int64_t off[3];
    offsets3(g, t, off);
    out[off[0]] = x[off[2] + index[off[1]] * x_dim_stride];
  }
}

template <typename D, typename S, typename I>
__global__ void scatter_add_kernel(D* __restrict__ out, const int64_t* __restrict__ index, const S* __restrict__ src,
                                   const ElementwiseGeometry g, int64_t out_dim_stride) {
  const I total = static_cast<I>(g.numel);
  for (I t = first_index<I>(); t < total; t += thread_stride<I>()) {
    int64_t off[3];
    offsets3(g, t, off);
    atomic_accumulate(out + off[2] + index[off[1]] * out_dim_stride, convert<D>(src[off[0]]));
  }
}

template <typename T> __global__ void widen_kernel(const T* __restrict__ in, float* __restrict__ out, int64_t n) {
  for (int64_t i = global_thread_index(); i < n; i += grid_stride()) out[i] = convert<float>(in[i]);
}
template <typename T> __global__ void narrow_kernel(const float* __restrict__ in, T* __restrict__ out, int64_t n) {
  for (int64_t i = global_thread_index(); i < n; i += grid_stride()) out[i] = convert<T>(in[i]);
}

// ---- launchers --------------------------------------------------------------------------------

// Runs body(dst): dst is `out` itself, or for 16-bit floats a float32 copy of it that is
// rounded back afterwards (one rounding, like the CPU's widened accumulation).
template <typename T, typename Body>
cudaError_t accumulate_into(T* out, float* scratch, int64_t numel, cudaStream_t stream, Body&& body) {
  if constexpr (is_half_v<T>) {
    if (!scratch) return cudaErrorInvalidValue;
    widen_kernel<T><<<grid_for(numel), kBlockSize, 0, stream>>>(out, scratch, numel);
    body(scratch);
    narrow_kernel<T><<<grid_for(numel), kBlockSize, 0, stream>>>(scratch, out, numel);
  } else {
    body(out);
  }
  return cudaGetLastError();
}

// Unsigned integers of each vector width, for pure data movement.
template <size_t kBytes> struct bits_of;
template <> struct bits_of<1> { using type = uint8_t; };
template <> struct bits_of<2> { using type = uint16_t; };
template <> struct bits_of<4> { using type = uint32_t; };
template <> struct bits_of<8> { using type = unsigned long long; };
template <> struct bits_of<16> { using type = uint4; };

template <typename F> cudaError_t dispatch_width(size_t bytes, F&& f) {
  switch (bytes) {
    case 1: f(bits_of<1>::type{}); break;
    case 2: f(bits_of<2>::type{}); break;
    case 4: f(bits_of<4>::type{}); break;
    case 8: f(bits_of<8>::type{}); break;
    case 16: f(bits_of<16>::type{}); break;
    default: return cudaErrorInvalidValue;
  }
  return cudaSuccess;
}

bool aligned(const void* p, size_t bytes) { return reinterpret_cast<uintptr_t>(p) % bytes == 0; }

}  // namespace

cudaError_t index_select(const void* x, DimView x_view, const int64_t* index, int64_t n, int64_t index_stride,
                         void* out, size_t element_size, cudaStream_t stream) {
  if (x_view.outer * n * x_view.inner == 0) return cudaSuccess;
  const int64_t row_bytes = x_view.inner * static_cast<int64_t>(element_size);
  size_t width = 16;
  while (width > element_size &&
         (row_bytes % static_cast<int64_t>(width) != 0 || !aligned(x, width) || !aligned(out, width)))
    width /= 2;
  const int64_t inner = row_bytes / static_cast<int64_t>(width);
  const int64_t total = x_view.outer * n * inner;
  const cudaError_t err = dispatch_width(width, [&](auto zero) {
    using E = decltype(zero);
    const auto* xp = static_cast<const E*>(x);
    auto* op = static_cast<E*>(out);
    if (total <= kMax32) {
      index_select_kernel<E, uint32_t><<<grid_for(total), kBlockSize, 0, stream>>>(
          xp, index, index_stride, op, static_cast<uint32_t>(total), static_cast<uint32_t>(inner),
          static_cast<uint32_t>(n), x_view.size);
    } else {
      index_select_kernel<E, int64_t><<<grid_for(total), kBlockSize, 0, stream>>>(xp, index, index_stride, op, total,
                                                                                  inner, n, x_view.size);
    }
  });
  if (err != cudaSuccess) return err;
  return cudaGetLastError();
}

cudaError_t index_add(void* out, DimView out_view, const int64_t* index, int64_t n, int64_t index_stride,
                      const void* src, ScalarType type, float* scratch, cudaStream_t stream) {
  const int64_t total = out_view.outer * n * out_view.inner;
  const int64_t out_numel = out_view.outer * out_view.size * out_view.inner;
  if (total == 0 || out_numel == 0) return cudaSuccess;
  cudaError_t err = cudaSuccess;
  TS_KERNEL_DISPATCH_ALL(type, [&] {
    const auto* sp = static_cast<const scalar_t*>(src);
    err = accumulate_into(static_cast<scalar_t*>(out), scratch, out_numel, stream, [&](auto* dst) {
      using D = std::remove_pointer_t<decltype(dst)>;
      if (total <= kMax32) {
        index_add_kernel<D, scalar_t, uint32_t><<<grid_for(total), kBlockSize, 0, stream>>>(
            dst, index, index_stride, sp, static_cast<uint32_t>(total), static_cast<uint32_t>(out_view.inner),
            static_cast<uint32_t>(n), out_view.size);
      } else {
        index_add_kernel<D, scalar_t, int64_t><<<grid_for(total), kBlockSize, 0, stream>>>(
            dst, index, index_stride, sp, total, out_view.inner, n, out_view.size);
      }
    });
  });
  return err;
}

cudaError_t gather(const void* x, const int64_t* index, void* out, const ElementwiseGeometry& g,
                   int64_t x_dim_stride, size_t element_size, cudaStream_t stream) {
  if (g.numel == 0) return cudaSuccess;
  const cudaError_t err = dispatch_width(element_size, [&](auto zero) {
    using E = decltype(zero);
    const auto* xp = static_cast<const E*>(x);
    auto* op = static_cast<E*>(out);
    if (g.numel <= kMax32) {
      gather_kernel<E, uint32_t><<<grid_for(g.numel), kBlockSize, 0, stream>>>(xp, index, op, g, x_dim_stride);
    } else {
      gather_kernel<E, int64_t><<<grid_for(g.numel), kBlockSize, 0, stream>>>(xp, index, op, g, x_dim_stride);
    }
  });
  if (err != cudaSuccess) return err;
  return cudaGetLastError();
}

cudaError_t scatter_add(void* out, int64_t out_numel, const int64_t* index, const void* src,
                        const ElementwiseGeometry& g, int64_t out_dim_stride, ScalarType type, float* scratch,
                        cudaStream_t stream) {
  if (g.numel == 0 || out_numel == 0) return cudaSuccess;
  cudaError_t err = cudaSuccess;
  TS_KERNEL_DISPATCH_ALL(type, [&] {
    const auto* sp = static_cast<const scalar_t*>(src);
    err = accumulate_into(static_cast<scalar_t*>(out), scratch, out_numel, stream, [&](auto* dst) {
      using D = std::remove_pointer_t<decltype(dst)>;
      if (g.numel <= kMax32) {
        scatter_add_kernel<D, scalar_t, uint32_t><<<grid_for(g.numel), kBlockSize, 0, stream>>>(dst, index, sp, g,
                                                                                               out_dim_stride);
      } else {
        scatter_add_kernel<D, scalar_t, int64_t><<<grid_for(g.numel), kBlockSize, 0, stream>>>(dst, index, sp, g,
                                                                                              out_dim_stride);
      }
    });
  });
  return err;
}

}  // namespace ts::kernels
