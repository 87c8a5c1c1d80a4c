// CPU 2-d pooling: max (with argmax indices), average and adaptive average, forward and
// backward. Tensors are viewed as (planes, H, W); every plane is independent, so all loops are
// parallel over planes and a backward never races. Window rules follow PyTorch's CPU kernels.
#include <algorithm>
#include <cmath>
#include <limits>

#include "backend/cpu/cpu_backend.h"
#include "backend/cpu/cpu_loops.h"

namespace ts {
namespace {

struct Planes {
  int64_t count, h, w, ho, wo;
  Planes(const Tensor& in, const Tensor& out)
      : h(in.shape()[static_cast<size_t>(in.dim() - 2)]), w(in.shape()[static_cast<size_t>(in.dim() - 1)]),
        ho(out.shape()[static_cast<size_t>(out.dim() - 2)]), wo(out.shape()[static_cast<size_t>(out.dim() - 1)]) {
    count = h * w == 0 ? 0 : in.numel() / (h * w);
  }
};

// Calls fn(plane) for every plane, in parallel; `work` is the cost of one plane in elements.
template <typename Fn> void for_each_plane(int64_t planes, int64_t work, Fn&& fn) {
  parallel_for(0, planes, std::max<int64_t>(1, cpu::kGrain / std::max<int64_t>(work, 1)), [&](int64_t lo, int64_t hi) {
    for (int64_t i = lo; i < hi; ++i) fn(i);
  });
}

// Average-pool window of output (oh, ow): clipped bounds and the divisor.
struct AvgWindow {
  int64_t h0, h1, w0, w1, divisor;
};

inline AvgWindow avg_window(const Pool2dParams& p, const Planes& g, int64_t oh, int64_t ow) {
  int64_t h0 = oh * p.stride_h - p.pad_h, w0 = ow * p.stride_w - p.pad_w;
  int64_t h1 = std::min(h0 + p.kernel_h, g.h + p.pad_h), w1 = std::min(w0 + p.kernel_w, g.w + p.pad_w);
  const int64_t padded_size = (h1 - h0) * (w1 - w0);
  h0 = std::max<int64_t>(h0, 0);
  w0 = std::max<int64_t>(w0, 0);
  h1 = std::min(h1, g.h);
  w1 = std::min(w1, g.w);
  return {h0, h1, w0, w1, p.count_include_pad ? padded_size : (h1 - h0) * (w1 - w0)};
}

inline int64_t adaptive_start(int64_t i, int64_t out, int64_t in) { return i * in / out; }
inline int64_t adaptive_end(int64_t i, int64_t out, int64_t in) { return ((i + 1) * in + out - 1) / out; }

// Sum of the window rows [h0, h1) x [w0, w1) of a plane. Independent partial sums let long rows
// (global pooling) vectorize; a single accumulator would serialize on the add latency.
template <typename T> T window_sum(const T* plane, int64_t w, int64_t h0, int64_t h1, int64_t w0, int64_t w1) {
  constexpr int kLanes = 8;
  T acc[kLanes] = {};
  T s = 0;
  for (int64_t ih = h0; ih < h1; ++ih) {
    const T* row = plane + ih * w;
    int64_t iw = w0;
    for (; iw + kLanes <= w1; iw += kLanes)
      for (int k = 0; k < kLanes; ++k) acc[k] += row[iw + k];
    for (; iw < w1; ++iw) s += row[iw];
  }
  for (int k = 0; k < kLanes; ++k) s += acc[k];
  return s;
}

template <typename T> void max_pool_kernel(const Planes& g, const Pool2dParams& p, const T* x, T* y, int64_t* idx) {
  for_each_plane(g.count, g.ho * g.wo * p.kernel_h * p.kernel_w, [&](int64_t plane) {
    const T* xp = x + plane * g.h * g.w;
    T* yp = y + plane * g.ho * g.wo;
    int64_t* ip = idx + plane * g.ho * g.wo;
    for (int64_t oh = 0; oh < g.ho; ++oh) {
      int64_t h0 = oh * p.stride_h - p.pad_h;
      const int64_t h1 = std::min(h0 + (p.kernel_h - 1) * p.dilation_h + 1, g.h);
      while (h0 < 0) h0 += p.dilation_h;
      for (int64_t ow = 0; ow < g.wo; ++ow) {
        int64_t w0 = ow * p.stride_w - p.pad_w;
        const int64_t w1 = std::min(w0 + (p.kernel_w - 1) * p.dilation_w + 1, g.w);
        while (w0 < 0) w0 += p.dilation_w;
        int64_t best = h0 * g.w + w0;
        T best_val = -std::numeric_limits<T>::infinity();
        for (int64_t ih = h0; ih < h1; ih += p.dilation_h) {
          for (int64_t iw = w0; iw < w1; iw += p.dilation_w) {
            const int64_t i = ih * g.w + iw;
            const T v = xp[i];
            if (v > best_val || std::isnan(v)) {  // NaN propagates, as in PyTorch
              best_val = v;
              best = i;
            }
          }
        }
        yp[oh * g.wo + ow] = best_val;
        ip[oh * g.wo + ow] = best;
      }
    }
  });
}

// Scatters each plane's outputs in row-major order. The CUDA backward (kernels/pool.cu) gathers
// every input's terms in that same order, so the two backends' gradients agree bit for bit:
// keep the orders in step. An output's gradient goes to its argmax, a tap of its window inside
// the input. Only a window with no such tap (dilation can step over a small input) has an index
// that is none (it may even lie past the plane): its output is -inf and its gradient goes
// nowhere, on both backends.
template <typename T>
void max_pool_backward_kernel(const Planes& g, const Pool2dParams& p, const T* gy, const int64_t* idx, T* gx) {
  const int64_t extent_h = (p.kernel_h - 1) * p.dilation_h + 1, extent_w = (p.kernel_w - 1) * p.dilation_w + 1;
  for_each_plane(g.count, g.h * g.w + g.ho * g.wo, [&](int64_t plane) {
    T* gp = gx + plane * g.h * g.w;
    std::fill(gp, gp + g.h * g.w, T(0));
    const T* gyp = gy + plane * g.ho * g.wo;
    const int64_t* ip = idx + plane * g.ho * g.wo;
    for (int64_t oh = 0; oh < g.ho; ++oh) {
      const int64_t h0 = oh * p.stride_h - p.pad_h;
      for (int64_t ow = 0; ow < g.wo; ++ow) {
        const int64_t w0 = ow * p.stride_w - p.pad_w, i = ip[oh * g.wo + ow];
        if (i < 0 || i >= g.h * g.w) continue;
        const int64_t ih = i / g.w, iw = i % g.w;
        if (ih < h0 || ih >= h0 + extent_h || (ih - h0) % p.dilation_h != 0) continue;
        if (iw < w0 || iw >= w0 + extent_w || (iw - w0) % p.dilation_w != 0) continue;
        gp[i] += gyp[oh * g.wo + ow];
      }
    }
  });
}

template <typename T> void avg_pool_kernel(const Planes& g, const Pool2dParams& p, const T* x, T* y) {
  for_each_plane(g.count, g.ho * g.wo * p.kernel_h * p.kernel_w, [&](int64_t plane) {
    const T* xp = x + plane * g.h * g.w;
    T* yp = y + plane * g.ho * g.wo;
    for (int64_t oh = 0; oh < g.ho; ++oh) {
      for (int64_t ow = 0; ow < g.wo; ++ow) {
        const AvgWindow win = avg_window(p, g, oh, ow);
        const T s = window_sum(xp, g.w, win.h0, win.h1, win.w0, win.w1);
        // A window lying wholly in the padding averages nothing: 0, as in PyTorch.
        yp[oh * g.wo + ow] = win.h0 < win.h1 && win.w0 < win.w1 ? s / static_cast<T>(win.divisor) : T(0);
      }
    }
  });
}

template <typename T> void avg_pool_backward_kernel(const Planes& g, const Pool2dParams& p, const T* gy, T* gx) {
  for_each_plane(g.count, g.ho * g.wo * p.kernel_h * p.kernel_w, [&](int64_t plane) {
    T* gp = gx + plane * g.h * g.w;
    std::fill(gp, gp + g.h * g.w, T(0));
    const T* gyp = gy + plane * g.ho * g.wo;
    for (int64_t oh = 0; oh < g.ho; ++oh) {
      for (int64_t ow = 0; ow < g.wo; ++ow) {
        const AvgWindow win = avg_window(p, g, oh, ow);
        if (win.h0 >= win.h1 || win.w0 >= win.w1) continue;
        const T v = gyp[oh * g.wo + ow] / static_cast<T>(win.divisor);
        for (int64_t ih = win.h0; ih < win.h1; ++ih)
          for (int64_t iw = win.w0; iw < win.w1; ++iw) gp[ih * g.w + iw] += v;
      }
    }
  });
}

template <typename T> void adaptive_avg_kernel(const Planes& g, const T* x, T* y) {
  for_each_plane(g.count, std::max(g.h * g.w, g.ho * g.wo), [&](int64_t plane) {
    const T* xp = x + plane * g.h * g.w;
    T* yp = y + plane * g.ho * g.wo;
    for (int64_t oh = 0; oh < g.ho; ++oh) {
      const int64_t h0 = adaptive_start(oh, g.ho, g.h), h1 = adaptive_end(oh, g.ho, g.h);
      for (int64_t ow = 0; ow < g.wo; ++ow) {
        const int64_t w0 = adaptive_start(ow, g.wo, g.w), w1 = adaptive_end(ow, g.wo, g.w);
        yp[oh * g.wo + ow] = window_sum(xp, g.w, h0, h1, w0, w1) / static_cast<T>((h1 - h0) * (w1 - w0));
      }
    }
  });
}

template <typename T> void adaptive_avg_backward_kernel(const Planes& g, const T* gy, T* gx) {
  for_each_plane(g.count, std::max(g.h * g.w, g.ho * g.wo), [&](int64_t plane) {
    T* gp = gx + plane * g.h * g.w;
    std::fill(gp, gp + g.h * g.w, T(0));
    const T* gyp = gy + plane * g.ho * g.wo;
    for (int64_t oh = 0; oh < g.ho; ++oh) {
      const int64_t h0 = adaptive_start(oh, g.ho, g.h), h1 = adaptive_end(oh, g.ho, g.h);
      for (int64_t ow = 0; ow < g.wo; ++ow) {
        const int64_t w0 = adaptive_start(ow, g.wo, g.w), w1 = adaptive_end(ow, g.wo, g.w);
        const T v = gyp[oh * g.wo + ow] / static_cast<T>((h1 - h0) * (w1 - w0));
        for (int64_t ih = h0; ih < h1; ++ih)
          for (int64_t iw = w0; iw < w1; ++iw) gp[ih * g.w + iw] += v;
      }
    }
  });
}

template <typename T> const T* in_ptr(const Tensor& t) { return static_cast<const T*>(t.raw_data()); }
template <typename T> T* out_ptr(const Tensor& t) { return static_cast<T*>(t.raw_data()); }

}  // namespace

void CpuBackend::max_pool2d(const Tensor& x_in, const Pool2dParams& p, const Tensor& out, const Tensor& indices) {
  const Tensor x = cpu::dense(cpu::widen_half(x_in));
  const Tensor y = cpu::float_scratch_for(out);
  const Planes g(x, y);
  TS_DISPATCH_FLOATING(x.dtype(), "max_pool2d", [&] {
    max_pool_kernel<scalar_t>(g, p, in_ptr<scalar_t>(x), out_ptr<scalar_t>(y), out_ptr<int64_t>(indices));
  });
  cpu::narrow_into(y, out);
}

void CpuBackend::max_pool2d_backward(const Tensor& gy_in, const Tensor& indices, const Pool2dParams& p,
                                     const Tensor& grad_in) {
  const Tensor gy = cpu::dense(cpu::widen_half(gy_in));
  const Tensor idx = cpu::dense(indices);
  const Tensor gx = cpu::float_scratch_for(grad_in);
  const Planes g(gx, gy);
  TS_DISPATCH_FLOATING(gy.dtype(), "max_pool2d_backward", [&] {
    max_pool_backward_kernel<scalar_t>(g, p, in_ptr<scalar_t>(gy), in_ptr<int64_t>(idx), out_ptr<scalar_t>(gx));
  });
  cpu::narrow_into(gx, grad_in);
}

void CpuBackend::avg_pool2d(const Tensor& x_in, const Pool2dParams& p, const Tensor& out) {
  const Tensor x = cpu::dense(cpu::widen_half(x_in));
  const Tensor y = cpu::float_scratch_for(out);
  const Planes g(x, y);
  TS_DISPATCH_FLOATING(x.dtype(), "avg_pool2d",
                       [&] { avg_pool_kernel<scalar_t>(g, p, in_ptr<scalar_t>(x), out_ptr<scalar_t>(y)); });
  cpu::narrow_into(y, out);
}

void CpuBackend::avg_pool2d_backward(const Tensor& gy_in, const Pool2dParams& p, const Tensor& grad_in) {
  const Tensor gy = cpu::dense(cpu::widen_half(gy_in));
  const Tensor gx = cpu::float_scratch_for(grad_in);
  const Planes g(gx, gy);
  TS_DISPATCH_FLOATING(gy.dtype(), "avg_pool2d_backward", [&] {
    avg_pool_backward_kernel<scalar_t>(g, p, in_ptr<scalar_t>(gy), out_ptr<scalar_t>(gx));
  });
  cpu::narrow_into(gx, grad_in);
}

void CpuBackend::adaptive_avg_pool2d(const Tensor& x_in, const Tensor& out) {
  const Tensor x = cpu::dense(cpu::widen_half(x_in));
  const Tensor y = cpu::float_scratch_for(out);
  const Planes g(x, y);
  TS_DISPATCH_FLOATING(x.dtype(), "adaptive_avg_pool2d",
                       [&] { adaptive_avg_kernel<scalar_t>(g, in_ptr<scalar_t>(x), out_ptr<scalar_t>(y)); });
  cpu::narrow_into(y, out);
}

void CpuBackend::adaptive_avg_pool2d_backward(const Tensor& gy_in, const Tensor& grad_in) {
  const Tensor gy = cpu::dense(cpu::widen_half(gy_in));
  const Tensor gx = cpu::float_scratch_for(grad_in);
  const Planes g(gx, gy);
  TS_DISPATCH_FLOATING(gy.dtype(), "adaptive_avg_pool2d_backward", [&] {
    adaptive_avg_backward_kernel<scalar_t>(g, in_ptr<scalar_t>(gy), out_ptr<scalar_t>(gx));
  });
  cpu::narrow_into(gx, grad_in);
}

}  // namespace ts
