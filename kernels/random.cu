// Counter-based random fills that reproduce the CPU backend bit for bit: the same
// Philox4x32-10 rounds and the same 53-bit doubles, then the affine map (and Box-Muller) in
// double. The CPU's `low + (high - low) * u` compiles to one fused multiply-add (GCC contracts
// it whenever the host has FMA, as with the default -march=native build), so the final step
// here is an explicit fma; the other products are rounded on their own (__dmul_rn), as on the
// CPU. U[0,1) draws (rand, dropout masks) are exact either way. Two possible differences of an
// ulp of double: a CPU build without FMA, and CUDA's double log/cos against glibc's in normal
// draws (almost never visible after rounding to float). One thread per element: every element
// is its own counter.
#include "kernels/random.h"

#include "kernels/common.cuh"

namespace ts::kernels {
namespace {

// ---- kernels --------------------------------------------------------------------------------

struct Words {
  uint32_t w[4];
};

/// src/runtime/philox.h's philox4x32: 32x32->64-bit products split into __umulhi and the low word.
__device__ __forceinline__ Words philox4x32(uint64_t counter, uint64_t seed) {
  uint32_t c0 = static_cast<uint32_t>(counter), c1 = static_cast<uint32_t>(counter >> 32), c2 = 0, c3 = 0;
  uint32_t k0 = static_cast<uint32_t>(seed), k1 = static_cast<uint32_t>(seed >> 32);
#pragma unroll
  for (int r = 0; r < 10; ++r) {
    const uint32_t hi0 = __umulhi(0xD2511F53u, c0), lo0 = 0xD2511F53u * c0;
    const uint32_t hi1 = __umulhi(0xCD9E8D57u, c2), lo1 = 0xCD9E8D57u * c2;
    const uint32_t n0 = hi1 ^ c1 ^ k0;
    const uint32_t n2 = hi0 ^ c3 ^ k1;
    c1 = lo1;
    c3 = lo0;
    c0 = n0;
    c2 = n2;
    k0 += 0x9E3779B9u;
    k1 += 0xBB67AE85u;
  }
  return {{c0, c1, c2, c3}};
}

/// U[0,1) with 53 bits from two words (exact: a 53-bit integer times 2^-53).
__device__ __forceinline__ double uints_to_unit_double(uint32_t a, uint32_t b) {
  const uint64_t v = (static_cast<uint64_t>(a) << 21) ^ (b >> 11);
  return static_cast<double>(v & ((1ull << 53) - 1)) * (1.0 / 9007199254740992.0);
}

struct UniformGen {
  double low, high;
  uint64_t seed;
  __device__ double operator()(uint64_t counter) const {
    const Words r = philox4x32(counter, seed);
    return fma(high - low, uints_to_unit_double(r.w[0], r.w[1]), low);
  }
};

struct NormalGen {
  double mean, std;
  uint64_t seed;
  __device__ double operator()(uint64_t counter) const {
    const Words r = philox4x32(counter, seed);
    double u1 = uints_to_unit_double(r.w[0], r.w[1]);
    const double u2 = uints_to_unit_double(r.w[2], r.w[3]);
    if (u1 < 1e-300) u1 = 1e-300;
    const double z = __dmul_rn(sqrt(__dmul_rn(-2.0, log(u1))), cos(__dmul_rn(6.283185307179586, u2)));
    return fma(std, z, mean);
  }
};

template <typename T, typename Gen>
__global__ void __launch_bounds__(kBlockSize) random_kernel(T* out, int64_t n, uint64_t offset, Gen gen) {
  for (int64_t i = global_thread_index(); i < n; i += grid_stride())
    out[i] = convert<T>(gen(offset + static_cast<uint64_t>(i)));
}

// ---- launchers ------------------------------------------------------------------------------

template <typename Gen> cudaError_t launch(ScalarType type, void* out, int64_t n, uint64_t offset, Gen gen,
                                           cudaStream_t stream) {
  if (n == 0) return cudaSuccess;
  TS_KERNEL_DISPATCH_ALL(type, [&] {
    random_kernel<<<grid_for(n), kBlockSize, 0, stream>>>(static_cast<scalar_t*>(out), n, offset, gen);
  });
  return cudaGetLastError();
}

}  // namespace

cudaError_t fill_uniform(ScalarType type, void* out, int64_t n, double low, double high, uint64_t seed,
                         uint64_t offset, cudaStream_t stream) {
  return launch(type, out, n, offset, UniformGen{low, high, seed}, stream);
}

cudaError_t fill_normal(ScalarType type, void* out, int64_t n, double mean, double std, uint64_t seed,
                        uint64_t offset, cudaStream_t stream) {
  return launch(type, out, n, offset, NormalGen{mean, std, seed}, stream);
}

}  // namespace ts::kernels
