// Fused softmax cross-entropy. One block per row: the logits row is read twice in the forward
// (max, then sum of exp; a vocabulary row of 50k floats stays in L2 between the passes) and
// once in the backward, so a (tokens, vocab) probability matrix never exists in memory.
#include <limits>

#include "kernels/common.cuh"
#include "kernels/cross_entropy.h"

namespace ts::kernels {
namespace {

// ---- kernels -------------------------------------------------------------------------------

// The max starts at -inf, as the CPU's: an all -inf row then gets exp(-inf - -inf) = NaN
// terms and a NaN lse, as on the CPU (-FLT_MAX would give lse = -inf).
template <typename T> __device__ __forceinline__ acc_t<T> lowest_acc() {
  return -std::numeric_limits<acc_t<T>>::infinity();
}

template <typename T>
__global__ void ce_forward_kernel(const T* __restrict__ x, const int64_t* __restrict__ target, int64_t ignore_index,
                                  T* __restrict__ loss, acc_t<T>* __restrict__ lse, int64_t n) {
  using A = acc_t<T>;
  __shared__ A shared[32];
  const int64_t row = blockIdx.x;
  const T* xr = x + row * n;
  A m = lowest_acc<T>();
  bool nan = false;
  for (int64_t i = threadIdx.x; i < n; i += blockDim.x) {
    const A v = convert<A>(xr[i]);
    nan |= v != v;
    m = v > m ? v : m;
  }
  m = block_max(m, shared, lowest_acc<T>());
  A s = 0;
  for (int64_t i = threadIdx.x; i < n; i += blockDim.x) s += exp(convert<A>(xr[i]) - m);
  s = block_sum(s, shared);
  // A NaN anywhere in the row makes the row's loss NaN (the CPU kernel's exp does the same).
  const A any_nan = block_sum(static_cast<A>(nan ? 1 : 0), shared);
  if (threadIdx.x == 0) {
    A l = m + log(s);
    if (any_nan > 0) l = A(NAN);
    lse[row] = l;
    const int64_t t = target[row];
    loss[row] = t == ignore_index ? convert<T>(A(0)) : convert<T>(l - convert<A>(xr[t]));
  }
}

template <typename T>
__global__ void ce_backward_kernel(const T* __restrict__ grad, const T* __restrict__ x,
                                   const int64_t* __restrict__ target, const acc_t<T>* __restrict__ lse,
                                   int64_t ignore_index, T* __restrict__ gx, int64_t n) {
  using A = acc_t<T>;
  const int64_t row = blockIdx.x;
  const int64_t t = target[row];
  const T* xr = x + row * n;
  T* gr = gx + row * n;
  if (t == ignore_index) {
    for (int64_t i = threadIdx.x; i < n; i += blockDim.x) gr[i] = convert<T>(A(0));
    return;
  }
  const A g = convert<A>(grad[row]), l = lse[row];
  for (int64_t i = threadIdx.x; i < n; i += blockDim.x) {
    const A p = exp(convert<A>(xr[i]) - l);
    gr[i] = convert<T>(g * p - (i == t ? g : A(0)));
  }
}

int threads_for(int64_t n) { return n >= 4096 ? 1024 : (n >= 512 ? 256 : 128); }

}  // namespace

// ---- launchers -----------------------------------------------------------------------------

cudaError_t cross_entropy_forward(ScalarType dtype, const void* logits, const int64_t* target, int64_t ignore_index,
                                  void* loss, void* lse, int64_t rows, int64_t n, cudaStream_t stream) {
  if (rows == 0) return cudaSuccess;
  if (rows > 2147483647) return cudaErrorInvalidValue;
  TS_KERNEL_DISPATCH_FLOAT(dtype, [&] {
    ce_forward_kernel<scalar_t><<<static_cast<unsigned>(rows), threads_for(n), 0, stream>>>(
        static_cast<const scalar_t*>(logits), target, ignore_index, static_cast<scalar_t*>(loss),
        static_cast<acc_t<scalar_t>*>(lse), n);
  });
  return cudaGetLastError();
}

cudaError_t cross_entropy_backward(ScalarType dtype, const void* grad_loss, const void* logits, const int64_t* target,
                                   const void* lse, int64_t ignore_index, void* grad_logits, int64_t rows, int64_t n,
                                   cudaStream_t stream) {
  if (rows == 0) return cudaSuccess;
  if (rows > 2147483647) return cudaErrorInvalidValue;
  TS_KERNEL_DISPATCH_FLOAT(dtype, [&] {
    ce_backward_kernel<scalar_t><<<static_cast<unsigned>(rows), threads_for(n), 0, stream>>>(
        static_cast<const scalar_t*>(grad_loss), static_cast<const scalar_t*>(logits), target,
        static_cast<const acc_t<scalar_t>*>(lse), ignore_index, static_cast<scalar_t*>(grad_logits), n);
  });
  return cudaGetLastError();
}

}  // namespace ts::kernels
