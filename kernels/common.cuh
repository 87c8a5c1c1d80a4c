#pragma once
// Device-side helpers shared by every kernels/*.cu file: element types, conversions through
// float/double ("compute 16-bit types in float32", as the CPU backend does), launch sizing
// and host-side dispatch over ScalarType. Only kernels/*.cu include this.
#include <cstdint>
#include <type_traits>

#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include "kernels/kernel_types.h"

namespace ts::kernels {

/// The C++ type of each ScalarType on the device.
template <ScalarType S> struct scalar_of;
template <> struct scalar_of<ScalarType::F32> { using type = float; };
template <> struct scalar_of<ScalarType::F64> { using type = double; };
template <> struct scalar_of<ScalarType::F16> { using type = __half; };
template <> struct scalar_of<ScalarType::BF16> { using type = __nv_bfloat16; };
template <> struct scalar_of<ScalarType::I32> { using type = int32_t; };
template <> struct scalar_of<ScalarType::I64> { using type = int64_t; };
template <> struct scalar_of<ScalarType::U8> { using type = uint8_t; };
template <> struct scalar_of<ScalarType::Bool> { using type = bool; };

template <typename T>
inline constexpr bool is_half_v = std::is_same_v<T, __half> || std::is_same_v<T, __nv_bfloat16>;

/// The type arithmetic runs in: float for 16-bit floats, the type itself otherwise.
template <typename T> struct acc_of { using type = T; };
template <> struct acc_of<__half> { using type = float; };
template <> struct acc_of<__nv_bfloat16> { using type = float; };
template <typename T> using acc_t = typename acc_of<T>::type;

/// Value conversion with PyTorch's semantics (bool is "!= 0", floats truncate toward zero),
/// mirroring cpu::convert in src/backend/cpu/cpu_loops.h.
template <typename D, typename S> __device__ __forceinline__ D convert(S s) {
  if constexpr (std::is_same_v<D, S>) {
    return s;
  } else if constexpr (std::is_same_v<S, __half>) {
    return convert<D>(__half2float(s));
  } else if constexpr (std::is_same_v<S, __nv_bfloat16>) {
    return convert<D>(__bfloat162float(s));
  } else if constexpr (std::is_same_v<D, bool>) {
    return s != S(0);
  } else if constexpr (std::is_same_v<D, __half>) {
    return __float2half_rn(static_cast<float>(s));
  } else if constexpr (std::is_same_v<D, __nv_bfloat16>) {
    return __float2bfloat16_rn(static_cast<float>(s));
  } else {
    return static_cast<D>(s);
  }
}

/// Loads as the accumulation type / stores from it.
template <typename T> __device__ __forceinline__ acc_t<T> load_acc(const T* p) { return convert<acc_t<T>>(*p); }
template <typename T> __device__ __forceinline__ void store_acc(T* p, acc_t<T> v) { *p = convert<T>(v); }

inline constexpr int kBlockSize = 256;

/// Blocks for a grid-stride loop over n elements: enough to fill the GPU, never zero.
inline unsigned grid_for(int64_t n, int block = kBlockSize) {
  const int64_t blocks = (n + block - 1) / block;
  const int64_t capped = blocks < 65535 * 8 ? blocks : 65535 * 8;
  return static_cast<unsigned>(capped > 0 ? capped : 1);
}

__device__ __forceinline__ int64_t global_thread_index() {
  return static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
}
__device__ __forceinline__ int64_t grid_stride() { return static_cast<int64_t>(gridDim.x) * blockDim.x; }

/// Warp-level sum / max with shuffles (all 32 lanes participate). The max never selects a NaN,
/// so lanes may disagree when one holds NaN: callers track NaN themselves (cross_entropy.cu does).
template <typename T> __device__ __forceinline__ T warp_sum(T v) {
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  return v;
}
template <typename T> __device__ __forceinline__ T warp_max(T v) {
  for (int o = 16; o > 0; o >>= 1) {
    const T other = __shfl_xor_sync(0xffffffffu, v, o);
    v = other > v ? other : v;
  }
  return v;
}

/// Block-wide sum of one value per thread (blockDim.x a multiple of 32, at most 1024);
/// every thread receives the result. `shared` holds at least 32 elements.
template <typename T> __device__ __forceinline__ T block_sum(T v, T* shared) {
  const int lane = threadIdx.x % 32, warp = threadIdx.x / 32, warps = blockDim.x / 32;
  v = warp_sum(v);
  __syncthreads();  // `shared` may still be read by a previous call
  if (lane == 0) shared[warp] = v;
  __syncthreads();
  v = lane < warps ? shared[lane] : T(0);
  return warp_sum(v);
}
template <typename T> __device__ __forceinline__ T block_max(T v, T* shared, T lowest) {
  const int lane = threadIdx.x % 32, warp = threadIdx.x / 32, warps = blockDim.x / 32;
  v = warp_max(v);
  __syncthreads();
  if (lane == 0) shared[warp] = v;
  __syncthreads();
  v = lane < warps ? shared[lane] : lowest;
  return warp_max(v);
}

/// Rows each handled by one warp (kWarpRows) or by one whole block, grid-stride over the rows:
/// a row is always uniform across the threads that share it. A thread visits rows first,
/// first + stride, ... and, within a row, elements lane, lane + size, ...
template <bool kWarpRows> struct RowGroups {
  int lane, size;
  int64_t first, stride;
  __device__ RowGroups() {
    if constexpr (kWarpRows) {
      const int64_t per_block = blockDim.x / 32;
      lane = threadIdx.x % 32;
      size = 32;
      first = static_cast<int64_t>(blockIdx.x) * per_block + threadIdx.x / 32;
      stride = static_cast<int64_t>(gridDim.x) * per_block;
    } else {
      lane = threadIdx.x;
      size = blockDim.x;
      first = blockIdx.x;
      stride = gridDim.x;
    }
  }
};

/// Sum over the threads of a RowGroups row (warp_sum or block_sum); every one receives it.
template <bool kWarpRows, typename A> __device__ __forceinline__ A group_sum(A v, A* shared) {
  if constexpr (kWarpRows) {
    return warp_sum(v);
  } else {
    return block_sum(v, shared);
  }
}

}  // namespace ts::kernels

/// Host-side dispatch of a launcher body over a ScalarType: `scalar_t` is the device type.
#define TS_KERNEL_CASE(S, ...)                                   \
  case ::ts::kernels::ScalarType::S: {                           \
    using scalar_t = typename ::ts::kernels::scalar_of<::ts::kernels::ScalarType::S>::type; \
    __VA_ARGS__();                                               \
    break;                                                       \
  }
/// Floating types (f32, f64, f16, bf16).
#define TS_KERNEL_DISPATCH_FLOAT(st, ...)                        \
  switch (st) {                                                  \
    TS_KERNEL_CASE(F32, __VA_ARGS__)                             \
    TS_KERNEL_CASE(F64, __VA_ARGS__)                             \
    TS_KERNEL_CASE(F16, __VA_ARGS__)                             \
    TS_KERNEL_CASE(BF16, __VA_ARGS__)                            \
    default: return cudaErrorInvalidValue;                       \
  }
/// Every type.
#define TS_KERNEL_DISPATCH_ALL(st, ...)                          \
  switch (st) {                                                  \
    TS_KERNEL_CASE(F32, __VA_ARGS__)                             \
    TS_KERNEL_CASE(F64, __VA_ARGS__)                             \
    TS_KERNEL_CASE(F16, __VA_ARGS__)                             \
    TS_KERNEL_CASE(BF16, __VA_ARGS__)                            \
    TS_KERNEL_CASE(I32, __VA_ARGS__)                             \
    TS_KERNEL_CASE(I64, __VA_ARGS__)                             \
    TS_KERNEL_CASE(U8, __VA_ARGS__)                              \
    TS_KERNEL_CASE(Bool, __VA_ARGS__)                            \
    default: return cudaErrorInvalidValue;                       \
  }
