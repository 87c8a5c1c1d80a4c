// CPU conv2d: im2col + Eigen GEMM. Rows of a column matrix are (c, ki, kj), columns are output
// pixels, so group g's rows form one contiguous block and each group is one GEMM against its
// slice of the weight. See Schedule for how the batch is split across threads. A single 1x1
// image with stride 1 and no padding skips im2col: the image already is its column matrix.
#include <Eigen/Core>

#include <algorithm>
#include <memory>
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
          const T* src = x + (c * g.h + ih) * g.w;
          std::fill(dst, dst + lo, T(0));
          if (p.stride_w == 1) {
            std::copy(src + iw0 + lo, src + iw0 + hi, dst + lo);
          } else {
            for (int64_t ow = lo; ow < hi; ++ow) dst[ow] = src[iw0 + ow * p.stride_w];
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
          T* dst = gx + (c * g.h + ih) * g.w;
          if (p.stride_w == 1) {
            for (int64_t ow = lo; ow < hi; ++ow) dst[iw0 + ow] += src[ow];
          } else {
            for (int64_t ow = lo; ow < hi; ++ow) dst[iw0 + ow * p.stride_w] += src[ow];
          }
        }
      }
    }
  }
}

// Uninitialized scratch memory reused across the blocks of one thread (im2col overwrites it
// fully, so zero-filling a std::vector would be wasted bandwidth).
template <typename T> class Scratch {
 public:
  T* get(int64_t n) {
    if (n > size_) {
      data_ = std::make_unique_for_overwrite<T[]>(static_cast<size_t>(n));
      size_ = n;
    }
    return data_.get();
  }

 private:
  std::unique_ptr<T[]> data_;
  int64_t size_ = 0;
};

// A block of images [n0, n0 + nb) is handled with one GEMM per group: their column matrices sit
// side by side (nb * howo columns). Small images are blocked because Eigen's GEMM is inefficient
// on narrow products (alone, a 64x800x64 float product runs at about half the FLOP rate of a
// 64x800x512 one).
constexpr int64_t kBlockCols = 512;

struct Block {
  int64_t n0, nb, len;  // first image, images, columns (nb * howo)
};

// Calls fn(i, c) for image i of the block and channel c, in parallel unless already inside a
// parallel region (then parallel_for runs inline).
template <typename Fn> void for_each_plane(const ConvGeom& g, const Block& blk, Fn&& fn) {
  const int64_t work = std::max<int64_t>(1, g.kh * g.kw * g.howo);
  parallel_for(0, blk.nb * g.c, std::max<int64_t>(1, cpu::kGrain / work), [&](int64_t lo, int64_t hi) {
    for (int64_t i = lo; i < hi; ++i) fn(i / g.c, i % g.c);
  });
}

// Calls fn(i, o) for image i of the block and output channel o, in parallel (as above).
template <typename Fn> void for_each_out_plane(const ConvGeom& g, const Block& blk, Fn&& fn) {
  parallel_for(0, blk.nb * g.o, std::max<int64_t>(1, cpu::kGrain / std::max<int64_t>(g.howo, 1)),
               [&](int64_t lo, int64_t hi) {
                 for (int64_t i = lo; i < hi; ++i) fn(i / g.o, i % g.o);
               });
}

// The block's column matrix (ktot, len): the image itself for a single pointwise image, else
// im2col into `buf`.
template <typename T> const T* columns(const ConvGeom& g, const Block& blk, const T* x, Scratch<T>& buf) {
  const int64_t chw = g.c * g.hw;
  if (g.pointwise && blk.nb == 1) return x + blk.n0 * chw;
  T* col = buf.get(g.ktot * blk.len);
  for_each_plane(g, blk, [&](int64_t i, int64_t c) {
    im2col(x + (blk.n0 + i) * chw, g, c, c + 1, col + i * g.howo, blk.len);
  });
  return col;
}

template <typename T>
void forward_block(const ConvGeom& g, const Block& blk, const T* x, const T* w, const T* b, T* y, Scratch<T>& col_buf,
                   Scratch<T>& out_buf) {
  const int64_t ohw = g.o * g.howo, len = blk.len;
  const T* col = columns(g, blk, x, col_buf);
  T* out = y + blk.n0 * ohw;  // a single image's output already is the (o, howo) product
  if (blk.nb > 1) out = out_buf.get(g.o * len);
  for (int64_t gr = 0; gr < g.groups; ++gr)
    mat(out + gr * g.og * len, g.og, len, len).noalias() =
        cmat(w + gr * g.og * g.k, g.og, g.k, g.k) * cmat(col + gr * g.k * len, g.k, len, len);
  if (blk.nb == 1 && !b) return;
  for_each_out_plane(g, blk, [&](int64_t i, int64_t o) {
    const T* src = out + o * len + i * g.howo;
    T* dst = y + (blk.n0 + i) * ohw + o * g.howo;
    const T bo = b ? b[o] : T(0);
    for (int64_t j = 0; j < g.howo; ++j) dst[j] = src[j] + bo;
  });
}

// Gradients of one block. grad_w is accumulated into `gw` when `accumulate`, else assigned.
template <typename T>
void backward_block(const ConvGeom& g, const Block& blk, const T* gy, const T* x, const T* w, T* gx, T* gw,
                    bool accumulate, Scratch<T>& col_buf, Scratch<T>& gy_buf) {
  const int64_t chw = g.c * g.hw, ohw = g.o * g.howo, len = blk.len;
  // The block's output gradient as one (o, len) matrix.
  const T* gyt = gy + blk.n0 * ohw;
  if (blk.nb > 1) {
    T* dst = gy_buf.get(g.o * len);
    for_each_out_plane(g, blk, [&](int64_t i, int64_t o) {
      const T* src = gy + (blk.n0 + i) * ohw + o * g.howo;
      std::copy(src, src + g.howo, dst + o * len + i * g.howo);
    });
    gyt = dst;
  }
  if (gw) {
    const T* col = columns(g, blk, x, col_buf);
    for (int64_t gr = 0; gr < g.groups; ++gr) {
      auto dst = mat(gw + gr * g.og * g.k, g.og, g.k, g.k);
      const auto prod = cmat(gyt + gr * g.og * len, g.og, len, len) * cmat(col + gr * g.k * len, g.k, len, len).transpose();
      if (accumulate) {
        dst.noalias() += prod;
      } else {
        dst.noalias() = prod;
      }
    }
  }
  if (!gx) return;
  if (g.pointwise && blk.nb == 1) {  // the input gradient is the column gradient
    T* gxn = gx + blk.n0 * chw;
    for (int64_t gr = 0; gr < g.groups; ++gr)
      mat(gxn + gr * g.cg * g.hw, g.cg, g.hw, g.hw).noalias() =
          cmat(w + gr * g.og * g.k, g.og, g.k, g.k).transpose() * cmat(gyt + gr * g.og * len, g.og, len, len);
    return;
  }
  // The column buffer is free again: reuse it for the column-matrix gradient.
  T* gcol = col_buf.get(g.ktot * len);
  for (int64_t gr = 0; gr < g.groups; ++gr)
    mat(gcol + gr * g.k * len, g.k, len, len).noalias() =
        cmat(w + gr * g.og * g.k, g.og, g.k, g.k).transpose() * cmat(gyt + gr * g.og * len, g.og, len, len);
  for_each_plane(g, blk, [&](int64_t i, int64_t c) {
    T* gxn = gx + (blk.n0 + i) * chw;
    std::fill(gxn + c * g.hw, gxn + (c + 1) * g.hw, T(0));
    col2im(gcol + i * g.howo, len, g, c, c + 1, gxn);
  });
}

// Schedule: with at least one image per thread, each thread takes a contiguous chunk of images
// and walks it in blocks of about kBlockCols columns with single-threaded GEMMs (no
// synchronization). With fewer images than threads, the whole batch is one block and Eigen
// threads the GEMMs.
struct Schedule {
  bool per_chunk;
  int64_t chunks, block_images;
  explicit Schedule(const ConvGeom& g)
      : per_chunk(g.n >= get_num_threads()),
        chunks(per_chunk ? std::max<int64_t>(1, std::min<int64_t>(g.n, get_num_threads())) : 1),
        block_images(per_chunk ? std::max<int64_t>(1, kBlockCols / std::max<int64_t>(g.howo, 1)) : g.n) {}
  int64_t chunk_begin(const ConvGeom& g, int64_t t) const { return g.n * t / chunks; }
  // Calls fn(block) for every block of chunk t.
  template <typename Fn> void blocks_of(const ConvGeom& g, int64_t t, Fn&& fn) const {
    const int64_t end = chunk_begin(g, t + 1);
    for (int64_t n = chunk_begin(g, t); n < end; n += block_images) {
      const int64_t nb = std::min(block_images, end - n);
      fn(Block{n, nb, nb * g.howo});
    }
  }
};

template <typename T> void conv_forward(const ConvGeom& g, const T* x, const T* w, const T* b, T* y) {
  const Schedule s(g);
  parallel_for(0, s.chunks, 1, [&](int64_t lo, int64_t hi) {
    Scratch<T> col_buf, out_buf;
    for (int64_t t = lo; t < hi; ++t)
      s.blocks_of(g, t, [&](const Block& blk) { forward_block(g, blk, x, w, b, y, col_buf, out_buf); });
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

template <typename T> void conv_backward(const ConvGeom& g, const T* gy, const T* x, const T* w, T* gx, T* gw) {
  const Schedule s(g);
  const int64_t wsize = g.o * g.k;
  // Per-chunk partial weight gradients, summed in chunk order afterwards (deterministic).
  std::vector<T> gw_part(gw && s.per_chunk ? static_cast<size_t>(s.chunks * wsize) : 0, T(0));
  parallel_for(0, s.chunks, 1, [&](int64_t lo, int64_t hi) {
    Scratch<T> col_buf, gy_buf;
    for (int64_t t = lo; t < hi; ++t) {
      T* gw_dst = gw && s.per_chunk ? gw_part.data() + t * wsize : gw;
      s.blocks_of(g, t, [&](const Block& blk) {
        backward_block(g, blk, gy, x, w, gx, gw_dst, s.per_chunk, col_buf, gy_buf);
      });
    }
  });
  if (!gw || !s.per_chunk) return;
  parallel_for(0, wsize, std::max<int64_t>(1, cpu::kGrain / s.chunks), [&](int64_t lo, int64_t hi) {
    for (int64_t i = lo; i < hi; ++i) {
      T acc = 0;
      for (int64_t t = 0; t < s.chunks; ++t) acc += gw_part[static_cast<size_t>(t * wsize + i)];
      gw[i] = acc;
    }
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
    conv_backward<T>(g, gyp, static_cast<const T*>(x.raw_data()), static_cast<const T*>(w.raw_data()), gxp, gwp);
  });
  if (gx.defined()) cpu::narrow_into(gx, grad_x);
  if (gw.defined()) cpu::narrow_into(gw, grad_w);
  if (gb.defined()) cpu::narrow_into(gb, grad_bias);
}

}  // namespace ts
