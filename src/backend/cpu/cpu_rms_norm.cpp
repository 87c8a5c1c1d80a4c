// CPU rms_norm, forward and backward, on (rows, D) matrices; parallel over rows. Sums
// accumulate in double (in several independent lanes, so they still vectorize). 16-bit inputs
// are widened to float32 and their outputs go through float32 scratch, as in cpu_norm.cpp; the
// forward still rounds n = x * rstd to the input's dtype before the weight multiplies it, the
// rounding torch.nn.functional.rms_norm's composition does (`Storage` below).
// The weight gradient is a column sum: per-chunk partial rows, combined in chunk order, so the
// result does not depend on scheduling.
#include <algorithm>
#include <cmath>
#include <type_traits>
#include <vector>

#include "backend/cpu/cpu_backend.h"
#include "backend/cpu/cpu_loops.h"
#include "backend/cpu/cpu_norm_util.h"

namespace ts {
namespace {

using namespace cpu_norm;  // NOLINT(google-build-using-namespace): the shared norm helpers

// `v` rounded to the storage type `S` of the caller's tensors (Half, BFloat16) and back to the
// compute type T; the identity when T is the storage type.
template <typename S, typename T> T round_to_storage(T v) {
  if constexpr (std::is_same_v<S, T>) {
    return v;
  } else {
    return static_cast<T>(static_cast<float>(S(static_cast<float>(v))));
  }
}

// Calls f(S{}) with S the C++ type x's dtype is stored as, given the compute type T.
template <typename T, typename F> void with_storage_type(DType stored, F&& f) {
  if constexpr (std::is_same_v<T, float>) {
    if (stored == DType::Float16) return f(Half{});
    if (stored == DType::BFloat16) return f(BFloat16{});
  }
  f(T{});
}


// `t` in x's dtype (the CUDA backend converts too), then as the kernels read it: contiguous,
// 16-bit types widened to float32.
Tensor dense_compute(const Tensor& t, DType x_dtype) {
  if (!t.defined()) return Tensor();
  Tensor c = t;
  if (t.dtype() != x_dtype) {
    c = make_tensor(t.shape(), x_dtype, t.device());
    cpu_backend().copy(t, c);
  }
  return cpu::dense(cpu::widen_half(c));
}


template <typename T, typename S>
void rms_norm_kernel(const T* x, const T* w, double eps, int64_t rows, int64_t d, T* y, T* rstd) {
  parallel_for(0, rows, std::max<int64_t>(1, cpu::kGrain / std::max<int64_t>(d, 1)), [&](int64_t lo, int64_t hi) {
    for (int64_t r = lo; r < hi; ++r) {
      const T* xr = x + r * d;
      T* yr = y + r * d;
      const double ms = d > 0 ? dot_dev(xr, xr, d) / static_cast<double>(d) : 0.0;
      const T rs = static_cast<T>(1.0 / std::sqrt(ms + eps));
      rstd[r] = rs;
      if (w) {
        for (int64_t j = 0; j < d; ++j) yr[j] = round_to_storage<S>(xr[j] * rs) * w[j];
      } else {
        for (int64_t j = 0; j < d; ++j) yr[j] = xr[j] * rs;
      }
    }
  });
}

// grad_x = rstd * (g - n * mean(g * n)) with g = grad_y * w and n = x * rstd, where
// mean(g * n) = rstd * sum(g * x) / D. grad_w = column sums of grad_y * n, n rounded as the
// forward rounded it before multiplying by w (the exact derivative of what the forward computed).
template <typename T, typename S>
void rms_norm_backward_kernel(const T* gy, const T* x, const T* rstd, const T* w, int64_t rows, int64_t d, T* gx,
                              T* gw) {
  const int64_t chunks = row_chunks(rows);
  std::vector<double> part(gw ? static_cast<size_t>(chunks * d) : 0, 0.0);
  parallel_for(0, chunks, 1, [&](int64_t lo, int64_t hi) {
    std::vector<T> g(gx && w ? static_cast<size_t>(d) : 0);
    for (int64_t t = lo; t < hi; ++t) {
      double* pw = gw ? part.data() + t * d : nullptr;
      for (int64_t r = rows * t / chunks; r < rows * (t + 1) / chunks; ++r) {
        const T* xr = x + r * d;
        const T* gr = gy + r * d;
        const T rs = rstd[r];
        if (pw) {
          for (int64_t j = 0; j < d; ++j)
            pw[j] += static_cast<double>(gr[j]) * static_cast<double>(round_to_storage<S>(xr[j] * rs));
        }
        if (!gx) continue;
        const T* gn = gr;
        if (w) {
          for (int64_t j = 0; j < d; ++j) g[static_cast<size_t>(j)] = gr[j] * w[j];
          gn = g.data();
        }
        const T c = static_cast<T>(dot_dev(gn, xr, d) * static_cast<double>(rs) / static_cast<double>(d));
        T* out = gx + r * d;
        for (int64_t j = 0; j < d; ++j) out[j] = rs * (gn[j] - xr[j] * rs * c);
      }
    }
  });
  if (!gw) return;
  parallel_for(0, d, std::max<int64_t>(1, cpu::kGrain / chunks), [&](int64_t lo, int64_t hi) {
    for (int64_t j = lo; j < hi; ++j) {
      double s = 0;
      for (int64_t t = 0; t < chunks; ++t) s += part[static_cast<size_t>(t * d + j)];
      gw[j] = static_cast<T>(s);
    }
  });
}

}  // namespace

void CpuBackend::rms_norm(const Tensor& x_in, const Tensor& weight, double eps, const Tensor& y_out,
                          const Tensor& rstd) {
  const DType dt = x_in.dtype();
  const Tensor x = dense_compute(x_in, dt), w = dense_compute(weight, dt);
  const Tensor y = cpu::float_scratch_for(y_out);
  const int64_t rows = x.shape()[0], d = x.shape()[1];
  TS_DISPATCH_FLOATING(x.dtype(), "rms_norm", [&] {
    using T = scalar_t;
    with_storage_type<T>(dt, [&](auto storage) {
      using S = decltype(storage);
      rms_norm_kernel<T, S>(cptr<T>(x), cptr<T>(w), eps, rows, d, mptr<T>(y), mptr<T>(rstd));
    });
  });
  cpu::narrow_into(y, y_out);
}

void CpuBackend::rms_norm_backward(const Tensor& grad_y, const Tensor& x_in, const Tensor& rstd, const Tensor& weight,
                                   const Tensor& grad_x, const Tensor& grad_weight) {
  const DType dt = x_in.dtype();
  const Tensor gy = dense_compute(grad_y, dt), x = dense_compute(x_in, dt), w = dense_compute(weight, dt);
  const Tensor rs = cpu::dense(rstd);
  const Tensor gx = scratch_or_undefined(grad_x), gw = scratch_or_undefined(grad_weight);
  const int64_t rows = x.shape()[0], d = x.shape()[1];
  TS_DISPATCH_FLOATING(x.dtype(), "rms_norm_backward", [&] {
    using T = scalar_t;
    with_storage_type<T>(dt, [&](auto storage) {
      using S = decltype(storage);
      rms_norm_backward_kernel<T, S>(cptr<T>(gy), cptr<T>(x), cptr<T>(rs), cptr<T>(w), rows, d, mptr<T>(gx),
                                     mptr<T>(gw));
    });
  });
  narrow_if_defined(gx, grad_x);
  narrow_if_defined(gw, grad_weight);
}

}  // namespace ts
