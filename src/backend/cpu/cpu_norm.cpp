// CPU layer norm and batch norm, forward and backward. Statistics accumulate in double (in
// several independent lanes, so the sums still vectorize) and use two passes (mean, then
// squared deviations), which keeps the variance accurate when |mean| >> std.
//  * layer_norm works on (rows, D) and is parallel over rows; the weight/bias gradients are
//    column sums, gathered in per-chunk partial rows and combined at the end.
//  * batch_norm views x as (N, C, S) and is parallel over the N*C contiguous S-blocks; each
//    block yields partial sums that are combined per channel in a fixed order.
#include <algorithm>
#include <cmath>
#include <vector>

#include "backend/cpu/cpu_backend.h"
#include "backend/cpu/cpu_loops.h"
#include "backend/cpu/cpu_norm_util.h"

namespace ts {
namespace {

using namespace cpu_norm;  // NOLINT(google-build-using-namespace): the shared norm helpers

Tensor dense_compute(const Tensor& t) { return t.defined() ? cpu::dense(cpu::widen_half(t)) : Tensor(); }

// A per-channel tensor (any floating dtype and strides) as contiguous doubles.
std::vector<double> channel_values(const Tensor& t) {
  Tensor d = make_tensor(t.shape(), DType::Float64, t.device());
  cpu_backend().copy(t, d);
  const double* p = static_cast<const double*>(d.raw_data());
  return std::vector<double>(p, p + d.numel());
}

void store_channel_values(const std::vector<double>& v, const Tensor& dst) {
  Tensor src = make_tensor(dst.shape(), DType::Float64, dst.device());
  std::copy(v.begin(), v.end(), static_cast<double*>(src.raw_data()));
  cpu_backend().copy(src, dst);
}


// ---- layer norm -------------------------------------------------------------------------------

template <typename T>
void layer_norm_kernel(const T* x, const T* w, const T* b, double eps, int64_t rows, int64_t d, T* y, T* mean,
                       T* rstd) {
  parallel_for(0, rows, std::max<int64_t>(1, cpu::kGrain / std::max<int64_t>(d, 1)), [&](int64_t lo, int64_t hi) {
    for (int64_t r = lo; r < hi; ++r) {
      const T* xr = x + r * d;
      T* yr = y + r * d;
      const double m = d > 0 ? sum_of(xr, d) / static_cast<double>(d) : 0.0;
      const double var = d > 0 ? sq_dev_sum(xr, d, m) / static_cast<double>(d) : 0.0;
      const double rs = 1.0 / std::sqrt(var + eps);
      mean[r] = static_cast<T>(m);
      rstd[r] = static_cast<T>(rs);
      const T mt = static_cast<T>(m), rt = static_cast<T>(rs);
      if (w && b) {
        for (int64_t j = 0; j < d; ++j) yr[j] = (xr[j] - mt) * rt * w[j] + b[j];
      } else if (w) {
        for (int64_t j = 0; j < d; ++j) yr[j] = (xr[j] - mt) * rt * w[j];
      } else if (b) {
        for (int64_t j = 0; j < d; ++j) yr[j] = (xr[j] - mt) * rt + b[j];
      } else {
        for (int64_t j = 0; j < d; ++j) yr[j] = (xr[j] - mt) * rt;
      }
    }
  });
}

template <typename T>
void layer_norm_backward_kernel(const T* gy, const T* x, const T* mean, const T* rstd, const T* w, int64_t rows,
                                int64_t d, T* gx, T* gw, T* gb) {
  const bool need_params = gw || gb;
  const int64_t chunks = row_chunks(rows);
  // Per-chunk partial column sums: [chunk][0..d) for the weight, [chunk][d..2d) for the bias.
  std::vector<double> part(need_params ? static_cast<size_t>(chunks * 2 * d) : 0, 0.0);
  parallel_for(0, chunks, 1, [&](int64_t lo, int64_t hi) {
    std::vector<T> g(gx && w ? static_cast<size_t>(d) : 0);
    for (int64_t t = lo; t < hi; ++t) {
      double* pw = need_params ? part.data() + t * 2 * d : nullptr;
      for (int64_t r = rows * t / chunks; r < rows * (t + 1) / chunks; ++r) {
        const T* xr = x + r * d;
        const T* gr = gy + r * d;
        const T mr = mean[r], rs = rstd[r];
        if (pw) {
          double* pb = pw + d;
          for (int64_t j = 0; j < d; ++j) {
            pw[j] += static_cast<double>(gr[j]) * static_cast<double>((xr[j] - mr) * rs);
            pb[j] += static_cast<double>(gr[j]);
          }
        }
        if (!gx) continue;
        // g = gy * w: the gradient w.r.t. the normalized row.
        const T* gn = gr;
        if (w) {
          for (int64_t j = 0; j < d; ++j) g[static_cast<size_t>(j)] = gr[j] * w[j];
          gn = g.data();
        }
        const double dd = static_cast<double>(d);
        const double g_mean = sum_of(gn, d) / dd;
        const double gx_mean = dot_dev(gn, xr, d, static_cast<double>(mr)) * static_cast<double>(rs) / dd;
        const T a = static_cast<T>(g_mean), c = static_cast<T>(gx_mean);
        T* out = gx + r * d;
        for (int64_t j = 0; j < d; ++j) out[j] = rs * (gn[j] - a - (xr[j] - mr) * rs * c);
      }
    }
  });
  if (!need_params) return;
  parallel_for(0, d, std::max<int64_t>(1, cpu::kGrain / chunks), [&](int64_t lo, int64_t hi) {
    for (int64_t j = lo; j < hi; ++j) {
      double sw = 0, sb = 0;
      for (int64_t t = 0; t < chunks; ++t) {
        sw += part[static_cast<size_t>(t * 2 * d + j)];
        sb += part[static_cast<size_t>(t * 2 * d + d + j)];
      }
      if (gw) gw[j] = static_cast<T>(sw);
      if (gb) gb[j] = static_cast<T>(sb);
    }
  });
}

// ---- batch norm -------------------------------------------------------------------------------

struct BnGeom {
  int64_t n, c, s;
  explicit BnGeom(const Tensor& x)
      : n(x.shape()[0]), c(x.shape()[1]), s(x.shape()[0] * x.shape()[1] == 0 ? 0 : x.numel() / (x.shape()[0] * x.shape()[1])) {}
  int64_t blocks() const { return n * c; }
  int64_t grain() const { return std::max<int64_t>(1, cpu::kGrain / std::max<int64_t>(s, 1)); }
  double count() const { return static_cast<double>(n * s); }
};

// out[ch] = sum over images of part[img * c + ch], in image order (deterministic).
std::vector<double> per_channel(const BnGeom& g, const std::vector<double>& part) {
  std::vector<double> out(static_cast<size_t>(g.c), 0.0);
  for (int64_t i = 0; i < g.n; ++i)
    for (int64_t ch = 0; ch < g.c; ++ch) out[static_cast<size_t>(ch)] += part[static_cast<size_t>(i * g.c + ch)];
  return out;
}

template <typename T>
void batch_norm_kernel(const BnGeom& g, const T* x, const Tensor& weight, const Tensor& bias,
                       const Tensor& running_mean, const Tensor& running_var, bool training, double momentum,
                       double eps, T* y, T* save_mean, T* save_invstd) {
  const size_t nc = static_cast<size_t>(g.c);
  std::vector<double> mean(nc), invstd(nc);
  if (training) {
    std::vector<double> part(static_cast<size_t>(g.blocks()));
    parallel_for(0, g.blocks(), g.grain(), [&](int64_t lo, int64_t hi) {
      for (int64_t i = lo; i < hi; ++i) part[static_cast<size_t>(i)] = sum_of(x + i * g.s, g.s);
    });
    mean = per_channel(g, part);
    for (double& m : mean) m /= g.count();
    parallel_for(0, g.blocks(), g.grain(), [&](int64_t lo, int64_t hi) {
      for (int64_t i = lo; i < hi; ++i)
        part[static_cast<size_t>(i)] = sq_dev_sum(x + i * g.s, g.s, mean[static_cast<size_t>(i % g.c)]);
    });
    const std::vector<double> sq = per_channel(g, part);
    std::vector<double> unbiased(nc);
    for (size_t ch = 0; ch < nc; ++ch) {
      const double var = sq[ch] / g.count();
      invstd[ch] = 1.0 / std::sqrt(var + eps);
      unbiased[ch] = g.count() > 1 ? sq[ch] / (g.count() - 1) : var;
    }
    if (running_mean.defined()) {
      std::vector<double> rm = channel_values(running_mean);
      for (size_t ch = 0; ch < nc; ++ch) rm[ch] = (1 - momentum) * rm[ch] + momentum * mean[ch];
      store_channel_values(rm, running_mean);
    }
    if (running_var.defined()) {
      std::vector<double> rv = channel_values(running_var);
      for (size_t ch = 0; ch < nc; ++ch) rv[ch] = (1 - momentum) * rv[ch] + momentum * unbiased[ch];
      store_channel_values(rv, running_var);
    }
  } else {
    mean = channel_values(running_mean);
    const std::vector<double> rv = channel_values(running_var);
    for (size_t ch = 0; ch < nc; ++ch) invstd[ch] = 1.0 / std::sqrt(rv[ch] + eps);
  }
  // y = (x - mean) * scale + b per channel (subtracting first avoids cancellation when |mean| >> std).
  const std::vector<double> w = weight.defined() ? channel_values(weight) : std::vector<double>(nc, 1.0);
  const std::vector<double> b = bias.defined() ? channel_values(bias) : std::vector<double>(nc, 0.0);
  std::vector<T> mean_t(nc), scale(nc), shift(nc);
  for (size_t ch = 0; ch < nc; ++ch) {
    save_mean[ch] = mean_t[ch] = static_cast<T>(mean[ch]);
    save_invstd[ch] = static_cast<T>(invstd[ch]);
    scale[ch] = static_cast<T>(invstd[ch] * w[ch]);
    shift[ch] = static_cast<T>(b[ch]);
  }
  parallel_for(0, g.blocks(), g.grain(), [&](int64_t lo, int64_t hi) {
    for (int64_t i = lo; i < hi; ++i) {
      const size_t ch = static_cast<size_t>(i % g.c);
      const T m = mean_t[ch], sc = scale[ch], sh = shift[ch];
      const T* xb = x + i * g.s;
      T* yb = y + i * g.s;
      for (int64_t j = 0; j < g.s; ++j) yb[j] = (xb[j] - m) * sc + sh;
    }
  });
}

template <typename T>
void batch_norm_backward_kernel(const BnGeom& g, const T* gy, const T* x, const Tensor& weight, const T* save_mean,
                                const T* save_invstd, bool training, T* gx, T* gw, T* gb) {
  const size_t nc = static_cast<size_t>(g.c);
  // Per-block partial sums of gy and of gy * (x - mean).
  std::vector<double> part_g(static_cast<size_t>(g.blocks())), part_gx(static_cast<size_t>(g.blocks()));
  const bool need_sums = gw || gb || (gx && training);
  if (need_sums) {
    parallel_for(0, g.blocks(), g.grain(), [&](int64_t lo, int64_t hi) {
      for (int64_t i = lo; i < hi; ++i) {
        const double m = static_cast<double>(save_mean[i % g.c]);
        part_g[static_cast<size_t>(i)] = sum_of(gy + i * g.s, g.s);
        part_gx[static_cast<size_t>(i)] = dot_dev(gy + i * g.s, x + i * g.s, g.s, m);
      }
    });
  }
  const std::vector<double> sum_g = need_sums ? per_channel(g, part_g) : std::vector<double>(nc, 0.0);
  const std::vector<double> sum_gx = need_sums ? per_channel(g, part_gx) : std::vector<double>(nc, 0.0);
  for (size_t ch = 0; ch < nc; ++ch) {
    if (gw) gw[ch] = static_cast<T>(sum_gx[ch] * static_cast<double>(save_invstd[ch]));
    if (gb) gb[ch] = static_cast<T>(sum_g[ch]);
  }
  if (!gx) return;
  const std::vector<double> w = weight.defined() ? channel_values(weight) : std::vector<double>(nc, 1.0);
  // Training: gx = (gy - mean(gy) - (x - mean) * invstd^2 * mean(gy * (x - mean))) * invstd * w
  //         = gy * k + (x - mean) * kx + k0 per channel. Eval: gx = gy * invstd * w.
  std::vector<T> k(nc), kx(nc), k0(nc);
  for (size_t ch = 0; ch < nc; ++ch) {
    const double is = static_cast<double>(save_invstd[ch]);
    k[ch] = static_cast<T>(is * w[ch]);
    if (training) {
      const double cnt = g.count();
      kx[ch] = static_cast<T>(-is * is * is * w[ch] * sum_gx[ch] / cnt);
      k0[ch] = static_cast<T>(-is * w[ch] * sum_g[ch] / cnt);
    } else {
      kx[ch] = T(0);
      k0[ch] = T(0);
    }
  }
  parallel_for(0, g.blocks(), g.grain(), [&](int64_t lo, int64_t hi) {
    for (int64_t i = lo; i < hi; ++i) {
      const size_t ch = static_cast<size_t>(i % g.c);
      const T a = k[ch], bx = kx[ch], c0 = k0[ch], m = save_mean[ch];
      const T* gyb = gy + i * g.s;
      const T* xb = x + i * g.s;
      T* out = gx + i * g.s;
      for (int64_t j = 0; j < g.s; ++j) out[j] = gyb[j] * a + (xb[j] - m) * bx + c0;
    }
  });
}

}  // namespace

void CpuBackend::layer_norm(const Tensor& x_in, const Tensor& weight, const Tensor& bias, double eps, const Tensor& y_out,
                            const Tensor& mean, const Tensor& rstd) {
  const Tensor x = dense_compute(x_in), w = dense_compute(weight), b = dense_compute(bias);
  const Tensor y = cpu::float_scratch_for(y_out);
  const int64_t rows = x.shape()[0], d = x.shape()[1];
  TS_DISPATCH_FLOATING(x.dtype(), "layer_norm", [&] {
    using T = scalar_t;
    layer_norm_kernel<T>(cptr<T>(x), cptr<T>(w), cptr<T>(b), eps, rows, d, mptr<T>(y), mptr<T>(mean), mptr<T>(rstd));
  });
  cpu::narrow_into(y, y_out);
}

void CpuBackend::layer_norm_backward(const Tensor& grad_y, const Tensor& x_in, const Tensor& mean, const Tensor& rstd,
                                     const Tensor& weight, const Tensor& grad_x, const Tensor& grad_weight,
                                     const Tensor& grad_bias) {
  const Tensor gy = dense_compute(grad_y), x = dense_compute(x_in), w = dense_compute(weight);
  const Tensor m = cpu::dense(mean), rs = cpu::dense(rstd);
  const Tensor gx = scratch_or_undefined(grad_x), gw = scratch_or_undefined(grad_weight),
               gb = scratch_or_undefined(grad_bias);
  const int64_t rows = x.shape()[0], d = x.shape()[1];
  TS_DISPATCH_FLOATING(x.dtype(), "layer_norm_backward", [&] {
    using T = scalar_t;
    layer_norm_backward_kernel<T>(cptr<T>(gy), cptr<T>(x), cptr<T>(m), cptr<T>(rs), cptr<T>(w), rows, d, mptr<T>(gx),
                                  mptr<T>(gw), mptr<T>(gb));
  });
  narrow_if_defined(gx, grad_x);
  narrow_if_defined(gw, grad_weight);
  narrow_if_defined(gb, grad_bias);
}

void CpuBackend::batch_norm(const Tensor& x_in, const Tensor& weight, const Tensor& bias, const Tensor& running_mean,
                            const Tensor& running_var, bool training, double momentum, double eps, const Tensor& y_out,
                            const Tensor& save_mean, const Tensor& save_invstd) {
  const Tensor x = dense_compute(x_in);
  const Tensor y = cpu::float_scratch_for(y_out);
  const BnGeom g(x);
  TS_DISPATCH_FLOATING(x.dtype(), "batch_norm", [&] {
    using T = scalar_t;
    batch_norm_kernel<T>(g, cptr<T>(x), weight, bias, running_mean, running_var, training, momentum, eps, mptr<T>(y),
                         mptr<T>(save_mean), mptr<T>(save_invstd));
  });
  cpu::narrow_into(y, y_out);
}

void CpuBackend::batch_norm_backward(const Tensor& grad_y, const Tensor& x_in, const Tensor& weight,
                                     const Tensor& save_mean, const Tensor& save_invstd, bool training,
                                     const Tensor& grad_x, const Tensor& grad_weight, const Tensor& grad_bias) {
  const Tensor gy = dense_compute(grad_y), x = dense_compute(x_in);
  const Tensor m = cpu::dense(save_mean), is = cpu::dense(save_invstd);
  const Tensor gx = scratch_or_undefined(grad_x), gw = scratch_or_undefined(grad_weight),
               gb = scratch_or_undefined(grad_bias);
  const BnGeom g(x);
  TS_DISPATCH_FLOATING(x.dtype(), "batch_norm_backward", [&] {
    using T = scalar_t;
    batch_norm_backward_kernel<T>(g, cptr<T>(gy), cptr<T>(x), weight, cptr<T>(m), cptr<T>(is), training, mptr<T>(gx),
                                  mptr<T>(gw), mptr<T>(gb));
  });
  narrow_if_defined(gx, grad_x);
  narrow_if_defined(gw, grad_weight);
  narrow_if_defined(gb, grad_bias);
}

}  // namespace ts
