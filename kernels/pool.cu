// 2-d pooling on dense (planes, H, W) tensors: one thread per output element in the forward
// passes; every backward gives each input element one thread that gathers the outputs whose
// windows contain it, so no atomics and no scratch: results are deterministic. Max pooling's
// backward walks those outputs in row-major order and adds the ones whose argmax index names
// its input, the order src/backend/cpu/cpu_pool.cpp scatters in, so both backends agree bit for
// bit. Window rules and the order of comparisons mirror cpu_pool.cpp.
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

// Outputs o whose window [o * stride - pad, o * stride - pad + (kernel - 1) * dilation + 1) can
// contain input i, as [lo, end): PyTorch's max_pool_backward_nchw range. An output's argmax lies
// inside its window, so no other output can name i.
__device__ __forceinline__ void max_covering_outputs(int64_t i, int64_t kernel, int64_t stride, int64_t pad,
                                                     int64_t dilation, int64_t out, int64_t& lo, int64_t& end) {
  const int64_t extent = (kernel - 1) * dilation + 1;
  lo = i + pad < extent ? 0 : (i + pad - extent) / stride + 1;
  end = min((i + pad) / stride + 1, out);
}

// grad_in[i] = sum of grad_out[o] over the outputs o (row-major order) whose index is i and that
// have i as a tap (a window with no tap inside the input has an index that is none: its
// gradient goes nowhere, as in cpu_pool.cpp); 16-bit types add in float32 and round once, as the
// CPU backend does.
template <typename T>
__global__ void max_pool_backward_kernel(const T* __restrict__ grad_out, const int64_t* __restrict__ indices,
                                         T* __restrict__ grad_in, PoolGeometry g, PoolWindow p, int64_t total) {
  using A = acc_t<T>;
  for (int64_t e = global_thread_index(); e < total; e += grid_stride()) {
    const int64_t iw = e % g.w, ih = (e / g.w) % g.h, plane = e / (g.w * g.h);
    const int64_t target = ih * g.w + iw, base = plane * g.ho * g.wo;
    int64_t oh0, oh1, ow0, ow1;
    max_covering_outputs(ih, p.kernel_h, p.stride_h, p.pad_h, p.dilation_h, g.ho, oh0, oh1);
    max_covering_outputs(iw, p.kernel_w, p.stride_w, p.pad_w, p.dilation_w, g.wo, ow0, ow1);
    A s = 0;
    for (int64_t oh = oh0; oh < oh1; ++oh) {
      if ((ih - (oh * p.stride_h - p.pad_h)) % p.dilation_h != 0) continue;  // ih is no tap row of oh
      for (int64_t ow = ow0; ow < ow1; ++ow) {
        if ((iw - (ow * p.stride_w - p.pad_w)) % p.dilation_w != 0) continue;
        const int64_t o = base + oh * g.wo + ow;
        if (indices[o] == target) s += load_acc(grad_out + o);
      }
    }
    store_acc(grad_in + e, s);
  }
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

cudaError_t max_pool2d_backward(const void* grad_out, const int64_t* indices, void* grad_in, const PoolGeometry& g,
                                const PoolWindow& p, ScalarType st, cudaStream_t stream) {
  const int64_t total = g.planes * g.h * g.w;
  if (total == 0) return cudaSuccess;
  TS_KERNEL_DISPATCH_FLOAT(st, [&] {
    max_pool_backward_kernel<scalar_t><<<grid_for(total), kBlockSize, 0, stream>>>(
        static_cast<const scalar_t*>(grad_out), indices, static_cast<scalar_t*>(grad_in), g, p, total);
  });
  return cudaGetLastError();
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
