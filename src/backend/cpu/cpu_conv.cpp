// CPU conv2d: im2col + Eigen GEMM. Rows of a column matrix are (c, ki, kj), columns are output
// pixels, so group g's rows form one contiguous block and each group is one GEMM against its
// slice of the weight. Two schedules:
//  * per image (batch >= threads): images are split into one chunk per thread, each chunk owns
//    its column buffer and runs small single-threaded GEMMs (no synchronization at all);
//  * batched (few images): one column matrix spans the whole batch, so each group is a single
//    large GEMM that Eigen threads itself.
// A 1x1 convolution with stride 1 and no padding skips im2col: the image already is its column
// matrix.
#include <Eigen/Core>

#include <algorithm>
#include <cstring>
#include <vector>

#include "backend/cpu/cpu_backend.h"
#include "backend/cpu/cpu_loops.h"

namespace ts {
namespace {

template <typename T> using RowMat = Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
template <typename T> using MatMap = Eigen::Map<RowMat<T>, Eigen::Unaligned, Eigen::OuterStride<>>;
template <typename T> using ConstMatMap = Eigen::Map<const RowMat<T>, Eigen::Unaligned, Eigen::OuterStride<>>;

// A rows x cols row-major block at `p` whose rows are `ld` elements apart.
template <typename T> MatMap<T> mat(T* p, int64_t rows, int64_t cols, int64_t ld) {
  return MatMap<T>(p, rows, cols, Eigen::OuterStride<>(ld));
}
template <typename T> ConstMatMap<T> cmat(const T* p, int64_t rows, int64_t cols, int64_t ld) {
  return ConstMatMap<T>(p, rows, cols, Eigen::OuterStride<>(ld));
}

struct ConvGeom {
  int64_t n, c, h, w, o, kh, kw, ho, wo;
  int64_t groups, cg, og;  // channels per group: input, output
  int64_t k;               // rows of one group's column matrix: cg * kh * kw
  int64_t ktot;            // rows of the whole column matrix: c * kh * kw
  int64_t hw, howo;
  Conv2dParams p;
  bool pointwise;

  ConvGeom(const Tensor& x, const Tensor& wt, const Tensor& y, const Conv2dParams& prm)
      : n(x.shape()[0]), c(x.shape()[1]), h(x.shape()[2]), w(x.shape()[3]), o(wt.shape()[0]),
        kh(wt.shape()[2]), kw(wt.shape()[3]), ho(y.shape()[2]), wo(y.shape()[3]), groups(prm.groups),
        cg(c / prm.groups), og(o / prm.groups), k(cg * kh * kw), ktot(c * kh * kw), hw(h * w), howo(ho * wo),
        p(prm),
        pointwise(kh == 1 && kw == 1 && prm.stride_h == 1 && prm.stride_w == 1 && prm.pad_h == 0 &&
                  prm.pad_w == 0) {}
};

// For kernel column offset `iw0` (input column of output column 0), the output columns whose
// input column lies inside the image: [lo, hi).
inline void valid_cols(int64_t iw0, int64_t sw, int64_t w, int64_t wo, int64_t& lo, int64_t& hi) {
  lo = iw0 >= 0 ? 0 : (-iw0 + sw - 1) / sw;
  hi = iw0 > w - 1 ? 0 : std::min(wo, (w - 1 - iw0) / sw + 1);
  lo = std::min(lo, wo);
  hi = std::max(hi, lo);
}

// Writes rows [c_begin, c_end) * kh * kw of image `x`'s column matrix into `col` (row stride ld).
template <typename T>
void im2col(const T* x, const ConvGeom& g, int64_t c_begin, int64_t c_end, T* col, int64_t ld) {
  const auto& p = g.p;
  for (int64_t c = c_begin; c < c_end; ++c) {
    for (int64_t ki = 0; ki < g.kh; ++ki) {
      for (int64_t kj = 0; kj < g.kw; ++kj) {
        T* row = col + ((c * g.kh + ki) * g.kw + kj) * ld;
        const int64_t iw0 = kj * p.dilation_w - p.pad_w;
        int64_t lo, hi;
        valid_cols(iw0, p.stride_w, g.w, g.wo, lo, hi);
        for (int64_t oh = 0; oh < g.ho; ++oh) {
          T* dst = row + oh * g.wo;
          const int64_t ih = oh * p.stride_h - p.pad_h + ki * p.dilation_h;
          if (ih < 0 || ih >= g.h) {
            std::fill(dst, dst + g.wo, T(0));
            continue;
          }
          const T* src = x + (c * g.h + ih) * g.w + iw0;
          std::fill(dst, dst + lo, T(0));
          if (p.stride_w == 1) {
            std::copy(src + lo, src + hi, dst + lo);
          } else {
            for (int64_t ow = lo; ow < hi; ++ow) dst[ow] = src[ow * p.stride_w];
          }
          std::fill(dst + hi, dst + g.wo, T(0));
        }
      }
    }
  }
}

// Adds rows [c_begin, c_end) * kh * kw of a column-matrix gradient back into image `gx`.
template <typename T>
void col2im(const T* col, int64_t ld, const ConvGeom& g, int64_t c_begin, int64_t c_end, T* gx) {
  const auto& p = g.p;
  for (int64_t c = c_begin; c < c_end; ++c) {
    for (int64_t ki = 0; ki < g.kh; ++ki) {
      for (int64_t kj = 0; kj < g.kw; ++kj) {
        const T* row = col + ((c * g.kh + ki) * g.kw + kj) * ld;
        const int64_t iw0 = kj * p.dilation_w - p.pad_w;
        int64_t lo, hi;
        valid_cols(iw0, p.stride_w, g.w, g.wo, lo, hi);
        for (int64_t oh = 0; oh < g.ho; ++oh) {
          const int64_t ih = oh * p.stride_h - p.pad_h + ki * p.dilation_h;
          if (ih < 0 || ih >= g.h) continue;
          const T* src = row + oh * g.wo;
          T* dst = gx + (c * g.h + ih) * g.w + iw0;
          if (p.stride_w == 1) {
            for (int64_t ow = lo; ow < hi; ++ow) dst[ow] += src[ow];
          } else {
            for (int64_t ow = lo; ow < hi; ++ow) dst[ow * p.stride_w] += src[ow];
          }
        }
      }
    }
  }
}

// Per-image schedule: one chunk of images per thread.
bool per_image(const ConvGeom& g) { return g.n >= get_num_threads(); }
int64_t num_chunks(const ConvGeom& g) { return std::max<int64_t>(1, std::min<int64_t>(g.n, get_num_threads())); }
int64_t chunk_begin(const ConvGeom& g, int64_t t, int64_t chunks) { return g.n * t / chunks; }

// Calls fn(n, c) for every (image, channel) pair, in parallel.
template <typename Fn> void for_each_plane(const ConvGeom& g, int64_t work_per_plane, Fn&& fn) {
  const int64_t grain = std::max<int64_t>(1, cpu::kGrain / std::max<int64_t>(work_per_plane, 1));
  parallel_for(0, g.n * g.c, grain, [&](int64_t lo, int64_t hi) {
    for (int64_t i = lo; i < hi; ++i) fn(i / g.c, i % g.c);
  });
}

template <typename T> void conv_forward(const ConvGeom& g, const T* x, const T* w, const T* b, T* y) {
  const int64_t chw = g.c * g.hw, ohw = g.o * g.howo;
  auto add_bias = [&](T* yn) {
    if (!b) return;
    for (int64_t o = 0; o < g.o; ++o) {
      T* row = yn + o * g.howo;
      const T bo = b[o];
      for (int64_t i = 0; i < g.howo; ++i) row[i] += bo;
    }
  };
  if (per_image(g)) {
    const int64_t chunks = num_chunks(g);
    std::vector<T> cols(g.pointwise ? 0 : static_cast<size_t>(chunks * g.ktot * g.howo));
    parallel_for(0, chunks, 1, [&](int64_t lo, int64_t hi) {
      for (int64_t t = lo; t < hi; ++t) {
        T* col = g.pointwise ? nullptr : cols.data() + t * g.ktot * g.howo;
        for (int64_t n = chunk_begin(g, t, chunks); n < chunk_begin(g, t + 1, chunks); ++n) {
          const T* xn = x + n * chw;
          if (col) im2col(xn, g, 0, g.c, col, g.howo);
          const T* cn = col ? col : xn;
          T* yn = y + n * ohw;
          for (int64_t gr = 0; gr < g.groups; ++gr)
            mat(yn + gr * g.og * g.howo, g.og, g.howo, g.howo).noalias() =
                cmat(w + gr * g.og * g.k, g.og, g.k, g.k) * cmat(cn + gr * g.k * g.howo, g.k, g.howo, g.howo);
          add_bias(yn);
        }
      }
    });
    return;
  }
  // Batched: col is (ktot, n * howo), the product (o, n * howo) is scattered into y per image.
  const int64_t len = g.n * g.howo;
  const bool direct_in = g.pointwise && g.n == 1, direct_out = g.n == 1;
  std::vector<T> cols(direct_in ? 0 : static_cast<size_t>(g.ktot * len));
  std::vector<T> prod(direct_out ? 0 : static_cast<size_t>(g.o * len));
  if (!direct_in)
    for_each_plane(g, g.kh * g.kw * g.howo, [&](int64_t n, int64_t c) {
      im2col(x + n * chw, g, c, c + 1, cols.data() + n * g.howo, len);
    });
  const T* col = direct_in ? x : cols.data();
  T* out = direct_out ? y : prod.data();
  for (int64_t gr = 0; gr < g.groups; ++gr)
    mat(out + gr * g.og * len, g.og, len, len).noalias() =
        cmat(w + gr * g.og * g.k, g.og, g.k, g.k) * cmat(col + gr * g.k * len, g.k, len, len);
  if (direct_out) {
    add_bias(y);
    return;
  }
  parallel_for(0, g.n * g.o, std::max<int64_t>(1, cpu::kGrain / std::max<int64_t>(g.howo, 1)),
               [&](int64_t lo, int64_t hi) {
                 for (int64_t i = lo; i < hi; ++i) {
                   const int64_t n = i / g.o, o = i % g.o;
                   const T* src = prod.data() + o * len + n * g.howo;
                   T* dst = y + i * g.howo;
                   const T bo = b ? b[o] : T(0);
                   for (int64_t j = 0; j < g.howo; ++j) dst[j] = src[j] + bo;
                 }
               });
}

template <typename T> void conv_grad_bias(const ConvGeom& g, const T* gy, T* gb) {
  parallel_for(0, g.o, 1, [&](int64_t lo, int64_t hi) {
    for (int64_t o = lo; o < hi; ++o) {
      double s = 0;
      for (int64_t n = 0; n < g.n; ++n) {
        const T* row = gy + (n * g.o + o) * g.howo;
        for (int64_t j = 0; j < g.howo; ++j) s += static_cast<double>(row[j]);
      }
      gb[o] = static_cast<T>(s);
    }
  });
}

template <typename T>
void conv_backward_per_image(const ConvGeom& g, const T* gy, const T* x, const T* w, T* gx, T* gw) {
  const int64_t chw = g.c * g.hw, ohw = g.o * g.howo, wsize = g.o * g.k, csize = g.ktot * g.howo;
  const int64_t chunks = num_chunks(g);
  std::vector<T> cols(gw && !g.pointwise ? static_cast<size_t>(chunks * csize) : 0);
  std::vector<T> gcols(gx && !g.pointwise ? static_cast<size_t>(chunks * csize) : 0);
  std::vector<T> gw_part(gw ? static_cast<size_t>(chunks * wsize) : 0, T(0));
  parallel_for(0, chunks, 1, [&](int64_t lo, int64_t hi) {
    for (int64_t t = lo; t < hi; ++t) {
      for (int64_t n = chunk_begin(g, t, chunks); n < chunk_begin(g, t + 1, chunks); ++n) {
        const T* gyn = gy + n * ohw;
        const T* xn = x + n * chw;
        if (gx) {
          T* gxn = gx + n * chw;
          if (g.pointwise) {
            for (int64_t gr = 0; gr < g.groups; ++gr)
              mat(gxn + gr * g.cg * g.hw, g.cg, g.hw, g.hw).noalias() =
                  cmat(w + gr * g.og * g.k, g.og, g.k, g.k).transpose() *
                  cmat(gyn + gr * g.og * g.howo, g.og, g.howo, g.howo);
          } else {
            T* gcol = gcols.data() + t * csize;
            for (int64_t gr = 0; gr < g.groups; ++gr)
              mat(gcol + gr * g.k * g.howo, g.k, g.howo, g.howo).noalias() =
                  cmat(w + gr * g.og * g.k, g.og, g.k, g.k).transpose() *
                  cmat(gyn + gr * g.og * g.howo, g.og, g.howo, g.howo);
            std::fill(gxn, gxn + chw, T(0));
            col2im(gcol, g.howo, g, 0, g.c, gxn);
          }
        }
        if (gw) {
          const T* cn = xn;
          if (!g.pointwise) {
            T* col = cols.data() + t * csize;
            im2col(xn, g, 0, g.c, col, g.howo);
            cn = col;
          }
          T* part = gw_part.data() + t * wsize;
          for (int64_t gr = 0; gr < g.groups; ++gr)
            mat(part + gr * g.og * g.k, g.og, g.k, g.k).noalias() +=
                cmat(gyn + gr * g.og * g.howo, g.og, g.howo, g.howo) *
                cmat(cn + gr * g.k * g.howo, g.k, g.howo, g.howo).transpose();
        }
      }
    }
  });
  if (!gw) return;
  parallel_for(0, wsize, cpu::kGrain / std::max<int64_t>(chunks, 1), [&](int64_t lo, int64_t hi) {
    for (int64_t i = lo; i < hi; ++i) {
      T s = 0;
      for (int64_t t = 0; t < chunks; ++t) s += gw_part[static_cast<size_t>(t * wsize + i)];
      gw[i] = s;
    }
  });
}

template <typename T>
void conv_backward_batched(const ConvGeom& g, const T* gy, const T* x, const T* w, T* gx, T* gw) {
  const int64_t chw = g.c * g.hw, len = g.n * g.howo;
  // The output gradient as one (o, n * howo) matrix.
  std::vector<T> gyt_buf(g.n == 1 ? 0 : static_cast<size_t>(g.o * len));
  if (g.n > 1)
    parallel_for(0, g.n * g.o, std::max<int64_t>(1, cpu::kGrain / std::max<int64_t>(g.howo, 1)),
                 [&](int64_t lo, int64_t hi) {
                   for (int64_t i = lo; i < hi; ++i) {
                     const int64_t n = i / g.o, o = i % g.o;
                     std::copy(gy + i * g.howo, gy + (i + 1) * g.howo, gyt_buf.data() + o * len + n * g.howo);
                   }
                 });
  const T* gyt = g.n == 1 ? gy : gyt_buf.data();
  const bool direct = g.pointwise && g.n == 1;
  std::vector<T> cols(direct ? 0 : static_cast<size_t>(g.ktot * len));
  if (gw) {
    if (!direct)
      for_each_plane(g, g.kh * g.kw * g.howo, [&](int64_t n, int64_t c) {
        im2col(x + n * chw, g, c, c + 1, cols.data() + n * g.howo, len);
      });
    const T* col = direct ? x : cols.data();
    for (int64_t gr = 0; gr < g.groups; ++gr)
      mat(gw + gr * g.og * g.k, g.og, g.k, g.k).noalias() =
          cmat(gyt + gr * g.og * len, g.og, len, len) * cmat(col + gr * g.k * len, g.k, len, len).transpose();
  }
  if (!gx) return;
  // The column buffer is free again: reuse it for the column-matrix gradient.
  T* gcol = direct ? gx : cols.data();
  for (int64_t gr = 0; gr < g.groups; ++gr)
    mat(gcol + gr * g.k * len, g.k, len, len).noalias() =
        cmat(w + gr * g.og * g.k, g.og, g.k, g.k).transpose() * cmat(gyt + gr * g.og * len, g.og, len, len);
  if (direct) return;
  for_each_plane(g, g.kh * g.kw * g.howo, [&](int64_t n, int64_t c) {
    T* plane = gx + n * chw + c * g.hw;
    std::fill(plane, plane + g.hw, T(0));
    col2im(cols.data() + n * g.howo, len, g, c, c + 1, gx + n * chw);
  });
}

template <typename T> const T* ptr_or_null(const Tensor& t) {
  return t.defined() ? static_cast<const T*>(t.raw_data()) : nullptr;
}
template <typename T> T* mut_ptr_or_null(const Tensor& t) {
  return t.defined() ? static_cast<T*>(t.raw_data()) : nullptr;
}

}  // namespace

void CpuBackend::conv2d(const Tensor& x_in, const Tensor& w_in, const Tensor& b_in, const Conv2dParams& p,
                        const Tensor& out) {
  const Tensor x = cpu::dense(cpu::widen_half(x_in)), w = cpu::dense(cpu::widen_half(w_in));
  const Tensor b = b_in.defined() ? cpu::dense(cpu::widen_half(b_in)) : Tensor();
  const Tensor y = cpu::float_scratch_for(out);
  const ConvGeom g(x, w, y, p);
  if (y.numel() > 0) {
    TS_DISPATCH_FLOATING(x.dtype(), "conv2d", [&] {
      using T = scalar_t;
      conv_forward<T>(g, static_cast<const T*>(x.raw_data()), static_cast<const T*>(w.raw_data()), ptr_or_null<T>(b),
                      static_cast<T*>(y.raw_data()));
    });
  }
  cpu::narrow_into(y, out);
}

void CpuBackend::conv2d_backward(const Tensor& gy_in, const Tensor& x_in, const Tensor& w_in, const Conv2dParams& p,
                                 const Tensor& grad_x, const Tensor& grad_w, const Tensor& grad_bias) {
  const Tensor gy = cpu::dense(cpu::widen_half(gy_in));
  const Tensor x = cpu::dense(cpu::widen_half(x_in)), w = cpu::dense(cpu::widen_half(w_in));
  const Tensor gx = grad_x.defined() ? cpu::float_scratch_for(grad_x) : Tensor();
  const Tensor gw = grad_w.defined() ? cpu::float_scratch_for(grad_w) : Tensor();
  const Tensor gb = grad_bias.defined() ? cpu::float_scratch_for(grad_bias) : Tensor();
  const ConvGeom g(x, w, gy, p);
  TS_DISPATCH_FLOATING(x.dtype(), "conv2d_backward", [&] {
    using T = scalar_t;
    T* gxp = mut_ptr_or_null<T>(gx);
    T* gwp = mut_ptr_or_null<T>(gw);
    if (g.n * g.howo == 0) {  // nothing flows back: empty batch or empty output
      if (gxp) std::fill(gxp, gxp + gx.numel(), T(0));
      if (gwp) std::fill(gwp, gwp + gw.numel(), T(0));
      if (gb.defined()) std::fill(static_cast<T*>(gb.raw_data()), static_cast<T*>(gb.raw_data()) + gb.numel(), T(0));
      return;
    }
    const T* gyp = static_cast<const T*>(gy.raw_data());
    if (gb.defined()) conv_grad_bias<T>(g, gyp, static_cast<T*>(gb.raw_data()));
    if (!gxp && !gwp) return;
    const T* xp = static_cast<const T*>(x.raw_data());
    const T* wp = static_cast<const T*>(w.raw_data());
    if (per_image(g)) {
      conv_backward_per_image<T>(g, gyp, xp, wp, gxp, gwp);
    } else {
      conv_backward_batched<T>(g, gyp, xp, wp, gxp, gwp);
    }
  });
  if (gx.defined()) cpu::narrow_into(gx, grad_x);
  if (gw.defined()) cpu::narrow_into(gw, grad_w);
  if (gb.defined()) cpu::narrow_into(gb, grad_bias);
}

}  // namespace ts
