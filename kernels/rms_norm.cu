// RMS norm kernels. The formulas, their order of operations and the types of every
// intermediate follow src/backend/cpu/cpu_rms_norm.cpp; results are deterministic (no float
// atomics: partial sums are combined in a fixed order). The layout is layer_norm's (norm.cu):
//  * one warp per row up to kMaxWarpRow elements, one block per row above; one pass sums x^2
//    in acc_t, a second writes y = round(x * rstd) * w (rounded to x's type before the weight
//    multiplies it, as torch.nn.functional.rms_norm's composition does);
//  * the backward's weight gradient is a column sum over rows: 32 x kColRows blocks own 32
//    columns of a range of rows and write double partial sums, which a second kernel adds up
//    in split order.
#include <cmath>

#include "kernels/common.cuh"
#include "kernels/rms_norm.h"
#include "kernels/row_norm_layout.cuh"

namespace ts::kernels {
namespace {

using namespace row_norm;  // NOLINT(google-build-using-namespace): the shared launch layout

// `v` rounded to T and back (the identity for float and double).
template <typename T> __device__ __forceinline__ acc_t<T> round_to(acc_t<T> v) {
  return convert<acc_t<T>>(convert<T>(v));
}

// ---- kernels ----------------------------------------------------------------------------------

template <typename T, bool kWarpRows>
__global__ void rms_norm_kernel(const T* __restrict__ x, const T* __restrict__ w, double eps, int64_t rows, int64_t d,
                                T* __restrict__ y, acc_t<T>* __restrict__ rstd) {
  using A = acc_t<T>;
  __shared__ A shared[kWarp];
  const RowGroups<kWarpRows> g;
  for (int64_t row = g.first; row < rows; row += g.stride) {
    const T* xr = x + row * d;
    A s = 0;
    for (int64_t j = g.lane; j < d; j += g.size) {
      const A v = load_acc(xr + j);
      s += v * v;
    }
    s = group_sum<kWarpRows>(s, shared);
    const double ms = d > 0 ? static_cast<double>(s) / static_cast<double>(d) : 0.0;
    const A rs = static_cast<A>(1.0 / sqrt(ms + eps));
    if (g.lane == 0) rstd[row] = rs;
    T* yr = y + row * d;
    for (int64_t j = g.lane; j < d; j += g.size) {
      A n = load_acc(xr + j) * rs;
      if (w) n = round_to<T>(n) * load_acc(w + j);
      store_acc(yr + j, n);
    }
  }
}

// grad_x = rstd * (g - n * mean(g * n)) per row, with g = grad_y * w, n = x * rstd and
// mean(g * n) = rstd * sum(g * x) / d.
template <typename T, bool kWarpRows>
__global__ void rms_norm_backward_kernel(const T* __restrict__ gy, const T* __restrict__ x,
                                         const acc_t<T>* __restrict__ rstd, const T* __restrict__ w, int64_t rows,
                                         int64_t d, T* __restrict__ gx) {
  using A = acc_t<T>;
  __shared__ A shared[kWarp];
  const RowGroups<kWarpRows> g;
  for (int64_t row = g.first; row < rows; row += g.stride) {
    const T* gr = gy + row * d;
    const T* xr = x + row * d;
    const A rs = rstd[row];
    A sgx = 0;
    for (int64_t j = g.lane; j < d; j += g.size) {
      A gj = load_acc(gr + j);
      if (w) gj *= load_acc(w + j);
      sgx += gj * load_acc(xr + j);
    }
    sgx = group_sum<kWarpRows>(sgx, shared);
    const A c = sgx * rs / static_cast<A>(d);
    T* out = gx + row * d;
    for (int64_t j = g.lane; j < d; j += g.size) {
      A gj = load_acc(gr + j);
      if (w) gj *= load_acc(w + j);
      store_acc(out + j, rs * (gj - load_acc(xr + j) * rs * c));
    }
  }
}

// Block (blockIdx.x, blockIdx.y) sums columns [32 * blockIdx.x, +32) over its range of rows:
// part[split][j] = sum grad_y * n, n rounded as the forward rounded it before the weight.
template <typename T>
__global__ void rms_norm_weight_partials(const T* __restrict__ gy, const T* __restrict__ x,
                                         const acc_t<T>* __restrict__ rstd, int64_t rows, int64_t d,
                                         double* __restrict__ part) {
  using A = acc_t<T>;
  __shared__ double sw[kColRows][kWarp];
  const int64_t j = static_cast<int64_t>(blockIdx.x) * kWarp + threadIdx.x;
  const int64_t split = blockIdx.y, per = ceil_div(rows, gridDim.y);
  const int64_t r0 = split * per, r1 = r0 + per < rows ? r0 + per : rows;
  double acc = 0;
  if (j < d) {
    for (int64_t r = r0 + threadIdx.y; r < r1; r += kColRows) {
      const A n = round_to<T>(load_acc(x + r * d + j) * rstd[r]);
      acc += static_cast<double>(load_acc(gy + r * d + j)) * static_cast<double>(n);
    }
  }
  sw[threadIdx.y][threadIdx.x] = acc;
  __syncthreads();
  if (threadIdx.y == 0 && j < d) {
    for (int r = 1; r < kColRows; ++r) acc += sw[r][threadIdx.x];
    part[split * d + j] = acc;
  }
}

template <typename T>
__global__ void rms_norm_weight_finish(const double* __restrict__ part, int64_t splits, int64_t d,
                                       T* __restrict__ gw) {
  using A = acc_t<T>;
  for (int64_t j = global_thread_index(); j < d; j += grid_stride()) {
    double s = 0;
    for (int64_t k = 0; k < splits; ++k) s += part[k * d + j];
    store_acc(gw + j, static_cast<A>(s));
  }
}

// ---- launchers --------------------------------------------------------------------------------

template <typename T>
void launch_rms_norm(const T* x, const T* w, double eps, int64_t rows, int64_t d, T* y, acc_t<T>* rstd,
                     cudaStream_t stream) {
  if (d <= kMaxWarpRow) {
    rms_norm_kernel<T, true><<<grid_for(rows, kBlockSize / kWarp), kBlockSize, 0, stream>>>(x, w, eps, rows, d, y,
                                                                                           rstd);
  } else {
    rms_norm_kernel<T, false><<<grid_for(rows, 1), kRowBlock, 0, stream>>>(x, w, eps, rows, d, y, rstd);
  }
}

template <typename T>
cudaError_t launch_rms_norm_backward(const T* gy, const T* x, const acc_t<T>* rstd, const T* w, int64_t rows,
                                     int64_t d, T* gx, T* gw, double* scratch, cudaStream_t stream) {
  if (gx && rows > 0) {
    if (d <= kMaxWarpRow) {
      rms_norm_backward_kernel<T, true><<<grid_for(rows, kBlockSize / kWarp), kBlockSize, 0, stream>>>(
          gy, x, rstd, w, rows, d, gx);
    } else {
      rms_norm_backward_kernel<T, false><<<grid_for(rows, 1), kRowBlock, 0, stream>>>(gy, x, rstd, w, rows, d, gx);
    }
  }
  if (gw) {
    if (!scratch) return cudaErrorInvalidValue;
    const ColumnPlan plan = column_plan(rows, d);
    rms_norm_weight_partials<T><<<dim3(static_cast<unsigned>(plan.tiles), static_cast<unsigned>(plan.splits)),
                                  dim3(kWarp, kColRows), 0, stream>>>(gy, x, rstd, rows, d, scratch);
    rms_norm_weight_finish<T><<<grid_for(d), kBlockSize, 0, stream>>>(scratch, plan.splits, d, gw);
  }
  return cudaGetLastError();
}

}  // namespace

cudaError_t rms_norm_forward(const void* x, const void* weight, double eps, int64_t rows, int64_t d, void* y,
                             void* rstd, ScalarType type, cudaStream_t stream) {
  if (rows == 0) return cudaSuccess;
  TS_KERNEL_DISPATCH_FLOAT(type, [&] {
    launch_rms_norm(static_cast<const scalar_t*>(x), static_cast<const scalar_t*>(weight), eps, rows, d,
                    static_cast<scalar_t*>(y), static_cast<acc_t<scalar_t>*>(rstd), stream);
  });
  return cudaGetLastError();
}

int64_t rms_norm_backward_scratch(int64_t rows, int64_t d) { return column_plan(rows, d).splits * d; }

cudaError_t rms_norm_backward(const void* grad_y, const void* x, const void* rstd, const void* weight, int64_t rows,
                              int64_t d, void* grad_x, void* grad_weight, double* scratch, ScalarType type,
                              cudaStream_t stream) {
  if (d == 0) return cudaSuccess;
  cudaError_t err = cudaSuccess;
  TS_KERNEL_DISPATCH_FLOAT(type, [&] {
    using A = acc_t<scalar_t>;
    err = launch_rms_norm_backward(static_cast<const scalar_t*>(grad_y), static_cast<const scalar_t*>(x),
                                   static_cast<const A*>(rstd), static_cast<const scalar_t*>(weight), rows, d,
                                   static_cast<scalar_t*>(grad_x), static_cast<scalar_t*>(grad_weight), scratch,
                                   stream);
  });
  return err;
}

}  // namespace ts::kernels
