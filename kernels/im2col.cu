// conv2d's own kernels: im2col / col2im and the permutes around the per-group GEMMs (the path
// without cuDNN), plus the bias forward and backward (both paths). Every kernel is one thread
// per element written, in a grid-stride loop, with consecutive threads writing consecutive
// addresses; col2im gathers instead of scattering, so no atomics are needed. The column layout
// matches src/backend/cpu/cpu_conv.cpp's (see kernels/im2col.h).
#include "kernels/common.cuh"
#include "kernels/im2col.h"

namespace ts::kernels {
namespace {

// ---- kernels ---------------------------------------------------------------------------------

template <typename T>
__global__ void im2col_kernel(const T* __restrict__ x, T* __restrict__ col, ConvGeometry g, int64_t n0, int64_t len,
                              int64_t total) {
  const int64_t howo = g.ho * g.wo, hw = g.h * g.w;
  for (int64_t e = global_thread_index(); e < total; e += grid_stride()) {
    const int64_t j = e % len, r = e / len;
    const int64_t i = j / howo, pix = j % howo, oh = pix / g.wo, ow = pix % g.wo;
    const int64_t kj = r % g.kw, ki = (r / g.kw) % g.kh, c = r / (g.kw * g.kh);
    const int64_t ih = oh * g.stride_h - g.pad_h + ki * g.dilation_h;
    const int64_t iw = ow * g.stride_w - g.pad_w + kj * g.dilation_w;
    T v = convert<T>(0.0f);
    if (ih >= 0 && ih < g.h && iw >= 0 && iw < g.w) v = x[((n0 + i) * g.c + c) * hw + ih * g.w + iw];
    col[e] = v;
  }
}

// Input (ih, iw) is read by tap (ki, kj) of output (oh, ow) when ih = oh * stride - pad + ki * dilation,
// i.e. when ih + pad - ki * dilation is a non-negative multiple of the stride below Ho * stride.
template <typename T>
__global__ void col2im_kernel(const acc_t<T>* __restrict__ col, T* __restrict__ x, ConvGeometry g, int64_t n0,
                              int64_t len, int64_t total) {
  using A = acc_t<T>;
  const int64_t howo = g.ho * g.wo, chw = g.c * g.h * g.w;
  for (int64_t e = global_thread_index(); e < total; e += grid_stride()) {
    const int64_t iw = e % g.w, ih = (e / g.w) % g.h, c = (e / (g.w * g.h)) % g.c, i = e / chw;
    A s = 0;
    // Taps in (ki, kj) order: the order the CPU backend's col2im adds them.
    for (int64_t ki = 0; ki < g.kh; ++ki) {
      const int64_t hn = ih + g.pad_h - ki * g.dilation_h;
      if (hn < 0 || hn % g.stride_h != 0) continue;
      const int64_t oh = hn / g.stride_h;
      if (oh >= g.ho) continue;
      for (int64_t kj = 0; kj < g.kw; ++kj) {
        const int64_t wn = iw + g.pad_w - kj * g.dilation_w;
        if (wn < 0 || wn % g.stride_w != 0) continue;
        const int64_t ow = wn / g.stride_w;
        if (ow >= g.wo) continue;
        s += col[((c * g.kh + ki) * g.kw + kj) * len + i * howo + oh * g.wo + ow];
      }
    }
    x[n0 * chw + e] = convert<T>(s);
  }
}

template <typename T>
__global__ void cols_to_output_kernel(const acc_t<T>* __restrict__ cols, T* __restrict__ y, int64_t o, int64_t howo,
                                      int64_t n0, int64_t len, int64_t total) {
  for (int64_t e = global_thread_index(); e < total; e += grid_stride()) {
    const int64_t pix = e % howo, oc = (e / howo) % o, i = e / (howo * o);
    y[n0 * o * howo + e] = convert<T>(cols[oc * len + i * howo + pix]);
  }
}

template <typename T>
__global__ void output_to_cols_kernel(const T* __restrict__ y, T* __restrict__ cols, int64_t o, int64_t howo,
                                      int64_t n0, int64_t len, int64_t total) {
  for (int64_t e = global_thread_index(); e < total; e += grid_stride()) {
    const int64_t j = e % len, oc = e / len, i = j / howo, pix = j % howo;
    cols[e] = y[((n0 + i) * o + oc) * howo + pix];
  }
}

template <typename T>
__global__ void add_bias_kernel(T* __restrict__ y, const T* __restrict__ bias, int64_t o, int64_t hw, int64_t total) {
  for (int64_t e = global_thread_index(); e < total; e += grid_stride())
    store_acc(y + e, load_acc(y + e) + load_acc(bias + (e / hw) % o));
}

// Block b sums channel b over all images; blockDim.x threads stride through (image, pixel).
template <typename T>
__global__ void bias_grad_kernel(const T* __restrict__ grad_out, T* __restrict__ grad_bias, int64_t n, int64_t o,
                                 int64_t hw) {
  __shared__ double partial[32];
  const int64_t oc = blockIdx.x, count = n * hw;
  double s = 0;
  for (int64_t idx = threadIdx.x; idx < count; idx += blockDim.x) {
    const int64_t i = idx / hw, pix = idx % hw;
    s += static_cast<double>(load_acc(grad_out + (i * o + oc) * hw + pix));
  }
  s = block_sum(s, partial);
  if (threadIdx.x == 0) grad_bias[oc] = convert<T>(s);
}

template <typename T> __global__ void from_float_kernel(const float* __restrict__ src, T* __restrict__ dst, int64_t n) {
  for (int64_t i = global_thread_index(); i < n; i += grid_stride()) dst[i] = convert<T>(src[i]);
}

}  // namespace

// ---- launchers -------------------------------------------------------------------------------

cudaError_t im2col(const void* x, void* col, const ConvGeometry& g, int64_t n0, int64_t nb, ScalarType st,
                   cudaStream_t stream) {
  const int64_t len = nb * g.ho * g.wo, total = g.c * g.kh * g.kw * len;
  if (total == 0) return cudaSuccess;
  TS_KERNEL_DISPATCH_FLOAT(st, [&] {
    im2col_kernel<scalar_t><<<grid_for(total), kBlockSize, 0, stream>>>(static_cast<const scalar_t*>(x),
                                                                        static_cast<scalar_t*>(col), g, n0, len, total);
  });
  return cudaGetLastError();
}

cudaError_t col2im(const void* col, void* x, const ConvGeometry& g, int64_t n0, int64_t nb, ScalarType st,
                   cudaStream_t stream) {
  const int64_t len = nb * g.ho * g.wo, total = nb * g.c * g.h * g.w;
  if (total == 0) return cudaSuccess;
  TS_KERNEL_DISPATCH_FLOAT(st, [&] {
    col2im_kernel<scalar_t><<<grid_for(total), kBlockSize, 0, stream>>>(
        static_cast<const acc_t<scalar_t>*>(col), static_cast<scalar_t*>(x), g, n0, len, total);
  });
  return cudaGetLastError();
}

cudaError_t cols_to_output(const void* cols, void* y, const ConvGeometry& g, int64_t n0, int64_t nb, ScalarType st,
                           cudaStream_t stream) {
  const int64_t howo = g.ho * g.wo, len = nb * howo, total = g.o * len;
  if (total == 0) return cudaSuccess;
  TS_KERNEL_DISPATCH_FLOAT(st, [&] {
    cols_to_output_kernel<scalar_t><<<grid_for(total), kBlockSize, 0, stream>>>(
        static_cast<const acc_t<scalar_t>*>(cols), static_cast<scalar_t*>(y), g.o, howo, n0, len, total);
  });
  return cudaGetLastError();
}

cudaError_t output_to_cols(const void* y, void* cols, const ConvGeometry& g, int64_t n0, int64_t nb, ScalarType st,
                           cudaStream_t stream) {
  const int64_t howo = g.ho * g.wo, len = nb * howo, total = g.o * len;
  if (total == 0) return cudaSuccess;
  TS_KERNEL_DISPATCH_FLOAT(st, [&] {
    output_to_cols_kernel<scalar_t><<<grid_for(total), kBlockSize, 0, stream>>>(
        static_cast<const scalar_t*>(y), static_cast<scalar_t*>(cols), g.o, howo, n0, len, total);
  });
  return cudaGetLastError();
}

cudaError_t add_bias(void* y, const void* bias, int64_t n, int64_t o, int64_t hw, ScalarType st, cudaStream_t stream) {
  const int64_t total = n * o * hw;
  if (total == 0) return cudaSuccess;
  TS_KERNEL_DISPATCH_FLOAT(st, [&] {
    add_bias_kernel<scalar_t><<<grid_for(total), kBlockSize, 0, stream>>>(
        static_cast<scalar_t*>(y), static_cast<const scalar_t*>(bias), o, hw, total);
  });
  return cudaGetLastError();
}

cudaError_t bias_grad(const void* grad_out, void* grad_bias, int64_t n, int64_t o, int64_t hw, ScalarType st,
                      cudaStream_t stream) {
  if (o == 0) return cudaSuccess;
  if (o > 0x7fffffff) return cudaErrorInvalidValue;  // one block per channel
  TS_KERNEL_DISPATCH_FLOAT(st, [&] {
    bias_grad_kernel<scalar_t><<<static_cast<unsigned>(o), kBlockSize, 0, stream>>>(
        static_cast<const scalar_t*>(grad_out), static_cast<scalar_t*>(grad_bias), n, o, hw);
  });
  return cudaGetLastError();
}

cudaError_t convert_from_float(const float* src, void* dst, int64_t count, ScalarType st, cudaStream_t stream) {
  if (count == 0) return cudaSuccess;
  TS_KERNEL_DISPATCH_FLOAT(st, [&] {
    from_float_kernel<scalar_t>
        <<<grid_for(count), kBlockSize, 0, stream>>>(src, static_cast<scalar_t*>(dst), count);
  });
  return cudaGetLastError();
}

}  // namespace ts::kernels
