// 2-d pooling on dense (planes, H, W) tensors: one thread per output element in the forward
// passes; the average-pool backward passes give each input element one thread that gathers
// the outputs whose windows contain it (no atomics, deterministic). Max pooling's backward
// only has the argmax indices, not the windows, so it scatters with atomics. Window rules and
// the order of comparisons mirror src/backend/cpu/cpu_pool.cpp.
#include <cmath>
#include <limits>

#include "kernels/common.cuh"
#include "kernels/pool.h"

namespace ts::kernels {
namespace {

// ---- kernels ---------------------------------------------------------------------------------

// First tap at or after `start` on the grid start + k * step that lies inside the input.
__device__ __forceinline__ int64_t first_inside(int64_t start, int64_t step) {
  return start < 0 ? start + ((-start + step - 1) / step) * step : start;
}

template <typename T>
__global__ void max_pool_forward_kernel(const T* __restrict__ x, T* __restrict__ y, int64_t* __restrict__ indices,
                                        PoolGeometry g, PoolWindow p, int64_t total) {
  using A = acc_t<T>;
  for (int64_t e = global_thread_index(); e < total; e += grid_stride()) {
    const int64_t ow = e % g.wo, oh = (e / g.wo) % g.ho, plane = e / (g.wo * g.ho);
    const T* xp = x + plane * g.h * g.w;
    const int64_t hs = oh * p.stride_h - p.pad_h, ws = ow * p.stride_w - p.pad_w;
    const int64_t h1 = min(hs + (p.kernel_h - 1) * p.dilation_h + 1, g.h);
    const int64_t w1 = min(ws + (p.kernel_w - 1) * p.dilation_w + 1, g.w);
    const int64_t h0 = first_inside(hs, p.dilation_h), w0 = first_inside(ws, p.dilation_w);
    int64_t best = h0 * g.w + w0;
    A best_val = -std::numeric_limits<A>::infinity();
    for (int64_t ih = h0; ih < h1; ih += p.dilation_h) {
      for (int64_t iw = w0; iw < w1; iw += p.dilation_w) {
        const int64_t i = ih * g.w + iw;
        const A v = load_acc(xp + i);
        if (v > best_val || isnan(v)) {  // NaN propagates (the last NaN's index), as on the CPU
          best_val = v;
          best = i;
        }
      }
    }
    store_acc(y + e, best_val);
    indices[e] = best;
  }
}

// Acc is T for float/double (grad_in itself, zeroed) and float for 16-bit types (scratch).
template <typename T, typename Acc>
__global__ void max_pool_backward_kernel(const T* __restrict__ grad_out, const int64_t* __restrict__ indices,
                                         Acc* __restrict__ grad_in, int64_t hw, int64_t howo, int64_t total) {
  for (int64_t e = global_thread_index(); e < total; e += grid_stride()) {
    const int64_t i = indices[e];
    if (i < 0 || i >= hw) continue;  // cannot come from max_pool2d_forward; never write out of the plane
    atomicAdd(grad_in + (e / howo) * hw + i, convert<Acc>(grad_out[e]));
  }
}

template <typename T> __global__ void from_float_kernel(const float* __restrict__ src, T* __restrict__ dst, int64_t n) {
  for (int64_t i = global_thread_index(); i < n; i += grid_stride()) dst[i] = convert<T>(src[i]);
}

// Average-pool window of output (oh, ow): clipped bounds and the divisor (cpu_pool.cpp's avg_window).
struct AvgWindow {
  int64_t h0, h1, w0, w1, divisor;
};

__device__ __forceinline__ AvgWindow avg_window(const PoolWindow& p, const PoolGeometry& g, int64_t oh, int64_t ow) {
  int64_t h0 = oh * p.stride_h - p.pad_h, w0 = ow * p.stride_w - p.pad_w;
  int64_t h1 = min(h0 + p.kernel_h, g.h + p.pad_h), w1 = min(w0 + p.kernel_w, g.w + p.pad_w);
  const int64_t padded_size = (h1 - h0) * (w1 - w0);
  h0 = max(h0, int64_t{0});
  w0 = max(w0, int64_t{0});
  h1 = min(h1, g.h);
  w1 = min(w1, g.w);
  return {h0, h1, w0, w1, p.count_include_pad ? padded_size : (h1 - h0) * (w1 - w0)};
}

template <typename T>
__global__ void avg_pool_forward_kernel(const T* __restrict__ x, T* __restrict__ y, PoolGeometry g, PoolWindow p,
                                        int64_t total) {
  using A = acc_t<T>;
  for (int64_t e = global_thread_index(); e < total; e += grid_stride()) {
    const int64_t ow = e % g.wo, oh = (e / g.wo) % g.ho, plane = e / (g.wo * g.ho);
    const T* xp = x + plane * g.h * g.w;
    const AvgWindow win = avg_window(p, g, oh, ow);
    A s = 0;
    for (int64_t ih = win.h0; ih < win.h1; ++ih)
      for (int64_t iw = win.w0; iw < win.w1; ++iw) s += load_acc(xp + ih * g.w + iw);
    // A window lying wholly in the padding averages nothing: 0, as in PyTorch.
    store_acc(y + e, win.h0 < win.h1 && win.w0 < win.w1 ? s / static_cast<A>(win.divisor) : A(0));
  }
}

// Outputs o whose window [o * stride - pad, o * stride - pad + kernel) contains input i, widened
// by one on each side: callers test membership exactly, so the range only has to cover.
__device__ __forceinline__ void covering_outputs(int64_t i, int64_t kernel, int64_t stride, int64_t pad, int64_t out,
                                                 int64_t& lo, int64_t& hi) {
  lo = i + pad < kernel ? 0 : (i + pad - kernel) / stride + 1;
  hi = (i + pad) / stride;
  lo = max(lo - 1, int64_t{0});
  hi = min(hi + 1, out - 1);
}

template <typename T>
__global__ void avg_pool_backward_kernel(const T* __restrict__ grad_out, T* __restrict__ grad_in, PoolGeometry g,
                                         PoolWindow p, int64_t total) {
  using A = acc_t<T>;
  for (int64_t e = global_thread_index(); e < total; e += grid_stride()) {
    const int64_t iw = e % g.w, ih = (e / g.w) % g.h, plane = e / (g.w * g.h);
    const T* gp = grad_out + plane * g.ho * g.wo;
    int64_t oh0, oh1, ow0, ow1;
    covering_outputs(ih, p.kernel_h, p.stride_h, p.pad_h, g.ho, oh0, oh1);
    covering_outputs(iw, p.kernel_w, p.stride_w, p.pad_w, g.wo, ow0, ow1);
    A s = 0;
    for (int64_t oh = oh0; oh <= oh1; ++oh) {
      for (int64_t ow = ow0; ow <= ow1; ++ow) {
        const AvgWindow win = avg_window(p, g, oh, ow);
        if (ih < win.h0 || ih >= win.h1 || iw < win.w0 || iw >= win.w1) continue;
        s += load_acc(gp + oh * g.wo + ow) / static_cast<A>(win.divisor);
      }
    }
    store_acc(grad_in + e, s);
  }
}

__device__ __forceinline__ int64_t adaptive_start(int64_t i, int64_t out, int64_t in) { return i * in / out; }
__device__ __forceinline__ int64_t adaptive_end(int64_t i, int64_t out, int64_t in) {
  return ((i + 1) * in + out - 1) / out;
}

template <typename T>
__global__ void adaptive_avg_forward_kernel(const T* __restrict__ x, T* __restrict__ y, PoolGeometry g,
                                            int64_t total) {
  using A = acc_t<T>;
  for (int64_t e = global_thread_index(); e < total; e += grid_stride()) {
    const int64_t ow = e % g.wo, oh = (e / g.wo) % g.ho, plane = e / (g.wo * g.ho);
    const T* xp = x + plane * g.h * g.w;
    const int64_t h0 = adaptive_start(oh, g.ho, g.h), h1 = adaptive_end(oh, g.ho, g.h);
    const int64_t w0 = adaptive_start(ow, g.wo, g.w), w1 = adaptive_end(ow, g.wo, g.w);
    A s = 0;
    for (int64_t ih = h0; ih < h1; ++ih)
      for (int64_t iw = w0; iw < w1; ++iw) s += load_acc(xp + ih * g.w + iw);
    store_acc(y + e, s / static_cast<A>((h1 - h0) * (w1 - w0)));
  }
}

// Outputs whose adaptive window contains input i: end(o) > i from o = floor(i * out / in), and
// start(o) <= i up to o = ceil((i + 1) * out / in) - 1; widened by one and tested exactly.
__device__ __forceinline__ void adaptive_covering(int64_t i, int64_t in, int64_t out, int64_t& lo, int64_t& hi) {
  lo = max(i * out / in - 1, int64_t{0});
  hi = min(((i + 1) * out + in - 1) / in, out - 1);
}

template <typename T>
__global__ void adaptive_avg_backward_kernel(const T* __restrict__ grad_out, T* __restrict__ grad_in, PoolGeometry g,
                                             int64_t total) {
  using A = acc_t<T>;
  for (int64_t e = global_thread_index(); e < total; e += grid_stride()) {
    const int64_t iw = e % g.w, ih = (e / g.w) % g.h, plane = e / (g.w * g.h);
    const T* gp = grad_out + plane * g.ho * g.wo;
    int64_t oh0, oh1, ow0, ow1;
    adaptive_covering(ih, g.h, g.ho, oh0, oh1);
    adaptive_covering(iw, g.w, g.wo, ow0, ow1);
    A s = 0;
    for (int64_t oh = oh0; oh <= oh1; ++oh) {
      const int64_t h0 = adaptive_start(oh, g.ho, g.h), h1 = adaptive_end(oh, g.ho, g.h);
      if (ih < h0 || ih >= h1) continue;
      for (int64_t ow = ow0; ow <= ow1; ++ow) {
        const int64_t w0 = adaptive_start(ow, g.wo, g.w), w1 = adaptive_end(ow, g.wo, g.w);
        if (iw < w0 || iw >= w1) continue;
        s += load_acc(gp + oh * g.wo + ow) / static_cast<A>((h1 - h0) * (w1 - w0));
      }
    }
    store_acc(grad_in + e, s);
  }
}

}  // namespace

// ---- launchers -------------------------------------------------------------------------------

namespace {
template <typename T>
cudaError_t max_pool_backward_typed(const T* grad_out, const int64_t* indices, T* grad_in, float* scratch,
                                    const PoolGeometry& g, cudaStream_t stream) {
  const int64_t hw = g.h * g.w, in_total = g.planes * hw, out_total = g.planes * g.ho * g.wo;
  // 16-bit gradients accumulate in float32 and are rounded once, as on the CPU backend.
  using Acc = std::conditional_t<is_half_v<T>, float, T>;
  Acc* acc;
  if constexpr (is_half_v<T>) {
    acc = scratch;
  } else {
    acc = grad_in;
  }
  const cudaError_t err = cudaMemsetAsync(acc, 0, static_cast<size_t>(in_total) * sizeof(Acc), stream);
  if (err != cudaSuccess) return err;
  if (out_total > 0)
    max_pool_backward_kernel<T, Acc>
        <<<grid_for(out_total), kBlockSize, 0, stream>>>(grad_out, indices, acc, hw, g.ho * g.wo, out_total);
  if constexpr (is_half_v<T>)
    from_float_kernel<T><<<grid_for(in_total), kBlockSize, 0, stream>>>(scratch, grad_in, in_total);
  return cudaGetLastError();
}
}  // namespace

cudaError_t max_pool2d_forward(const void* x, void* y, int64_t* indices, const PoolGeometry& g, const PoolWindow& p,
                               ScalarType st, cudaStream_t stream) {
  const int64_t total = g.planes * g.ho * g.wo;
  if (total == 0) return cudaSuccess;
  TS_KERNEL_DISPATCH_FLOAT(st, [&] {
    max_pool_forward_kernel<scalar_t><<<grid_for(total), kBlockSize, 0, stream>>>(
        static_cast<const scalar_t*>(x), static_cast<scalar_t*>(y), indices, g, p, total);
  });
  return cudaGetLastError();
}

cudaError_t max_pool2d_backward(const void* grad_out, const int64_t* indices, void* grad_in, float* scratch,
                                const PoolGeometry& g, ScalarType st, cudaStream_t stream) {
  if (g.planes * g.h * g.w == 0) return cudaSuccess;
  if ((st == ScalarType::F16 || st == ScalarType::BF16) && scratch == nullptr) return cudaErrorInvalidValue;
  cudaError_t err = cudaSuccess;
  TS_KERNEL_DISPATCH_FLOAT(st, [&] {
    err = max_pool_backward_typed(static_cast<const scalar_t*>(grad_out), indices, static_cast<scalar_t*>(grad_in),
                                  scratch, g, stream);
  });
  return err;
}

cudaError_t avg_pool2d_forward(const void* x, void* y, const PoolGeometry& g, const PoolWindow& p, ScalarType st,
                               cudaStream_t stream) {
  const int64_t total = g.planes * g.ho * g.wo;
  if (total == 0) return cudaSuccess;
  TS_KERNEL_DISPATCH_FLOAT(st, [&] {
    avg_pool_forward_kernel<scalar_t><<<grid_for(total), kBlockSize, 0, stream>>>(
        static_cast<const scalar_t*>(x), static_cast<scalar_t*>(y), g, p, total);
  });
  return cudaGetLastError();
}

cudaError_t avg_pool2d_backward(const void* grad_out, void* grad_in, const PoolGeometry& g, const PoolWindow& p,
                                ScalarType st, cudaStream_t stream) {
  const int64_t total = g.planes * g.h * g.w;
  if (total == 0) return cudaSuccess;
  TS_KERNEL_DISPATCH_FLOAT(st, [&] {
    avg_pool_backward_kernel<scalar_t><<<grid_for(total), kBlockSize, 0, stream>>>(
        static_cast<const scalar_t*>(grad_out), static_cast<scalar_t*>(grad_in), g, p, total);
  });
  return cudaGetLastError();
}

cudaError_t adaptive_avg_pool2d_forward(const void* x, void* y, const PoolGeometry& g, ScalarType st,
                                        cudaStream_t stream) {
  const int64_t total = g.planes * g.ho * g.wo;
  if (total == 0) return cudaSuccess;
  TS_KERNEL_DISPATCH_FLOAT(st, [&] {
    adaptive_avg_forward_kernel<scalar_t><<<grid_for(total), kBlockSize, 0, stream>>>(
        static_cast<const scalar_t*>(x), static_cast<scalar_t*>(y), g, total);
  });
  return cudaGetLastError();
}

cudaError_t adaptive_avg_pool2d_backward(const void* grad_out, void* grad_in, const PoolGeometry& g, ScalarType st,
                                         cudaStream_t stream) {
  const int64_t total = g.planes * g.h * g.w;
  if (total == 0) return cudaSuccess;
  TS_KERNEL_DISPATCH_FLOAT(st, [&] {
    adaptive_avg_backward_kernel<scalar_t><<<grid_for(total), kBlockSize, 0, stream>>>(
        static_cast<const scalar_t*>(grad_out), static_cast<scalar_t*>(grad_in), g, total);
  });
  return cudaGetLastError();
}

}  // namespace ts::kernels
